"""Verdicts: where a certificate stands on the MPKI client tool's warning schedule, its findings most severe first,
and whether a file must never be installed on a PC."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum

from ..i18n import say as _
from .certinfo import utcnow
from .judged import Expectations, Judged


class Stage(StrEnum):
    """Where a certificate stands on the MPKI client tool's warning schedule."""

    OK = "ok"
    D90 = "90"
    D60 = "60"
    D30 = "30"
    D15 = "15"
    D7 = "7"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"


# Upper bounds (days remaining) of each warning stage, most urgent first.
SCHEDULE: tuple[tuple[int, Stage], ...] = (
    (7, Stage.D7),
    (15, Stage.D15),
    (30, Stage.D30),
    (60, Stage.D60),
    (90, Stage.D90),
)


def stage_for(not_before: dt.datetime, not_after: dt.datetime, now: dt.datetime) -> Stage:
    """Return the schedule stage at ``now``: ok beyond 90 days, then 90/60/30/15, 7 (daily), expired."""
    if now < not_before:
        return Stage.NOT_YET_VALID
    if now >= not_after:
        return Stage.EXPIRED
    remaining = (not_after - now).total_seconds() / 86400
    for bound, stage in SCHEDULE:
        if remaining <= bound:
            return stage
    return Stage.OK


class Verdict(StrEnum):
    """The single most important finding about one certificate, most severe first."""

    WRONG_ISSUER = "wrong_issuer"  # no signature chain to a pinned root
    BAD_CODE = "bad_code"  # no facility code, an ambiguous one, or a wrong check digit
    WRONG_FACILITY = "wrong_facility"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    NO_KEY = "no_key"
    NOT_CLIENT_AUTH = "not_client_auth"
    EXPIRING = "expiring"
    OK = "ok"


@dataclass
class Assessment:
    """A verdict with its schedule stage and every finding behind it (most severe first)."""

    verdict: Verdict
    stage: Stage
    findings: list[Verdict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Return True when the certificate can be used now (possibly expiring)."""
        return self.verdict in (Verdict.OK, Verdict.EXPIRING)


def assess(item: Judged, expect: Expectations, now: dt.datetime | None = None) -> Assessment:
    """Judge one certificate against ``expect`` at ``now``: every finding, most severe first."""
    now = now or utcnow()
    info = item.info
    stage = stage_for(info.not_before, info.not_after, now)
    found: set[Verdict] = set()
    if not item.ours:
        found.add(Verdict.WRONG_ISSUER)
    if item.code is None:
        found.add(Verdict.BAD_CODE)
    elif expect.facility_codes and item.code not in expect.facility_codes:
        found.add(Verdict.WRONG_FACILITY)
    if stage is Stage.EXPIRED:
        found.add(Verdict.EXPIRED)
    elif stage is Stage.NOT_YET_VALID:
        found.add(Verdict.NOT_YET_VALID)
    elif info.days_remaining(now) < expect.warn_days or stage is not Stage.OK:
        found.add(Verdict.EXPIRING)
    if not item.key_ok:
        found.add(Verdict.NO_KEY)
    if not info.client_auth:
        found.add(Verdict.NOT_CLIENT_AUTH)
    findings = [v for v in Verdict if v in found]
    return Assessment(findings[0] if findings else Verdict.OK, stage, findings)


def refusal(item: Judged, expect: Expectations, now: dt.datetime) -> tuple[str, str] | None:
    """Return (problem code, message) when a file must never be installed on this PC, else None.

    Trust and identity failures always refuse; validity failures are judged by :func:`plan_host`
    (an expired ``.p12`` is only 'outdated' when the PC holds a valid certificate of its code).
    """
    info = item.info
    if not item.ours:
        if info.is_ca:
            return "wrong_issuer", _("the file's certificate is a CA certificate, not a client certificate")
        return "wrong_issuer", _(
            "the certificate names {issuer!r} as issuer, but no signature chain leads to a pinned root CA ({reason})",
            issuer=info.issuer_cn,
            reason=item.chain.reason,
        )
    if item.code is None:
        return "bad_code", _("the certificate has no usable facility code: {detail}", detail=info.code_error)
    if expect.facility_codes and item.code not in expect.facility_codes:
        return "wrong_facility", _(
            "the certificate is for {code}, but this PC expects {expected}",
            code=item.code,
            expected=", ".join(expect.facility_codes),
        )
    if not info.client_auth:
        return "not_client_auth", _("the certificate is not for client authentication")
    return None
