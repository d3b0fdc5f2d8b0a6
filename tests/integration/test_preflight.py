"""Pre-flight over the lab: each PC presents one failure; each is named with its code, reason and fix."""

from __future__ import annotations

import os

import pytest
import yaml

from tests.integration.helpers import run_playbook

pytestmark = pytest.mark.integration
OPERATOR_PASSWORD = "Lab-Oqs-2026!"


def change(lab, name: str, **fields) -> None:
    state = lab.host(name)["state"]
    state.update(fields)
    lab.put_host(name, state)


def test_each_failure_is_told_with_its_fix(reset_lab, tmp_path) -> None:
    """One run over the fleet: a healthy PC passes; clock, disk, profile, old Windows, UAC-filtered administrator,
    non-administrator, wrong password, unknown name, closed port, untrusted HTTPS, old face-auth library and a
    wrong become password each fail with their own code; nothing on any PC changes."""
    lab = reset_lab
    change(lab, "sapporo-naika-pc02", clock_offset_seconds=3600)
    change(lab, "sapporo-shika-pc01", system_free_mb=50)
    state = lab.host("tokyo-clinic-pc01")["state"]
    state["users"]["OQSComApp"]["profile"] = False
    lab.put_host("tokyo-clinic-pc01", state)
    change(lab, "tokyo-clinic-pc02", os_build=10586)
    # A local administrator that is not the built-in one (UAC filters its network token), and a plain user; both
    # members of Remote Management Users, so WinRM lets them in.
    state = lab.host("chiba-hospital-pc01")["state"]
    state["users"]["OQSComApp"] |= {"admin": True, "remote_management": True}
    lab.put_host("chiba-hospital-pc01", state)
    state = lab.host("nagoya-clinic-pc01")["state"]
    state["users"]["OQSComApp"]["remote_management"] = True
    lab.put_host("nagoya-clinic-pc01", state)
    before = {name: lab.host(name)["state"] for name in lab.status()["hosts"]}
    overlay = tmp_path / "overlay.yml"
    overlay.write_text(
        yaml.safe_dump(
            {
                "oqs_pcs": {
                    "hosts": {
                        "chiba-hospital-pc01": {"ansible_user": "OQSComApp", "ansible_password": OPERATOR_PASSWORD},
                        "nagoya-clinic-pc01": {"ansible_user": "OQSComApp", "ansible_password": OPERATOR_PASSWORD},
                        "fukuoka-shika-pc01": {"ansible_password": "wrong-password"},
                        "osaka-yakkyoku-pc01": {"ansible_host": "no-such-pc.invalid"},
                        # a listener certificate other than the one recorded at day 0
                        "kyoto-clinic-pc01": {"onshi_cert_listener_fingerprint": "AB" * 32},
                        "sendai-yakkyoku-pc01": {"ansible_become_password": "not-the-password"},
                    }
                }
            }
        )
    )
    run = run_playbook("playbooks/preflight.yml", lab.inventory, extra_args=["-i", str(overlay)])
    results = {r["host"]: r["result"] for r in run.results if "Check the PC" in r["task"]}
    status = {r["host"]: r["status"] for r in run.results if "Check the PC" in r["task"]}
    codes = {
        host: sorted({c.get("error_code") for c in result.get("checks", []) if not c["ok"]})
        for host, result in results.items()
    }
    assert codes == {
        "sapporo-naika-pc01": [],
        "sapporo-naika-pc02": ["ONSHI-E138"],
        "sapporo-shika-pc01": ["ONSHI-E139"],
        "tokyo-clinic-pc01": ["ONSHI-E137"],
        "tokyo-clinic-pc02": ["ONSHI-E140"],
        "chiba-hospital-pc01": ["ONSHI-E134"],
        "nagoya-clinic-pc01": ["ONSHI-E135"],
        "fukuoka-shika-pc01": ["ONSHI-E133"],
        "osaka-yakkyoku-pc01": ["ONSHI-E130"],
        "okinawa-houmon-pc01": ["ONSHI-E131"],
        "kyoto-clinic-pc01": ["ONSHI-E094"],
        "hiroshima-clinic-pc01": ["ONSHI-E057"],
        "sendai-yakkyoku-pc01": ["ONSHI-E136"],
    }, codes
    assert (
        not results["sapporo-naika-pc01"].get("failed")
        and "every pre-flight check passed" in results["sapporo-naika-pc01"]["msg"]
    )
    filtered = results["chiba-hospital-pc01"]["msg"]
    assert "LocalAccountTokenFilterPolicy /t REG_DWORD /d 1 /f" in filtered and "[ONSHI-E134]" in filtered
    assert "w32tm /resync" in results["sapporo-naika-pc02"]["msg"]
    assert {h for h, s in status.items() if s == "ok"} == {"sapporo-naika-pc01"}
    assert {name: lab.host(name)["state"] for name in lab.status()["hosts"]} == before  # nothing changed


def test_a_become_without_password_has_no_dpapi(reset_lab, tmp_path) -> None:
    """become without the operating user's password (an S4U logon) cannot store user keys: ONSHI-E052 with the fix."""
    overlay = tmp_path / "overlay.yml"
    overlay.write_text(
        yaml.safe_dump({"oqs_pcs": {"hosts": {"sapporo-naika-pc01": {"ansible_become_password": None}}}})
    )
    run = run_playbook(
        "playbooks/preflight.yml", reset_lab.inventory, limit="sapporo-naika-pc01", extra_args=["-i", str(overlay)]
    )
    (result,) = [r["result"] for r in run.results if "Check the PC" in r["task"]]
    failed = [c for c in result["checks"] if not c["ok"]]
    assert [c["check"] for c in failed] == ["dpapi"] and failed[0]["error_code"] == "ONSHI-E052"
    assert "become_method: runas" in failed[0]["fix"]


def test_doctor_checks_one_pc_with_the_recap(reset_lab) -> None:
    """onshi-cert doctor PC -i INVENTORY runs the pre-flight on that PC and shows the per-PC recap; its exit code
    is ansible-playbook's (0 when every check passed, 2 when one failed)."""
    import subprocess
    import sys

    def doctor(pc: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "onshi_cert_tools.cli", "doctor", pc, "-i", str(reset_lab.inventory)]
        return subprocess.run(
            command, capture_output=True, text=True, check=False, env={**os.environ, "ONSHI_CERT_LANG": "ja"}
        )

    healthy = doctor("sapporo-naika-pc01")
    assert healthy.returncode == 0, healthy.stdout[-2000:]
    assert "ONSHI-CERT 作業結果" in healthy.stdout
    old = doctor("hiroshima-clinic-pc01")
    assert old.returncode == 2 and "[ONSHI-E057]" in old.stdout and "配信管理ツール" in old.stdout
