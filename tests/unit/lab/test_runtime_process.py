"""The lab's `down` waits for the lab's process to end: a process that ended but was not reaped has ended."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from onshi_cert_tools.lab.runtime import _running


def test_an_ended_unreaped_process_is_not_running() -> None:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + 10
        while _running(process.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        with open(f"/proc/{process.pid}/stat") as stat:  # still there: a zombie nobody reaped yet
            assert stat.read().rsplit(")", 1)[1].split()[0] == "Z"
        assert not _running(process.pid)
    finally:
        process.wait()
    assert not _running(process.pid)


def test_a_running_process_is_running() -> None:
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert _running(process.pid)
        assert _running(os.getpid())
    finally:
        process.kill()
        process.wait()
