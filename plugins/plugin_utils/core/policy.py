"""The one decision: for a PC, which certificate each facility code keeps, what is imported, trusted and removed.

Every caller (the action plugins, the roles through them, intake, inspect, the audit) asks
:func:`plan_host` or :func:`judge`; nobody re-derives a keep/remove rule. The rules (docs/safety.md):

1. Newest valid wins: per expected facility code, the certificate kept is the valid one (trusted
   chain, code in the rule's field, client authentication, within its validity, key present and
   usable) that expires last, wherever it is: on the PC, in a ``.p12``, in a backup.
2. No removal without a way back: only an expired certificate, or one a newer valid certificate of
   the same code supersedes, is removed; and only with a verified backup (current password) or the
   stated reason its key cannot be exported. Valid certificates of other codes stay.
3. Trust is pinned: "ours" means a signature chain to a pinned root, never an issuer name.
4. One clinic, one code: the code comes from one named subject field and must be unambiguous.
5. Every code on its own: a file refused or unreadable holds the code it was for (nothing of that code is
   imported, trusted or removed); the other codes of the PC go ahead.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

# Guarded: without cryptography the action plugins stop first and name it (requirements.py).
with contextlib.suppress(ImportError):
    from cryptography import x509

from ..i18n import say as _
from .certinfo import DEFAULT_ISSUER_CN, CertificateInfo, thumbprint, utcnow
from .facility import FacilityRule
from .renewal import RENEWAL_WINDOW_DAYS
from .trust import ChainResult, TrustAnchors

MY = "CurrentUser\\My"
INTERMEDIATE_STORE = "CurrentUser\\CA"
ROOT_STORES = ("LocalMachine\\Root", "CurrentUser\\Root")


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


@dataclass(frozen=True)
class Expectations:
    """What a host expects: its facility codes, the pinned roots, where the code is read, what may go."""

    facility_codes: tuple[str, ...] = ()
    anchors: TrustAnchors = field(default_factory=TrustAnchors)
    rule: FacilityRule = field(default_factory=FacilityRule)
    retire_codes: tuple[str, ...] = ()  # old codes whose valid certificates may go once every expected code is held
    warn_days: int = RENEWAL_WINDOW_DAYS
    genuine_name: str = DEFAULT_ISSUER_CN  # only to name look-alikes in messages; never a reason to trust

    @property
    def known_codes(self) -> tuple[str, ...]:
        """Return the expected and the retired codes: whose backups a task of this PC looks at."""
        return self.facility_codes + self.retire_codes


@dataclass
class Judged:
    """One certificate as the policy sees it: what is true of it and where it is."""

    info: CertificateInfo
    cert: x509.Certificate = field(repr=False)
    source: str  # "pc", "p12" or "backup"
    origin: str  # the store, or the file
    chain: ChainResult
    key_ok: bool  # a private key is present and opens (a file's key always does)
    exportable: bool | None = None  # None: unknown (not read)
    backed_up: bool | None = None  # a verified backup with the current password exists (None: not checked)
    payload: Any = field(default=None, repr=False)  # what the caller needs to import it (a bundle)

    @property
    def thumbprint(self) -> str:
        """Return the thumbprint."""
        return self.info.thumbprint

    @property
    def code(self) -> str | None:
        """Return the certificate's one facility code, or None when it has none usable."""
        return self.info.facility_codes[0] if self.info.facility_codes and not self.info.code_error else None

    @property
    def ours(self) -> bool:
        """Return True when the certificate chains to a pinned root and is not itself a CA."""
        return self.chain.trusted and not self.info.is_ca

    def valid_at(self, now: dt.datetime) -> bool:
        """Return True within the validity period."""
        return self.info.not_before <= now < self.info.not_after

    def usable(self, now: dt.datetime) -> bool:
        """Return True when this certificate can serve its code now (rule 1's 'valid')."""
        return bool(self.ours and self.code and self.info.client_auth and self.valid_at(now) and self.key_ok)

    def days_left(self, now: dt.datetime) -> int:
        """Return whole days until expiry."""
        return self.info.days_remaining(now)


def judge(
    info: CertificateInfo,
    cert: x509.Certificate,
    expect: Expectations,
    *,
    source: str,
    origin: str,
    pool: Iterable[x509.Certificate] = (),
    key_ok: bool,
    exportable: bool | None = None,
    backed_up: bool | None = None,
    payload: Any = None,
) -> Judged:
    """Return ``cert`` judged: its chain to a pinned root through ``pool`` (CA certificates seen anywhere)."""
    chain = expect.anchors.verify(cert, pool)
    info.trusted = chain.trusted
    info.trust_reason = chain.reason
    return Judged(info, cert, source, origin, chain, key_ok, exportable, backed_up, payload)


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


@dataclass
class CodePlan:
    """One expected facility code: the certificate it keeps (None: missing), and files not used."""

    code: str
    winner: Judged | None = None
    outdated: list[tuple[Judged, str]] = field(default_factory=list)
    held: list[str] = field(default_factory=list)  # why nothing of this code changes: the files refused for it

    @property
    def install(self) -> bool:
        """Return True when the kept certificate must be imported (it comes from a file)."""
        return self.winner is not None and self.winner.source != "pc" and not self.held


@dataclass
class HostPlan:
    """The whole plan for one PC, in the order a change must follow: import, trust, verify, remove."""

    codes: dict[str, CodePlan] = field(default_factory=dict)
    ca_adds: list[tuple[str, x509.Certificate]] = field(default_factory=list)
    removals: list[Removal] = field(default_factory=list)
    stays: dict[str, str] = field(default_factory=dict)  # thumbprint -> why a stale-looking certificate stays
    refusals: list[tuple[Judged, str, str]] = field(default_factory=list)  # (file, problem code, message)
    attention: list[Attention] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    disagreement: bool = False

    @property
    def imports(self) -> list[Judged]:
        """Return the certificates to import, one per code at most."""
        return [c.winner for c in self.codes.values() if c.install and c.winner is not None]

    @property
    def keep(self) -> dict[str, str]:
        """Return facility code -> thumbprint of the certificate kept for it."""
        return {code: c.winner.thumbprint for code, c in self.codes.items() if c.winner is not None}

    @property
    def missing(self) -> list[str]:
        """Return the expected codes with no usable certificate anywhere."""
        return [code for code, c in self.codes.items() if c.winner is None]

    @property
    def held(self) -> dict[str, list[str]]:
        """Return facility code -> why it is held (a file for it was refused or could not be opened)."""
        return {code: c.held for code, c in self.codes.items() if c.held}

    @property
    def changes(self) -> bool:
        """Return True when anything on the PC would change."""
        return bool(self.imports or self.ca_adds or self.removals)

    @property
    def needs_person(self) -> bool:
        """Return True when the PC needs a person (rule 12: problems are not 'ok')."""
        return bool(self.attention or self.disagreement)


def _backup_route(item: Judged) -> tuple[str, str]:
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


def _winner(candidates: Sequence[Judged]) -> Judged | None:
    """Return the certificate that expires last; on a tie the one already on the PC."""
    rank = {"pc": 2, "p12": 1, "backup": 0}
    return max(
        candidates,
        key=lambda c: (c.info.not_after, c.info.not_before, rank.get(c.source, 0), c.thumbprint),
        default=None,
    )


@dataclass(frozen=True)
class Scope:
    """Which stale certificates a task may remove (the policy still decides what is stale)."""

    remove: bool = True
    thumbprints: frozenset[str] = frozenset()
    facility_code: str | None = None
    expired_only: bool = False
    force: frozenset[str] = frozenset()  # explicitly named valid certificates of ours, removed only with a backup

    def selects(self, item: Judged, now: dt.datetime) -> bool:
        """Return True when the task's selectors include ``item``."""
        if self.thumbprints and item.thumbprint not in self.thumbprints:
            return False
        if self.facility_code and self.facility_code not in item.info.facility_codes:
            return False
        return not (self.expired_only and now < item.info.not_after)


def plan_host(
    expect: Expectations,
    pc: Sequence[Judged],
    offers: Sequence[Judged] = (),
    *,
    ca_present: Iterable[str] = (),
    ca_store: str | None = "LocalMachine\\Root",
    scope: Scope | None = None,
    now: dt.datetime | None = None,
    unreadable: Sequence[tuple[str, str]] = (),
) -> HostPlan:
    """Return the plan for one PC: per code the newest valid certificate, its import and CAs, and what goes.

    ``pc`` is ``CurrentUser\\My`` judged; ``offers`` are files (``.p12`` or backups) judged;
    ``ca_present`` the thumbprints already in the root and intermediate stores; ``unreadable`` the files offered
    that could not be opened, as (file, why). A refused file holds the code it claims; a file whose code is not
    known (unreadable, or claiming no expected code) holds every code that no usable file serves. A held code
    keeps what the PC has and changes nothing; the other codes go ahead (rule 5).
    """
    now = now or utcnow()
    scope = scope or Scope()
    plan = HostPlan()
    expected = tuple(expect.facility_codes)

    usable_offers = []
    for offer in offers:
        refused = refusal(offer, expect, now)
        if refused:
            plan.refusals.append((offer, *refused))
        else:
            usable_offers.append(offer)

    held = held_codes(
        expected,
        [(o.origin, o.code, why) for o, _kind, why in plan.refusals] + [(f, None, why) for f, why in unreadable],
        {o.code for o in usable_offers if o.code},
    )
    for code in expected:
        if code in held:  # what the PC holds for it stays as it is
            mine = [c for c in pc if c.code == code]
            plan.codes[code] = CodePlan(code, _winner([c for c in mine if c.usable(now)]), held=held[code])
            continue
        mine = [c for c in (*pc, *usable_offers) if c.code == code]
        code_plan = CodePlan(code, _winner([c for c in mine if c.usable(now)]))
        winner = code_plan.winner
        for offer in (o for o in usable_offers if o.code == code):
            if winner is not None and offer.thumbprint == winner.thumbprint:
                continue
            if winner is None:
                why = _unusable(offer, now)
                plan.refusals.append((offer, "expired" if now >= offer.info.not_after else "not_yet_valid", why))
                code_plan.held.append(f"{offer.origin}: {why}")
            elif offer.usable(now):
                why = _(
                    "older than {thumbprint} ({source}, until {date})",
                    thumbprint=winner.thumbprint,
                    source=winner.source,
                    date=f"{winner.info.not_after:%Y-%m-%d}",
                )
                code_plan.outdated.append((offer, why))
            else:
                code_plan.outdated.append((offer, _unusable(offer, now)))
        plan.codes[code] = code_plan

    _plan_trust(plan, ca_present, ca_store)
    _plan_removals(plan, expect, pc, scope, now)
    _plan_attention(plan, expect, pc, now)
    return plan


def held_codes(
    expected: Sequence[str], problems: Iterable[tuple[str, str | None, str]], served: set[str]
) -> dict[str, list[str]]:
    """Return each expected code that a problem file holds -> the reasons (``file: why``); ``problems`` are (file,
    the code it claims or None, why) and ``served`` the codes a usable file serves. A file holds the code it
    claims; one whose code is unknown or unexpected holds every code no usable file serves (it may have been for
    any of them). More problems, or fewer usable files, only ever hold more codes."""
    held: dict[str, list[str]] = {}
    unknown = []
    for origin, code, why in problems:
        if code in expected:
            held.setdefault(code, []).append(f"{origin}: {why}")
        else:
            unknown.append(f"{origin}: {why}")
    for code in expected if unknown else ():
        if code not in served:
            held.setdefault(code, []).extend(unknown)
    return held


def _unusable(item: Judged, now: dt.datetime) -> str:
    if now >= item.info.not_after:
        return _("expired on {date}", date=f"{item.info.not_after:%Y-%m-%d}")
    if now < item.info.not_before:
        return _("valid only from {when} UTC", when=f"{item.info.not_before:%Y-%m-%d %H:%M}")
    if not item.key_ok:
        return _("its private key is missing or cannot be opened")
    if not item.info.client_auth:
        return _("the certificate is not for client authentication")
    return _("not usable")


def _newer_unusable(winner: Judged, pc: Sequence[Judged], now: dt.datetime) -> list[Judged]:
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


def _plan_trust(plan: HostPlan, ca_present: Iterable[str], ca_store: str | None) -> None:
    """Add the pinned root and the verified intermediates of every kept certificate that lacks them."""
    present = {t.upper() for t in ca_present}
    for code_plan in plan.codes.values():
        winner = code_plan.winner
        if winner is None or code_plan.held:
            continue
        root = winner.chain.root
        wanted: list[tuple[str, x509.Certificate]] = []
        if ca_store and root is not None and root is not winner.cert:
            wanted.append((ca_store, root))
        wanted += [(INTERMEDIATE_STORE, c) for c in winner.chain.intermediates]
        for store, cert in wanted:
            thumb = thumbprint(cert)
            if thumb not in present:
                present.add(thumb)
                plan.ca_adds.append((store, cert))


def _plan_removals(plan: HostPlan, expect: Expectations, pc: Sequence[Judged], scope: Scope, now: dt.datetime) -> None:
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
        route, note = _backup_route(item)
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


def _plan_attention(plan: HostPlan, expect: Expectations, pc: Sequence[Judged], now: dt.datetime) -> None:
    kept = set(plan.keep.values())
    for code, code_plan in plan.codes.items():
        if code_plan.held:
            plan.attention.append(
                Attention(
                    "blocked",
                    _(
                        "nothing was changed for {code}: {detail}",
                        code=code,
                        detail="; ".join(dict.fromkeys(code_plan.held)),
                    ),
                    _("correct or replace the file named (the task's error says how), then run the job again"),
                    facility_code=code,
                )
            )
        winner = code_plan.winner
        if winner is None:
            expired = [c for c in pc if c.ours and c.code == code and now >= c.info.not_after]
            no_key = [c for c in pc if c.ours and c.code == code and c.valid_at(now) and not c.key_ok]
            if no_key:
                plan.attention.append(
                    Attention(
                        "no_key",
                        _("the certificate for {code} has no usable private key", code=code),
                        _("install its .p12 again (onshi_cert state: present) or restore a backup"),
                        thumbprint=no_key[0].thumbprint,
                        facility_code=code,
                    )
                )
            elif expired:
                plan.attention.append(
                    Attention(
                        "expired",
                        _("the certificate for {code} has expired", code=code),
                        _("apply for a new certificate on the portal (1,500 yen + 753 yen postage) and provision it"),
                        facility_code=code,
                    )
                )
            else:
                plan.attention.append(
                    Attention(
                        "missing",
                        _("no valid certificate for {code}", code=code),
                        _("put the downloaded .p12 for this code in the certs folder and provision"),
                        facility_code=code,
                    )
                )
            continue
        for newer in _newer_unusable(winner, pc, now):
            plan.attention.append(
                Attention(
                    "newer_unusable",
                    _(
                        "{thumbprint} ({code}, until {date}) is newer than the kept {kept} but cannot be used: {why}; "
                        "which of the two the clinic's software takes is Windows' choice",
                        thumbprint=newer.thumbprint,
                        code=code,
                        date=f"{newer.info.not_after:%Y-%m-%d}",
                        kept=winner.thumbprint,
                        why=_unusable(newer, now),
                    ),
                    _(
                        "install its .p12 again (onshi_cert state: present) to give it a working key; without one, "
                        "check with the clinic and delete it in certmgr.msc"
                    ),
                    thumbprint=newer.thumbprint,
                    facility_code=code,
                )
            )
        days = winner.days_left(now)
        if days < expect.warn_days:
            plan.attention.append(
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
            plan.attention.append(
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
            plan.attention.append(
                Attention(
                    "no_backup",
                    _("no verified backup of {thumbprint} ({code})", thumbprint=winner.thumbprint, code=code),
                    _("run backup.yml"),
                    thumbprint=winner.thumbprint,
                    facility_code=code,
                )
            )
        for offer, why in code_plan.outdated:
            plan.warnings.append(_("{file} is not used for {code}: {reason}", file=offer.origin, code=code, reason=why))
        if winner.source != "pc" and days < expect.warn_days:
            plan.warnings.append(
                _(
                    "{file} expires in {days} days ({date}): installed, but renew soon",
                    file=winner.origin,
                    days=days,
                    date=f"{winner.info.not_after:%Y-%m-%d}",
                )
            )
    other_codes = []
    for item in pc:
        if item.thumbprint in kept:
            continue
        info = item.info
        if not item.ours:
            claims = item.code in expect.facility_codes or info.issuer_cn == expect.genuine_name
            if claims and not info.is_ca:
                plan.attention.append(
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
            continue
        if info.is_ca:
            continue
        if item.code is None:
            plan.attention.append(
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
        elif (
            item.code not in expect.facility_codes
            and item.valid_at(now)
            and item.thumbprint not in {r.thumbprint for r in plan.removals}
        ):
            other_codes.append(item.code)
            plan.attention.append(
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
    if other_codes and plan.missing:
        plan.disagreement = True
        plan.warnings.insert(
            0,
            _(
                "the inventory and the PC disagree: the PC holds a valid certificate for {others} but none for "
                "{missing}; nothing of it is removed",
                others=", ".join(sorted(set(other_codes))),
                missing=", ".join(plan.missing),
            ),
        )
