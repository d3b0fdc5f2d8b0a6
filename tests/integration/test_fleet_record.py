"""The fleet's memory against the lab: a --limit audit, a PC that stops answering and AWX-like slices on
PostgreSQL all end in one whole-fleet report, read from the report files and the store afterwards."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import threading

from onshi_cert.store import Store
from onshi_cert_tools.lab import downloads
from tests.integration.conftest import blank_my_store, my_store
from tests.integration.helpers import run_playbook

FLEET = 13


def report_of(lab) -> dict:
    return json.loads((lab.state_dir / "reports" / "latest" / "report.json").read_text())


def rows_of(data: dict) -> dict[str, dict]:
    return {h["host"]: h for rows in data["sites"].values() for h in rows}


def test_a_limited_audit_adds_its_pcs_and_renders_the_whole_fleet(reset_lab) -> None:
    """After a full audit, --limit records two PCs (one no longer answering) and every output still holds all 13:
    the unreachable PC keeps its certificates and expiry series, and the report says what changed."""
    lab = reset_lab
    assert run_playbook("playbooks/audit.yml", lab.inventory).rc == 4  # okinawa-houmon-pc01 never answers
    first = report_of(lab)
    assert first["summary"]["hosts"] == FLEET and first["summary"]["unseen"] == 0
    lab.set_reachable("hiroshima-clinic-pc01", False)
    run = run_playbook("playbooks/audit.yml", lab.inventory, limit="hiroshima-clinic-pc01,sapporo-naika-pc01")
    assert run.rc != 0 or "hiroshima-clinic-pc01" in run.stdout
    data = report_of(lab)
    rows = rows_of(data)
    assert len(rows) == FLEET and data["summary"]["hosts"] == FLEET and data["run"]["hosts"] == 2
    assert data["summary"]["unseen"] == 0 and data["summary"]["unreachable"] == 2  # okinawa (first run) + hiroshima
    hiroshima = rows["hiroshima-clinic-pc01"]
    assert hiroshima["status"] == "unreachable" and hiroshima["certificates"], "its last answer stays in the report"
    assert hiroshima["age_days"] == 0 and hiroshima["answered_at"] < hiroshima["observed_at"]
    assert {"host": "hiroshima-clinic-pc01", "change": "unreachable"}.items() <= next(
        c for c in data["changes"] if c["host"] == "hiroshima-clinic-pc01"
    ).items()
    assert any(r["host"] == "hiroshima-clinic-pc01" for r in data["renewals"]), "the worklist keeps its row"
    prom = (lab.state_dir / "reports" / "latest" / "onshi_cert.prom").read_text()
    assert len(re.findall(r"^onshi_cert_last_observed_timestamp_seconds\{", prom, re.M)) == FLEET
    assert 'x509_cert_not_after{subject_CN="' in prom and 'host="hiroshima-clinic-pc01"' in prom
    assert 'onshi_cert_host_up{host="hiroshima-clinic-pc01",site="hiroshima_clinic"} 0' in prom
    with Store.open(None, lab.state_dir / "onshi-cert-data") as store:
        assert store.counts() == {"observations": FLEET + 2, "actions": 0, "pcs": FLEET}
        assert store.latest()["sapporo-naika-pc01"].previous is not None


def test_a_check_mode_audit_records_nothing(reset_lab) -> None:
    lab = reset_lab
    run_playbook("playbooks/audit.yml", lab.inventory, check=True, limit="sapporo-naika-pc01")
    assert report_of(lab)["summary"]["unseen"] == FLEET - 1
    with Store.open(None, lab.state_dir / "onshi-cert-data") as store:
        assert store.counts()["observations"] == 0


def test_slices_on_postgresql_end_in_one_report_of_the_whole_fleet(reset_lab, postgres) -> None:
    """Four concurrent slices (as AWX job slicing runs them) write one PostgreSQL store; each report is the whole
    fleet's, and once every slice has ended the fleet record holds all 13 PCs and the report has none unseen."""
    lab = reset_lab
    store = postgres.createdb("slices")
    settings = {"onshi_cert_store": store, "onshi_cert_store_password": postgres.password}
    hosts = sorted(lab.status()["hosts"])
    slices = [",".join(hosts[n::4]) for n in range(4)]
    runs: list = [None] * 4

    def one(n: int) -> None:
        runs[n] = run_playbook("playbooks/audit.yml", lab.inventory, limit=slices[n], extra_vars=settings)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(600)
    assert all(r is not None and "Write the fleet report" in r.stdout and r.rc in (0, 4) for r in runs)
    assert all(postgres.password not in r.stdout + r.stderr for r in runs)
    assert report_of(lab)["summary"]["hosts"] == FLEET
    with Store.open(store, None, postgres.password) as record:
        assert set(record.latest()) == set(hosts) and record.counts()["observations"] == FLEET
    run_playbook("playbooks/audit.yml", lab.inventory, limit=hosts[0], extra_vars=settings)
    data = report_of(lab)
    assert data["summary"]["hosts"] == FLEET and data["summary"]["unseen"] == 0
    assert not (lab.state_dir / "onshi-cert-data" / "onshi-cert.db").exists(), "PostgreSQL only, no SQLite beside it"


def test_the_audit_refuses_a_data_folder_in_the_awx_job_folder(reset_lab) -> None:
    """Run as AWX runs it (AWX_ISOLATED_DATA_DIR names the job's artifacts): the data folder beside the inventory
    is inside the job folder, so the audit refuses it with ONSHI-E156 before writing anything."""
    lab = reset_lab
    awx = {"AWX_ISOLATED_DATA_DIR": str(lab.state_dir.parent / "artifacts" / "77")}
    run = run_playbook("playbooks/audit.yml", lab.inventory, env=awx)
    assert run.rc != 0 and "ONSHI-E156" in run.stdout
    assert not (lab.state_dir / "onshi-cert-data" / "onshi-cert.db").exists()
    before = {name: lab.host(name)["state"] for name in lab.status()["hosts"]}
    downloads.issue(lab.state_dir, lab.state_dir / "certs")
    run = run_playbook("playbooks/provision.yml", lab.inventory, env=awx, limit="tokyo-clinic-pc01")
    assert run.rc != 0 and "ONSHI-E156" in run.stdout
    assert {name: lab.host(name)["state"] for name in lab.status()["hosts"]} == before, "no PC was touched"
    assert not (lab.state_dir / "backups").exists()


def test_work_reports_of_one_clinic_and_day_keep_every_run(reset_lab, tmp_path) -> None:
    """pc01 then pc02 of one clinic, then pc01 again, the same day: the clinic's 作業報告書 holds every run (the
    change on pc01 is never erased; the re-run adds 確認のみ・変更なし), each new content as a new revision."""
    lab = reset_lab
    downloads.issue(lab.state_dir, lab.state_dir / "certs")
    docs = {"onshi_cert_workdocs_dir": str(tmp_path / "work")}
    code = lab.host("tokyo-clinic-pc01")["state"]["facility_codes"][0]
    first = run_playbook("playbooks/provision.yml", lab.inventory, extra_vars=docs, limit="tokyo-clinic-pc01")
    assert first.rc == 0, first.stdout[-2000:]
    report = tmp_path / "work" / f"{code}_report.ja.html"
    one = report.read_text(encoding="utf-8")
    assert "tokyo-clinic-pc01" in one and "tokyo-clinic-pc02" not in one and "設定しました" in one
    run_playbook("playbooks/provision.yml", lab.inventory, extra_vars=docs, limit="tokyo-clinic-pc02")
    two = (tmp_path / "work" / f"{code}_report.r2.ja.html").read_text(encoding="utf-8")
    assert report.read_text(encoding="utf-8") == one, "the first revision is kept as it was"
    assert "tokyo-clinic-pc01" in two and "tokyo-clinic-pc02" in two
    again = run_playbook("playbooks/provision.yml", lab.inventory, extra_vars=docs, limit="tokyo-clinic-pc01")
    assert again.rc == 0
    three = (tmp_path / "work" / f"{code}_report.r3.ja.html").read_text(encoding="utf-8")
    # pc01 twice (its change, then the re-run: it still holds another clinic's certificate, so 要対応, never
    # 確認のみ), and pc02: the earlier change is never erased
    assert three.count('<div class="pc">') == 3 and "設定しました" in three and "要対応" in three
    with Store.open(None, lab.state_dir / "onshi-cert-data") as store:
        assert store.counts()["actions"] == 3


def test_an_old_data_folder_is_taken_over_once_and_the_store_checked(reset_lab, tmp_path) -> None:
    """onshi-cert store import reads every report.json of a data folder written before the record (once; the
    files stay), store check says what the record holds and which PC has no backup that opens, and store prune
    deletes only what it is asked to, never a PC's latest."""
    lab = reset_lab
    run_playbook("playbooks/audit.yml", lab.inventory)
    old = tmp_path / "old-data"
    (old / "reports").mkdir(parents=True)
    shutil.copytree(lab.state_dir / "reports" / "latest", old / "reports" / "20261201")
    before = sorted(p.name for p in (old / "reports" / "20261201").iterdir())
    data = tmp_path / "new-data"
    cli = [sys.executable, "-m", "onshi_cert_tools.cli", "store"]
    first = subprocess.run([*cli, "import", str(old), "--data-dir", str(data)], capture_output=True, text=True)
    assert first.returncode == 0 and f"{FLEET} observation(s) from 1 report(s)" in first.stdout, first.stderr
    again = subprocess.run([*cli, "import", str(old), "--data-dir", str(data)], capture_output=True, text=True)
    assert "already imported" in again.stdout
    assert sorted(p.name for p in (old / "reports" / "20261201").iterdir()) == before, "the old files stay"
    with Store.open(None, data) as store:
        latest = store.latest()
        assert len(latest) == FLEET and latest["okinawa-houmon-pc01"].answer is None
        assert latest["sapporo-naika-pc01"].answer["report"]["plan"]["keep"]
    env = os.environ | {"ONSHI_CERT_BACKUP_PASSWORD": "not-the-password", "LANG": "C.UTF-8"}
    checked = subprocess.run(
        [*cli, "check", "--data-dir", str(data), "--backup-dir", str(lab.state_dir / "backups"), "--json"],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    found = json.loads(checked.stdout)
    assert found["version"] == 2 and found["pcs"] == FLEET and found["observations"] == FLEET
    assert checked.returncode == 1 and found["problems"], "no backup opens with a wrong password: each PC is named"
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()  # every observation is older than this
    pruned = subprocess.run(
        [*cli, "prune", "--data-dir", str(data), "--before", tomorrow, "--json"], capture_output=True, text=True
    )
    assert json.loads(pruned.stdout)["observations"] == 0, "each PC's latest is never pruned"
    bad = subprocess.run(
        [*cli, "import", str(tmp_path / "nothing"), "--data-dir", str(data)], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "ONSHI-E158" in bad.stderr


def cached_facts(path) -> dict:
    """Return a host's facts from the jsonfile cache (ansible-core 2.19 and later wrap them in __payload__)."""
    data = json.loads(path.read_text())
    return json.loads(data["__payload__"]) if "__payload__" in data else data


def test_each_pcs_state_is_left_as_cacheable_facts_as_awx_keeps_them(reset_lab, tmp_path) -> None:
    """With the jsonfile fact cache AWX's runner sets (artifacts/fact_cache), every answering PC leaves
    onshi_cert_summary: flat values a smart inventory filters on (ansible_facts__onshi_cert_summary__within_60_days)."""
    lab = reset_lab
    cache = tmp_path / "fact_cache"
    env = {"ANSIBLE_CACHE_PLUGIN": "jsonfile", "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(cache)}
    run_playbook("playbooks/audit.yml", lab.inventory, env=env)
    (cached,) = cache.glob("*hiroshima-clinic-pc01")  # a prefix set by the environment may come first
    facts = cached_facts(cached)
    summary = facts["onshi_cert_summary"]
    assert set(summary) == {
        "status", "attention", "days_left", "expires", "kept_certificates", "checked_at",
        "within_7_days", "within_15_days", "within_30_days", "within_60_days", "within_90_days",
    }  # fmt: skip
    assert summary["status"] == "expiring" and summary["attention"] is True and summary["within_90_days"] is True
    assert isinstance(summary["days_left"], int) and summary["within_60_days"] == (summary["days_left"] <= 60)
    assert all(isinstance(v, bool) for k, v in summary.items() if k.startswith("within_"))
    assert "certificates" in facts["onshi_cert"]
    assert all("onshi_cert_summary" not in cached_facts(p) for p in cache.glob("*okinawa-houmon-pc01"))


def test_a_bad_store_stops_the_job_before_any_pc_changes(reset_lab, postgres) -> None:
    """A store that cannot be reached, a wrong password and a store newer than the code each stop provisioning
    with their code, before any PC is changed, and the password is never shown."""
    lab = reset_lab
    downloads.issue(lab.state_dir, lab.state_dir / "certs")
    before = {name: lab.host(name)["state"] for name in lab.status()["hosts"]}
    newer = postgres.createdb("newer")
    with Store.open(newer, None, postgres.password) as store, store.engine.begin() as connection:
        connection.exec_driver_sql("UPDATE onshi_meta SET value = '99' WHERE key = 'schema_version'")
    closed = postgres.url.replace(f":{postgres.port}/", ":1/")
    for store, password, code in (
        (closed, postgres.password, "ONSHI-E150"),
        (postgres.url, "not-the-password", "ONSHI-E151"),
        (newer, postgres.password, "ONSHI-E152"),
    ):
        settings = {"onshi_cert_store": store, "onshi_cert_store_password": password}
        run = run_playbook("playbooks/provision.yml", lab.inventory, extra_vars=settings, limit="tokyo-clinic-pc01")
        assert run.rc != 0 and code in run.stdout, run.stdout[-2000:]
        assert password not in run.stdout + run.stderr
        assert {name: lab.host(name)["state"] for name in lab.status()["hosts"]} == before, code
    assert not (lab.state_dir / "backups").exists()


def test_backups_on_postgresql_restore_on_a_node_that_never_saw_them(reset_lab, postgres, tmp_path) -> None:
    """backup.yml on one node keeps each backup in the PostgreSQL record too; replace_pc.yml on another node (an
    empty backup folder) fetches it, verifies it by the usual rules and restores it; backups export writes the
    usual files for on-site work."""
    lab = reset_lab
    store = postgres.createdb("backups")
    node_a, node_b = tmp_path / "node-a", tmp_path / "node-b"
    common = {"onshi_cert_store": store, "onshi_cert_store_password": postgres.password}
    first = run_playbook(
        "playbooks/backup.yml", lab.inventory, extra_vars=common | {"onshi_cert_backup_dir": str(node_a)}
    )
    assert first.rc in (0, 2, 4), first.stdout[-2000:]  # 4: okinawa-houmon-pc01 never answers
    made = sorted(p.relative_to(node_a) for p in node_a.rglob("*.pfx"))
    assert made
    original = my_store(lab, "sapporo-naika-pc02")[0]["thumbprint"]
    blank_my_store(lab, "sapporo-naika-pc02")
    restored = run_playbook(
        "playbooks/replace_pc.yml",
        lab.inventory,
        limit="sapporo-naika-pc02",
        extra_vars=common | {"onshi_cert_backup_dir": str(node_b), "onshi_cert_restore_from": "sapporo-naika-pc02"},
    )
    assert restored.rc == 0, restored.stdout[-3000:]
    assert [r["thumbprint"] for r in my_store(lab, "sapporo-naika-pc02")] == [original]
    assert sorted(p.relative_to(node_b) for p in node_b.rglob("*.pfx")) == made
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in node_b.rglob("*.*"))
    exported = tmp_path / "usb"
    env = os.environ | {"PGPASSWORD": postgres.password}
    cli = [sys.executable, "-m", "onshi_cert_tools.cli", "backups", "export", "--to", str(exported), "--store", store]
    done = subprocess.run(cli, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert sorted(p.relative_to(exported) for p in exported.rglob("*.pfx")) == made
    assert (exported / made[0]).read_bytes() == (node_a / made[0]).read_bytes()


def test_provisioning_slices_on_postgresql_record_every_pc_once(reset_lab, postgres, tmp_path) -> None:
    """Four concurrent provisioning slices write one PostgreSQL record: every PC's action is kept once, every new
    backup is kept in the record, and each clinic's work report holds its PCs of every slice."""
    lab = reset_lab
    downloads.issue(lab.state_dir, lab.state_dir / "certs")
    store = postgres.createdb("provision_slices")
    settings = {
        "onshi_cert_store": store,
        "onshi_cert_store_password": postgres.password,
        "onshi_cert_workdocs_dir": str(tmp_path / "work"),
    }
    hosts = sorted(lab.status()["hosts"])
    runs: list = [None] * 4

    def one(n: int) -> None:
        runs[n] = run_playbook(
            "playbooks/provision.yml", lab.inventory, limit=",".join(hosts[n::4]), extra_vars=settings
        )

    threads = [threading.Thread(target=one, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(600)
    assert all(r is not None and "Record what was done" in r.stdout for r in runs)
    with Store.open(store, None, postgres.password) as record, record.engine.connect() as connection:
        assert record.counts()["actions"] == FLEET
        kept = connection.exec_driver_sql("SELECT count(*) FROM backup_files").scalar()
    made = list((lab.state_dir / "backups").rglob("*.pfx"))
    assert made and kept == 2 * len(made), "each new backup's PFX and manifest are in the record"
    code = lab.host("tokyo-clinic-pc01")["state"]["facility_codes"][0]
    latest = sorted((tmp_path / "work").glob(f"{code}_report*.ja.html"))[-1].read_text(encoding="utf-8")
    assert "tokyo-clinic-pc01" in latest and "tokyo-clinic-pc02" in latest


def test_an_inventory_without_pcs_fails_loudly(reset_lab, tmp_path) -> None:
    """A wrong -i path or an inventory without the fleet's group ends non-zero with ONSHI-E038 and its fix, in
    Japanese and English (Ansible alone would skip every play and succeed); a --limit that matches no PC ends
    non-zero by Ansible's own check; a --limit that matches runs."""
    empty = tmp_path / "empty.yml"
    empty.write_text("all:\n  hosts:\n    somewhere.example.jp:\n", encoding="utf-8")
    for inventory in (tmp_path / "no-such" / "hosts.yml", empty):
        run = run_playbook("playbooks/audit.yml", inventory)
        flat = " ".join(run.stdout.split())
        assert run.rc != 0 and "[ONSHI-E038]" in flat and "端末がありません" in flat and "Fix: give -i" in flat
    missed = run_playbook("playbooks/audit.yml", reset_lab.inventory, limit="no-such-pc")
    assert missed.rc != 0
    matched = run_playbook("playbooks/audit.yml", reset_lab.inventory, limit="sapporo-naika-pc01")
    assert matched.rc == 0 and "ONSHI-E038" not in matched.stdout


def test_a_missing_or_wrong_vault_password_is_named_with_the_fix(tmp_path) -> None:
    """A fleet's vaulted group_vars opened without a vault password (ONSHI-E037) or with a wrong one (ONSHI-E039):
    the recap callback names the file and the fix before Ansible's own error, and the run ends non-zero; the right
    password says neither."""
    from ansible.parsing.vault import VaultLib, VaultSecret

    vault = tmp_path / "fleet" / "group_vars" / "all" / "vault.yml"
    vault.parent.mkdir(parents=True)
    vault.write_bytes(VaultLib([("default", VaultSecret(b"right"))]).encrypt(b"vault_onshi_cert_hosts: {}\n"))
    inventory = tmp_path / "fleet" / "hosts.yml"
    inventory.write_text("oqs_pcs:\n  hosts:\n    pc1:\n      ansible_connection: local\n", encoding="utf-8")
    for word, secret in (("right", tmp_path / "right"), ("wrong", tmp_path / "wrong")):
        secret.write_text(word + "\n", encoding="utf-8")
        secret.chmod(0o600)
    cases = {
        "ONSHI-E037": ([], "ja", "vault パスワードが渡されていません"),
        "ONSHI-E039": (["--vault-password-file", str(tmp_path / "wrong")], "en", "Fix: give the password the fleet"),
    }
    for code, (args, lang, words) in cases.items():
        run = run_playbook("playbooks/audit.yml", inventory, extra_args=args, env={"ONSHI_CERT_LANG": lang})
        said = " ".join((run.stdout + run.stderr).split())
        assert run.rc != 0 and f"[{code}] " in said and str(vault) in said and words in said, said[-600:]
    right = run_playbook(
        "playbooks/audit.yml", inventory, extra_args=["--vault-password-file", str(tmp_path / "right")]
    )
    assert "ONSHI-E037" not in right.stdout + right.stderr and "ONSHI-E039" not in right.stdout + right.stderr
    # an inline !vault value (no vaulted file): the PC's recap line names it, with the same code and fix
    inline = tmp_path / "inline.yml"
    secret = VaultLib([("default", VaultSecret(b"right"))]).encrypt(b"secret").decode()
    indented = "\n".join("        " + line for line in secret.splitlines())
    inline.write_text(
        "oqs_pcs:\n  hosts:\n    pc1:\n      ansible_connection: winrm\n      ansible_host: 127.0.0.1\n"
        f"      ansible_port: 1\n      ansible_password: !vault |\n{indented}\n",
        encoding="utf-8",
    )
    run = run_playbook("playbooks/audit.yml", inline, env={"ONSHI_CERT_LANG": "ja"})
    recap = " ".join(run.stdout.split("ONSHI-CERT")[-1].split())
    assert run.rc != 0 and "pc1 失敗 [ONSHI-E037] インベントリに直接書いた !vault の値" in recap, recap
