"""onshi_cert (present/absent) over the real wire: change, re-run, check mode, refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.conftest import my_store
from tests.integration.helpers import run_module
from tests.unit.test_bad_p12 import BAD_P12

pytestmark = pytest.mark.integration


def cert(lab, target: str, *, check: bool = False, diff: bool = False, use_become: bool = True, **args):
    """Run onshi_cert on ``target``; return the run and the module's result."""
    return run_module(lab.inventory, target, "onshi_cert", args, check=check, diff=diff, use_become=use_become)


def present(lab, target: str, path: Path, tmp_path: Path, password: str = "1234", **kwargs):
    """Install ``path`` with backups into ``tmp_path/backups``."""
    return cert(
        lab,
        target,
        path=str(path),
        password=password,
        backup_dir=str(tmp_path / "backups"),
        backup_password="Backup-Secret-9",
        **kwargs,
    )


def test_provision_new_pc_check_apply_reapply(reset_lab, p12, tmp_path) -> None:
    """Check mode plans and changes nothing; apply imports (3 executions the first time: the administrator registers
    the event-log source); the change is in the PC's Application log; re-apply changes nothing in 1."""
    path = p12("0441234564")
    before = reset_lab.host("sendai-yakkyoku-pc01")["state"]
    _, checked = present(reset_lab, "sendai-yakkyoku-pc01", path, tmp_path, check=True, diff=True)
    assert checked["status"] == "ok" and checked["result"]["changed"] is True
    assert checked["result"]["imported"] is True
    assert "0441234564" in checked["result"]["diff"][0]["after"]
    assert checked["result"]["planned"] is True
    assert reset_lab.host("sendai-yakkyoku-pc01")["state"] == before
    assert reset_lab.records("sendai-yakkyoku-pc01")["executions"] == 1

    reset_lab.reset()
    _, applied = present(reset_lab, "sendai-yakkyoku-pc01", path, tmp_path)
    assert applied["result"]["changed"] is True
    assert applied["result"]["executions"] == 3
    rows = my_store(reset_lab, "sendai-yakkyoku-pc01")
    assert [(r["thumbprint"], r["has_key"], r["exportable"]) for r in rows] == [
        (applied["result"]["thumbprint"], True, True)
    ]
    state = reset_lab.host("sendai-yakkyoku-pc01")["state"]
    assert state["event_sources"] == ["onshi-cert"]
    (event,) = state["events"]
    assert event["event_id"] == 1001 and event["source"] == "onshi-cert" and event["entry_type"] == "Information"
    assert applied["result"]["thumbprint"] in event["message"] and event["user"].endswith("\\OQSComApp")

    reset_lab.reset()
    _, again = present(reset_lab, "sendai-yakkyoku-pc01", path, tmp_path)
    assert again["result"]["changed"] is False
    assert again["result"]["executions"] == 1
    assert reset_lab.records("sendai-yakkyoku-pc01")["executions"] == 1
    assert len(reset_lab.host("sendai-yakkyoku-pc01")["state"]["events"]) == 1  # nothing changed, nothing logged


def test_renewal_replaces_superseded_and_expired_after_backup(reset_lab, p12, tmp_path) -> None:
    """The new certificate is imported and verified; the superseded and expired ones are backed up, then removed."""
    old = {r["thumbprint"] for r in my_store(reset_lab, "tokyo-clinic-pc02")}
    _, result = present(reset_lab, "tokyo-clinic-pc02", p12("1310512346", terminal="02"), tmp_path)
    out = result["result"]
    # read (the superseded and expired ones are ours and not yet named: opened and exported in a second), register
    # the event-log source, change
    assert out["changed"] is True and out["executions"] == 4
    assert {r["thumbprint"] for r in out["removed"]} == old
    events = reset_lab.host("tokyo-clinic-pc02")["state"]["events"]
    assert sorted(e["event_id"] for e in events) == [1001] + [1002] * len(old)
    assert all(t in " ".join(e["message"] for e in events) for t in old)
    rows = my_store(reset_lab, "tokyo-clinic-pc02")
    assert [r["thumbprint"] for r in rows] == [out["thumbprint"]]
    backups = sorted((tmp_path / "backups" / "1310512346").glob("*.pfx"))
    assert {p.stem.split("_")[-2] for p in backups} == old
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in backups)
    assert all(p.with_suffix(".json").exists() for p in backups)


def test_old_windows_build_gets_a_3des_import(reset_lab, p12, tmp_path) -> None:
    """An AES .p12 is re-encrypted with 3DES for Windows 10 1703 (build 15063), which cannot read AES."""
    _, result = present(reset_lab, "osaka-yakkyoku-pc01", p12("2740155557"), tmp_path)
    assert result["status"] == "ok", result["result"].get("msg")
    assert result["result"]["imported"] is True
    assert result["result"]["thumbprint"] in {r["thumbprint"] for r in my_store(reset_lab, "osaka-yakkyoku-pc01")}


def test_machine_ca_is_added_by_the_connecting_administrator(reset_lab, p12, tmp_path) -> None:
    """When the CA is missing from LocalMachine\\Root, it is added as the WinRM administrator (one more execution)."""
    state = reset_lab.host("sendai-yakkyoku-pc01")["state"]
    state["stores"]["LocalMachine\\Root"] = []
    reset_lab.put_host("sendai-yakkyoku-pc01", state)
    _, result = present(reset_lab, "sendai-yakkyoku-pc01", p12("0441234564"), tmp_path)
    assert result["result"]["ca_added"] == [
        {"store": "LocalMachine\\Root", "subject": "CN=Online Billing NW Common Root CA,C=JP"}
    ]
    assert result["result"]["executions"] == 3
    roots = reset_lab.host("sendai-yakkyoku-pc01")["summary"]["stores"]["LocalMachine\\Root"]
    assert [r["subject_cn"] for r in roots] == ["Online Billing NW Common Root CA"]


def _refused(lab, host: str, result: dict, *parts: str) -> None:
    """Assert a failure that names the host and each part, and that the PC was not touched."""
    assert result["status"] == "failed"
    message = result["result"]["msg"]
    assert message.startswith(f"{host}: ")
    for part in parts:
        assert part in message, message
    assert "Fix:" in message


#: The bad files that also cross the wire (all of BAD_P12 run in-process).
WIRE_CASES = ["wrong-password", "lookalike-issuer", "expired"]


@pytest.mark.parametrize(
    ("make", "parts"),
    [BAD_P12[name] for name in WIRE_CASES],
    ids=WIRE_CASES,
)
def test_bad_p12_is_refused_before_touching_the_pc(reset_lab, p12, lab_ca, tmp_path, make, parts) -> None:
    """A bad .p12 fails with the host, the file and the fix; the PC is not even contacted.

    An expired or not-yet-valid file needs one read first: it is only 'outdated' when the PC holds a
    valid certificate of its code (this PC holds none, so it is refused, unchanged). Every kind of bad file
    is refused in-process in tests/unit/test_bad_p12.py; these three cross the wire (a secret that must not
    leak, a forged issuer, a refusal after a read).
    """
    path, password = make(p12, lab_ca, tmp_path)
    before = reset_lab.host("sendai-yakkyoku-pc01")["state"]
    _, result = present(reset_lab, "sendai-yakkyoku-pc01", path, tmp_path, password=password)
    _refused(reset_lab, "sendai-yakkyoku-pc01", result, str(path), *parts)
    assert reset_lab.host("sendai-yakkyoku-pc01")["state"] == before
    validity = any(part in ("expired on", "valid only from") for part in parts)
    assert reset_lab.records("sendai-yakkyoku-pc01")["executions"] == (1 if validity else 0)


def test_network_logon_is_refused_with_the_fix(reset_lab, p12, tmp_path) -> None:
    """Without become there is no DPAPI: refused with the fix instead of Windows' misleading message."""
    before = reset_lab.host("sendai-yakkyoku-pc01")["state"]
    _, result = present(reset_lab, "sendai-yakkyoku-pc01", p12("0441234564"), tmp_path, use_become=False)
    _refused(reset_lab, "sendai-yakkyoku-pc01", result, "no DPAPI", "become: true", "CredSSP")
    assert reset_lab.host("sendai-yakkyoku-pc01")["state"] == before


def test_removal_needs_a_backup_folder(reset_lab, p12) -> None:
    """Stale certificates with exportable keys are never removed without a backup folder."""
    before = reset_lab.host("tokyo-clinic-pc02")["state"]
    _, result = cert(reset_lab, "tokyo-clinic-pc02", path=str(p12("1310512346")), password="1234")
    _refused(reset_lab, "tokyo-clinic-pc02", result, "must be backed up", "backup_dir")
    assert reset_lab.host("tokyo-clinic-pc02")["state"] == before


def test_absent_refuses_the_last_valid_certificate_unless_forced(reset_lab, tmp_path) -> None:
    """Removing the only usable certificate of a code is refused; force: true removes it (after a backup)."""
    thumb = my_store(reset_lab, "sapporo-naika-pc01")[0]["thumbprint"]
    args = {
        "state": "absent",
        "thumbprints": [thumb],
        "backup_dir": str(tmp_path / "b"),
        "backup_password": "Backup-Secret-9",
    }
    _, result = cert(reset_lab, "sapporo-naika-pc01", **args)
    assert result["result"]["changed"] is False
    assert "newest valid certificate for 0110113719" in result["result"]["kept"][0]["reason"]
    assert len(my_store(reset_lab, "sapporo-naika-pc01")) == 1
    _, forced = cert(reset_lab, "sapporo-naika-pc01", force=True, **args)
    assert forced["result"]["changed"] is True
    assert my_store(reset_lab, "sapporo-naika-pc01") == []
    assert list((tmp_path / "b" / "0110113719").glob(f"sapporo-naika-pc01_{thumb}_*.pfx"))


def test_absent_stale_only_check_then_apply_then_converged(reset_lab, tmp_path) -> None:
    """Cleanup removes only the expired and superseded certificates; check mode first, then apply, then nothing."""
    args = {
        "state": "absent",
        "backup_dir": str(tmp_path / "b"),
        "backup_password": "Backup-Secret-9",
    }
    before = reset_lab.host("tokyo-clinic-pc02")["state"]
    _, checked = cert(reset_lab, "tokyo-clinic-pc02", check=True, **args)
    assert checked["result"]["changed"] is True and len(checked["result"]["removed"]) == 2
    assert reset_lab.host("tokyo-clinic-pc02")["state"] == before
    _, applied = cert(reset_lab, "tokyo-clinic-pc02", **args)
    assert applied["result"]["changed"] is True
    assert len(my_store(reset_lab, "tokyo-clinic-pc02")) == 1
    _, again = cert(reset_lab, "tokyo-clinic-pc02", **args)
    assert again["result"]["changed"] is False and again["result"]["executions"] == 2  # the kept one, unnamed
    kept = [r["thumbprint"] for r in my_store(reset_lab, "tokyo-clinic-pc02")]
    _, named = cert(reset_lab, "tokyo-clinic-pc02", known=kept, **args)
    assert named["result"]["changed"] is False and named["result"]["executions"] == 1


def test_non_exportable_stale_certificate_is_removed_with_a_warning(reset_lab, p12, tmp_path) -> None:
    """A superseded certificate whose key cannot be exported goes, with the stated reason no backup was possible."""
    _, result = present(reset_lab, "nagoya-clinic-pc01", p12("2310322223"), tmp_path)
    assert result["result"]["changed"] is True
    assert any("removed without a backup: the private key is not exportable" in w for w in result["result"]["warnings"])
    assert [r["backup"] for r in result["result"]["removed"]] == ["impossible"]
    assert len(my_store(reset_lab, "nagoya-clinic-pc01")) == 1


def test_stale_certificate_backed_up_earlier_is_not_exported_again(reset_lab, p12, tmp_path) -> None:
    """A stale certificate that already has a verified backup is removed without a new export or a warning."""
    _, backed_up = run_module(
        reset_lab.inventory,
        "sapporo-naika-pc02",
        "onshi_cert_backup",
        {"backup_dir": str(tmp_path / "backups"), "backup_password": "Backup-Secret-9"},
    )
    assert backed_up["result"]["changed"] is True
    old = my_store(reset_lab, "sapporo-naika-pc02")[0]["thumbprint"]
    _, result = present(reset_lab, "sapporo-naika-pc02", p12("0110113719", terminal="02"), tmp_path)
    out = result["result"]
    assert [(r["thumbprint"], r["reason"], r["backup"]) for r in out["removed"]] == [(old, "superseded", "verified")]
    assert not [w for w in out["warnings"] if "without a backup" in w]
    assert [b["new"] for b in out["backups"] if b["thumbprint"] == old] == [False]
