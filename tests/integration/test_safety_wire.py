"""The safety rules over the real wire: ansible-playbook, Ansible's winrm connection, the lab's PCs.

The decision cases run in-process in tests/unit/test_safety.py; here each rule is shown once end to end,
reading the PC's stores and the backup folder afterwards.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from onshi_cert.core import backup as backups
from onshi_cert_tools.lab import downloads
from tests.integration.conftest import my_store
from tests.integration.helpers import run_playbook

pytestmark = pytest.mark.integration


def thumbs(lab, host: str) -> set[str]:
    return {r["thumbprint"] for r in my_store(lab, host)}


def put_p12(lab, host: str, issued, name: str, password: str = "2468") -> None:
    """Put a .p12 where provisioning looks for this PC's files, with its password."""
    folder = lab.state_dir / "certs" / host
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(issued.p12(password))
    passwords_file = lab.state_dir / "certs" / "passwords.json"
    passwords = json.loads(passwords_file.read_text()) if passwords_file.exists() else {}
    passwords[f"{host}/{name}"] = password
    passwords_file.write_text(json.dumps(passwords))


def recap_line(run, host: str) -> str:
    recap = run.stdout.split("ONSHI-CERT RECAP")[1]
    return next(line for line in recap.splitlines() if line.startswith(host))


def test_an_older_p12_never_replaces_the_pcs_newer_certificate(reset_lab, lab_ca) -> None:
    """Rule 1: provision.yml with an older (valid) .p12 leaves the newer certificate and says the file is outdated."""
    lab, host = reset_lab, "sapporo-naika-pc01"  # holds a certificate valid for 700 days
    before = thumbs(lab, host)
    put_p12(lab, host, lab_ca.factory.leaf("0110113719", days_left=300), "old-download.p12")
    run = run_playbook("playbooks/provision.yml", lab.inventory, limit=host)
    assert run.rc == 0, run.stdout[-3000:]
    assert run.recap[host]["changed"] == 0 and thumbs(lab, host) == before
    assert "old-download.p12 is not used for 0110113719: older than" in run.stderr


def test_only_the_pinned_root_reaches_the_machine_store(reset_lab, lab_ca) -> None:
    """Rule 3: a genuine .p12 that also carries an extra self-signed root: installed, the extra root never added."""
    from onshi_cert_tools.factory import CertificateFactory

    lab, host = reset_lab, "sendai-yakkyoku-pc01"
    state = lab.host(host)["state"]
    state["stores"]["LocalMachine\\Root"] = []
    lab.put_host(host, state)
    issued = lab_ca.factory.leaf("0441234564")
    issued.chain.append(CertificateFactory(issuer_cn="Extra Root").root)
    put_p12(lab, host, issued, "0441234564.p12")
    run = run_playbook("playbooks/provision.yml", lab.inventory, limit=host)
    assert run.rc == 0, run.stdout[-3000:]
    roots = lab.host(host)["summary"]["stores"]["LocalMachine\\Root"]
    assert [r["subject_cn"] for r in roots] == ["Online Billing NW Common Root CA"]


def test_swapped_codes_are_reported_in_check_mode_and_nothing_is_removed(reset_lab) -> None:
    """Rule 2: cleanup --check on a PC whose only certificate is another code's warns loudly; apply removes nothing."""
    lab, host = reset_lab, "tokyo-clinic-pc01"
    before = lab.host(host)["state"]
    checked = run_playbook("playbooks/cleanup.yml", lab.inventory, limit=host, check=True)
    assert "the inventory and the PC disagree" in checked.stderr
    assert "ATTENTION" in recap_line(checked, host)
    applied = run_playbook("playbooks/cleanup.yml", lab.inventory, limit=host)
    assert applied.rc == 0 and lab.host(host)["state"] == before


def test_a_two_code_pc_gets_backs_up_and_restores_both_codes(reset_lab) -> None:
    """Rule 5: medical and dental codes: provision installs both, backup keeps both, replace_pc restores both."""
    lab, host = reset_lab, "chiba-hospital-pc01"
    blank = lab.host(host)["state"]
    blank["stores"] = {k: v for k, v in blank["stores"].items() if not k.startswith("CurrentUser")}
    lab.put_host(host, blank)
    downloads.issue(lab.state_dir, lab.state_dir / "certs", [host])
    provisioned = run_playbook("playbooks/provision.yml", lab.inventory, limit=host)
    assert provisioned.rc == 0, provisioned.stdout[-3000:]
    installed = thumbs(lab, host)
    assert sorted(r["subject_cn"][:10] for r in my_store(lab, host)) == ["1210444442", "1230444448"]
    index = backups.BackupIndex.scan(lab.state_dir / "backups")
    assert {b.facility_code for b in index.backups if b.host == host} == {"1210444442", "1230444448"}

    lab.put_host(host, blank)  # the PC failed: a blank replacement under the same name
    restored = run_playbook(
        "playbooks/replace_pc.yml", lab.inventory, limit=host, extra_vars={"onshi_cert_restore_from": host}
    )
    assert restored.rc == 0, restored.stdout[-3000:]
    assert thumbs(lab, host) == installed
    assert restored.stderr.count("restoring 12") == 2


def test_a_renewal_that_did_not_happen_fails_and_changes_nothing(reset_lab) -> None:
    """Rule 12: renew.yml on a PC with 45 days left, no renewed .p12 and no in-place renewal: failed, untouched."""
    lab, host = reset_lab, "sapporo-naika-pc02"
    before = lab.host(host)["state"]
    run = run_playbook("playbooks/renew.yml", lab.inventory, limit=host)
    assert run.rc != 0 and run.recap[host]["failures"] == 1
    assert "not renewed" in recap_line(run, host)
    assert lab.host(host)["state"] == before


def test_the_audit_can_fail_the_job_when_pcs_need_a_person(reset_lab) -> None:
    """Rule 12: a wrong-issuer certificate or a non-exportable key is not 'ok'; the audit can fail the job for it."""
    lab = reset_lab
    plain = run_playbook("playbooks/audit.yml", lab.inventory, limit="fukuoka-shika-pc01,nagoya-clinic-pc01")
    assert plain.rc == 0 and "ATTENTION" in recap_line(plain, "fukuoka-shika-pc01")
    # Not asked to fail: the fleet's one skipped task (run once), not a forked worker per PC.
    fail_task = [r for r in plain.results if "Fail each PC" in r["task"]]
    assert [r["status"] for r in fail_task] == ["skipped"]
    run = run_playbook(
        "playbooks/audit.yml",
        lab.inventory,
        limit="fukuoka-shika-pc01,nagoya-clinic-pc01",
        extra_vars={"onshi_cert_audit_fail_on_attention": True},
    )
    assert run.rc != 0
    assert sorted(r["host"] for r in run.results if "Fail each PC" in r["task"]) == [
        "fukuoka-shika-pc01",
        "nagoya-clinic-pc01",
    ]
    for host in ("fukuoka-shika-pc01", "nagoya-clinic-pc01"):
        assert run.recap[host]["failures"] == 1
        assert "[ONSHI-E058] the PC needs a person" in recap_line(run, host)
    assert "claims to be from" in recap_line(run, "fukuoka-shika-pc01")
    assert "not exportable" in recap_line(run, "nagoya-clinic-pc01")
    assert (lab.state_dir / "reports" / "latest" / "report.html").exists()


# --- safety, round 3 ------------------------------------------------------------------------------------------


def with_my_store(lab, lab_ca, host: str, codes: list[str], certs: list[dict]) -> set[str]:
    """Give ``host`` an operator's My holding ``certs`` (fleet-file specs); return their thumbprints."""
    from onshi_cert_tools.lab.fleet import build_hosts

    built = build_hosts({"hosts": [{"name": host, "facility_codes": codes, "certs": certs}]}, lab_ca)[0].to_dict()
    state = lab.host(host)["state"]
    key = "CurrentUser[OQSComApp]\\My"
    state["stores"][key] = built["stores"][key]
    lab.put_host(host, state)
    return {c["thumbprint"] for c in my_store(lab, host)}


def hostile_inventory(lab, tmp_path, name: str, like: str) -> Path:
    """Write an inventory whose one PC is named ``name`` and reaches the lab PC ``like``."""
    import yaml

    inventory = yaml.safe_load(lab.inventory.read_text(encoding="utf-8"))
    groups = inventory["all"]["children"]["oqs_pcs"]["children"]
    pc = next(g["hosts"][like] for g in groups.values() if like in (g.get("hosts") or {}))
    inventory["all"]["children"]["oqs_pcs"]["children"] = {"hostile": {"hosts": {name: pc}}}
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump(inventory, allow_unicode=True), encoding="utf-8")
    return path


def test_a_hostile_pc_name_backs_up_inside_the_backup_folder(reset_lab, tmp_path) -> None:
    """Names used in paths: a PC named like a ledger entry with ../ and a slash is backed up into its code's folder
    under a safe name, found again by the index and restorable; nothing is written beside the backup folder."""
    lab, name = reset_lab, "../受付/2F"
    before = sorted(p.name for p in lab.state_dir.parent.iterdir())
    run = run_playbook("playbooks/backup.yml", hostile_inventory(lab, tmp_path, name, "sapporo-naika-pc02"))
    assert run.rc == 0, run.stdout[-3000:]
    written = sorted((lab.state_dir / "backups").rglob("*.pfx"))
    assert len(written) == 1 and written[0].parent == lab.state_dir / "backups" / "0110113719"
    assert "/" not in written[0].name and not written[0].name.startswith(".")
    assert backups.BackupIndex.scan(lab.state_dir / "backups").thumbprints_of(name) == sorted(
        thumbs(lab, "sapporo-naika-pc02")
    )
    assert sorted(p.name for p in lab.state_dir.parent.iterdir()) == before
    assert not list(lab.state_dir.rglob("*受付*"))


def test_renew_after_an_in_place_renewal_ends_as_the_docs_say(reset_lab, lab_ca) -> None:
    """Renewal in place: the MPKI tool renewed (key not exportable), the original download still in certs/. renew.yml
    keeps the renewed one, backs up and removes the old one, and ends ATTENTION (not_exportable), not failed; a
    second run, provision.yml and cleanup.yml change nothing and fail nothing."""
    lab, host, code = reset_lab, "sapporo-naika-pc02", "0110113719"
    with_my_store(
        lab,
        lab_ca,
        host,
        [code],
        [{"code": code, "days_left": 1180, "exportable": False}, {"code": code, "days_left": 20, "terminal": "02"}],
    )
    rows = sorted(my_store(lab, host), key=lambda r: r["not_after"])
    old, renewed = rows[0]["thumbprint"], rows[1]["thumbprint"]
    put_p12(lab, host, lab_ca.factory.leaf(code, days_left=19), "original-download.p12")
    run = run_playbook("playbooks/renew.yml", lab.inventory, limit=host)
    assert run.rc == 0, run.stdout[-3000:]
    assert thumbs(lab, host) == {renewed}
    assert old in {b.thumbprint for b in backups.BackupIndex.scan(lab.state_dir / "backups").backups}
    assert "ATTENTION" in recap_line(run, host) and "not exportable" in recap_line(run, host)
    for playbook in ("playbooks/renew.yml", "playbooks/provision.yml", "playbooks/cleanup.yml"):
        again = run_playbook(playbook, lab.inventory, limit=host)
        assert again.rc == 0 and again.recap[host]["failures"] == 0, (playbook, again.stdout[-2000:])
        assert again.recap[host]["changed"] == 0, playbook
    assert thumbs(lab, host) == {renewed}


def test_a_two_code_pc_renews_the_code_whose_file_is_ready(reset_lab, lab_ca) -> None:
    """Per-code independence over the wire: medical's renewed .p12 is in certs/, dental's is not yet downloaded.
    renew.yml renews medical (old one backed up, then removed), leaves dental as it was, and fails naming dental."""
    lab, host, medical, dental = reset_lab, "chiba-hospital-pc01", "1210444442", "1230444448"
    with_my_store(
        lab, lab_ca, host, [medical, dental], [{"code": medical, "days_left": 20}, {"code": dental, "days_left": 25}]
    )
    by_code = {r["subject_cn"][:10]: r["thumbprint"] for r in my_store(lab, host)}
    renewed = lab_ca.factory.leaf(medical)
    put_p12(lab, host, renewed, f"{medical}.p12")
    run = run_playbook("playbooks/renew.yml", lab.inventory, limit=host)
    assert run.rc != 0 and run.recap[host]["failures"] == 1
    line = recap_line(run, host)
    assert "not renewed" in line and dental in line.split("not renewed")[1]
    from onshi_cert.core.certinfo import thumbprint

    assert thumbs(lab, host) == {thumbprint(renewed.cert), by_code[dental]}
    saved = {b.thumbprint for b in backups.BackupIndex.scan(lab.state_dir / "backups").backups}
    assert {by_code[medical], thumbprint(renewed.cert)} <= saved


def test_an_open_backup_folder_is_warned_about_once(reset_lab) -> None:
    """Data folder permissions: backups written 0700/0600; an existing backup folder open to others: one warning."""
    lab = reset_lab
    folder = lab.state_dir / "backups"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    run = run_playbook("playbooks/backup.yml", lab.inventory, limit="sapporo-naika-pc01,sapporo-naika-pc02")
    assert run.rc == 0, run.stdout[-3000:]
    assert (run.stdout + run.stderr).count("can be read by other users") == 1
    files = list(folder.rglob("*.pfx")) + list(folder.rglob("*.json"))
    assert files and all(f.stat().st_mode & 0o777 == 0o600 for f in files)
    assert all(d.stat().st_mode & 0o777 == 0o700 for d in folder.iterdir() if d.is_dir())
