"""Verdicts on certificates and the plan of which to keep and which are stale. Pure functions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from onshi_cert.core.certinfo import DEFAULT_ISSUER_CN, CertificateInfo, utcnow


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

    WRONG_ISSUER = "wrong_issuer"
    WRONG_FACILITY = "wrong_facility"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    NO_KEY = "no_key"
    NOT_CLIENT_AUTH = "not_client_auth"
    EXPIRING = "expiring"
    OK = "ok"


@dataclass(frozen=True)
class Expectations:
    """What a host expects: its facility codes and the issuing CA's common name."""

    facility_codes: tuple[str, ...] = ()
    issuer_cn: str = DEFAULT_ISSUER_CN


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


def assess(cert: CertificateInfo, expect: Expectations, now: dt.datetime | None = None) -> Assessment:
    """Judge ``cert`` against ``expect`` at ``now``."""
    now = now or utcnow()
    stage = stage_for(cert.not_before, cert.not_after, now)
    found: set[Verdict] = set()
    if cert.issuer_cn != expect.issuer_cn:
        found.add(Verdict.WRONG_ISSUER)
    if expect.facility_codes and not set(cert.facility_codes) & set(expect.facility_codes):
        found.add(Verdict.WRONG_FACILITY)
    if stage is Stage.EXPIRED:
        found.add(Verdict.EXPIRED)
    elif stage is Stage.NOT_YET_VALID:
        found.add(Verdict.NOT_YET_VALID)
    elif stage is not Stage.OK:
        found.add(Verdict.EXPIRING)
    if cert.has_key is False or cert.key_usable is False:
        found.add(Verdict.NO_KEY)
    if not cert.client_auth:
        found.add(Verdict.NOT_CLIENT_AUTH)
    findings = [v for v in Verdict if v in found]
    return Assessment(findings[0] if findings else Verdict.OK, stage, findings)


@dataclass
class StorePlan:
    """Which certificates of a store to keep and which are stale, with the reason for each."""

    keep: dict[str, str] = field(default_factory=dict)  # facility code -> thumbprint
    stale: dict[str, str] = field(default_factory=dict)  # thumbprint -> reason
    missing: list[str] = field(default_factory=list)  # expected codes with no usable certificate
    foreign: list[str] = field(default_factory=list)  # thumbprints of other issuers: never touched


def _usable(cert: CertificateInfo, now: dt.datetime) -> bool:
    return cert.not_before <= now < cert.not_after and cert.has_key is not False and cert.key_usable is not False


def plan_store(
    certs: Iterable[CertificateInfo],
    expect: Expectations,
    now: dt.datetime | None = None,
    *,
    always_keep: Sequence[str] = (),
) -> StorePlan:
    """Decide, for one store, the newest usable certificate per expected code and what is stale.

    Certificates of other issuers are never stale. Ours are stale when expired, superseded by the
    kept certificate of their code, or issued for a code the host does not expect. A thumbprint in
    ``always_keep`` (one just imported) is never stale. A certificate is never called superseded
    unless a usable one of its code is kept.
    """
    now = now or utcnow()
    pinned = {t.upper() for t in always_keep}
    plan = StorePlan()
    ours = []
    for cert in certs:
        if cert.issuer_cn != expect.issuer_cn:
            plan.foreign.append(cert.thumbprint)
        else:
            ours.append(cert)
    for code in expect.facility_codes:
        candidates = [c for c in ours if code in c.facility_codes and _usable(c, now)]
        chosen = [c for c in candidates if c.thumbprint in pinned] or candidates
        if chosen:
            plan.keep[code] = max(chosen, key=lambda c: (c.not_after, c.not_before)).thumbprint
        else:
            plan.missing.append(code)
    kept = set(plan.keep.values()) | pinned
    for cert in ours:
        if cert.thumbprint in kept:
            continue
        if expect.facility_codes and not set(cert.facility_codes) & set(expect.facility_codes):
            plan.stale[cert.thumbprint] = "other facility " + (", ".join(cert.facility_codes) or "(no code)")
        elif now >= cert.not_after:
            plan.stale[cert.thumbprint] = "expired"
        elif now < cert.not_before:
            continue
        else:
            newer = [plan.keep[c] for c in cert.facility_codes if c in plan.keep]
            if newer:
                plan.stale[cert.thumbprint] = f"superseded by {newer[0]}"
    return plan
