"""A large fleet's report inside Ansible: the report task writes every file and every clinic's renewal notice."""

from __future__ import annotations

import json

import pytest
from openpyxl import load_workbook

from onshi_cert.core.audit import host_report
from onshi_cert.core.certinfo import describe_certificate
from onshi_cert.core.facility import luhn_check_digit
from onshi_cert.core.hoststate import InstalledCert
from onshi_cert.core.policy import Expectations
from onshi_cert.core.trust import TrustAnchors, fingerprint
from onshi_cert.report.render import FILES
from tests.integration.helpers import ROOT, run_playbook
from tests.unit.report.conftest import FACE, facts, installed

pytestmark = pytest.mark.integration


def code(index: int) -> str:
    """A facility code of its own for each PC (prefecture 13, medical, the index, its check digit)."""
    nine = f"131{index:06d}"
    return nine + str(luhn_check_digit(nine))


def test_a_large_fleets_report_task_writes_every_file(factory, now, tmp_path) -> None:
    """210 PCs, half of them due for renewal, each its own clinic: report.json holds every PC, the worklist every
    due PC, and each clinic due has its notice in Japanese and English."""
    root = InstalledCert(describe_certificate(factory.root), factory.root)
    hosts = [f"pc{index:04d}" for index in range(210)]
    codes = {host: code(index) for index, host in enumerate(hosts)}

    def judged(host: str, days_left: int) -> dict:
        expect = Expectations((codes[host],), TrustAnchors(frozenset({fingerprint(factory.root)})))
        leaf = installed(factory.leaf(codes[host], days_left=days_left))
        return host_report(facts(), [leaf], [root], expect, face_auth_path=FACE, now=now)

    inventory = tmp_path / "hosts.ini"
    inventory.write_text("localhost ansible_connection=local\n", encoding="utf-8")
    dest = tmp_path / "report"
    run = run_playbook(
        ROOT / "tests" / "integration" / "playbooks" / "report.yml",
        inventory,
        extra_vars={
            "report_args": {
                "hosts": hosts,
                "facts": {host: judged(host, 20 if index % 2 else 700) for index, host in enumerate(hosts)},
                "sites": {host: ["oqs_pcs", f"site_{index % 7}"] for index, host in enumerate(hosts)},
                "facility_names": {host: f"{host} クリニック" for host in hosts},
                "facility_codes": {host: [codes[host]] for host in hosts},
                "dest": str(dest),
                "data_dir": str(tmp_path / "data"),
            }
        },
    )
    assert run.rc == 0, run.stdout + run.stderr
    result = run.last("localhost", "Run onshi_cert_report")["result"]
    report = json.loads((dest / "report.json").read_text(encoding="utf-8"))
    assert report["summary"]["hosts"] == len(hosts)
    due_hosts = hosts[1::2]
    assert sorted(row["host"] for row in report["renewals"]) == due_hosts
    rows = list(load_workbook(dest / "renewals.xlsx").active.iter_rows(min_row=2, values_only=True))
    assert len(rows) == len(due_hosts)
    notices = sorted(path.name for path in (dest / "notices").iterdir())
    assert notices == sorted(f"{codes[host]}_notice.{lang}.html" for host in due_hosts for lang in ("ja", "en"))
    assert all(f"{host} クリニック" in (dest / "notices" / f"{codes[host]}_notice.ja.html").read_text(encoding="utf-8")
               for host in due_hosts)  # fmt: skip
    assert [f.rsplit("/", 1)[-1] for f in result["files"][:7]] == list(FILES)
    assert len(result["files"]) == 7 + len(notices)
