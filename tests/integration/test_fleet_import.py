"""The vendor's job from the ledger: an Excel ledger of the lab's PCs becomes the inventory the audit runs on."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml
from cryptography import x509

from onshi_cert.core.trust import fingerprint
from tests.integration.helpers import run_playbook

pytestmark = pytest.mark.integration
HEAD = [
    "拠点",
    "医療機関名",
    "医療機関等コード",
    "端末名",
    "IP",
    "ポート",
    "管理者",
    "管理者パスワード",
    "運用ユーザーパスワード",
]


def lab_ledger(lab, path) -> list[str]:
    """Write the lab's reachable PCs as a vendor's ledger (.xlsx, codes as text); return their names."""
    from openpyxl import Workbook

    inventory = yaml.safe_load(lab.inventory.read_text())["all"]
    common = inventory["vars"]
    book = Workbook()
    sheet = book.active
    sheet.append(["端末台帳（ラボ）"])  # a title row above the headings, as ledgers have
    sheet.append(HEAD)
    names = []
    for site, group in inventory["children"]["oqs_pcs"]["children"].items():
        for name, values in group["hosts"].items():
            if values.get("ansible_winrm_scheme") == "https" or "onshi_cert_operator_user" in values:
                continue  # the template's defaults: WinRM over HTTP (NTLM), operating user OQSComApp
            sheet.append(
                [
                    {"sapporo_naika": "札幌北"}.get(site, site),  # sites as the vendor names them
                    values.get("onshi_cert_facility_name", ""),
                    "、".join(values["onshi_cert_facility_codes"]),
                    name,
                    values["ansible_host"],
                    str(values["ansible_port"]),
                    common["ansible_user"],
                    common["ansible_password"],
                    common["ansible_become_password"],
                ]
            )
            names.append(name)
    for row in sheet.iter_rows(min_row=3):
        for cell in row:
            cell.number_format = "@"
    book.save(path)
    return names


def test_a_ledger_becomes_an_inventory_that_audits_the_fleet(reset_lab, tmp_path) -> None:
    """fleet import (xlsx) -> hosts.yml + vault -> audit.yml: every PC of the ledger is read, by its site and name."""
    lab = reset_lab
    ledger_file = tmp_path / "端末台帳.xlsx"
    names = lab_ledger(lab, ledger_file)
    assert len(names) >= 5
    pin = fingerprint(x509.load_pem_x509_certificate((lab.state_dir / "ca" / "ca.pem").read_bytes()))
    vault_pass = tmp_path / "vault-pass"
    vault_pass.write_text("fleet-secret\n")
    out = tmp_path / "inventories" / "lab-fleet"
    imported = subprocess.run(
        [sys.executable, "-m", "onshi_cert_tools.cli", "fleet", "import", str(ledger_file), "--out", str(out),
         "--trust-anchor", pin, "--vault-password-file", str(vault_pass), "--lang", "en"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    assert all(f"add {name}" in imported.stdout for name in names)
    assert "Lab-Admin-2026!" not in (out / "hosts.yml").read_text()

    run = run_playbook(
        "playbooks/audit.yml",
        out / "hosts.yml",
        extra_vars={"onshi_cert_audit_report_dir": str(tmp_path / "report")},
        extra_args=["--vault-password-file", str(vault_pass)],
    )
    down = {name for name, host in lab.status()["hosts"].items() if not host["reachable"]}
    assert "okinawa-houmon-pc01" in down and "okinawa-houmon-pc01" in names  # a ledger lists PCs that are off
    for name in names:
        assert run.recap[name]["failures"] == 0, (name, run.stdout[-3000:])
        assert run.recap[name]["unreachable"] == (name in down), name
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    rows = {row["host"]: (site, row) for site, rows in report["sites"].items() for row in rows}
    assert set(names) <= set(rows)
    site, row = rows["sapporo-naika-pc01"]
    assert site == "札幌北" and row["facility_name"] == "札幌中央内科クリニック"
    assert row["status"] != "unreachable"
    assert rows["okinawa-houmon-pc01"][1]["status"] == "unreachable"
