"""Every playbook end to end on the lab's mixed fleet: check mode, apply, the state of each PC, re-run."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from zoneinfo import ZoneInfo

import pytest
from cryptography.hazmat.primitives import serialization

from onshi_cert.core import backup as backups
from onshi_cert.core.pkcs12 import Encryption, load_pkcs12
from onshi_cert_tools.lab import downloads
from onshi_cert_tools.lab.fleet import LAB_BACKUP_PASSWORD
from tests.integration.browser import is_blank, screenshot
from tests.integration.conftest import blank_my_store, my_store
from tests.integration.helpers import run_playbook

pytestmark = pytest.mark.integration
NEEDING = [
    "sapporo-naika-pc02",
    "sapporo-shika-pc01",
    "sendai-yakkyoku-pc01",
    "tokyo-clinic-pc01",
    "osaka-yakkyoku-pc01",
    "hiroshima-clinic-pc01",
    "kyoto-clinic-pc01",
]


def states(lab) -> dict:
    return {name: lab.host(name)["state"] for name in lab.status()["hosts"]}


def changed_hosts(run) -> set[str]:
    return {h for h, counts in run.recap.items() if counts["changed"]}


@pytest.mark.matrix
def test_provision_check_apply_converge(reset_lab, release, tmp_path) -> None:
    """Check mode plans and changes nothing; apply fixes every PC it can; a re-run changes nothing. Each run
    leaves each clinic's work plan (check mode) or work report."""
    lab = reset_lab
    issued = downloads.issue(lab.state_dir, lab.state_dir / "certs")
    assert set(issued) == {*NEEDING, "okinawa-houmon-pc01"}  # the download site cannot know it is unreachable
    before = states(lab)
    docs = {"onshi_cert_workdocs_dir": str(tmp_path / "work")}
    checked = run_playbook("playbooks/provision.yml", lab.inventory, check=True, diff=True, extra_vars=docs)
    assert states(lab) == before
    assert changed_hosts(checked) >= set(NEEDING)
    assert "+" in checked.stdout and "CurrentUser(OQSComApp)\\My" in checked.stdout
    assert "planned" in checked.stdout.split("ONSHI-CERT RECAP")[1]
    tokyo = lab.host("tokyo-clinic-pc01")["state"]["facility_codes"][0]
    plan = (tmp_path / "work" / f"{tokyo}_plan.ja.html").read_text(encoding="utf-8")
    assert "作業計画書" in plan and "tokyo-clinic-pc01" in plan and "設定します" in plan
    assert "想定停止時間: なし" in plan
    assert not list((tmp_path / "work").glob("*_report.*"))

    remarks = {"onshi_cert_remarks": "受付の PC は昼休みに作業しました"}  # -e: the 特記事項 of every PC of the run
    applied = run_playbook("playbooks/provision.yml", lab.inventory, extra_vars=docs | remarks)
    assert applied.recap["okinawa-houmon-pc01"]["unreachable"] == 1
    assert applied.recap["nagoya-clinic-pc01"]["failures"] == 0  # valid, no .p12: nothing to provision
    for host in NEEDING:
        assert applied.recap[host]["failures"] == 0, host
        rows = my_store(lab, host)
        codes = lab.host(host)["state"]["facility_codes"]
        ours = [r for r in rows if r["ours"] and r["subject_cn"][:10] in codes]
        assert len(ours) == 1, (host, rows)
        assert ours[0]["has_key"] and ours[0]["exportable"]
        assert dt.datetime.fromisoformat(ours[0]["not_after"]) > dt.datetime.now(dt.UTC) + dt.timedelta(days=1000)
    assert "ONSHI-CERT RECAP" in applied.stdout
    assert not re.search(r"^localhost ", applied.stdout.split("ONSHI-CERT RECAP")[1], re.M), "the controller is no PC"
    assert list((lab.state_dir / "backups").rglob("*.pfx"))
    report = (tmp_path / "work" / f"{tokyo}_report.ja.html").read_text(encoding="utf-8")
    (kept,) = [r for r in my_store(lab, "tokyo-clinic-pc01") if r["ours"] and r["subject_cn"][:10] == tokyo]
    assert "作業報告書" in report and kept["thumbprint"] in report
    assert "作業後" in report and "医療機関 確認欄" in report
    assert report.count("受付の PC は昼休みに作業しました") == 1, "the remark once, in the 特記事項 box"
    work_time = re.search(r"<td>作業時刻</td><td>([^<]*)</td>", report)
    assert work_time and " – " in work_time.group(1), "from the job's start to its record, not one moment"
    okinawa = lab.host("okinawa-houmon-pc01")["state"]["facility_codes"][0]
    assert "接続不可" in (tmp_path / "work" / f"{okinawa}_report.ja.html").read_text(encoding="utf-8")

    again = run_playbook("playbooks/provision.yml", lab.inventory)
    assert changed_hosts(again) == set()


def test_provision_and_audit_over_psrp(reset_lab) -> None:
    """The same jobs through ansible-core's psrp connection (pypsrp, a runspace pool per PC, become included):
    every PC needing a certificate gets exactly one, backups are written, the audit reports, a re-run is
    quiet, and each execution was a pipeline of the exec wrapper's script (no powershell.exe command line)."""
    lab = reset_lab
    downloads.issue(lab.state_dir, lab.state_dir / "certs")
    over_psrp = {"ansible_connection": "psrp"}
    # HTTP with NTLM encryption, HTTPS (port 5986: psrp chooses https itself), a stale pair, and a PC that is off
    needing = ["sapporo-naika-pc02", "kyoto-clinic-pc01", "tokyo-clinic-pc02", "sendai-yakkyoku-pc01"]
    limit = ",".join([*needing, "okinawa-houmon-pc01"])
    applied = run_playbook("playbooks/provision.yml", lab.inventory, extra_vars=over_psrp, limit=limit)
    assert applied.recap["okinawa-houmon-pc01"]["unreachable"] == 1
    for host in needing:
        assert applied.recap[host]["failures"] == 0, host
        codes = lab.host(host)["state"]["facility_codes"]
        ours = [r for r in my_store(lab, host) if r["ours"] and r["subject_cn"][:10] in codes]
        assert len(ours) == 1 and ours[0]["exportable"], host
    assert len(my_store(lab, "tokyo-clinic-pc02")) == 1  # the superseded and the expired one went, after backup
    assert len(list((lab.state_dir / "backups").rglob("*.pfx"))) >= len(needing)
    record = lab.records("kyoto-clinic-pc01")
    assert record["executions"] >= 2 and record["refused"] == []
    assert all(not line.lower().startswith("powershell") for line in record["command_lines"])
    again = run_playbook("playbooks/provision.yml", lab.inventory, extra_vars=over_psrp, limit=limit)
    assert changed_hosts(again) == set()
    audited = run_playbook("playbooks/audit.yml", lab.inventory, extra_vars=over_psrp, limit=limit)
    data = json.loads((lab.state_dir / "reports" / "latest" / "report.json").read_text())
    # the whole fleet is reported: the 5 PCs of --limit as seen now, the 8 others never audited (未確認)
    assert data["summary"]["hosts"] == 13 and data["summary"]["unreachable"] == 1 and data["summary"]["unseen"] == 8
    assert audited.recap["tokyo-clinic-pc02"]["failures"] == 0


def test_cleanup_check_apply_converge(reset_lab) -> None:
    """cleanup.yml removes only stale certificates, after backing them up; re-run changes nothing."""
    lab = reset_lab
    before = states(lab)
    run_playbook("playbooks/cleanup.yml", lab.inventory, check=True)
    assert states(lab) == before
    applied = run_playbook("playbooks/cleanup.yml", lab.inventory)
    assert changed_hosts(applied) == {"sapporo-shika-pc01", "tokyo-clinic-pc02"}
    assert len(my_store(lab, "tokyo-clinic-pc02")) == 1
    assert my_store(lab, "sapporo-shika-pc01") == []
    # another clinic's valid certificate is the PC's only one: it stays, and the recap says the PC needs a person
    assert [r["subject_cn"][:10] for r in my_store(lab, "tokyo-clinic-pc01")] == ["2310322223"]
    recap = applied.stdout.split("ONSHI-CERT RECAP")[1]
    line = next(line for line in recap.splitlines() if line.startswith("tokyo-clinic-pc01"))
    assert "ATTENTION" in line and "disagree" in line
    assert len(my_store(lab, "fukuoka-shika-pc01")) == 2  # the look-alike is never ours to remove
    assert changed_hosts(run_playbook("playbooks/cleanup.yml", lab.inventory)) == set()


@pytest.mark.matrix
def test_backup_then_replace_a_failed_pc(reset_lab, release) -> None:
    """backup.yml backs up the fleet; replace_pc.yml restores the newest backup onto a blank replacement PC."""
    lab = reset_lab
    first = run_playbook("playbooks/backup.yml", lab.inventory)
    assert "sapporo-naika-pc02" in changed_hosts(first)
    # Its key cannot be backed up (rule 11): not a failure; the PC needs a person and the recap says why.
    assert first.recap["nagoya-clinic-pc01"]["failures"] == 0
    recap = first.stdout.split("ONSHI-CERT RECAP")[1]
    line = next(line for line in recap.splitlines() if line.startswith("nagoya-clinic-pc01"))
    assert "ATTENTION" in line and "not exportable" in line
    # no line contradicts itself: what was just backed up is never also "no verified backup"
    assert not [x for x in recap.splitlines() if "backed up" in x and "no verified backup" in x]
    assert changed_hosts(run_playbook("playbooks/backup.yml", lab.inventory)) == set()
    original = my_store(lab, "sapporo-naika-pc02")[0]["thumbprint"]

    blank_my_store(lab, "sapporo-naika-pc02")
    restored = run_playbook(
        "playbooks/replace_pc.yml",
        lab.inventory,
        limit="sapporo-naika-pc02",
        extra_vars={"onshi_cert_restore_from": "sapporo-naika-pc02"},
    )
    assert restored.rc == 0, restored.stdout[-3000:]
    assert [r["thumbprint"] for r in my_store(lab, "sapporo-naika-pc02")] == [original]


def test_replace_refuses_an_expired_backup(reset_lab, lab_ca) -> None:
    """An expired newest backup is refused with what to do instead; the PC is not touched."""
    lab = reset_lab
    issued = lab_ca.factory.leaf("0130120041", days_left=-3)
    data = issued.p12(LAB_BACKUP_PASSWORD, Encryption.AES256)
    bundle = load_pkcs12(data, LAB_BACKUP_PASSWORD)
    backups.write(lab.state_dir / "backups", "sapporo-shika-pc01", "0130120041", data, bundle, Encryption.AES256)
    before = lab.host("sapporo-shika-pc01")["state"]
    run = run_playbook(
        "playbooks/replace_pc.yml",
        lab.inventory,
        limit="sapporo-shika-pc01",
        extra_vars={"onshi_cert_restore_from": "sapporo-shika-pc01"},
    )
    assert run.rc != 0
    result = run.last("sapporo-shika-pc01", "verified backup of the old PC")
    assert "expired on" in result["result"]["msg"] and "apply for a new certificate" in result["result"]["msg"]
    assert lab.host("sapporo-shika-pc01")["state"] == before


@pytest.mark.matrix
def test_renew_checks_face_auth_installs_and_finishes_in_place_renewals(reset_lab, lab_ca, release) -> None:
    """renew.yml stops a PC with an old face-auth library, installs a renewed .p12, and finishes an MPKI renewal."""
    lab = reset_lab
    downloads.issue(lab.state_dir, lab.state_dir / "certs", ["sapporo-naika-pc02", "hiroshima-clinic-pc01"])
    osaka = lab.host("osaka-yakkyoku-pc01")["state"]  # renewed in place with the MPKI client tool
    renewed = lab_ca.factory.leaf("2740155557", days_left=1180)
    store = osaka["stores"]["CurrentUser[OQSComApp]\\My"]
    key_pem = renewed.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    store.append(
        {
            **store[0],
            "der": base64.b64encode(renewed.cert.public_bytes(serialization.Encoding.DER)).decode(),
            "key_pem": key_pem,
        }
    )
    lab.put_host("osaka-yakkyoku-pc01", osaka)
    old_osaka = store[0]

    run = run_playbook(
        "playbooks/renew.yml", lab.inventory, limit="sapporo-naika-pc02,hiroshima-clinic-pc01,osaka-yakkyoku-pc01"
    )
    face = run.last("hiroshima-clinic-pc01", "face-authentication library is too old")
    assert face["status"] == "failed" and "2.0.5" in face["result"]["msg"] and "2.1.0" in face["result"]["msg"]
    assert len(my_store(lab, "hiroshima-clinic-pc01")) == 1  # untouched
    pc02 = my_store(lab, "sapporo-naika-pc02")
    assert len(pc02) == 1 and dt.datetime.fromisoformat(pc02[0]["not_after"]).year >= 2029
    osaka_rows = my_store(lab, "osaka-yakkyoku-pc01")
    assert len(osaka_rows) == 1 and osaka_rows[0]["thumbprint"] != old_osaka.get("thumbprint")
    assert list((lab.state_dir / "backups" / "2740155557").glob("osaka-yakkyoku-pc01_*.pfx"))
    assert (
        changed_hosts(
            run_playbook("playbooks/renew.yml", lab.inventory, limit="sapporo-naika-pc02,osaka-yakkyoku-pc01")
        )
        == set()
    )


@pytest.mark.matrix
def test_audit_writes_the_report(reset_lab, release) -> None:
    """audit.yml is read-only and writes every report file, with the unreachable PC in it."""
    lab = reset_lab
    before = states(lab)
    run = run_playbook("playbooks/audit.yml", lab.inventory, env={"ANSIBLE_SHOW_CUSTOM_STATS": "1"})
    assert states(lab) == before
    assert changed_hosts(run) == set()
    stats = run.stdout[run.stdout.index("CUSTOM STATS") :]  # what AWX receives through set_stats
    assert "onshi_cert_summary" in stats and "needs_attention" in stats and "onshi_cert_attention_hosts" in stats
    folder = lab.state_dir / "reports" / "latest"
    names = {p.name for p in folder.iterdir()}
    assert names == {
        "report.html",
        "report.en.html",
        "renewals.csv",
        "renewals.xlsx",
        "report.json",
        "report.md",
        "onshi_cert.prom",
        "notices",
    }
    data = json.loads((folder / "report.json").read_text())
    status = {h["host"]: h["status"] for rows in data["sites"].values() for h in rows}
    assert status["okinawa-houmon-pc01"] == "unreachable"
    expired_code = next(r["facility_code"] for r in data["renewals"] if r["host"] == "sapporo-shika-pc01")
    notice = (folder / "notices" / f"{expired_code}_notice.ja.html").read_text(encoding="utf-8")
    assert "電子証明書 更新のご案内" in notice and "再発行（期限切れ）" in notice and "2,253円" in notice
    assert status["sapporo-shika-pc01"] == "expired"
    assert status["hiroshima-clinic-pc01"] == "expiring"
    assert data["summary"]["hosts"] == 13 and data["summary"]["unreachable"] == 1
    assert f"report: {folder / 'report.html'}" in " ".join(run.stdout.split())  # where its report went
    csv_bytes = (folder / "renewals.csv").read_bytes()
    assert csv_bytes.startswith(b"\xef\xbb\xbf") and "医療機関等コード" in csv_bytes.decode("utf-8-sig")
    assert 'x509_cert_not_after{subject_CN="0110113719-01"' in (folder / "onshi_cert.prom").read_text()


def test_report_renders_in_a_browser(reset_lab, tmp_path) -> None:
    """The audit's report.html opens in headless Chromium and shows a real page, not a blank one."""
    run_playbook("playbooks/audit.yml", reset_lab.inventory)
    folder = reset_lab.state_dir / "reports" / "latest"
    for name in ("report.html", "report.en.html"):
        image = screenshot(folder / name, tmp_path / f"{name}.png", tmp_path / "profile")
        assert image.size == (1200, 2000)
        assert not is_blank(image), name
        assert not is_blank(image.crop((0, 0, 1200, 300))), f"{name}: the top of the page is empty"


def test_audit_folder_and_times_are_japanese(reset_lab, tmp_path) -> None:
    """The default report folder is named by today's date in Japan, whatever the controller's zone; the report's
    times read JST and its dates carry the weekday."""
    lab = reset_lab
    run = run_playbook(
        "playbooks/audit.yml",
        lab.inventory,
        limit="sapporo-naika-pc01",
        extra_vars={
            "onshi_cert_audit_report_dir": str(tmp_path / "reports" / "{date}"),
            "onshi_cert_audit_csv_encoding": "cp932",
            "onshi_cert_site": "札幌北",
            "onshi_cert_facility_name": "札幌内科クリニック<script>alert(1)</script>",
        },
        env={"TZ": "Pacific/Honolulu"},  # a controller clock 19 hours behind Japan
    )
    assert run.rc == 0, run.stdout[-3000:]
    today_in_japan = dt.datetime.now(ZoneInfo("Asia/Tokyo")).strftime("%Y%m%d")
    folder = tmp_path / "reports" / today_in_japan
    assert (folder / "report.html").is_file(), sorted(p.name for p in (tmp_path / "reports").iterdir())
    html = (folder / "report.html").read_text()
    assert " JST · onshi-cert" in html and re.search(r"\d{4}年\d{1,2}月\d{1,2}日 \([月火水木金土日]\)", html)
    data = json.loads((folder / "report.json").read_text())
    assert data["timezone"] == "Asia/Tokyo"
    # the site and the clinic's name come from the inventory (extra vars here: every PC's), not the group
    row = next(r for r in data["sites"]["札幌北"] if r["host"] == "sapporo-naika-pc01")
    assert row["facility_name"] == "札幌内科クリニック<script>alert(1)</script>"
    assert "札幌内科クリニック&lt;script&gt;" in html and "<script>alert(1)" not in html
    worklist = (folder / "renewals.csv").read_bytes()
    assert not worklist.startswith(b"\xef\xbb\xbf") and worklist.decode("cp932").startswith('"医療機関等コード"')
