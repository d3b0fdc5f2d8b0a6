"""The whole fleet from the record: every PC of the inventory with its latest observation and its age, the PCs
never seen (未確認) or not seen lately (要確認), the PCs that left the inventory, and what changed on each PC
since its previous answer (newly 要対応, resolved, renewed, newly unreachable).

Days remaining and stages are counted again at the report's time: a certificate seen 30 days ago with 40 days
left has 10 days left now, and one that has expired since is reported expired.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ..core.verdicts import stage_for
from ..i18n import say as _
from ..store import Pc, Seen
from .aggregate import HostEntry

#: Days after which a PC's latest answer is too old to rely on (要確認); onshi_cert_report_stale_days.
STALE_DAYS = 14
#: Problems that do not make a PC need a person (the same rule as the report's status).
QUIET = ("stale", "face_auth_old")


def aged(report: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    """Return ``report`` (an onshi_cert fact) with days remaining and stages counted at ``now``, and a kept
    certificate that has expired since it was seen reported as expired."""
    certificates, expired = [], []
    kept = set((report.get("plan") or {}).get("keep", {}).values())
    for cert in report.get("certificates") or []:
        not_after = dt.datetime.fromisoformat(cert["not_after"])
        not_before = dt.datetime.fromisoformat(cert.get("not_before") or cert["not_after"])
        cert = cert | {
            "days_remaining": int((not_after - now).total_seconds() // 86400),
            "stage": str(stage_for(min(not_before, not_after), not_after, now)),
        }
        if cert["thumbprint"] in kept and not_after <= now and cert.get("ours"):
            expired.append(cert)
        certificates.append(cert)
    problems = list(report.get("problems") or [])
    known = {(p["code"], p.get("facility_code")) for p in problems}
    for cert in expired:
        if ("expired", cert.get("facility_code")) not in known:
            problems.append(
                {
                    "code": "expired",
                    "facility_code": cert.get("facility_code"),
                    "thumbprint": cert["thumbprint"],
                    "message": _("{thumbprint} has expired since the PC was last seen", thumbprint=cert["thumbprint"]),
                }
            )
    return report | {"certificates": certificates, "problems": problems}


def entries(fleet: list[Pc], seen: dict[str, Seen], now: dt.datetime) -> list[HostEntry]:
    """Return one report entry per PC of ``fleet``: its latest answer (aged), why its latest observation has
    none, or that it was never seen."""
    out = []
    for pc in fleet:
        record = seen.get(pc.host)
        entry = HostEntry(
            host=pc.host, site=pc.site, facility_codes=list(pc.facility_codes), facility_name=pc.facility_name
        )
        if record is None:
            entry.error = _("never audited: not in the fleet record yet")
            entry.seen = False
        else:
            latest, answer = record.latest, record.answer
            entry.observed_at = latest["observed_at"]
            if answer is not None:
                entry.report = aged(answer["report"], now)
                entry.answered_at = answer["observed_at"]
            if not latest["reachable"]:
                entry.error = latest["error"] or _("the PC did not answer (unreachable, or the audit failed on it)")
        out.append(entry)
    return out


def departed(fleet: list[Pc], seen: dict[str, Seen]) -> list[dict[str, Any]]:
    """Return the PCs of the record that are no longer in the inventory (listed apart, never dropped)."""
    names = {pc.host for pc in fleet}
    return [
        {
            "host": host,
            "site": record.latest["site"],
            "facility_name": record.latest["facility_name"],
            "observed_at": record.latest["observed_at"].isoformat(),
        }
        for host, record in sorted(seen.items())
        if host not in names
    ]


def status(report: dict[str, Any] | None) -> str:
    """Return a PC's status from its own answer: its first problem that needs a person, else ok."""
    if report is None:
        return "unreachable"
    return next((p["code"] for p in report.get("problems") or [] if p["code"] not in QUIET), "ok")


def _kept(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    keep = (report.get("plan") or {}).get("keep") or {}
    by_thumb = {c["thumbprint"]: c for c in report.get("certificates") or []}
    return {code: by_thumb[t] for code, t in keep.items() if t in by_thumb}


def changes(fleet: list[Pc], seen: dict[str, Seen]) -> list[dict[str, Any]]:
    """Return, per PC of ``fleet``, what changed since its previous observation."""
    out = []
    for pc in fleet:
        record = seen.get(pc.host)
        if record is None:
            continue
        at = record.latest["observed_at"].isoformat()
        if not record.latest["reachable"]:
            if record.was_reachable:
                out.append({"host": pc.host, "site": pc.site, "change": "unreachable", "at": at, "detail": ""})
            continue
        if record.previous is None:
            continue
        now_report, before = record.latest["report"], record.previous["report"]
        after_status, before_status = status(now_report), status(before)
        if after_status != "ok" and before_status == "ok":
            out.append({"host": pc.host, "site": pc.site, "change": "attention", "at": at, "detail": after_status})
        elif after_status == "ok" and before_status != "ok":
            out.append({"host": pc.host, "site": pc.site, "change": "resolved", "at": at, "detail": before_status})
        old = _kept(before)
        for code, cert in sorted(_kept(now_report).items()):
            was = old.get(code)
            if was and was["thumbprint"] != cert["thumbprint"] and cert["not_after"] > was["not_after"]:
                detail = f"{code}: {was['not_after'][:10]} → {cert['not_after'][:10]}"
                out.append({"host": pc.host, "site": pc.site, "change": "renewed", "at": at, "detail": detail})
    return out
