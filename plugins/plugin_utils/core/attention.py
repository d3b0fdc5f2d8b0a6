"""Rule 12, problems are not "ok": what on a PC needs a person, each with a stable problem code and the fix.

:func:`plan_attention` is called by :func:`onshi_cert.core.policy.plan_host` once the plan is made; one function per
rule says what it finds for one facility code or for the certificates the plan does not keep.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..i18n import say as _
from .judged import Expectations, Judged, unusable
from .verdicts import stage_for

if TYPE_CHECKING:
    from .policy import CodePlan, HostPlan


@dataclass
class Attention:
    """Something on the PC that needs a person: a stable problem code, a message, and the fix."""

    code: str
    message: str
    fix: str = ""
    thumbprint: str | None = None
    facility_code: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly description (keys without values left out)."""
        data = {"code": self.code, "message": self.message, "fix": self.fix, **self.extra}
        if self.thumbprint:
            data["thumbprint"] = self.thumbprint
        if self.facility_code:
            data["facility_code"] = self.facility_code
        return data


def plan_attention(plan: HostPlan, expect: Expectations, pc: Sequence[Judged], now: dt.datetime) -> None:
    """Add to ``plan`` what needs a person: per expected code, then for the PC's certificates the plan does not keep
    (forged, unreadable code, another facility's), and whether the inventory and the PC disagree."""
    for code, code_plan in plan.codes.items():
        plan.attention += _held(code, code_plan)
        if code_plan.winner is None:
            plan.attention.append(_without_certificate(code, pc, now))
            continue
        plan.attention += _kept(code, code_plan.winner, pc, expect, now)
        plan.warnings += _file_warnings(code, code_plan, expect, now)
    others = _not_kept(plan, expect, pc, now)
    plan.attention += others
    other_codes = sorted({a.facility_code for a in others if a.code == "wrong_facility" and a.facility_code})
    if other_codes and plan.missing:
        plan.disagreement = True
        plan.warnings.insert(
            0,
            _(
                "the inventory and the PC disagree: the PC holds a valid certificate for {others} but none for "
                "{missing}; nothing of it is removed",
                others=", ".join(other_codes),
                missing=", ".join(plan.missing),
            ),
        )


def _held(code: str, code_plan: CodePlan) -> list[Attention]:
    """A code held by a file refused or unreadable (rule 5): nothing of it changed."""
    if not code_plan.held:
        return []
    return [
        Attention(
            "blocked",
            _("nothing was changed for {code}: {detail}", code=code, detail="; ".join(dict.fromkeys(code_plan.held))),
            _("correct or replace the file named (the task's error says how), then run the job again"),
            facility_code=code,
        )
    ]


def _without_certificate(code: str, pc: Sequence[Judged], now: dt.datetime) -> Attention:
    """A code with no usable certificate: its key is gone, it expired, or there is none."""
    no_key = [c for c in pc if c.ours and c.code == code and c.valid_at(now) and not c.key_ok]
    if no_key:
        return Attention(
            "no_key",
            _("the certificate for {code} has no usable private key", code=code),
            _("install its .p12 again (onshi_cert state: present) or restore a backup"),
            thumbprint=no_key[0].thumbprint,
            facility_code=code,
        )
    if any(c.ours and c.code == code and now >= c.info.not_after for c in pc):
        return Attention(
            "expired",
            _("the certificate for {code} has expired", code=code),
            _("apply for a new certificate on the portal (1,500 yen + 753 yen postage) and provision it"),
            facility_code=code,
        )
    return Attention(
        "missing",
        _("no valid certificate for {code}", code=code),
        _("put the downloaded .p12 for this code in the certs folder and provision"),
        facility_code=code,
    )


def _kept(code: str, winner: Judged, pc: Sequence[Judged], expect: Expectations, now: dt.datetime) -> list[Attention]:
    """The kept certificate of a code: a newer one beside it that cannot be used, its expiry, its backup."""
    found = [
        Attention(
            "newer_unusable",
            _(
                "{thumbprint} ({code}, until {date}) is newer than the kept {kept} but cannot be used: {why}; "
                "which of the two the clinic's software takes is Windows' choice",
                thumbprint=newer.thumbprint,
                code=code,
                date=f"{newer.info.not_after:%Y-%m-%d}",
                kept=winner.thumbprint,
                why=unusable(newer, now),
            ),
            _(
                "install its .p12 again (onshi_cert state: present) to give it a working key; without one, "
                "check with the clinic and delete it in certmgr.msc"
            ),
            thumbprint=newer.thumbprint,
            facility_code=code,
        )
        for newer in newer_unusable(winner, pc, now)
    ]
    days = winner.days_left(now)
    if days < expect.warn_days:
        found.append(
            Attention(
                "expiring",
                _(
                    "the certificate for {code} expires in {days} days ({date})",
                    code=code,
                    days=days,
                    date=f"{winner.info.not_after:%Y-%m-%d}",
                ),
                _("renew it (MPKI client tool on the PC, or a renewed .p12 with renew.yml)"),
                thumbprint=winner.thumbprint,
                facility_code=code,
                extra={"days": days, "stage": stage_for(winner.info.not_before, winner.info.not_after, now).value},
            )
        )
    if winner.exportable is False:
        found.append(
            Attention(
                "not_exportable",
                _(
                    "the key of {thumbprint} ({code}) is not exportable: no backup is possible",
                    thumbprint=winner.thumbprint,
                    code=code,
                ),
                _("keep the downloaded .p12 safe as the backup, or re-import it with an exportable key"),
                thumbprint=winner.thumbprint,
                facility_code=code,
            )
        )
    elif winner.source == "pc" and winner.backed_up is False:
        found.append(
            Attention(
                "no_backup",
                _("no verified backup of {thumbprint} ({code})", thumbprint=winner.thumbprint, code=code),
                _("run backup.yml"),
                thumbprint=winner.thumbprint,
                facility_code=code,
            )
        )
    return found


def _file_warnings(code: str, code_plan: CodePlan, expect: Expectations, now: dt.datetime) -> list[str]:
    """What is said of the files offered for a code: each one not used and why, and a kept file expiring soon."""
    warnings = [
        _("{file} is not used for {code}: {reason}", file=offer.origin, code=code, reason=why)
        for offer, why in code_plan.outdated
    ]
    winner = code_plan.winner
    if winner is not None and winner.source != "pc" and winner.days_left(now) < expect.warn_days:
        warnings.append(
            _(
                "{file} expires in {days} days ({date}): installed, but renew soon",
                file=winner.origin,
                days=winner.days_left(now),
                date=f"{winner.info.not_after:%Y-%m-%d}",
            )
        )
    return warnings


def _not_kept(plan: HostPlan, expect: Expectations, pc: Sequence[Judged], now: dt.datetime) -> list[Attention]:
    """The PC's certificates the plan does not keep and will not remove that need a person: one claiming our issuer
    or code without the pinned chain, one whose code cannot be read, a valid one of a code this PC does not expect."""
    kept = set(plan.keep.values())
    removed = {r.thumbprint for r in plan.removals}
    found = []
    for item in pc:
        info = item.info
        if item.thumbprint in kept or info.is_ca:
            continue
        if not item.ours:
            if item.code in expect.facility_codes or info.issuer_cn == expect.genuine_name:
                found.append(
                    Attention(
                        "wrong_issuer",
                        _(
                            "{thumbprint} claims to be from {issuer!r} but does not chain to the pinned root",
                            thumbprint=item.thumbprint,
                            issuer=info.issuer_cn,
                        ),
                        _("a forged or foreign certificate: check it with the clinic; onshi-cert never removes it"),
                        thumbprint=item.thumbprint,
                        facility_code=item.code,
                    )
                )
        elif item.code is None:
            found.append(
                Attention(
                    "bad_code",
                    _(
                        "{thumbprint} has no usable facility code: {detail}",
                        thumbprint=item.thumbprint,
                        detail=info.code_error,
                    ),
                    _("check the certificate with the clinic; it is kept"),
                    thumbprint=item.thumbprint,
                )
            )
        elif item.code not in expect.facility_codes and item.valid_at(now) and item.thumbprint not in removed:
            found.append(
                Attention(
                    "wrong_facility",
                    _(
                        "{thumbprint} is a valid certificate for {code}, which this PC does not expect",
                        thumbprint=item.thumbprint,
                        code=item.code,
                    ),
                    _(
                        "if the inventory is wrong, correct onshi_cert_facility_codes; if the code is retired, list "
                        "it in onshi_cert_retire_codes"
                    ),
                    thumbprint=item.thumbprint,
                    facility_code=item.code,
                )
            )
    return found


def newer_unusable(winner: Judged, pc: Sequence[Judged], now: dt.datetime) -> list[Judged]:
    """Return the PC's certificates of the winner's code that expire later but cannot be used (a lost key, no
    client authentication): Windows may offer one of them to the clinic's software instead of the kept one. A
    certificate not valid yet is not among them: it is a renewal installed ahead, which needs no one."""
    return [
        c
        for c in pc
        if c.ours
        and c.code == winner.code
        and c.thumbprint != winner.thumbprint
        and c.info.not_after > winner.info.not_after
        and c.valid_at(now)
        and not c.usable(now)
    ]
