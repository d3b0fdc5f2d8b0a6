"""Rule 2, no removal without a way back: which certificates of ours may leave ``CurrentUser\\My``, why, and how
each can come back (a verified backup, an export first, or the stated reason none is possible)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..i18n import say as _
from .judged import Expectations, Judged

if TYPE_CHECKING:
    from .policy import HostPlan, Scope


@dataclass
class Removal:
    """A certificate of ours that leaves ``CurrentUser\\My``, why, and how it can come back."""

    item: Judged = field(repr=False)
    reason: str  # expired | superseded | retired | selected
    detail: str
    backup: str  # verified (a backup exists) | export (export it first) | impossible
    backup_note: str = ""

    @property
    def thumbprint(self) -> str:
        """Return the thumbprint."""
        return self.item.thumbprint

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly description."""
        return {
            "thumbprint": self.thumbprint,
            "facility_code": self.item.code or (self.item.info.facility_codes or [None])[0],
            "reason": self.reason,
            "detail": self.detail,
            "backup": self.backup,
            "backup_note": self.backup_note,
            "not_after": self.item.info.not_after.isoformat(),
        }


def backup_route(item: Judged) -> tuple[str, str]:
    """Return how a certificate can come back after removal: verified, export, impossible (with why)."""
    if item.backed_up:
        return "verified", ""
    if not item.info.has_key:
        return "impossible", _("the private key is missing, so nothing can be exported")
    if not item.key_ok:
        return "impossible", _("the private key cannot be opened, so nothing can be exported")
    if item.exportable is False:
        return "impossible", _("the private key is not exportable (imported without 'mark this key as exportable')")
    if item.exportable is None:
        return "unknown", _("whether the key can be exported was not read")
    return "export", ""


def plan_removals(plan: HostPlan, expect: Expectations, pc: Sequence[Judged], scope: Scope, now: dt.datetime) -> None:
    kept = set(plan.keep.values())
    holds_all = not plan.missing and not plan.held  # a retired code goes only once every expected code is settled
    for item in pc:
        forced = item.thumbprint in scope.force
        if not item.ours or item.info.is_ca:
            if item.thumbprint in scope.thumbprints:
                plan.stays[item.thumbprint] = _("it does not chain to the pinned root: onshi-cert never removes it")
            continue
        why_stale = None if item.thumbprint in kept else _why_stale(item, plan, expect, holds_all, now)
        if item.code in plan.held:
            if why_stale is not None:
                plan.stays[item.thumbprint] = _(
                    "stale ({detail}), but {code} is on hold: a file for it was refused",
                    detail=why_stale[1],
                    code=item.code,
                )
            continue
        if why_stale is None and not forced:
            if item.thumbprint in scope.thumbprints:
                plan.stays[item.thumbprint] = _why_it_stays(item, plan)
            continue
        if not scope.remove or not scope.selects(item, now):
            if why_stale is not None:
                plan.stays[item.thumbprint] = _(
                    "stale ({detail}), not selected for removal by this task", detail=why_stale[1]
                )
            continue
        reason, detail = why_stale or ("selected", _("named for removal with force: true"))
        route, note = backup_route(item)
        if route == "unknown":
            plan.stays[item.thumbprint] = _("stale ({detail}), but {note}: kept", detail=detail, note=note)
            continue
        if forced and why_stale is None and route == "impossible":
            plan.stays[item.thumbprint] = _("valid and {note}: never removed without a backup", note=note)
            continue
        plan.removals.append(Removal(item, reason, detail, route, note))


def _why_it_stays(item: Judged, plan: HostPlan) -> str:
    """Return why a certificate named for removal stays (it is not stale)."""
    codes = [code for code, thumb in plan.keep.items() if thumb == item.thumbprint]
    if codes:
        listed = ", ".join(codes)
        return _(
            "it is the newest valid certificate for {codes} (force: true removes it, after a verified backup)",
            codes=listed,
        )
    if item.code is not None and item.code not in plan.codes:
        return _(
            "it is a valid certificate for {code}, which this PC does not expect: a person decides", code=item.code
        )
    return _("it is not stale (valid, and nothing newer of its code is kept)")


def _why_stale(
    item: Judged, plan: HostPlan, expect: Expectations, holds_all: bool, now: dt.datetime
) -> tuple[str, str] | None:
    """Return (reason, detail) when a certificate of ours may leave the PC, None when it must stay."""
    info = item.info
    if item.code is None:
        return None  # ambiguous or invalid code: a person decides
    if now >= info.not_after:
        return "expired", _("expired on {date}", date=f"{info.not_after:%Y-%m-%d}")
    if now < info.not_before:
        return None  # perhaps the renewed one: never removed
    code_plan = plan.codes.get(item.code)
    if code_plan is not None:
        winner = code_plan.winner
        if winner is not None and winner.info.not_after >= info.not_after:
            return "superseded", _(
                "superseded by {thumbprint} (until {date})",
                thumbprint=winner.thumbprint,
                date=f"{winner.info.not_after:%Y-%m-%d}",
            )
        return None
    if item.code in expect.retire_codes and holds_all:
        return "retired", _("facility code {code} is retired (onshi_cert_retire_codes)", code=item.code)
    return None
