"""What the engineer sees: the diff per store, the plan as the result shows it, each code's outcome, and the one
failure for every code that could not be finished."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ..core import messages
from ..core.certinfo import thumbprint, utcnow
from ..core.errors import OnshiCertError
from ..core.hoststate import InstalledCert
from ..core.policy import HostPlan
from ..i18n import say as _
from .change import BACKUP_ROUTES
from .read import Runner, Settings, State, WorkflowError


def _line(thumb: str, code: str | None, not_after: Any, issuer: str, note: str = "") -> str:
    text = _(
        "{thumbprint} {code} until {date} issuer={issuer}",
        thumbprint=thumb,
        code=code or "-",
        date=f"{not_after:%Y-%m-%d}",
        issuer=issuer,
    )
    return text + (f"  [{note}]" if note else "")


def diff(state: State, plan: HostPlan, settings: Settings) -> list[dict[str, str]]:
    """Return one before/after block per store the plan touches, each changed line with its reason."""
    user = settings.operator or state.facts.user_name or "CurrentUser"
    removed = {r.thumbprint: r for r in plan.removals}
    before, after = [], []
    for cert in state.my:
        info = cert.info
        removal = removed.get(cert.thumbprint)
        text = _line(cert.thumbprint, info.facility_code, info.not_after, info.issuer_cn)
        if removal:
            note = _(
                "remove: {reason}; backup: {backup}",
                reason=removal.detail,
                backup=removal.backup_note or _(BACKUP_ROUTES.get(removal.backup, removal.backup)),
            )
            before.append(f"{text}  [{note}]")
        else:
            before.append(text)
            after.append(text)
    present = {c.thumbprint for c in state.my}
    for item in plan.imports:
        info = item.info
        line = _line(
            item.thumbprint, item.code, info.not_after, info.issuer_cn, _("install from {file}", file=item.origin)
        )
        if item.thumbprint in present:  # re-imported to restore its key: replace the line
            old = _line(item.thumbprint, item.code, info.not_after, info.issuer_cn)
            after = [a for a in after if a != old]
        after.append(line)
    blocks = [_block(f"CurrentUser({user})\\My", before, after)]
    why = _("add: pinned chain of the kept certificate")
    for store in sorted({s for s, _cert in plan.ca_adds}):
        added = [f"{thumbprint(c)} {c.subject.rfc4514_string()}  [{why}]" for s, c in plan.ca_adds if s == store]
        name = store if store.startswith("LocalMachine") else store.replace("CurrentUser", f"CurrentUser({user})")
        blocks.append(_block(name, [], added))
    return [b for b in blocks if b["before"] != b["after"]] or blocks[:1]


def _block(name: str, before: list[str], after: list[str]) -> dict[str, str]:
    return {
        "before_header": name,
        "after_header": name,
        "before": "".join(f"{line}\n" for line in sorted(before)),
        "after": "".join(f"{line}\n" for line in sorted(after)),
    }


def summary(certs: list[InstalledCert]) -> list[str]:
    """Return one line per certificate of ``CurrentUser\\My``."""
    return sorted(
        f"{c.thumbprint} {c.info.facility_code or '-'} until {c.info.not_after:%Y-%m-%d} "
        f"key={'yes' if c.info.has_key else 'no'} issuer={c.info.issuer_cn}"
        for c in certs
    )


def describe_plan(plan: HostPlan, check_mode: bool) -> dict[str, Any]:
    """Return the plan as the module result shows it (check mode says 'would')."""
    return {
        "planned": check_mode,
        "codes": {
            code: {
                "keep": c.winner.thumbprint if c.winner else None,
                "source": c.winner.source if c.winner else None,
                "origin": c.winner.origin if c.winner else None,
                "not_after": c.winner.info.not_after.isoformat() if c.winner else None,
                "install": c.install,
                "outdated": [{"file": o.origin, "reason": why} for o, why in c.outdated],
                "held": list(dict.fromkeys(c.held)),
            }
            for code, c in plan.codes.items()
        },
        "installed": [
            {
                "thumbprint": i.thumbprint,
                "facility_code": i.code,
                "from": i.origin,
                "not_after": i.info.not_after.isoformat(),
            }
            for i in plan.imports
        ],
        "removed": [r.to_dict() for r in plan.removals],
        "kept": [{"thumbprint": t, "reason": why} for t, why in plan.stays.items()],
        "ca_added": [{"store": s, "subject": c.subject.rfc4514_string()} for s, c in plan.ca_adds],
        "missing": plan.missing,
        "attention": [a.to_dict() for a in plan.attention],
        "disagreement": plan.disagreement,
    }


def cert_rows(certs: list[InstalledCert]) -> list[dict[str, Any]]:
    """Return ``CurrentUser\\My`` as work reports list it: thumbprint, code, expiry, key."""
    return sorted(
        (
            {
                "thumbprint": c.thumbprint,
                "facility_code": c.info.facility_code,
                "not_after": c.info.not_after.isoformat(),
                "has_key": bool(c.info.has_key),
            }
            for c in certs
        ),
        key=lambda row: (row["facility_code"] or "", row["not_after"]),
    )


def predicted_rows(state: State, plan: HostPlan) -> list[dict[str, Any]]:
    """Return ``CurrentUser\\My`` as the plan would leave it (check mode)."""
    removed = {r.thumbprint for r in plan.removals}
    rows = [row for row in cert_rows(state.my) if row["thumbprint"] not in removed]
    present = {row["thumbprint"] for row in rows}
    rows += [
        {
            "thumbprint": i.thumbprint,
            "facility_code": i.code,
            "not_after": i.info.not_after.isoformat(),
            "has_key": True,
        }
        for i in plan.imports
        if i.thumbprint not in present
    ]
    return sorted(rows, key=lambda row: (row["facility_code"] or "", row["not_after"]))


def _finish(
    result: dict[str, Any],
    plan: HostPlan,
    problems: list[OnshiCertError],
    short: dict[str, str],
    min_days_left: int,
    missing_fix: str | None,
) -> dict[str, Any]:
    """Give each code its outcome, and fail the task for every code that could not be finished: a file refused or
    unreadable (its own error), a renewal that did not happen, a code the job must give a certificate but could
    not. What was done for the other codes stays done and is said; when nothing changed, the first file or
    renewal problem is raised as it is."""
    done = _("what could be done was done") if result["changed"] else _("nothing was changed")
    errors = list(problems)
    if short:
        detail = "; ".join(short.values())
        errors.append(WorkflowError(messages.NOT_RENEWED, days=min_days_left, detail=detail, done=done))
    if errors and not result["changed"]:
        raise errors[0]
    if missing_fix is not None and plan.missing:
        found = [a.message for a in plan.attention if a.facility_code in plan.missing and a.code != "blocked"]
        detail = _(
            "needs a certificate for {codes} ({problems}), but no usable .p12 or backup was offered; {done}",
            codes=", ".join(plan.missing),
            problems="; ".join(found),
            done=done,
        )
        errors.append(WorkflowError(messages.CODE_WITHOUT_CERT, fix=missing_fix, detail=detail))
    touched = {i.code for i in plan.imports} | {r.item.code for r in plan.removals}
    for code, entry in result["codes"].items():
        holds = {
            "blocked": bool(plan.codes[code].held),
            "missing": code in plan.missing,
            "not_renewed": code in short,
            "changed": code in touched,
        }
        entry["outcome"] = next((o for o in OUTCOMES if holds.get(o)), "ok")  # the worst that holds
    outcomes = [entry["outcome"] for entry in result["codes"].values()]
    result["outcome"] = next((o for o in OUTCOMES if o in outcomes), "ok")
    if errors:
        result |= {
            "failed": True,
            "msg": " / ".join(e.describe() + (f" ({e.file})" if e.file else "") for e in errors),
            "error_code": errors[0].code,
            "fix": errors[0].fix,
        }
    return result


#: Each code's outcome, worst first: the PC's outcome is the worst of its codes'.
OUTCOMES = ("blocked", "missing", "not_renewed", "changed", "ok")


def _not_renewed(plan: HostPlan, min_days_left: int) -> dict[str, str]:
    """Return code -> why, for each code whose kept certificate is not valid for more than ``min_days_left`` days."""
    if min_days_left <= 0:
        return {}
    return {
        code: _(
            "{code}: {thumbprint} expires on {date}",
            code=code,
            thumbprint=c.winner.thumbprint,
            date=f"{c.winner.info.not_after:%Y-%m-%d}",
        )
        if c.winner
        else f"{code}: {_('none')}"
        for code, c in plan.codes.items()
        if c.winner is None or c.winner.info.not_after <= _now_plus(min_days_left)
    }


def _now_plus(days: int) -> dt.datetime:
    return utcnow() + dt.timedelta(days=days)


def _result(
    state: State,
    plan: HostPlan,
    settings: Settings,
    runner: Runner,
    certificates: list[str],
    *,
    backups: list[dict[str, Any]],
    warnings: list[str],
    restored: list[dict[str, Any]] | None,
) -> dict[str, Any]:
    kept = next(iter(plan.codes.values())).winner if len(plan.codes) == 1 else None
    return {
        "changed": plan.changes,
        **describe_plan(plan, settings.check_mode),
        "thumbprint": kept.thumbprint if kept else None,
        "facility_code": kept.code if kept else None,
        "not_after": kept.info.not_after.isoformat() if kept else None,
        "imported": bool(plan.imports),
        "backups": backups,
        "warnings": list(dict.fromkeys(warnings)),
        "attention_needed": plan.needs_person,
        "host": state.facts.to_dict(),
        "certificates": certificates,
        "diff": diff(state, plan, settings),
        "executions": runner.executions,
        "restored": restored or [],
    }
