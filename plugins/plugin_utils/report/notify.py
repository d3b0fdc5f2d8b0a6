"""Expiry alerts from an audit's report.json: mail (SMTP with STARTTLS) and webhooks, once per threshold.

The thresholds are the MPKI client tool's: 90, 60, 30 and 15 days, every day of the last week, and expired.
What was sent is kept in a state file beside the reports (``notify-state.json``), so each certificate is
announced once per threshold (once a day in its last week) however often the audit runs. Nothing is marked
as sent unless every channel took it: a failed channel means the next run tries again.

Teams gets an Adaptive Card (what a Workflows webhook accepts): the fleet's counts, the PCs and a link to the
report; Slack a text; any other system the generic JSON. Delivery, through a proxy where one is set, is
:mod:`.transport`. Secrets (the SMTP password, webhook URLs, which carry their own key) come from environment
variables or files, never from the command line.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from ..core import messages
from ..core.paths import write_private
from ..i18n import N_, tr
from . import transport
from .render import fmt_date, zone
from .transport import NotifyError

ALERT_STAGES = ("90", "60", "30", "15", "7", "expired")
STATE_FILE = "notify-state.json"
KEEP_DAYS = 400  # state entries older than this are forgotten (a certificate lives 5 years; thresholds are days)


@dataclass(frozen=True)
class Alert:
    """One certificate at one threshold."""

    key: str
    host: str
    site: str
    facility_name: str
    facility_code: str
    thumbprint: str
    not_after: str
    days: int
    stage: str


@dataclass
class Settings:
    """Where alerts go (from the notify settings file, or the audit role's variables)."""

    lang: str = "ja"
    smtp: dict[str, Any] = field(default_factory=dict)
    webhooks: list[dict[str, Any]] = field(default_factory=list)
    proxy: str | None = None  # every connection's proxy unless a channel sets its own (else HTTPS_PROXY, NO_PROXY)
    report_url: str | None = None  # where people open the report (the Teams card's button); else its path as text

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Settings:
        """Return settings from their mapping; refuse what cannot work, naming it."""
        smtp = dict(data.get("smtp") or {})
        webhooks = [dict(w) for w in data.get("webhooks") or []]
        if smtp:
            missing = [key for key in ("host", "from", "to") if not smtp.get(key)]
            if missing:
                raise NotifyError(messages.NOTIFY_SETTINGS, detail="smtp: " + ", ".join(missing))
        for hook in webhooks:
            if hook.get("kind", "json") not in ("teams", "slack", "json") or not (
                hook.get("url") or hook.get("url_env")
            ):
                raise NotifyError(messages.NOTIFY_SETTINGS, detail=f"webhooks: {hook.get('kind')!r}")
        proxy = data.get("proxy") or None
        if proxy:
            smtp = ({"proxy": proxy} | smtp) if smtp else smtp
            webhooks = [{"proxy": proxy} | hook for hook in webhooks]
        if not smtp and not webhooks:
            raise NotifyError(messages.NOTIFY_SETTINGS, detail="smtp, webhooks")
        report_url = data.get("report_url") or None
        return cls(str(data.get("lang") or "ja"), smtp, webhooks, proxy, str(report_url) if report_url else None)


def due(data: dict[str, Any], sent: dict[str, str], now: dt.datetime | None = None) -> list[Alert]:
    """Return the alerts of ``data`` (report.json) not yet in ``sent``: kept certificates at a threshold, and
    expired ones whose facility code has nothing valid left on that PC."""
    now = now or dt.datetime.now(dt.UTC)
    today = now.astimezone(zone(data.get("timezone"))).date().isoformat()
    alerts = []
    for site, rows in sorted(data.get("sites", {}).items()):
        for row in rows:
            certs = row.get("certificates") or []
            valid_codes = {c.get("facility_code") for c in certs if c.get("kept")}
            for cert in certs:
                stage = str(cert.get("stage"))
                if stage not in ALERT_STAGES:
                    continue
                if stage == "expired" and (cert.get("kept") or cert.get("facility_code") in valid_codes):
                    continue  # replaced: the stale one goes with the cleanup, nobody needs a mail
                if stage != "expired" and not cert.get("kept"):
                    continue
                key = f"{cert['thumbprint']}:{stage}" + (f":{today}" if stage == "7" else "")
                if key in sent:
                    continue
                alerts.append(
                    Alert(
                        key,
                        str(row["host"]),
                        str(site),
                        str(row.get("facility_name") or ""),
                        str(cert.get("facility_code") or ""),
                        str(cert["thumbprint"]),
                        str(cert["not_after"]),
                        int(cert.get("days_remaining") or 0),
                        stage,
                    )
                )
    order = {stage: index for index, stage in enumerate(reversed(ALERT_STAGES))}
    return sorted(alerts, key=lambda a: (order[a.stage], a.site, a.host))


def text(alerts: list[Alert], data: dict[str, Any], lang: str) -> tuple[str, str]:
    """Return the subject and the body of the alert mail (also the webhook's text)."""
    tz = zone(data.get("timezone"))
    subject = tr(lang, N_("[onshi-cert] certificate expiry: {count} certificate(s)"), count=len(alerts))
    lines = [tr(lang, N_("These client certificates reached an expiry threshold:")), ""]
    for alert in alerts:
        values = {
            "site": alert.site,
            "name": alert.facility_name or "-",
            "host": alert.host,
            "code": alert.facility_code,
            "date": fmt_date(alert.not_after, lang, tz, weekday=True),
            "days": alert.days,
        }
        if alert.stage == "expired":
            lines.append(
                tr(lang, N_("- {site} {name} {host} ({code}): EXPIRED on {date}: apply for re-issue"), **values)
            )
        else:
            lines.append(tr(lang, N_("- {site} {name} {host} ({code}): expires {date}, {days} days left"), **values))
    lines += ["", tr(lang, N_("The audit report: {report}"), report=data.get("report_path") or "report.html")]
    return subject, "\n".join(lines) + "\n"


def _secret(settings: dict[str, Any], name: str) -> str | None:
    """Return a secret given as ``<name>_env`` (a variable's name) or ``<name>_file`` (a path), or inline."""
    if settings.get(f"{name}_env"):
        return os.environ.get(str(settings[f"{name}_env"]))
    if settings.get(f"{name}_file"):
        return Path(str(settings[f"{name}_file"])).expanduser().read_text(encoding="utf-8").strip()
    value = settings.get(name)
    return None if value is None else str(value)


def send_mail(smtp: dict[str, Any], subject: str, body: str) -> None:
    """Mail ``body`` to the settings' recipients (:func:`.transport.send_mail`: TLS before any password)."""
    message = EmailMessage()
    message["Subject"], message["From"] = subject, str(smtp["from"])
    recipients = [smtp["to"]] if isinstance(smtp["to"], str) else list(smtp["to"])
    message["To"] = ", ".join(recipients)
    message["Date"], message["Message-ID"] = formatdate(localtime=False), make_msgid("onshi-cert")
    message.set_content(body, charset="utf-8")
    transport.send_mail(smtp, message, recipients, _secret(smtp, "password"))


def card(subject: str, body: str, alerts: list[Alert], data: dict[str, Any], lang: str, link: str | None) -> dict:
    """Return a Teams Workflows message: an Adaptive Card with the fleet's counts, the PCs and the report."""
    summary = data.get("summary") or {}
    facts = [
        (N_("PCs"), summary.get("hosts")),
        (N_("need attention"), summary.get("needs_attention")),
        (N_("certificates in this alert"), len(alerts)),
        (N_("of them expired"), sum(1 for a in alerts if a.stage == "expired")),
    ]
    pcs = [line[2:] for line in body.splitlines() if line.startswith("- ")]
    content: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {"type": "TextBlock", "text": subject, "weight": "Bolder", "size": "Medium", "wrap": True},
            {
                "type": "FactSet",
                "facts": [
                    {"title": tr(lang, title), "value": str(value)} for title, value in facts if value is not None
                ],
            },
            *({"type": "TextBlock", "text": line, "wrap": True, "spacing": "None"} for line in pcs[:30]),
            *(
                [{"type": "TextBlock", "text": tr(lang, N_("... and {count} more"), count=len(pcs) - 30), "wrap": True}]
                if len(pcs) > 30
                else []
            ),
        ],
    }
    report = tr(lang, N_("Open the audit report"))
    if link:
        content["actions"] = [{"type": "Action.OpenUrl", "title": report, "url": link}]
    else:
        where = data.get("report_path") or "report.html"
        content["body"].append({"type": "TextBlock", "text": f"{report}: {where}", "wrap": True, "isSubtle": True})
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": content}
        ],
    }


def payload(kind: str, subject: str, body: str, alerts: list[Alert], data: dict[str, Any] | None = None,
            lang: str = "ja", link: str | None = None) -> dict[str, Any]:  # fmt: skip
    """Return the webhook body: Teams an Adaptive Card, Slack text, the generic JSON also every alert."""
    if kind == "teams":
        return card(subject, body, alerts, data or {}, lang, link)
    if kind == "slack":
        return {"text": f"*{subject}*\n{body}"}
    return {"subject": subject, "text": body, "alerts": [asdict(a) for a in alerts]}


def post(hook: dict[str, Any], data: dict[str, Any]) -> None:
    """POST ``data`` as JSON to the webhook (:func:`.transport.post`: through its proxy, the system's CAs)."""
    body = json.dumps(data, ensure_ascii=False).encode()
    transport.post(_secret(hook, "url") or "", body, cafile=hook.get("cafile"), proxy=hook.get("proxy"))


def load_state(path: Path) -> dict[str, str]:
    """Return what was sent (key -> when), or nothing for a first run."""
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")).get("sent") or {})
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise NotifyError(messages.NOTIFY_STATE, path=path, detail=exc) from None


def save_state(path: Path, sent: dict[str, str], now: dt.datetime) -> None:
    """Write the state (entries older than KEEP_DAYS dropped) atomically."""
    limit = now - dt.timedelta(days=KEEP_DAYS)
    kept = {key: when for key, when in sent.items() if dt.datetime.fromisoformat(when) >= limit}
    write_private(path, json.dumps({"sent": kept}, indent=1, sort_keys=True).encode())


def run(
    data: dict[str, Any],
    settings: Settings,
    state_path: Path,
    *,
    check: bool = False,
    now: dt.datetime | None = None,
    mailer: Callable[[dict[str, Any], str, str], None] = send_mail,
) -> list[Alert]:
    """Send what is due; return it. With ``check`` only say what would be sent."""
    now = now or dt.datetime.now(dt.UTC)
    sent = load_state(state_path)
    alerts = due(data, sent, now)
    if not alerts or check:
        return alerts
    subject, body = text(alerts, data, settings.lang)
    if settings.smtp:
        mailer(settings.smtp, subject, body)
    for hook in settings.webhooks:
        kind = str(hook.get("kind", "json"))
        post(hook, payload(kind, subject, body, alerts, data, settings.lang, settings.report_url))
    sent |= {alert.key: now.isoformat() for alert in alerts}
    save_state(state_path, sent, now)
    return alerts
