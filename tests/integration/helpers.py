"""Run ansible-playbook for real (winrm connection, pywinrm) and read back what happened."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
#: ansible-playbook comes from here: this virtualenv, or another ansible-core release's (the `release` fixture).
BIN = Path(sys.executable).parent


@dataclass
class PlaybookRun:
    """The outcome of one ansible-playbook run."""

    rc: int
    stdout: str
    stderr: str
    results: list[dict[str, Any]] = field(default_factory=list)
    recap: dict[str, dict[str, int]] = field(default_factory=dict)

    def of(self, host: str, task: str | None = None) -> list[dict[str, Any]]:
        """Return the results of ``host``: for the task named ``task``, or else whose name contains it."""
        mine = [r for r in self.results if r["host"] == host]
        if task is None:
            return mine
        exact = [r for r in mine if r["task"] == task]
        return exact or [r for r in mine if task in r["task"]]

    def last(self, host: str, task: str | None = None) -> dict[str, Any]:
        """Return the last result of ``host`` (for ``task``); fail the test if there is none."""
        found = self.of(host, task)
        assert found, f"no result for {host} {task!r}:\n{self.stdout[-3000:]}\n{self.stderr[-2000:]}"
        return found[-1]


def run_playbook(
    playbook: str | Path,
    inventory: Path,
    *,
    extra_vars: dict[str, Any] | None = None,
    check: bool = False,
    diff: bool = False,
    limit: str | None = None,
    verbosity: int = 0,
    env: dict[str, str] | None = None,
    tags: str | None = None,
    timeout: float = 600,
    extra_args: list[str] | None = None,
) -> PlaybookRun:
    """Run a playbook from the checkout (ansible.cfg applies); extra vars go in a file, never on argv."""
    global last_server
    path = Path(playbook)
    if not path.is_absolute():
        path = ROOT / path
    with tempfile.TemporaryDirectory() as tmp:
        results_file = Path(tmp) / "results.json"
        cmd = [str(BIN / "ansible-playbook"), "-i", str(inventory), str(path)]
        if extra_vars:
            vars_file = Path(tmp) / "vars.json"
            vars_file.write_text(json.dumps(extra_vars), encoding="utf-8")
            cmd += ["-e", f"@{vars_file}"]
        if check:
            cmd.append("--check")
        if diff:
            cmd.append("--diff")
        if limit:
            cmd += ["--limit", limit]
        if tags:
            cmd += ["--tags", tags]
        if verbosity:
            cmd.append("-" + "v" * verbosity)
        cmd += extra_args or []
        environment = {
            **os.environ,
            "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
            "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
            "ANSIBLE_CALLBACK_PLUGINS": str(HERE / "callback_plugins"),
            "ANSIBLE_CALLBACKS_ENABLED": "record_results,onshi.cert.onshi_cert_recap",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_NOCOLOR": "1",
            "ONSHI_TEST_RESULTS": str(results_file),
        }
        # a run that sets what Ansible reads at start-up (ANSIBLE_*, a locale, ...) starts afresh
        own = {name: value for name, value in (env or {}).items() if environment.get(name) != value}
        environment |= own
        served = all(_per_run(name) for name in own)
        server = _fork_server(environment) if served else None
        last_server = None
        if server is not None and server.lock.acquire(blocking=False):
            try:
                last_server = server
                rc, stdout, stderr = server.run(cmd, environment, Path(tmp), timeout)
            finally:
                server.lock.release()
        else:
            proc = subprocess.run(
                cmd, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=timeout, check=False
            )
            rc, stdout, stderr = proc.returncode, proc.stdout, proc.stderr
        data = json.loads(results_file.read_text()) if results_file.exists() else {"results": [], "recap": {}}
    return PlaybookRun(rc, stdout, stderr, data["results"], data["recap"])


#: Runs made by forking an already started ansible-playbook (see forkserver.py); "0" runs each in a fresh process.
FORK_SERVER = os.environ.get("ONSHI_TEST_FORK_SERVER", "1") != "0"
#: Variables that differ from run to run and that nothing the server imported reads (the child gets them all):
#: onshi-cert's and molecule's own (read while a run goes on) and pytest's name of the current test.
_PER_RUN_PREFIXES = ("ONSHI_", "MOLECULE_", "PYTEST_CURRENT_TEST")


def _per_run(name: str) -> bool:
    return name.startswith(_PER_RUN_PREFIXES)


class ForkServer:
    """An ansible-playbook started once with one environment; each run is a fork of it (forkserver.py)."""

    def __init__(self, python: Path, environment: dict[str, str]) -> None:
        self.lock = threading.Lock()
        self.last_pid = 0  # the process of the last run
        self.process = subprocess.Popen(
            [str(python), str(HERE / "forkserver.py")],
            cwd=ROOT,
            env=environment,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )

    def alive(self) -> bool:
        return self.process.poll() is None

    def _answer(self, deadline: float | None) -> dict[str, Any] | None:
        """The server's next answer, or None when the deadline passes first."""
        assert self.process.stdout is not None
        wait = None if deadline is None else max(0.0, deadline - time.monotonic())
        if not select.select([self.process.stdout], [], [], wait)[0]:
            return None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the ansible-playbook fork server ended (rc {self.process.wait()})")
        return json.loads(line)

    def run(self, cmd: list[str], environment: dict[str, str], tmp: Path, timeout: float) -> tuple[int, str, str]:
        """Run ``cmd`` as a fork of the server; like subprocess.run, raise TimeoutExpired after ``timeout``."""
        assert self.process.stdin is not None
        out, err = tmp / "stdout", tmp / "stderr"
        request = {"argv": cmd, "env": environment, "cwd": str(ROOT), "stdout": str(out), "stderr": str(err)}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        pid = self.last_pid = self._answer(None)["pid"]  # type: ignore[index]
        answer = self._answer(time.monotonic() + timeout)
        if answer is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            self._answer(None)
            raise subprocess.TimeoutExpired(cmd, timeout, out.read_bytes(), err.read_bytes())
        return answer["rc"], out.read_text(encoding="utf-8"), err.read_text(encoding="utf-8")

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


#: The fork server of the last run_playbook, None when it ran as a fresh process.
last_server: ForkServer | None = None
_servers: dict[tuple[Path, tuple[tuple[str, str], ...]], ForkServer] = {}


def _fork_server(environment: dict[str, str]) -> ForkServer | None:
    """The fork server for runs with exactly this environment; None to run in a fresh process.

    Only this virtualenv's ansible-core is served (another release runs as its own process), and only runs
    whose own environment is read while they run (``_per_run``); any other runs fresh, as does any run while the
    server is busy.
    """
    if not FORK_SERVER or Path(sys.executable).parent != BIN:
        return None
    steady = {name: value for name, value in environment.items() if not _per_run(name)}
    key = (BIN, tuple(sorted(steady.items())))
    server = _servers.get(key)
    if server is None:
        if len(_servers) >= 2:  # the process environment changed more than once: not worth another server
            return None
        server = _servers[key] = ForkServer(BIN / "python", steady)
    elif not server.alive():
        server.close()
        server = _servers[key] = ForkServer(BIN / "python", steady)
    return server


@atexit.register
def _close_servers() -> None:
    for server in _servers.values():
        server.close()


MODULE_PLAYBOOK = "tests/integration/playbooks/module.yml"


def run_module(
    inventory: Path,
    target: str,
    module: str,
    args: dict[str, Any],
    *,
    check: bool = False,
    diff: bool = False,
    use_become: bool = True,
    extra_vars: dict[str, Any] | None = None,
) -> tuple[PlaybookRun, dict[str, Any]]:
    """Run one onshi-cert module on ``target`` (facility codes from the inventory unless given); return the run
    and the module's result."""
    run = run_playbook(
        MODULE_PLAYBOOK,
        inventory,
        check=check,
        diff=diff,
        extra_vars={
            "target": target,
            "module": module,
            "use_become": use_become,
            "module_args": {
                "facility_codes": "{{ onshi_cert_facility_codes }}",
                "trust_anchors": "{{ onshi_cert_trust_anchors }}",
                **args,
            },
            **(extra_vars or {}),
        },
    )
    return run, run.last(target, f"Run {module}")
