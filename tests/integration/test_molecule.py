"""`molecule test` of the default scenario (provisioning on the lab) passes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_molecule_default_scenario() -> None:
    """create (lab up), converge, idempotence, verify and destroy all succeed."""
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}", "ANSIBLE_FORCE_COLOR": "0", "NO_COLOR": "1"}
    proc = subprocess.run(
        [str(bin_dir / "molecule"), "test", "-s", "default"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-5000:]
    for action in ("create", "converge", "idempotence", "verify", "destroy"):
        assert f"{action}: Executed: Successful" in output.replace("\x1b", "").replace("[0m", ""), action


def test_windows_scenario_is_well_formed() -> None:
    """The windows scenario's playbooks pass a syntax check (it runs only against a real host)."""
    bin_dir = Path(sys.executable).parent
    for playbook in ("create.yml", "verify.yml", "destroy.yml"):
        proc = subprocess.run(
            [
                str(bin_dir / "ansible-playbook"),
                "--syntax-check",
                "-i",
                "localhost,",
                str(ROOT / "molecule" / "windows" / playbook),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
