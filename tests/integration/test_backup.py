"""onshi_cert_backup over the real wire: verified backups, no re-export, PC copy, refusals."""

from __future__ import annotations

import json

import pytest

from onshi_cert.core.pkcs12 import load_pkcs12
from tests.integration.conftest import my_store
from tests.integration.helpers import run_module

pytestmark = pytest.mark.integration
SECRET = "Backup-Secret-9"


def backup(lab, target: str, tmp_path, *, check: bool = False, **args):
    args = {"backup_dir": str(tmp_path / "b"), "backup_password": SECRET, **args}
    return run_module(lab.inventory, target, "onshi_cert_backup", args, check=check)[1]


def test_backup_check_apply_reapply(reset_lab, tmp_path) -> None:
    """Check mode writes nothing; apply writes a verified, chained, AES backup; re-apply exports nothing."""
    checked = backup(reset_lab, "sapporo-naika-pc01", tmp_path, check=True)
    assert checked["result"]["changed"] is True
    assert not (tmp_path / "b").exists()

    done = backup(reset_lab, "sapporo-naika-pc01", tmp_path)
    entry = done["result"]["backups"][0]
    thumb = my_store(reset_lab, "sapporo-naika-pc01")[0]["thumbprint"]
    assert done["result"]["changed"] is True and done["result"]["executions"] == 2  # read, then open and export it
    assert entry["thumbprint"] == thumb and entry["encryption"] == "aes256"
    (pfx,) = (tmp_path / "b" / "0110113719").glob(f"sapporo-naika-pc01_{thumb}_*.pfx")
    bundle = load_pkcs12(pfx.read_bytes(), SECRET)
    assert [c.subject.rfc4514_string() for c in bundle.chain] == ["CN=Online Billing NW Common Root CA,C=JP"]
    bundle.leaf.verify_directly_issued_by(bundle.chain[0])  # the chain is the real, pinned root
    sidecar = json.loads(pfx.with_suffix(".json").read_text())
    assert sidecar["source_host"] == "sapporo-naika-pc01" and sidecar["algorithm"] == "aes256"

    reset_lab.reset()
    again = backup(reset_lab, "sapporo-naika-pc01", tmp_path)
    assert again["result"]["changed"] is False and again["result"]["backups"][0]["new"] is False
    assert reset_lab.records("sapporo-naika-pc01")["bytes_out"] < 20000


def test_two_codes_two_backups_and_old_build_gets_3des(reset_lab, tmp_path) -> None:
    """A PC with medical and dental codes gets one backup per code; a pre-1709 PC gets 3DES backups."""
    both = backup(reset_lab, "chiba-hospital-pc01", tmp_path)
    assert sorted(b["facility_code"] for b in both["result"]["backups"]) == ["1210444442", "1230444448"]
    old = backup(reset_lab, "osaka-yakkyoku-pc01", tmp_path)
    assert old["result"]["backups"][0]["encryption"] == "3des"


def test_a_key_that_is_not_exportable_needs_a_person_not_a_failure(reset_lab, tmp_path) -> None:
    """Rule 11: a kept key that cannot be exported (renewed in place) is the PC's attention with its fix, never a
    failed task; nothing is written."""
    result = backup(reset_lab, "nagoya-clinic-pc01", tmp_path)
    assert result["status"] == "ok", result["result"].get("msg")
    assert result["result"]["changed"] is False and result["result"]["attention_needed"] is True
    (item,) = [a for a in result["result"]["attention"] if a["code"] == "not_exportable"]
    assert "downloaded .p12" in item["fix"]
    assert any("not exportable" in w for w in result["result"]["warnings"])
    assert not (tmp_path / "b").exists()


def test_copy_on_the_pc(reset_lab, tmp_path) -> None:
    """With pc_copy_dir the new backup is also written on the PC (a USB drive); a missing drive is an error."""
    state = reset_lab.host("sapporo-naika-pc01")["state"]
    state["files"]["E:\\onshi-backup\\.keep"] = ""
    reset_lab.put_host("sapporo-naika-pc01", state)
    result = backup(reset_lab, "sapporo-naika-pc01", tmp_path, pc_copy_dir="E:\\onshi-backup")
    assert result["result"]["executions"] == 3  # read, open and export, write the copy
    files = reset_lab.host("sapporo-naika-pc01")["summary"]["files"]
    assert any(f.startswith("E:\\onshi-backup\\sapporo-naika-pc01_") for f in files)
    missing = backup(reset_lab, "sapporo-naika-pc02", tmp_path, pc_copy_dir="F:\\nothing")
    assert missing["status"] == "failed" and "does not exist" in missing["result"]["msg"]


def test_backup_folder_not_writable(reset_lab, tmp_path) -> None:
    """A backup folder that cannot be written (here: a file stands in its place) is a clear error naming it."""
    folder = tmp_path / "b"
    folder.write_text("not a folder")
    result = backup(reset_lab, "sapporo-naika-pc01", tmp_path)
    assert result["status"] == "failed"
    assert "cannot write" in result["result"]["msg"] and str(folder) in result["result"]["msg"]


def test_keep_prunes_this_pcs_older_backups_after_the_new_one(reset_lab, lab_ca, tmp_path) -> None:
    """keep: 1 on the wire: the PC's fresh backup stays, an older backup of a superseded certificate and an older
    copy go (check mode only says so), an expired one stays until prune_expired, another PC's stay."""
    from onshi_cert.core import backup as backups
    from onshi_cert.core.pkcs12 import Encryption

    folder = tmp_path / "b"
    older = lab_ca.factory.leaf("0110113719", days_left=100)
    dead = lab_ca.factory.leaf("0110113719", days_left=-10)
    extra = [
        backups.write(folder, host, "0110113719", data, load_pkcs12(data, SECRET), Encryption.AES256)
        for host, data in (
            ("sapporo-naika-pc01", older.p12(SECRET)),
            ("sapporo-naika-pc01", dead.p12(SECRET)),
            ("sapporo-naika-pc02", older.p12(SECRET)),
        )
    ]
    checked = backup(reset_lab, "sapporo-naika-pc01", tmp_path, check=True, keep=1)
    assert [p["thumbprint"] for p in checked["result"]["pruned"]] == [extra[0].thumbprint]
    assert all(b.path.exists() for b in extra)

    done = backup(reset_lab, "sapporo-naika-pc01", tmp_path, keep=1)
    assert [p["path"] for p in done["result"]["pruned"]] == [str(extra[0].path)]
    assert not extra[0].path.exists() and extra[1].path.exists() and extra[2].path.exists()
    current = done["result"]["backups"][0]
    assert current["new"] is True and (folder / "0110113719" / current["path"].rsplit("/", 1)[-1]).exists()

    expired = backup(reset_lab, "sapporo-naika-pc01", tmp_path, keep=1, prune_expired=True)
    assert [p["path"] for p in expired["result"]["pruned"]] == [str(extra[1].path)] and not extra[1].path.exists()
    assert extra[2].path.exists()  # another PC's backups are not this task's
