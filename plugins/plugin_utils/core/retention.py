"""Keeping backups: what the backup folder holds per PC and facility code, and which backups may go.

The rules (rule 1 applied to the backup folder: a backup is a certificate's only way back):

- Per PC and facility code the newest ``keep`` backups stay (``keep`` 0: all).
- A backup beyond them is removed only when a *verified* backup of a newer valid certificate of the same PC and
  code stays, or a verified copy of the same certificate stays; the only verified backup of a valid certificate
  is never removed, whatever ``keep`` says.
- Expired backups (they cannot be restored: an expired certificate is re-issued) go only on request.
- A backup that does not open with the current password is never removed automatically; it is listed for a person.

Every decision carries its reason; removal deletes the manifest first (a backup exists only while its manifest
does), then the PFX.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from ..i18n import say as _
from .backup import Backup, BackupIndex
from .certinfo import utcnow


@dataclass(frozen=True)
class Decision:
    """What happens to one backup, and why."""

    backup: Backup
    remove: bool
    reason: str
    verified: bool
    expired: bool

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-friendly data."""
        return self.backup.to_dict() | {
            "remove": self.remove,
            "reason": self.reason,
            "verified": self.verified,
            "expired": self.expired,
        }


@dataclass(frozen=True)
class Holding:
    """One PC and facility code: whether a current (verified, unexpired) backup exists, and which."""

    host: str
    facility_code: str
    current: Backup | None
    count: int
    status: str  # current | expired_only | unverified | none

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-friendly data."""
        return {
            "host": self.host,
            "facility_code": self.facility_code,
            "status": self.status,
            "count": self.count,
            "current": self.current.to_dict() if self.current else None,
        }


def _groups(index: BackupIndex) -> dict[tuple[str, str], list[Backup]]:
    groups: dict[tuple[str, str], list[Backup]] = {}
    for backup in index.backups:
        groups.setdefault((backup.host, backup.facility_code), []).append(backup)
    for items in groups.values():
        items.sort(key=lambda b: (b.not_after, b.created), reverse=True)
    return groups


def holdings(index: BackupIndex, password: str, now: dt.datetime | None = None) -> list[Holding]:
    """Return, per PC and facility code, the current verified unexpired backup (the one a restore would use)."""
    now = now or utcnow()
    found = []
    for (host, code), items in sorted(_groups(index).items()):
        verified = [b for b in items if index.opens(b, password)]
        current = next((b for b in verified if b.not_after > now), None)
        status = "current" if current else "expired_only" if verified else "unverified" if items else "none"
        found.append(Holding(host, code, current, len(items), status))
    return found


def plan(
    index: BackupIndex,
    password: str,
    *,
    keep: int = 0,
    prune_expired: bool = False,
    hosts: set[str] | None = None,
    now: dt.datetime | None = None,
) -> list[Decision]:
    """Return a decision for every backup (of ``hosts`` only, when given), newest first per PC and code."""
    now = now or utcnow()
    decisions = []
    for (host, _code), items in sorted(_groups(index).items()):
        if hosts is not None and host not in hosts:
            continue
        kept: list[Backup] = []
        for position, backup in enumerate(items):
            verified = index.opens(backup, password)
            expired = backup.not_after <= now
            remove, reason = _decide(backup, position, verified, expired, kept, keep, prune_expired, index, password)
            if not remove:
                kept.append(backup)
            decisions.append(Decision(backup, remove, reason, verified, expired))
    return decisions


def _decide(
    backup: Backup,
    position: int,
    verified: bool,
    expired: bool,
    kept: list[Backup],
    keep: int,
    prune_expired: bool,
    index: BackupIndex,
    password: str,
) -> tuple[bool, str]:
    if not verified:
        return False, _("does not open with the current backup password: never removed automatically, check it")
    if expired:
        if prune_expired:
            return True, _("expired on {date} (pruned on request)", date=f"{backup.not_after:%Y-%m-%d}")
        return False, _("expired on {date}: removed only with prune_expired", date=f"{backup.not_after:%Y-%m-%d}")
    if keep <= 0 or position < keep:
        return False, _("within the newest {keep}", keep=keep) if keep > 0 else _("every backup is kept (keep: 0)")
    covering = next(
        (
            k
            for k in kept
            # verified, and the same certificate or a later-expiring one (so, like this one, not expired)
            if index.opens(k, password) and (k.thumbprint == backup.thumbprint or k.not_after > backup.not_after)
        ),
        None,
    )
    if covering is None:
        return False, _("the only verified backup of a valid certificate: never removed")
    if covering.thumbprint == backup.thumbprint:
        return True, _("an older copy: {file} keeps this certificate", file=covering.path.name)
    return True, _(
        "beyond the newest {keep}; the newer certificate {thumbprint} keeps a verified backup",
        keep=keep,
        thumbprint=covering.thumbprint,
    )


def apply(decisions: list[Decision]) -> list[str]:
    """Remove the backups decided so (manifest first, then the PFX); return the removed PFX paths."""
    removed = []
    for decision in decisions:
        if not decision.remove:
            continue
        pfx = decision.backup.path
        pfx.with_suffix(".json").unlink(missing_ok=True)
        pfx.unlink(missing_ok=True)
        removed.append(str(pfx))
    return removed
