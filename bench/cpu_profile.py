#!/usr/bin/env python3
"""Run ansible-playbook and say where its controller CPU goes, the parent's and every forked worker's.

    python bench/cpu_profile.py OUT.json ansible-playbook -i INVENTORY PLAYBOOK ...

A sampler thread in each process (the parent, and each worker just after Ansible forks it) reads the CPU
time of the process's other threads (``/proc/self/task/*/schedstat``) every 2 ms and charges the CPU used
since the last look to the bucket of the Python stack running now; a worker's CPU before
``WorkerProcess.run`` is its start-up. What no sampler saw (mostly the workers' exits) is ``getrusage``'s
total minus what was charged: "unattributed". The samplers' own CPU is shown apart: the profiled run is
slower than the measured ones. Keys of the buckets written to OUT.json are "<process or task>\t<bucket>".
py-spy is no use here: it finds a forked worker about 0.1 s after it starts, and most of a worker's life
is shorter than that.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import runpy
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

#: (bucket, parts of a file path or function name that put a stack in it), most specific first: a stack is
#: charged to the first bucket any of its frames matches.
BUCKETS = [
    ("imports (start-up)", ("<frozen importlib._bootstrap>:_find_and_load",)),
    ("argument validation task", ("action/validate_argument_spec.py",)),
    ("PowerShell payload build", ("executor/powershell/", "executor/module_common.py")),
    ("NTLM and TLS", ("/spnego/", "/ssl.py", "ntlm")),
    (
        "transport (pywinrm, pypsrp, requests)",
        ("/winrm/", "/pypsrp/", "/requests/", "/urllib3/", "plugins/connection/"),
    ),
    ("onshi-cert logic", ("onshi_cert", "/onshi/cert/")),
    ("templating", ("/ansible/template/", "/_internal/_templating/", "/jinja2/")),
    ("variables and hostvars", ("vars/manager.py", "vars/hostvars.py", "/plugins/vars/", "inventory/")),
    ("callbacks and display", ("plugins/callback/", "utils/display.py")),
]


def bucket(stack: list[str]) -> str:
    """Return the bucket of a stack (its frames as "file:function" strings)."""
    for name, parts in BUCKETS:
        if any(part in frame for frame in stack for part in parts):
            return name
    return "other ansible-core and Python"


def _stack(frame) -> list[str]:
    stack = []
    while frame is not None:
        stack.append(f"{frame.f_code.co_filename}:{frame.f_code.co_name}")
        frame = frame.f_back
    return stack


class Sampler:
    """Charge each thread's CPU to the bucket of the stack it runs, every 2 ms (and its own CPU to itself)."""

    def __init__(self, role: str) -> None:
        self.role = role
        self.charged: Counter[str] = Counter()
        self._stop = threading.Event()
        self._last: dict[int, float] = {}
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self, before: str = "") -> Sampler:
        """Start sampling; the CPU the calling thread used before now goes to ``before`` if given."""
        if before:
            ident = threading.get_ident()
            self._last[ident] = self._clock(threading.get_native_id()) or 0.0
            self.charged[f"{self.role}\t{before}"] += self._last[ident]
        self._thread.start()
        return self

    @staticmethod
    def _clock(native_id: int | None) -> float | None:
        """Return a thread's CPU seconds from /proc (a thread that ended is None, never a crash)."""
        try:
            with open(f"/proc/self/task/{native_id}/schedstat", "rb") as stat:
                return int(stat.read().split()[0]) / 1e9
        except (OSError, ValueError, IndexError):
            return None

    def _loop(self) -> None:
        me = threading.get_ident()
        while not self._stop.wait(0.002):
            self.sample(me)
        self.sample(me)
        self.charged[f"{self.role}\tprofiler's own sampling (not in the measured runs)"] += time.thread_time()

    def sample(self, me: int) -> None:
        # The clocks first (reading /proc lets the other threads run), then every stack at once, with no
        # thread switch while a frame of a running thread is walked (Python 3.11 may crash on a stale one).
        clocks = {t.ident: self._clock(t.native_id) for t in threading.enumerate() if t.ident != me}
        interval = sys.getswitchinterval()
        sys.setswitchinterval(1.0)
        try:
            stacks = {ident: bucket(_stack(frame)) for ident, frame in sys._current_frames().items() if ident != me}
        finally:
            sys.setswitchinterval(interval)
        for ident, where in stacks.items():
            now = clocks.get(ident)
            if now is None:
                continue
            used = now - self._last.get(ident, now)
            self._last[ident] = now
            if used > 0:
                self.charged[f"{self.role}\t{where}"] += used

    def stop(self, folder: str) -> None:
        self._stop.set()
        self._thread.join()
        Path(folder, f"{os.getpid()}.json").write_text(json.dumps(self.charged))


def main() -> int:
    out = Path(sys.argv[1])
    folder = tempfile.mkdtemp(prefix="onshi-cpu-profile-")
    from ansible.executor.process import worker

    original = worker.WorkerProcess.run

    def run(self):  # in the forked worker: the profiler must never be why it fails
        sampler = None
        with contextlib.suppress(Exception):
            sampler = Sampler(f"task {self._task.get_name()}").start(before="worker start-up after the fork")
        try:
            return original(self)
        finally:
            if sampler is not None:
                with contextlib.suppress(Exception):
                    sampler.stop(folder)

    worker.WorkerProcess.run = run
    sys.argv = sys.argv[2:]
    sampler = Sampler("ansible-playbook parent").start()
    code = 0
    try:
        runpy.run_path(sys.argv[0], run_name="__main__")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    sampler.stop(folder)
    total = Counter()
    for path in Path(folder).glob("*.json"):
        total.update(json.loads(path.read_text()))
        path.unlink()
    os.rmdir(folder)
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    total["workers\tunattributed (worker exits)"] = max(cpu - sum(total.values()), 0.0)
    out.write_text(json.dumps({"rc": code, "cpu": cpu, "buckets": dict(total)}))
    return code


if __name__ == "__main__":
    sys.exit(main())
