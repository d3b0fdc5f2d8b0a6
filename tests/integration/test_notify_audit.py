"""The audit's own alerts: audit.yml with onshi_cert_audit_notify mails and posts what is due, once."""

from __future__ import annotations

from email import message_from_bytes, policy

import pytest

from tests.integration.helpers import run_playbook
from tests.receivers import SMTP_PASSWORD, SMTP_USER

pytestmark = pytest.mark.integration


def test_the_audit_sends_its_alerts_once(reset_lab, tls, smtp, webhook, tmp_path, monkeypatch) -> None:
    """A mail (STARTTLS, AUTH) and a JSON webhook name the expiring and expired PCs; a re-run sends nothing;
    check mode sends nothing and says what is due; the password never shows in the output."""
    lab = reset_lab
    inbox, port = smtp
    received, url = webhook
    monkeypatch.setenv("ONSHI_TEST_SMTP_PASSWORD", SMTP_PASSWORD)
    settings = {
        "lang": "ja",
        "smtp": {"host": "127.0.0.1", "port": port, "user": SMTP_USER, "password_env": "ONSHI_TEST_SMTP_PASSWORD",
                 "from": SMTP_USER, "to": ["team@example.jp"], "cafile": str(tls[1])},
        "webhooks": [{"kind": "json", "url": f"{url}/alerts"}],
    }  # fmt: skip
    reports = tmp_path / "reports"
    extra = {"onshi_cert_audit_notify": settings, "onshi_cert_audit_report_dir": str(reports / "today")}
    checked = run_playbook("playbooks/audit.yml", lab.inventory, check=True, extra_vars=extra)
    assert checked.rc == 4 and inbox.messages == [] and received == []  # 4: okinawa-houmon-pc01 is off
    report_task = next(r for r in checked.results if r["task"].endswith("Write the fleet report on the controller"))
    due = {(a["host"], a["stage"]) for a in report_task["result"]["alerts"]}
    assert ("sapporo-shika-pc01", "expired") in due and ("hiroshima-clinic-pc01", "30") in due

    run = run_playbook("playbooks/audit.yml", lab.inventory, extra_vars=extra)
    assert run.rc == 4 and not any(c["failures"] for c in run.recap.values())
    assert SMTP_PASSWORD not in run.stdout + run.stderr
    ((recipients, raw),) = inbox.messages
    assert recipients == ["team@example.jp"]
    body = message_from_bytes(raw, policy=policy.default).get_content()
    assert "sapporo-shika-pc01（0130120041）: 期限切れ" in body and "hiroshima-clinic-pc01" in body
    ((path, posted),) = received
    assert path == "/alerts" and {(a["host"], a["stage"]) for a in posted["alerts"]} == due
    assert (reports / "notify-state.json").exists()

    again = run_playbook("playbooks/audit.yml", lab.inventory, extra_vars=extra)
    assert again.rc == 4 and len(inbox.messages) == 1 and len(received) == 1
