"""`molecule test` of the default scenario (provisioning on the lab) passes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import my_store
from tests.integration.helpers import run_playbook

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def molecule_test(scenario: str, **environment: str) -> subprocess.CompletedProcess:
    """Run `molecule test -s <scenario>` from the checkout with this virtualenv first on PATH."""
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}", "ANSIBLE_FORCE_COLOR": "0", "NO_COLOR": "1"}
    return subprocess.run(
        [str(bin_dir / "molecule"), "test", "-s", scenario],
        cwd=ROOT,
        env=env | environment,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def test_molecule_default_scenario() -> None:
    """create (lab up), converge, idempotence, verify and destroy all succeed."""
    proc = molecule_test("default")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-5000:]
    for action in ("create", "converge", "idempotence", "verify", "destroy"):
        assert f"{action}: Executed: Successful" in output.replace("\x1b", "").replace("[0m", ""), action


def windows_environment(lab, host: str, code: str) -> dict[str, str]:
    """Return the environment that points the windows scenario at one lab PC, configured as a real PC would be."""
    return {
        "ONSHI_WINDOWS_HOST": lab.status()["hosts"][host]["address"],
        "ONSHI_WINDOWS_SCHEME": "http",  # NTLM with message encryption, as the lab serves it
        "ONSHI_WINDOWS_PORT": "5985",
        "ONSHI_WINDOWS_USER": "Administrator",
        "ONSHI_WINDOWS_PASSWORD": "Lab-Admin-2026!",
        "ONSHI_WINDOWS_OPERATOR": "OQSComApp",
        "ONSHI_WINDOWS_OPERATOR_PASSWORD": "Lab-Oqs-2026!",
        "ONSHI_WINDOWS_FACILITY_CODE": code,
    }


def test_windows_scenario_on_a_test_pc(reset_lab) -> None:
    """The real-PC scenario, pointed at a lab PC without a certificate: every stage passes and destroy leaves the
    PC as it was (only the thumbprint it created is removed; its test CA is never taken for the real root)."""
    before = my_store(reset_lab, "sendai-yakkyoku-pc01")
    proc = molecule_test("windows", **windows_environment(reset_lab, "sendai-yakkyoku-pc01", "0441234564"))
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-5000:]
    for action in ("syntax", "create", "converge", "idempotence", "verify", "destroy"):
        assert f"{action}: Executed: Successful" in output, action
    assert my_store(reset_lab, "sendai-yakkyoku-pc01") == before


def test_windows_scenario_refuses_a_pc_holding_the_code(reset_lab, tmp_path) -> None:
    """A PC that holds a certificate of the test facility code (maybe a clinic's real one) is refused by the
    scenario's create stage, before anything is installed (molecule stops a sequence at a failing stage, so converge
    never runs), and its certificate stays. The stage's playbook runs as molecule runs it, without molecule around it
    (the whole scenario runs through molecule in the test above)."""
    before = my_store(reset_lab, "sapporo-naika-pc01")
    run = run_playbook(
        "molecule/windows/create.yml",
        ROOT / "molecule" / "windows" / "inventory.yml",
        env={
            "MOLECULE_SCENARIO_DIRECTORY": str(tmp_path),
            "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",  # onshi-cert, as molecule finds it
            **windows_environment(reset_lab, "sapporo-naika-pc01", "0110113719"),
        },
    )
    assert run.rc != 0
    failed = run.last("windows", "Stop unless the PC is free of that code")
    assert failed["status"] == "failed"
    message = failed["result"]["msg"]
    assert "already holds a certificate for 0110113719" in message and "医療機関等コード 0110113719" in message
    assert my_store(reset_lab, "sapporo-naika-pc01") == before
