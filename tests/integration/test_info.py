"""onshi_cert_info over the real wire: ansible-playbook -> winrm -> pywinrm -> the lab."""

from __future__ import annotations

import pytest

from tests.integration.conftest import reset
from tests.integration.helpers import MODULE_PLAYBOOK, run_module, run_playbook
from tests.unit.test_audit_verdicts import VERDICTS

pytestmark = pytest.mark.integration


def info(lab, target: str, check: bool = False, use_become: bool = True, **args):
    return run_module(lab.inventory, target, "onshi_cert_info", args, check=check, use_become=use_become)


def test_healthy_pc_reads_in_one_execution_once_its_certificates_are_known(reset_lab) -> None:
    """A healthy PC: one certificate OK, CA trusted, face-auth fine, nothing changed; one execution once known."""
    _, result = info(reset_lab, "sapporo-naika-pc01")
    report = result["result"]["onshi_cert"]
    assert result["status"] == "ok" and result["result"]["changed"] is False
    assert report["status"] == "ok" and report["problems"] == []
    assert [c["verdict"] for c in report["certificates"]] == ["ok"]
    assert report["ca_trusted"] is True
    assert report["face_auth"] == {
        "path": "C:\\Program Files\\OQS-Auth\\Version.info",
        "found": True,
        "error": None,
        "version": "2.1.3",
        "minimum": "2.1.0",
        "ok": True,
    }
    assert report["host"]["user"].endswith("\\OQSComApp") and report["host"]["dpapi"] is True
    # The agent opens only keys the controller names: a first read, knowing nothing, opens ours in a second
    # execution; a read that names them (the fleet record's latest answer, as the roles pass it) takes one.
    assert reset_lab.records("sapporo-naika-pc01")["executions"] == 2
    known = [c["thumbprint"] for c in report["certificates"] if c["trusted"]]
    _, again = info(reset_lab, "sapporo-naika-pc01", known=known)
    assert again["result"]["onshi_cert"]["certificates"] == report["certificates"]
    assert reset_lab.records("sapporo-naika-pc01")["executions"] == 3


def test_facts_only_returns_the_report_once(reset_lab) -> None:
    """facts_only (what the audit role sets): the report is the host's fact only, the same report as without it."""
    _, both = info(reset_lab, "sapporo-naika-pc01")
    _, once = info(reset_lab, "sapporo-naika-pc01", facts_only=True)
    assert "onshi_cert" in both["result"] and "onshi_cert" not in once["result"]
    fact = once["result"]["ansible_facts"]["onshi_cert"]
    drop = {"checked_at"}
    assert {k: v for k, v in fact.items() if k not in drop} == {
        k: v for k, v in both["result"]["onshi_cert"].items() if k not in drop
    }
    assert fact["status"] == "ok" and reset_lab.records("sapporo-naika-pc01")["executions"] == 4  # 2 reads, 2 each


@pytest.fixture(scope="module")
def fleet_read(lab):
    """Read every PC of the sample fleet in one playbook run (the cases: tests/unit/test_audit_verdicts.py)."""
    reset(lab)
    run = run_playbook(
        MODULE_PLAYBOOK,
        lab.inventory,
        extra_vars={
            "target": "oqs_pcs",
            "module": "onshi_cert_info",
            "module_args": {
                "facility_codes": "{{ onshi_cert_facility_codes }}",
                "trust_anchors": "{{ onshi_cert_trust_anchors }}",
            },
        },
    )
    return run, {name: lab.records(name)["executions"] for name in lab.initial}


@pytest.mark.parametrize(("host", "status", "codes"), [(h, s, c) for h, (s, c) in VERDICTS.items()])
def test_mixed_fleet_verdicts_over_the_wire(fleet_read, host: str, status: str, codes: list[str]) -> None:
    """Every reachable PC of the sample fleet, read in the same run, gets the verdict of its state;
    the unreachable one is reported as such and the others still complete."""
    run, executions = fleet_read
    result = run.last(host, "onshi_cert_info")
    assert result["status"] == "ok", result
    report = result["result"]["onshi_cert"]
    assert (report["status"], [p["code"] for p in report["problems"]]) == (status, codes)
    ours = [c for c in report["certificates"] if c["trusted"] and c["has_key"]]
    assert executions[host] == (2 if ours else 1)  # nothing named yet: a key of ours is opened in a second one


def test_an_unreachable_pc_in_the_fleet_read(fleet_read) -> None:
    """okinawa's WinRM is off: unreachable, counted as such in the recap, without stopping the others."""
    run, executions = fleet_read
    assert run.last("okinawa-houmon-pc01")["status"] == "unreachable"
    assert run.recap["okinawa-houmon-pc01"]["unreachable"] == 1
    assert executions["okinawa-houmon-pc01"] == 0


def test_check_mode_is_the_same_read(reset_lab) -> None:
    """In check mode the module runs unchanged (read-only) and the lab's state stays as it was."""
    before = reset_lab.host("sapporo-naika-pc02")["state"]
    _, result = info(reset_lab, "sapporo-naika-pc02", check=True)
    assert result["result"]["onshi_cert"]["status"] == "expiring"
    assert reset_lab.host("sapporo-naika-pc02")["state"] == before


def test_bad_facility_code_in_inventory_fails_before_connecting(reset_lab) -> None:
    """A misspelt facility code fails with the host, the bad part and the fix, without touching the PC."""
    _, result = info(reset_lab, "sapporo-naika-pc01", facility_codes=["0110113718"])
    assert result["status"] == "failed"
    assert result["result"]["msg"].startswith(
        "sapporo-naika-pc01: [ONSHI-E006] facility_codes: facility code 0110113718: check"
    )
    assert "onshi_cert_facility_codes" in result["result"]["msg"]
    assert reset_lab.records("sapporo-naika-pc01")["executions"] == 0


def test_wrong_winrm_password_is_rejected(reset_lab) -> None:
    """Wrong WinRM credentials get 401 from the lab and nothing runs."""
    _, result = run_module(
        reset_lab.inventory, "sapporo-naika-pc01", "onshi_cert_info", {}, extra_vars={"ansible_password": "wrong"}
    )
    assert result["status"] == "unreachable"
    assert "credentials were rejected" in result["result"]["msg"]
    assert reset_lab.records("sapporo-naika-pc01")["executions"] == 0


def test_plain_network_logon_reads_the_connecting_users_store(reset_lab) -> None:
    """Without become, CurrentUser is the WinRM user: the administrator's empty store, network logon, no DPAPI."""
    _, result = info(reset_lab, "sapporo-naika-pc01", use_become=False)
    report = result["result"]["onshi_cert"]
    assert report["host"]["user"].endswith("\\Administrator")
    assert report["host"]["logon_type"] == "network" and report["host"]["dpapi"] is False
    assert report["certificates"] == []


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        ({"ansible_winrm_transport": "basic"}, "Basic authentication over plain HTTP"),
        ({"ansible_winrm_message_encryption": "never"}, "message encryption turned off"),
    ],
    ids=["basic-over-http", "ntlm-unencrypted"],
)
def test_insecure_transport_is_refused_before_connecting(reset_lab, settings, reason) -> None:
    """Secrets never go over plain HTTP unencrypted: refused with the fix, nothing sent."""
    _, result = run_module(reset_lab.inventory, "sapporo-naika-pc01", "onshi_cert_info", {}, extra_vars=settings)
    assert result["status"] == "failed"
    assert reason in result["result"]["msg"] and "Fix: use HTTPS" in result["result"]["msg"]
    assert reset_lab.records("sapporo-naika-pc01")["operations"] == {}


def test_insecure_transport_can_be_allowed_explicitly(reset_lab) -> None:
    """With onshi_cert_allow_insecure_transport the request goes out, and the PC itself refuses Basic over HTTP."""
    _, result = run_module(
        reset_lab.inventory,
        "sapporo-naika-pc01",
        "onshi_cert_info",
        {},
        extra_vars={"ansible_winrm_transport": "basic", "onshi_cert_allow_insecure_transport": True},
    )
    assert result["status"] == "unreachable" and "credentials were rejected" in result["result"]["msg"]


def test_expiry_only_audit_without_become(reset_lab) -> None:
    """Connecting as the operating user itself, without become, reads its store; keys are left out of the verdict."""
    state = reset_lab.host("sapporo-naika-pc02")["state"]
    state["users"]["OQSComApp"]["remote_management"] = True  # a member of Remote Management Users
    reset_lab.put_host("sapporo-naika-pc02", state)
    operator = {"ansible_user": "OQSComApp", "ansible_password": "Lab-Oqs-2026!"}
    _, full = run_module(
        reset_lab.inventory, "sapporo-naika-pc02", "onshi_cert_info", {}, use_become=False, extra_vars=operator
    )
    # Without DPAPI the key cannot be opened, so the valid certificate would look unusable: why keys are left out.
    assert full["result"]["onshi_cert"]["status"] == "no_key"
    reset_lab.reset()
    _, result = run_module(
        reset_lab.inventory,
        "sapporo-naika-pc02",
        "onshi_cert_info",
        {"expiry_only": True},
        use_become=False,
        extra_vars=operator,
    )
    report = result["result"]["onshi_cert"]
    assert report["host"]["user"].endswith("\\OQSComApp") and report["host"]["logon_type"] == "network"
    assert report["status"] == "expiring"
    assert [(c["facility_code"], c["key_usable"], c["key_exportable"]) for c in report["certificates"]] == [
        ("0110113719", None, None)
    ]
    assert "no_key" not in [p["code"] for p in report["problems"]]
    records = reset_lab.records("sapporo-naika-pc02")
    assert records["executions"] == 1 and records["bytes_in"] < 150_000  # no become wrapper
