"""The order every change follows on a PC (docs/safety.md rule 2): read, plan, back up what will go, import, verify,
only then remove."""

from __future__ import annotations

from typing import Any

from ..core import messages
from ..core.errors import OnshiCertError
from ..core.install import PreflightError, judge_bundle, judge_installed
from ..core.policy import Judged, Scope, plan_host
from .change import apply
from .offers import refuse_early
from .outcome import _finish, _not_renewed, _result, cert_rows, predicted_rows, summary
from .read import Runner, Settings, WorkflowError, read_state, require_dpapi
from .saving import back_up_imports, back_up_removals


def converge(
    runner: Runner,
    settings: Settings,
    host: str,
    *,
    offers: list[Judged] | None = None,
    unreadable: list[OnshiCertError] | None = None,
    scope: Scope | None = None,
    backup_new: bool = False,
    min_days_left: int = 0,
    notes: list[str] | None = None,
    restored: list[dict[str, Any]] | None = None,
    missing_fix: str | None = None,
) -> dict[str, Any]:
    """Bring the PC to the plan: the newest valid certificate per code, trusted, backed up; the stale ones gone.

    Every code on its own: ``offers`` are files judged on the controller and ``unreadable`` the errors of files
    that could not be opened; a forged, foreign, wrong-code or unreadable file holds the code it was for (the
    plan changes nothing of it) while the other codes go ahead. ``min_days_left`` makes a code whose kept
    certificate expires sooner fail (a renewal that did not happen is never reported as done). With
    ``missing_fix``, a code left without a certificate fails the task, saying that fix. ``restored`` (the
    record of :func:`restore_offers`) is returned as it is. Each of these fails the
    task after what could be done was done (:func:`_finish`); when nothing was changed, the first is raised.
    """
    if not settings.expect.facility_codes:
        raise WorkflowError(messages.NO_EXPECTED_CODE)
    offers = offers or []
    unreadable = unreadable or []
    scope = scope or Scope()
    refuse_early(settings.expect, offers, unreadable)
    index = settings.index()
    mine = index.verified_map(index.thumbprints_of(host), settings.backup_password)
    known = sorted({o.thumbprint for o in offers} | {t for t, ok in mine.items() if ok})
    chains = [c for o in offers for c in o.payload.chain]
    state = read_state(runner, settings, known=known, export=scope.remove, pool=chains)
    pool = [*state.ca_certs(), *chains]
    backed_up = index.verified_map([c.thumbprint for c in state.my], settings.backup_password)
    pc = judge_installed(state.my, settings.expect, pool, backed_up=backed_up)
    offers = [judge_bundle(o.payload, settings.expect, origin=o.origin, source=o.source, pool=pool) for o in offers]
    plan = plan_host(
        settings.expect,
        pc,
        offers,
        ca_present=state.ca_present(),
        ca_store=settings.ca_store,
        scope=scope,
        unreadable=[(e.file or "?", e.text) for e in unreadable],
    )
    problems = [*unreadable, *(PreflightError.refused(kind, why, offer.origin) for offer, kind, why in plan.refusals)]
    short = _not_renewed(plan, min_days_left)
    if plan.imports:
        require_dpapi(state)
    warnings = list(plan.warnings) + list(notes or [])
    new_backups = back_up_imports(plan, settings, state, index, host) if backup_new else []
    if settings.check_mode or not plan.changes:
        result = _result(
            state, plan, settings, runner, summary(state.my), backups=new_backups, warnings=warnings, restored=restored
        )
        result["changed"] = plan.changes or bool(new_backups)
        result |= {"before": cert_rows(state.my), "after": predicted_rows(state, plan)}
        return _finish(result, plan, problems, short, min_days_left, missing_fix)
    written, backup_notes = back_up_removals(state, plan, settings, index, host)
    after = apply(runner, state, plan, settings)
    for item in plan.imports:
        if not any(c.thumbprint == item.thumbprint and c.info.key_usable for c in after):
            raise WorkflowError(messages.NOT_IMPORTED, thumbprint=item.thumbprint)
    result = _result(
        state,
        plan,
        settings,
        runner,
        summary(after),
        backups=written + new_backups,
        warnings=warnings + backup_notes,
        restored=restored,
    )
    result |= {"before": cert_rows(state.my), "after": cert_rows(after)}
    return _finish(result, plan, problems, short, min_days_left, missing_fix)
