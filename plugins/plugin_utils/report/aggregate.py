"""Turn per-PC reports (``onshi_cert_info`` results) into the fleet report's data (report.json)."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from ..core.certinfo import utcnow
from ..core.renewal import FEE_YEN, POSTAGE_YEN, RENEWAL_WINDOW_DAYS, add_months
from ..i18n import say as _

SCHEMA = "onshi-cert/report/v2"
STAGES = ("ok", "90", "60", "30", "15", "7", "expired")
TIMELINE_MONTHS = 15


@dataclass
class HostEntry:
    """One PC as the audit saw it: its report, or why there is none."""

    host: str
    site: str
    facility_codes: list[str]
    report: dict[str, Any] | None = None
    error: str | None = None
    extra_problems: list[dict[str, Any]] = field(default_factory=list)
    facility_name: str = ""  # 医療機関名 (onshi_cert_facility_name)
    seen: bool = True  # False: the fleet record has never observed this PC (未確認)
    observed_at: dt.datetime | None = None  # the latest observation (the report's is its latest answer's)
    answered_at: dt.datetime | None = None


def _parse(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


def _month_key(when: dt.datetime) -> str:
    return f"{when.year:04d}-{when.month:02d}"


def build(
    entries: list[HostEntry],
    now: dt.datetime | None = None,
    timezone: str = "Asia/Tokyo",
    stale_days: int | None = None,
) -> dict[str, Any]:
    """Return the report data: summary, problems first, cost forecast, timeline, per-site hosts, worklist.

    Times stay UTC in the data; ``timezone`` is the zone people read them in (the renderers convert). A PC whose
    latest observation is older than ``stale_days`` gets the problem ``outdated`` (要確認); one never seen,
    ``unseen`` (未確認); one that did not answer this time keeps its last answer's certificates beside
    ``unreachable``, so its expiry series and worklist rows stay.
    """
    now = now or utcnow()
    thumb_hosts: dict[str, list[str]] = defaultdict(list)
    for entry in entries:
        for cert in (entry.report or {}).get("certificates", []):
            if cert.get("ours"):
                thumb_hosts[cert["thumbprint"]].append(entry.host)
    duplicates = {t: sorted(h) for t, h in thumb_hosts.items() if len(set(h)) > 1}

    hosts, renewals = [], []
    stages: Counter[str] = Counter()
    problems: Counter[str] = Counter()
    timeline: Counter[str] = Counter()
    horizon = add_months(now, TIMELINE_MONTHS)
    cost: dict[str, dict[str, Any]] = defaultdict(lambda: {"months_3_6": 0, "months_6_12": 0})
    for entry in sorted(entries, key=lambda e: (e.site, e.host)):
        report = entry.report
        row: dict[str, Any] = {
            "host": entry.host,
            "site": entry.site,
            "facility_name": entry.facility_name,
            "facility_codes": entry.facility_codes,
            "observed_at": entry.observed_at.isoformat() if entry.observed_at else None,
            "age_days": (now - entry.observed_at).days if entry.observed_at else None,
            "answered_at": entry.answered_at.isoformat() if entry.answered_at else None,
        }
        record_problems = _record_problems(entry, row, stale_days)
        if report is None:
            record_problems = record_problems or [
                {"code": "unreachable", "message": entry.error or _("the PC did not answer")}
            ]
            row |= {"status": record_problems[0]["code"], "problems": record_problems, "certificates": []}
            for problem in record_problems:
                problems[problem["code"]] += 1
            hosts.append(row)
            continue
        host_problems = record_problems + list(report["problems"]) + list(entry.extra_problems)
        for cert in report["certificates"]:
            if cert["thumbprint"] in duplicates and cert.get("ours"):
                others = [h for h in duplicates[cert["thumbprint"]] if h != entry.host]
                host_problems.append(
                    {
                        "code": "duplicate",
                        "thumbprint": cert["thumbprint"],
                        "message": _(
                            "{thumbprint} is also on {hosts}", thumbprint=cert["thumbprint"], hosts=", ".join(others)
                        ),
                    }
                )
        kept = set(report["plan"]["keep"].values())
        shown = []
        for cert in report["certificates"]:
            if not cert.get("ours"):
                continue
            shown.append(cert | {"kept": cert["thumbprint"] in kept})
            if cert["thumbprint"] not in kept:
                continue
            not_after = _parse(cert["not_after"])
            stages[cert["stage"] if cert["stage"] in STAGES else "ok"] += 1
            if now <= not_after < horizon:
                timeline[_month_key(not_after)] += 1
            if not_after - now <= dt.timedelta(days=RENEWAL_WINDOW_DAYS):
                renewals.append(_worklist(entry, cert, "renew"))
            elif not_after < add_months(now, 6):
                cost[entry.site]["months_3_6"] += 1
            elif not_after < add_months(now, 12):
                cost[entry.site]["months_6_12"] += 1
        for problem in report["problems"]:
            if problem["code"] == "expired":
                stages["expired"] += 1
                renewals.append(_worklist(entry, {"facility_code": problem.get("facility_code")}, "expired"))
            elif problem["code"] == "missing":
                renewals.append(_worklist(entry, {"facility_code": problem.get("facility_code")}, "missing"))
        codes_order = (
            "unseen",
            "unreachable",
            "outdated",
            "expired",
            "missing",
            "wrong_facility",
            "wrong_issuer",
            "duplicate",
        )
        host_problems.sort(key=lambda p: codes_order.index(p["code"]) if p["code"] in codes_order else 99)
        for problem in host_problems:
            problems[problem["code"]] += 1
        urgent = [p["code"] for p in host_problems if p["code"] not in ("stale", "face_auth_old")]
        row |= {
            "status": urgent[0] if urgent else "ok",
            "problems": host_problems,
            "certificates": sorted(shown, key=lambda c: c["days_remaining"]),
            "face_auth": report["face_auth"],
            "os_build": report["host"].get("os_build"),
            "days_left": min((c["days_remaining"] for c in shown if c["kept"]), default=None),
        }
        hosts.append(row)

    # Periods that do not overlap: the worklist (due now: renewals in their window, re-issues of expired and
    # missing certificates, exactly the renewals[] rows), then renewals due in 3-6 and in 6-12 months.
    worklist: dict[str, dict[str, int]] = defaultdict(lambda: {"count": 0, "yen": 0})
    for row in renewals:
        worklist[row["site"]]["count"] += 1
        worklist[row["site"]]["yen"] += row["cost_yen"]

    def money(site: str | None) -> dict[str, Any]:
        sites_in = [site] if site is not None else sorted(set(cost) | set(worklist))
        now_due = {
            "count": sum(worklist[s]["count"] for s in sites_in if s in worklist),
            "yen": sum(worklist[s]["yen"] for s in sites_in if s in worklist),
        }
        later = {
            key: {"count": (n := sum(cost[s][key] for s in sites_in if s in cost)), "yen": n * FEE_YEN}
            for key in ("months_3_6", "months_6_12")
        }
        periods = {"worklist": now_due, **later}
        return periods | {
            "total": {
                "count": sum(p["count"] for p in periods.values()),
                "yen": sum(p["yen"] for p in periods.values()),
            }
        }

    months = [_month_key(add_months(now.replace(day=1), i)) for i in range(TIMELINE_MONTHS)]
    sites: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in hosts:
        sites[row["site"]].append(row)
    return {
        "schema": SCHEMA,
        "generated_at": now.isoformat(),
        "timezone": timezone,
        "summary": {
            "hosts": len(entries),
            "reachable": sum(1 for e in entries if e.seen and not e.error),
            "unreachable": sum(1 for e in entries if e.seen and e.error),
            "unseen": sum(1 for e in entries if not e.seen),
            "outdated": sum(1 for h in hosts if any(p["code"] == "outdated" for p in h["problems"])),
            "stages": {s: stages.get(s, 0) for s in STAGES},
            "problems": dict(problems),
            "needs_attention": sum(1 for h in hosts if h["status"] != "ok"),
        },
        "cost": {
            "total": money(None),
            "by_site": {s: money(s) for s in sorted(set(cost) | set(worklist))},
            "fee_yen": FEE_YEN,
            "postage_yen": POSTAGE_YEN,
        },
        "timeline": [{"month": m, "count": timeline.get(m, 0)} for m in months],
        "problem_hosts": [
            h
            for h in hosts
            if h["status"] != "ok" or any(p["code"] in ("face_auth_old", "stale") for p in h["problems"])
        ],
        "sites": {
            s: sorted(rows, key=lambda r: (r.get("days_left") is None, r.get("days_left") or 0))
            for s, rows in sorted(sites.items())
        },
        "renewals": sorted(renewals, key=lambda r: (r["deadline"] or "", r["host"])),
        "duplicates": [{"thumbprint": t, "hosts": h} for t, h in sorted(duplicates.items())],
    }


def _record_problems(entry: HostEntry, row: dict[str, Any], stale_days: int | None) -> list[dict[str, Any]]:
    """Return what the fleet record says of a PC before its certificates: never seen, not answering, too old."""
    if not entry.seen:
        return [{"code": "unseen", "message": entry.error or _("never audited")}]
    found = []
    if entry.error:
        found.append({"code": "unreachable", "message": entry.error})
    if stale_days is not None and row["age_days"] is not None and row["age_days"] > stale_days:
        found.append(
            {
                "code": "outdated",
                "message": _("last seen {days} day(s) ago: audit it again", days=row["age_days"]),
            }
        )
    return found


def _worklist(entry: HostEntry, cert: dict[str, Any], reason: str) -> dict[str, Any]:
    not_after = cert.get("not_after")
    renewal = cert.get("renewal") or {}
    return {
        "facility_code": cert.get("facility_code") or "",
        "facility_name": entry.facility_name,
        "terminal": cert.get("subject_cn") or "",
        "host": entry.host,
        "site": entry.site,
        "not_after": not_after,
        "apply_by": renewal.get("apply_by"),
        "deadline": renewal.get("deadline") or not_after,
        "reason": reason,
        "cost_yen": FEE_YEN + (POSTAGE_YEN if reason == "expired" else 0),
    }


IGNORED_GROUPS = {"all", "ungrouped", "oqs_pcs"}


def site_of(groups: list[str] | str | None) -> str:
    """Return the site of a host: its first group other than the fleet-wide ones."""
    names = [groups] if isinstance(groups, str) else list(groups or [])
    return next((g for g in names if g not in IGNORED_GROUPS), "default")
