"""Step 3, back up what will go (and what comes in): every backup verified in full before anything is removed, by
one helper (:func:`save`); and the backup job itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..agent.contract import Step, b64
from ..core import backup as backups
from ..core import messages
from ..core.certinfo import thumbprint
from ..core.hoststate import InstalledCert
from ..core.install import judge_installed
from ..core.paths import path_component
from ..core.pkcs12 import Encryption, Pkcs12Bundle, encryption_for_build
from ..core.policy import HostPlan, Judged, Scope, plan_host
from ..i18n import say as _
from .read import Runner, Settings, State, WorkflowError, _check, read_state


def save(
    settings: Settings, index: backups.BackupIndex, host: str, code: str, bundle: Pkcs12Bundle, encryption: Encryption
) -> tuple[backups.Backup, bytes]:
    """Write ``bundle`` as a backup of ``code`` from ``host``, the one way every backup is made: encrypted with the
    current backup password, opened again in full (password, key, certificate), written PFX first and manifest
    last, found again by a fresh listing, then added to the task's index. Returns the backup and its bytes."""
    if settings.backup_dir is None or not settings.backup_password:
        raise WorkflowError(messages.BACKUP_NO_FOLDER, thumbprint=thumbprint(bundle.leaf))
    data = bundle.to_bytes(settings.backup_password, encryption)
    reopened = backups.verify(data, settings.backup_password, thumbprint(bundle.leaf))
    saved = backups.write(settings.backup_dir, host, code, data, reopened, encryption)
    index.add(saved, settings.backup_password)
    return saved, data


def planned(settings: Settings, host: str, code: str, item: Judged) -> dict[str, Any]:
    """Return the backup check mode says would be written for ``item``."""
    path = backups.backup_path(settings.backup_dir or Path("."), code, host, item.thumbprint)
    return {
        "facility_code": code,
        "thumbprint": item.thumbprint,
        "path": str(path),
        "not_after": item.info.not_after.isoformat(),
        "new": True,
    }


def back_up_removals(
    state: State, plan: HostPlan, settings: Settings, index: backups.BackupIndex, host: str
) -> tuple[list[dict[str, Any]], list[str]]:
    """Write a verified backup of every removal that needs one; a removal whose export failed is held back."""
    written: list[dict[str, Any]] = []
    notes: list[str] = []
    encryption = encryption_for_build(state.facts.os_build)
    held = []
    for removal in plan.removals:
        if removal.backup == "verified":
            found = index.verified(removal.thumbprint, settings.backup_password)
            if found is not None:
                written.append(found.to_dict() | {"new": False})
            continue
        if removal.backup == "impossible":
            notes.append(
                _(
                    "{thumbprint} removed without a backup: {note}",
                    thumbprint=removal.thumbprint,
                    note=removal.backup_note,
                )
            )
            continue
        item: InstalledCert = removal.item.payload
        if item.pfx is None:
            held.append(removal)
            notes.append(
                _(
                    "{thumbprint} is kept: its export failed ({detail}), so it cannot be backed up",
                    thumbprint=removal.thumbprint,
                    detail=item.export_error or _("no export"),
                )
            )
            continue
        if settings.backup_dir is None or not settings.backup_password:
            raise WorkflowError(messages.BACKUP_NO_FOLDER, thumbprint=removal.thumbprint)
        bundle = backups.from_export(item.pfx, state.export_password or "", removal.item.chain.ca_certificates)
        code = removal.item.code or (removal.item.info.facility_codes or ["unknown"])[0]
        saved, _data = save(settings, index, host, code, bundle, encryption)
        written.append(saved.to_dict() | {"new": True})
    for removal in held:
        plan.removals.remove(removal)
        plan.stays[removal.thumbprint] = _("its export failed, so it cannot be backed up")
    return written, notes


def back_up_imports(
    plan: HostPlan, settings: Settings, state: State, index: backups.BackupIndex, host: str
) -> list[dict[str, Any]]:
    """Back up each certificate about to be imported, from its file on the controller (same key, no export)."""
    done: list[dict[str, Any]] = []
    if settings.backup_dir is None or not settings.backup_password:
        raise WorkflowError(messages.MISSING_SETTING, what="backup_new", needs="backup_dir, backup_password")
    for item in plan.imports:
        if item.source == "backup" or index.verified(item.thumbprint, settings.backup_password):
            continue
        code = item.code or "unknown"
        if settings.check_mode:
            done.append(planned(settings, host, code, item))
            continue
        bundle: Pkcs12Bundle = item.payload
        full = Pkcs12Bundle(
            bundle.key, bundle.leaf, item.chain.ca_certificates, bundle.protection, bundle.friendly_name
        )
        saved, _data = save(settings, index, host, code, full, encryption_for_build(state.facts.os_build))
        done.append(saved.to_dict() | {"new": True})
    return done


def backup(runner: Runner, settings: Settings, host: str, *, pc_copy_dir: str | None) -> dict[str, Any]:
    """Back up the kept certificate of each facility code (``onshi_cert_backup``), verified, in one execution.

    Every code on its own: a kept certificate whose key is not exportable (renewed in place with the MPKI client
    tool, a state the docs call normal) is reported ``not_exportable`` and the PC needs a person; an export that
    fails for another reason fails the task after the other codes were backed up."""
    if settings.backup_dir is None or not settings.backup_password:
        raise WorkflowError(messages.MISSING_SETTING, what="onshi_cert_backup", needs="backup_dir, backup_password")
    index = settings.index()
    verified = index.verified_map(index.thumbprints_of(host), settings.backup_password)
    state = read_state(runner, settings, known=sorted(t for t, ok in verified.items() if ok), export=True)
    backed_up = index.verified_map([c.thumbprint for c in state.my], settings.backup_password)
    pc = judge_installed(state.my, settings.expect, state.ca_certs(), backed_up=backed_up)
    plan = plan_host(settings.expect, pc, scope=Scope(remove=False), ca_store=None)
    encryption = encryption_for_build(state.facts.os_build)
    done: list[dict[str, Any]] = []
    failures: list[WorkflowError] = []
    warnings: list[str] = list(plan.warnings)
    for code, code_plan in sorted(plan.codes.items()):
        winner = code_plan.winner
        if winner is None:
            warnings.append(_("no valid certificate for {code}: nothing to back up", code=code))
            continue
        existing = index.verified(winner.thumbprint, settings.backup_password)
        if existing is not None:
            done.append(existing.to_dict() | {"new": False})
            continue
        if settings.check_mode:
            done.append(planned(settings, host, code, winner))
            continue
        item: InstalledCert = winner.payload
        if item.pfx is None:
            if winner.exportable is False:  # its attention (not_exportable) says so, with the fix
                warnings.append(
                    _(
                        "{thumbprint} ({code}) is not backed up: its key is not exportable",
                        thumbprint=winner.thumbprint,
                        code=code,
                    )
                )
                continue
            failures.append(
                WorkflowError(
                    messages.BACKUP_NOT_EXPORTABLE,
                    thumbprint=winner.thumbprint,
                    code=code,
                    detail=item.export_error or _("the key is not exportable"),
                )
            )
            continue
        bundle = backups.from_export(item.pfx, state.export_password or "", winner.chain.ca_certificates)
        written, data = save(settings, index, host, code, bundle, encryption)
        done.append(written.to_dict() | {"new": True, "data": data})
    new = [d for d in done if d["new"]]
    if pc_copy_dir and new and not settings.check_mode:
        steps = [
            Step(
                "write_file",
                {
                    "path": f"{pc_copy_dir.rstrip(chr(92))}\\{path_component(host)}_{d['thumbprint']}.pfx",
                    "content": b64(d["data"]),
                },
            )
            for d in new
        ]
        _check(
            runner.run(steps),
            _("cannot copy the backup to {folder} on the PC (the controller copy is kept)", folder=pc_copy_dir),
        )
    for entry in done:
        entry.pop("data", None)
    # "no verified backup" was judged before this task backed the certificate up: what it wrote (or found) answers
    # it, so the recap never says "backed up 2 | no verified backup of" the same two.
    covered = set() if settings.check_mode else {d["thumbprint"] for d in done}
    attention = [a for a in plan.attention if not (a.code == "no_backup" and a.thumbprint in covered)]
    if failures and not new:
        raise failures[0]
    return {
        **(
            {"failed": True, "msg": " / ".join(f.describe() for f in failures), "error_code": failures[0].code}
            if failures
            else {}
        ),
        "changed": bool(new),
        "backups": done,
        "warnings": list(dict.fromkeys(warnings)),
        "attention": [a.to_dict() for a in attention],
        "attention_needed": bool(attention or plan.disagreement),
        "host": state.facts.to_dict(),
        "executions": runner.executions,
    }
