"""The safety rules over the real wire: ansible-playbook, Ansible's winrm connection, the lab's PCs.

The decision cases run in-process in tests/unit/test_safety.py; here each rule is shown once end to end,
reading the PC's stores and the backup folder afterwards.
"""

from __future__ import annotations

import json

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
