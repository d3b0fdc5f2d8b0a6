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

The decision's parts, each in its room: :mod:`.judged` (what is true of one certificate), :mod:`.verdicts` (its
verdict and warning stage; files never to install), :mod:`.removals` (rule 2), :mod:`.attention` (rule 12). This
module makes the plan and is where callers import all of it from.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

# Guarded: without cryptography the action plugins stop first and name it (requirements.py).
with contextlib.suppress(ImportError):
    from cryptography import x509

from ..i18n import say as _
from .attention import Attention, plan_attention
from .certinfo import thumbprint, utcnow
from .judged import Expectations, Judged, judge, unusable
from .removals import Removal, plan_removals
from .verdicts import SCHEDULE, Assessment, Stage, Verdict, assess, refusal, stage_for

__all__ = [
    "INTERMEDIATE_STORE",
    "MY",
    "ROOT_STORES",
    "SCHEDULE",
    "Assessment",
    "Attention",
    "CodePlan",
    "Expectations",
    "HostPlan",
    "Judged",
    "Removal",
    "Scope",
    "Stage",
    "Verdict",
    "assess",
    "held_codes",
    "judge",
    "plan_host",
    "refusal",
    "stage_for",
]

MY = "CurrentUser\\My"
INTERMEDIATE_STORE = "CurrentUser\\CA"
ROOT_STORES = ("LocalMachine\\Root", "CurrentUser\\Root")


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
                why = unusable(offer, now)
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
                code_plan.outdated.append((offer, unusable(offer, now)))
        plan.codes[code] = code_plan

    _plan_trust(plan, ca_present, ca_store)
    plan_removals(plan, expect, pc, scope, now)
    plan_attention(plan, expect, pc, now)
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
