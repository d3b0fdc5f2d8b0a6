"""Expiry alerts through a real SMTP server (STARTTLS, AUTH) and a real HTTP receiver, once per threshold."""

from __future__ import annotations

import datetime as dt
import json
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from onshi_cert.report import notify
from onshi_cert_tools.cli import main
from tests.receivers import SMTP_PASSWORD, SMTP_USER


def settings(port: int, cafile: Path, url: str, lang: str = "ja") -> dict:
    return {
        "lang": lang,
        "smtp": {
            "host": "127.0.0.1",
            "port": port,
            "user": SMTP_USER,
            "password_env": "TEST_SMTP_PASSWORD",
            "from": SMTP_USER,
            "to": ["team@example.jp"],
            "cafile": str(cafile),
        },
        "webhooks": [{"kind": "teams", "url": f"{url}/teams"}, {"kind": "json", "url_env": "TEST_HOOK_URL"}],
    }


def assert_adaptive_card(message: dict, hosts: tuple[str, ...], link: str | None = None) -> None:
    """What a Teams Workflows webhook requires of a message: one attachment holding an Adaptive Card."""
    assert message["type"] == "message"
    (attachment,) = message["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] in ("1.2", "1.3", "1.4", "1.5")
    assert card["$schema"].startswith("http://adaptivecards.io/schemas/")
    kinds = {block["type"] for block in card["body"]}
    assert {"TextBlock", "FactSet"} <= kinds
    assert all(block.get("text") for block in card["body"] if block["type"] == "TextBlock")
    facts = next(block for block in card["body"] if block["type"] == "FactSet")["facts"]
    assert all(set(fact) == {"title", "value"} and isinstance(fact["value"], str) for fact in facts)
    text = json.dumps(card, ensure_ascii=False)
    assert card["body"][0]["text"].startswith("[onshi-cert]") and all(host in text for host in hosts)
    if link:
        assert card["actions"] == [{"type": "Action.OpenUrl", "title": card["actions"][0]["title"], "url": link}]


def test_alerts_go_by_mail_and_webhook_once_per_threshold(data, now, tls, smtp, webhook, tmp_path, monkeypatch):
    """The 30-day and expired certificates are mailed (STARTTLS, AUTH) and posted, in Japanese; a second run
    sends nothing; the last week is daily."""
    inbox, port = smtp
    received, url = webhook
    monkeypatch.setenv("TEST_SMTP_PASSWORD", SMTP_PASSWORD)
    monkeypatch.setenv("TEST_HOOK_URL", f"{url}/json")
    state = tmp_path / "reports" / notify.STATE_FILE
    config = notify.Settings.from_dict(settings(port, tls[1], url))
    sent = notify.run(data, config, state, now=now)
    assert {(a.host, a.stage) for a in sent} == {("soon-pc", "30"), ("dead-pc", "expired")}
    ((recipients, raw),) = inbox.messages
    mail = message_from_bytes(raw, policy=policy.default)
    assert recipients == ["team@example.jp"]
    assert mail["Subject"] == "[onshi-cert] 電子証明書の有効期限: 2 件"
    body = mail.get_content()
    assert "dead-pc（1310512346）: 期限切れ" in body and "再発行を申請してください" in body
    assert "soon-pc（0110113719）: 有効期限 2026年12月14日 (月)、あと 20 日" in body
    assert SMTP_PASSWORD not in body
    paths = [path for path, _ in received]
    assert paths == ["/teams", "/json"]
    assert_adaptive_card(received[0][1], hosts=("soon-pc", "dead-pc"))
    assert {a["stage"] for a in received[1][1]["alerts"]} == {"30", "expired"}
    assert json.loads(state.read_text())["sent"]

    assert notify.run(data, config, state, now=now + dt.timedelta(hours=2)) == []  # once per threshold
    assert len(inbox.messages) == 1 and len(received) == 2

    later = json.loads(json.dumps(data))
    for rows in later["sites"].values():
        for row in rows:
            for cert in row["certificates"]:
                if row["host"] == "soon-pc":
                    cert["stage"], cert["days_remaining"] = "7", 5
    first = notify.run(later, config, state, now=now + dt.timedelta(days=15))
    again = notify.run(later, config, state, now=now + dt.timedelta(days=15, hours=1))  # the same day in Japan
    next_day = notify.run(later, config, state, now=now + dt.timedelta(days=16))
    assert [a.stage for a in first] == ["7"] and again == [] and [a.stage for a in next_day] == ["7"]


def test_a_failed_channel_marks_nothing_sent(data, now, tls, smtp, webhook, tmp_path, monkeypatch):
    """A webhook answering 500 fails the run with ONSHI-E122, without its URL's query; the next run sends again."""
    inbox, port = smtp
    received, url = webhook
    monkeypatch.setenv("TEST_SMTP_PASSWORD", SMTP_PASSWORD)
    monkeypatch.setenv("TEST_HOOK_URL", f"{url}/broken?key=webhook-secret")
    state = tmp_path / notify.STATE_FILE
    config = notify.Settings.from_dict(settings(port, tls[1], url, lang="en"))
    with pytest.raises(notify.NotifyError) as raised:
        notify.run(data, config, state, now=now)
    assert raised.value.code == "ONSHI-E122" and "webhook-secret" not in raised.value.describe()
    assert not state.exists()
    assert len(inbox.messages) == 1 and [path for path, _ in received] == ["/teams", "/broken?key=webhook-secret"]
    # the mail and Teams took it, the last hook did not: the alerts stay due
    assert len(notify.due(data, notify.load_state(state), now)) == 2


def test_wrong_smtp_password_or_no_tls_is_a_clear_error(data, now, tls, smtp, tmp_path, monkeypatch):
    """A wrong password is ONSHI-E122; a password without STARTTLS is refused before connecting (ONSHI-E121)."""
    _inbox, port = smtp
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "wrong")
    only_mail = settings(port, tls[1], "http://127.0.0.1:9")
    only_mail["webhooks"] = []
    with pytest.raises(notify.NotifyError) as raised:
        notify.run(data, notify.Settings.from_dict(only_mail), tmp_path / "s.json", now=now)
    assert raised.value.code == "ONSHI-E122"
    only_mail["smtp"]["starttls"] = False
    with pytest.raises(notify.NotifyError) as raised:
        notify.run(data, notify.Settings.from_dict(only_mail), tmp_path / "s.json", now=now)
    assert raised.value.code == "ONSHI-E121"
    with pytest.raises(notify.NotifyError) as raised:
        notify.Settings.from_dict({"smtp": {"host": "x"}})
    assert raised.value.code == "ONSHI-E120" and "from" in raised.value.text


def test_the_command_checks_without_sending(data, tmp_path, capsys) -> None:
    """onshi-cert notify --check prints the alert mail and sends nothing (the reports folder picks the newest)."""
    folder = tmp_path / "reports" / "20261124"
    folder.mkdir(parents=True)
    (folder / "report.json").write_text(json.dumps(data), encoding="utf-8")
    config = tmp_path / "notify.yml"
    config.write_text("lang: en\nwebhooks:\n  - kind: slack\n    url: http://127.0.0.1:9/never\n", encoding="utf-8")
    code = main(["notify", str(tmp_path / "reports"), "--config", str(config), "--check"])
    out = capsys.readouterr().out
    assert code == 0 and "[onshi-cert] certificate expiry" in out and "(check: nothing sent)" in out
    assert not (tmp_path / "reports" / notify.STATE_FILE).exists()


def test_the_shipped_examples_match_the_code(tmp_path) -> None:
    """examples/notify.yml is valid settings; the Prometheus rules use only metrics the audit writes."""
    import re

    import yaml

    root = Path(__file__).resolve().parents[3]
    notify.Settings.from_dict(yaml.safe_load((root / "examples" / "notify.yml").read_text()))
    rules = yaml.safe_load((root / "examples" / "prometheus" / "onshi-cert.rules.yml").read_text())
    exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    used = {m for e in exprs for m in re.findall(r"\b(x509_cert_\w+|onshi_cert_\w+)", e)}
    written = {"x509_cert_not_after", "x509_cert_expired", "onshi_cert_host_up", "onshi_cert_problem"}
    assert used <= written | {"onshi_cert_report_timestamp"}


def test_every_channel_goes_through_the_proxy_and_no_proxy_is_honoured(
    data, now, tls, smtp, webhook, proxy, tmp_path, monkeypatch
):
    """The explicit proxy carries the mail (a CONNECT tunnel, STARTTLS inside it) and the webhooks (absolute URIs
    for http); HTTP_PROXY does the same when no proxy is set; NO_PROXY sends a webhook direct. The Teams card links
    to report_url."""
    inbox, port = smtp
    received, url = webhook
    seen, proxy_url = proxy
    monkeypatch.setenv("TEST_SMTP_PASSWORD", SMTP_PASSWORD)
    monkeypatch.setenv("TEST_HOOK_URL", f"{url}/json")
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    explicit = settings(port, tls[1], url) | {"proxy": proxy_url, "report_url": "https://intranet.example.jp/r.html"}
    notify.run(data, notify.Settings.from_dict(explicit), tmp_path / "a.json", now=now)
    assert ("CONNECT", f"127.0.0.1:{port}") in seen, "the mail went through a tunnel"
    assert [t for m, t in seen if m == "POST"] == [f"{url}/teams", f"{url}/json"]
    assert len(inbox.messages) == 1 and SMTP_PASSWORD not in json.dumps(seen)
    assert_adaptive_card(received[0][1], hosts=("soon-pc",), link="https://intranet.example.jp/r.html")

    seen.clear()
    monkeypatch.setenv("HTTP_PROXY", proxy_url)
    monkeypatch.setenv("NO_PROXY", "localhost")
    hooks_only = {"webhooks": [{"kind": "json", "url": f"{url}/env"}]}
    notify.run(data, notify.Settings.from_dict(hooks_only), tmp_path / "b.json", now=now)
    assert seen == [("POST", f"{url}/env")], "HTTP_PROXY is honoured"

    seen.clear()
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    notify.run(data, notify.Settings.from_dict(hooks_only), tmp_path / "c.json", now=now)
    assert seen == [] and received[-1][0] == "/env", "NO_PROXY sends it direct"
