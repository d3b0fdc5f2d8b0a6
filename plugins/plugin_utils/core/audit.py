"""One PC's certificate health, computed from what the agent read: the shape the audit report uses.

The verdicts and the keep/stale plan come from :func:`onshi_cert.core.policy.plan_host`; this module
only adds what an audit also reports (face-authentication library, trusted root, backups).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ..i18n import say as _
from . import messages
from .backup import BackupIndex
from .certinfo import utcnow
from .errors import OnshiCertError
from .hoststate import HostFacts, InstalledCert
from .install import judge_installed
from .policy import Attention, Expectations, HostPlan, Judged, Scope, assess, plan_host
from .renewal import renewal_plan

# Problem codes, most urgent first; the report and the recap use these.
PROBLEMS = (
    "unreachable",
    "disagreement",
    "expired",
    "missing",
    "wrong_facility",
    "wrong_issuer",
    "bad_code",
    "no_key",
    "newer_unusable",
    "expiring",
    "duplicate",
    "no_backup",
    "backup_outdated",
    "not_exportable",
    "face_auth_old",
    "ca_not_trusted",
    "stale",
)
# Problems a person need not act on now: the cleanup job, or the renewal job, handles them.
NOT_URGENT = ("stale", "face_auth_old")


def _problem(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"code": code, "message": message, **extra}


def describe(items: list[Judged], plan: HostPlan, expect: Expectations, now: dt.datetime) -> list[dict[str, Any]]:
    """Return each certificate's facts with verdict, stage, findings, renewal plan, and its fate in the plan."""
    kept = set(plan.keep.values())
    removals = {r.thumbprint: r for r in plan.removals}
    rows = []
    for item in items:
        assessment = assess(item, expect, now)
        row = item.info.to_dict(now)
        removal = removals.get(item.thumbprint)
        row.update(
            ours=item.ours,
            kept=item.thumbprint in kept,
            stale=removal.detail if removal else None,
            verdict=assessment.verdict.value,
            stage=assessment.stage.value,
            findings=[f.value for f in assessment.findings],
            renewal=renewal_plan(item.info.not_after, now).to_dict(),
            backed_up=item.backed_up,
        )
        rows.append(row)
    return rows


def host_report(
    facts: HostFacts,
    installed: list[InstalledCert],
    roots: list[InstalledCert],
    expect: Expectations,
    *,
    face_auth_path: str,
    face_auth_minimum: str = "2.1.0",
    backups: BackupIndex | None = None,
    backup_password: str | None = None,
    host: str | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Return the PC's certificates with verdicts, the plan, and its problems (most urgent first)."""
    now = now or utcnow()
    pool = [r.cert for r in roots]
    backed_up = _backed_up(backups, installed, backup_password)
    judged = judge_installed(installed, expect, pool, backed_up=backed_up)
    plan = plan_host(expect, judged, scope=Scope(remove=True), ca_store=None, now=now)
    face = facts.face_auth(face_auth_path, face_auth_minimum)
    ca_trusted = any(expect.anchors.is_pinned(r.cert) for r in roots)
    problems = [_attention(a, backups, host) for a in plan.attention]
    if plan.disagreement:
        problems.append(_problem("disagreement", plan.warnings[0]))
    if any(j.ours for j in judged) and not ca_trusted:
        problems.append(_problem("ca_not_trusted", _("the pinned root CA is not in the trusted root stores")))
    if not face["ok"]:
        found = face["version"] or (_("not found") if not face["found"] else _("unreadable"))
        problems.append(
            _problem(
                "face_auth_old",
                _(
                    "face-authentication library version {version}: renewing with the MPKI tool needs {minimum} or "
                    "later",
                    version=found,
                    minimum=face_auth_minimum,
                ),
                version=face["version"],
                minimum=face_auth_minimum,
            )
        )
    if plan.removals:
        problems.append(
            _problem(
                "stale",
                _("{count} stale certificate(s) to remove", count=len(plan.removals)),
                thumbprints=sorted(r.thumbprint for r in plan.removals),
                count=len(plan.removals),
            )
        )
    problems.sort(key=lambda p: PROBLEMS.index(p["code"]) if p["code"] in PROBLEMS else len(PROBLEMS))
    urgent = [p["code"] for p in problems if p["code"] not in NOT_URGENT]
    if not face["ok"]:
        face["message"] = OnshiCertError(
            messages.FACE_AUTH_TOO_OLD, version=found, path=face_auth_path, minimum=face_auth_minimum
        ).describe()
    attention_message = (
        OnshiCertError(
            messages.NEEDS_PERSON, detail="; ".join(p["message"] for p in problems if p["code"] not in NOT_URGENT)
        ).describe()
        if urgent
        else ""
    )
    return {
        "host": facts.to_dict(),
        "certificates": describe(judged, plan, expect, now),
        "plan": {
            "keep": plan.keep,
            "stale": {r.thumbprint: r.detail for r in plan.removals},
            "stays": plan.stays,
            "missing": plan.missing,
            "foreign": [j.thumbprint for j in judged if not j.ours],
        },
        "ca_trusted": ca_trusted,
        "face_auth": face,
        "problems": problems,
        "status": urgent[0] if urgent else "ok",
        "attention": bool(urgent),
        "attention_message": attention_message,
        "checked_at": now.isoformat(),
    }


def _backed_up(
    backups: BackupIndex | None, installed: list[InstalledCert], password: str | None
) -> dict[str, bool] | None:
    """Return thumbprint -> has a backup (verified with ``password`` when given); None without a folder."""
    if backups is None or backups.root is None:
        return None
    if password:
        return backups.verified_map([i.thumbprint for i in installed], password)
    return {i.thumbprint: bool(backups.of(i.thumbprint)) for i in installed}


def _attention(item: Attention, backups: BackupIndex | None, host: str | None) -> dict[str, Any]:
    """Return a problem row; a missing backup where an older certificate's backup exists is 'outdated'."""
    row = item.to_dict()
    code = item.facility_code
    older = backups is not None and host is not None and any(b.facility_code == code for b in backups.of_host(host))
    if item.code == "no_backup" and host and older:
        row |= {
            "code": "backup_outdated",
            "message": _("the newest backup for {code} is of an older certificate", code=item.facility_code),
        }
    return row


#: Problems that do not make a PC need a person (the fleet report's rule as well).
QUIET_PROBLEMS = ("stale", "face_auth_old")
#: The expiry windows a smart inventory can select by (``within_60_days``: the kept certificate expires by then).
WINDOWS_DAYS = (7, 15, 30, 60, 90)


def fact_summary(report: dict[str, Any], checked_at: str) -> dict[str, Any]:
    """Return the PC's certificate state as flat values, for AWX's host page and smart inventory filters
    (``ansible_facts__onshi_cert_summary__within_60_days=true``): the cacheable fact ``onshi_cert_summary``."""
    kept = set((report.get("plan") or {}).get("keep", {}).values())
    days = [c["days_remaining"] for c in report.get("certificates") or [] if c["thumbprint"] in kept]
    expires = sorted(c["not_after"] for c in report.get("certificates") or [] if c["thumbprint"] in kept)
    status = next((p["code"] for p in report.get("problems") or [] if p["code"] not in QUIET_PROBLEMS), "ok")
    least = min(days, default=None)
    return {
        "status": status,
        "attention": status != "ok",
        "days_left": least,
        "expires": expires[0] if expires else None,
        "kept_certificates": len(kept),
        "checked_at": checked_at,
        **{f"within_{n}_days": least is not None and least <= n for n in WINDOWS_DAYS},
    }
