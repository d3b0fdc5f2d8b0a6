"""Prying eyes: run the jobs at -vvvvvv with ANSIBLE_DEBUG=1 and find no password, no .p12/.pfx bytes and no key."""

from __future__ import annotations

import base64
import json
import re

import pytest

from onshi_cert.core.pkcs12 import load_pkcs12
from tests.integration.helpers import run_playbook

pytestmark = pytest.mark.integration
P12_PASSWORD = "Sentinel-P12-Secret-4711"
BACKUP_PASSWORD = "Sentinel-Backup-Secret-0815"
BASE64_BLOB = re.compile(r"[A-Za-z0-9+/]{200,}={0,2}")


def pkcs12_or_key(blob: str) -> bool:
    """Return True when a base64 blob decodes to PKCS#12 or private-key material."""
    try:
        data = base64.b64decode(blob + "=" * (-len(blob) % 4))
    except ValueError:
        return False
    if b"PRIVATE KEY" in data:
        return True
    try:
        load_pkcs12(data, "")
    except Exception as exc:
        return "not a readable PKCS#12" not in str(exc)
    return True


def test_no_secret_leaks_at_any_verbosity(reset_lab, lab_ca) -> None:
    """Provision, back up, clean up and audit at -vvvvvv with ANSIBLE_DEBUG=1 (the most Ansible prints: every
    module's arguments and every answer), then scan Ansible's output, the callback log, every command line and
    script text the PCs received, and every file left on them."""
    lab = reset_lab
    certs = lab.state_dir / "certs"
    certs.mkdir()
    hosts = ["sendai-yakkyoku-pc01", "tokyo-clinic-pc02", "kyoto-clinic-pc01", "osaka-yakkyoku-pc01"]
    codes = {
        "sendai-yakkyoku-pc01": "0441234564",
        "tokyo-clinic-pc02": "1310512346",
        "kyoto-clinic-pc01": "2610267896",
        "osaka-yakkyoku-pc01": "2740155557",
    }
    p12_files = {}
    for host in hosts:
        data = lab_ca.factory.leaf(codes[host]).p12(P12_PASSWORD)
        (certs / f"{host}.p12").write_bytes(data)
        p12_files[host] = data
    (certs / "passwords.json").write_text(json.dumps(dict.fromkeys(hosts, P12_PASSWORD)))
    extra = {"onshi_cert_backup_password": BACKUP_PASSWORD}
    limit = ",".join(hosts)
    runs = [
        run_playbook(
            p, lab.inventory, extra_vars=extra, limit=limit, verbosity=6, diff=True, env={"ANSIBLE_DEBUG": "1"}
        )
        for p in ("playbooks/provision.yml", "playbooks/backup.yml", "playbooks/cleanup.yml", "playbooks/audit.yml")
    ]
    assert runs[0].rc == 0, runs[0].stdout[-3000:]
    assert list((lab.state_dir / "backups").rglob("*.pfx")), "the jobs must have handled key material"

    inventory = lab.inventory.read_text()
    become_password = re.search(r"ansible_become_password: (\S+)", inventory).group(1)
    winrm_password = re.search(r"ansible_password: (\S+)", inventory).group(1)
    secrets = {
        "p12 password": P12_PASSWORD,
        "backup password": BACKUP_PASSWORD,
        "become password": become_password,
        "WinRM password": winrm_password,
    }
    for host, data in p12_files.items():
        secrets[f"{host} .p12 (base64)"] = base64.b64encode(data).decode()[100:164]
        secrets[f"{host} .p12 (raw)"] = data[100:164].decode("latin-1")

    haystacks: dict[str, str] = {}
    for index, run in enumerate(runs):
        haystacks[f"run {index} stdout"] = run.stdout
        haystacks[f"run {index} stderr"] = run.stderr
        haystacks[f"run {index} callback log"] = json.dumps(run.results)
    for host in lab.status()["hosts"]:
        record = lab.records(host, scripts=True)
        haystacks[f"{host} command lines"] = "\n".join(record["command_lines"])
        haystacks[f"{host} script texts"] = "\n".join(record["script_texts"])
        for path, content in lab.host(host)["state"]["files"].items():
            haystacks[f"{host} file {path}"] = base64.b64decode(content).decode("latin-1")
    assert sum(len(h) for h in haystacks.values()) > 100_000, "the scan must have something to read"
    assert "-vvvv" in runs[0].stdout or "ESTABLISH WINRM CONNECTION" in runs[0].stdout
    debug = runs[0].stdout + runs[0].stderr
    assert "done with _execute_module (onshi.cert.onshi_cert_agent" in debug and "'password': '********'" in debug

    hits = [
        f"{name} in {where}" for where, text in haystacks.items() for name, secret in secrets.items() if secret in text
    ]
    hits += [f"PEM private key in {where}" for where, text in haystacks.items() if "PRIVATE KEY-----" in text]
    hits += [
        f"PKCS#12 or key blob in {where}"
        for where, text in haystacks.items()
        for blob in BASE64_BLOB.findall(text)
        if pkcs12_or_key(blob)
    ]
    assert hits == []


def test_the_request_never_becomes_a_file_on_the_pc(reset_lab) -> None:
    """With keep_remote_files (no pipelining) ansible-core would write the request to a file on the PC: refused
    before anything reaches the PC, with the fix."""
    lab = reset_lab
    run = run_playbook(
        "playbooks/audit.yml", lab.inventory, limit="sapporo-naika-pc01", env={"ANSIBLE_KEEP_REMOTE_FILES": "1"}
    )
    assert run.recap["sapporo-naika-pc01"]["failures"] == 1
    assert "must reach the PC over stdin" in run.stdout and "ANSIBLE_KEEP_REMOTE_FILES" in run.stdout
    assert lab.records("sapporo-naika-pc01")["executions"] == 0
