"""Step 2, what is offered: ``.p12`` files and backups, opened and judged on the controller before the PC is
touched; a file that must never be installed stops the task before any request when it holds every code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..core import backup as backups
from ..core import messages
from ..core.certinfo import utcnow
from ..core.errors import OnshiCertError
from ..core.install import P12File, PreflightError, judge_bundle, open_p12
from ..core.pkcs12 import Pkcs12Bundle
from ..core.policy import Expectations, Judged, held_codes, refusal
from ..i18n import say as _
from .read import Settings, WorkflowError


def p12_offers(files: list[tuple[P12File | Path, str]], expect: Expectations) -> list[Judged]:
    """Open and judge each ``(file, password)``; a file that cannot be opened is an error naming it (the action
    plugin gives that error to :func:`converge` as ``unreadable``: it holds the codes no other file serves)."""
    offers = []
    for item, password in files:
        path = item.path if isinstance(item, P12File) else Path(item)
        try:
            bundle = open_p12(path, password)
        except OnshiCertError as exc:
            raise PreflightError.wrap(exc, str(path)) from None
        offers.append(judge_bundle(bundle, expect, origin=str(path)))
    return offers


def restore_offers(
    settings: Settings, index: backups.BackupIndex, restore_from: str
) -> tuple[list[Judged], list[str], list[dict[str, Any]]]:
    """Return the chosen backup of each expected code of ``restore_from`` judged, what was said of each, and the
    restore record: per code the backup used and every newer backup passed over with the reason (damaged, another
    password, expired, another clinic's), for the task result, the recap and the work documents."""
    if settings.backup_dir is None or not settings.backup_password:
        raise WorkflowError(messages.MISSING_SETTING, what="restore_from", needs="backup_dir, backup_password")
    expect = settings.expect

    def accept(bundle: Pkcs12Bundle, backup: backups.Backup) -> str | None:
        judged = judge_bundle(bundle, expect, origin=str(backup.path), source="backup")
        if not judged.ours:
            return _("does not chain to a pinned root ({reason})", reason=judged.chain.reason)
        if judged.code != backup.facility_code:
            return _("holds a certificate for {found}, not {code}", found=judged.code, code=backup.facility_code)
        return None

    choices, missing = backups.choose_restore(
        index, restore_from, expect.facility_codes, settings.backup_password, accept
    )
    if missing and not choices:
        raise WorkflowError(
            messages.BACKUP_NONE_USABLE, source=restore_from, folder=settings.backup_dir, detail="; ".join(missing)
        )
    notes = [
        _("restoring {code} from {file}", code=c.facility_code, file=c.backup.path.name)
        + (_(" (newer ones passed over: {detail})", detail="; ".join(c.passed_over)) if c.passed_over else "")
        for c in choices
    ]
    notes += [_("no usable backup for {detail}", detail=m) for m in missing]
    offers = [judge_bundle(c.bundle, expect, origin=str(c.backup.path), source="backup") for c in choices]
    records = [
        {
            "facility_code": c.facility_code,
            "file": c.backup.path.name,
            "not_after": c.backup.not_after.isoformat(),
            "passed_over": [{"file": f, "reason": why} for f, _sep, why in (p.partition(": ") for p in c.passed_over)],
        }
        for c in choices
    ]
    return offers, notes, records


def refuse_early(expect: Expectations, offers: list[Judged], unreadable: list[OnshiCertError]) -> None:
    """Stop before the PC is touched when the files' problems already hold every expected code (then the plan
    could change nothing): a file forged, foreign or of a wrong code by its own chain and the pins, or unreadable.

    Only a file whose root is not in it and not given as a PEM pin waits for the PC's stores.
    """
    now = utcnow()
    early: list[tuple[Judged, OnshiCertError]] = []
    for offer in offers:
        refused = refusal(offer, expect, now)
        if refused and not (refused[0] == "wrong_issuer" and offer.chain.root_missing):
            early.append((offer, PreflightError.refused(refused[0], refused[1], offer.origin)))
    if not early and not unreadable:
        return
    problems = [(o.origin, o.code, e.text) for o, e in early] + [(e.file or "?", None, e.text) for e in unreadable]
    served = {o.code for o in offers if o.code and all(o is not r for r, _e in early)}
    if set(held_codes(expect.facility_codes, problems, served)) >= set(expect.facility_codes):
        raise next(iter([e for _o, e in early] + unreadable))
