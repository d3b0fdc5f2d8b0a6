"""Run ansible-playbook for real (winrm connection, pywinrm) and read back what happened."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
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
            **(env or {}),
        }
        proc = subprocess.run(
            cmd, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=timeout, check=False
        )
        data = json.loads(results_file.read_text()) if results_file.exists() else {"results": [], "recap": {}}
    return PlaybookRun(proc.returncode, proc.stdout, proc.stderr, data["results"], data["recap"])


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
