"""The order every change follows on a PC: read, plan, back up what will go, import, verify, only then remove.

Pure orchestration over an agent runner (``run(steps, check_mode)``, ``without_become()``); the action
plugins supply one that goes over the task's connection. Every decision is
:func:`onshi_cert.core.policy.plan_host`'s; this module only carries it out. No Ansible imports here.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

# Guarded: without cryptography the action plugins stop first and name it (requirements.py).
with contextlib.suppress(ImportError):
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

from .agent.contract import (
    EVENT_IDS,
    EVENT_SOURCE,
    HR_ACCESS_DENIED,
    HR_BAD_KEY_STATE,
    HR_CANCELLED,
    HR_INVALID_PASSWORD,
    Response,
    Step,
    b64,
)
from .core import backup as backups
from .core import messages
from .core.audit import host_report
from .core.certinfo import thumbprint, utcnow
from .core.errors import OnshiCertError
from .core.hoststate import HostFacts, InstalledCert, parse_listing
from .core.install import (
    P12File,
    PreflightError,
    import_copy,
    judge_bundle,
    judge_installed,
    open_p12,
)
from .core.paths import path_component
from .core.pkcs12 import Pkcs12Bundle, encryption_for_build
from .core.policy import (
    INTERMEDIATE_STORE,
    MY,
    ROOT_STORES,
    Expectations,
    HostPlan,
    Judged,
    Scope,
    held_codes,
    plan_host,
    refusal,
)
from .i18n import N_
from .i18n import say as _

KEY_READY = {"has_private_key": True, "key_usable": True}
# How a removed certificate can come back (policy's backup routes), as the diff says it.
BACKUP_ROUTES = {"verified": N_("verified backup exists"), "export": N_("exported and verified first")}
# What each Windows failure means here, keyed by HRESULT (Windows' text is localized; codes are not).
WINDOWS_FIXES = {
    HR_INVALID_PASSWORD: N_(
        "Windows could not store the key: the logon has no DPAPI (become with the operating user's password), or "
        "the PC cannot read the PFX's encryption"
    ),
    HR_ACCESS_DENIED: N_("the account lacks the right (LocalMachine stores need an administrator)"),
    HR_CANCELLED: N_(
        "Windows wanted a security confirmation no remote session can give (CurrentUser\\Root): use ca_store "
        "LocalMachine\\Root"
    ),
    HR_BAD_KEY_STATE: N_("the key is not exportable"),
}


class Runner(Protocol):
    """Runs agent requests on one PC."""

    executions: int

    def run(self, steps: list[Step], *, check_mode: bool = False) -> Response: ...

    def without_become(self) -> contextlib.AbstractContextManager[None]: ...


class WorkflowError(OnshiCertError):
    """The PC refused a step or a precondition does not hold; says what was and was not changed."""


@dataclass
class Settings:
    """What a task asked for."""

    expect: Expectations
    check_mode: bool = False
    backup_dir: Path | None = None
    backup_password: str | None = None
    ca_store: str | None = "LocalMachine\\Root"
    new_password: Callable[[], str] = field(default=lambda: "")
    operator: str = ""

    def index(self) -> backups.BackupIndex:
        """Return the backup folder's index of this PC's codes (read once per task)."""
        return backups.BackupIndex.scan(self.backup_dir, self.expect.known_codes)


@dataclass
class State:
    """What the first execution read."""

    facts: HostFacts
    my: list[InstalledCert]
    roots: list[InstalledCert]
    intermediates: list[InstalledCert]
    export_password: str | None = None  # the one-time password of the PFX bytes in ``my``

    def ca_certs(self) -> list[x509.Certificate]:
        """Return the CA certificates the PC holds (chain candidates, and to complete backups)."""
        return [c.cert for c in self.roots + self.intermediates]

    def ca_present(self) -> set[str]:
        """Return the thumbprints in the PC's root and intermediate stores."""
        return {c.thumbprint for c in self.roots + self.intermediates}


def _check(response: Response, what: str) -> Response:
    if response.failed:
        message = messages.AGENT_BLOCKED if response.language_mode else messages.PC_STEP_FAILED
        raise WorkflowError(message, what=what, detail=response.error or response.msg)
    return response


def read_state(runner: Runner, settings: Settings, *, export_except: list[str] | None) -> State:
    """Read facts and stores in one execution; with ``export_except`` also export the keys not listed."""
    listing: dict[str, Any] = {"store": MY}
    if export_except is not None and not settings.check_mode:
        listing |= {"export_except": export_except, "export_password": settings.new_password()}
    steps = [
        Step("host_info", {"event_source": EVENT_SOURCE}),
        Step("list_certs", listing),
        Step("list_certs", {"store": INTERMEDIATE_STORE}),
    ]
    steps += [Step("list_certs", {"store": store}) for store in ROOT_STORES]
    response = _check(runner.run(steps, check_mode=settings.check_mode), _("cannot read the PC's certificates"))
    rule = settings.expect.rule
    return State(
        facts=HostFacts.from_result(response.result_of("host_info")),
        my=parse_listing(response.result_of("list_certs", 0), rule, listing.get("export_password")),
        intermediates=parse_listing(response.result_of("list_certs", 1), rule),
        roots=parse_listing(response.result_of("list_certs", 2), rule)
        + parse_listing(response.result_of("list_certs", 3), rule),
        export_password=listing.get("export_password"),
    )


#: The stores an audit reads: the operator's own, then the CA stores chains are completed from.
AUDIT_STORES = (MY, INTERMEDIATE_STORE, *ROOT_STORES)


def audit(
    runner: Runner,
    expect: Expectations,
    *,
    face_auth_path: str,
    face_auth_minimum: str,
    expiry_only: bool = False,
    backup_dir: Path | None = None,
    backup_password: str | None = None,
    host: str | None = None,
) -> dict[str, Any]:
    """Read the PC's facts and stores in one execution and judge them (``onshi_cert_info``; read-only)."""
    steps = [Step("host_info", {"read_files": [face_auth_path]})]
    steps += [Step("list_certs", {"store": store}) for store in AUDIT_STORES]
    response = _check(runner.run(steps), _("cannot read the PC's certificates"))
    installed = parse_listing(response.result_of("list_certs", 0), expect.rule)
    if expiry_only:  # a network logon cannot open keys: say nothing about them
        for item in installed:
            item.info.key_usable = item.info.key_exportable = None
    cas = [c for index in range(1, len(AUDIT_STORES)) for c in parse_listing(response.result_of("list_certs", index))]
    report = host_report(
        HostFacts.from_result(response.result_of("host_info")),
        installed,
        cas,
        expect,
        face_auth_path=face_auth_path,
        face_auth_minimum=face_auth_minimum,
        backups=backups.BackupIndex.scan(backup_dir, expect.known_codes) if backup_dir else None,
        backup_password=backup_password,
        host=host,
    )
    report["executions"] = runner.executions
    return report


def require_dpapi(state: State) -> None:
    """Refuse, with the fix, a logon that cannot persist user keys (Windows would say 'password is not correct')."""
    if not state.facts.dpapi:
        raise WorkflowError(messages.NO_DPAPI, user=state.facts.user, logon=state.facts.logon_type)


# --- the offers: .p12 files and backups, judged on the controller before the PC is touched -------------------


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


# --- carrying out the plan ----------------------------------------------------------------------------------------


def _refuse_early(expect: Expectations, offers: list[Judged], unreadable: list[OnshiCertError]) -> None:
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
        one_time, chain = state.export_password or "", removal.item.chain.ca_certificates
        data, bundle = backups.rebuild(item.pfx, one_time, chain, settings.backup_password, encryption)
        backups.verify(data, settings.backup_password, removal.thumbprint)
        code = removal.item.code or (removal.item.info.facility_codes or ["unknown"])[0]
        saved = backups.write(settings.backup_dir, host, code, data, bundle, encryption)
        index.add(saved, settings.backup_password)
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
            path = backups.backup_path(settings.backup_dir, code, host, item.thumbprint)
            done.append(
                {
                    "facility_code": code,
                    "thumbprint": item.thumbprint,
                    "new": True,
                    "path": str(path),
                    "not_after": item.info.not_after.isoformat(),
                }
            )
            continue
        encryption = encryption_for_build(state.facts.os_build)
        bundle: Pkcs12Bundle = item.payload
        chain = item.chain.ca_certificates
        full = Pkcs12Bundle(bundle.key, bundle.leaf, chain, bundle.protection, bundle.friendly_name)
        data = full.to_bytes(settings.backup_password, encryption)
        reopened = backups.verify(data, settings.backup_password, item.thumbprint)
        saved = backups.write(settings.backup_dir, host, code, data, reopened, encryption)
        index.add(saved, settings.backup_password)
        done.append(saved.to_dict() | {"new": True})
    return done


def ca_steps(plan: HostPlan) -> list[Step]:
    """Return add_cert steps for the CA certificates the plan adds (pinned roots and verified intermediates only)."""
    return [
        Step("add_cert", {"store": store, "der": b64(cert.public_bytes(Encoding.DER))}) for store, cert in plan.ca_adds
    ]


def apply(runner: Runner, state: State, plan: HostPlan, settings: Settings) -> list[InstalledCert]:
    """Make the planned changes in one execution (two when an administrator must add a machine CA).

    Import first, then assert every kept certificate has a usable key, and only then remove; the
    agent stops at the first failing step, so a failed check leaves every certificate in place.
    """
    machine = [s for s in ca_steps(plan) if s.args["store"].startswith("LocalMachine")]
    if not state.facts.event_source:  # the audit trail's source is registered once, by the administrator
        machine.append(Step("add_event_source", {"source": EVENT_SOURCE}))
    if machine and not state.facts.is_admin:
        with runner.without_become():
            response = runner.run(machine)
        _check(response, _("cannot add the CA to the machine's trusted roots (nothing else was changed)"))
        machine = []
    steps: list[Step] = []
    encryption = encryption_for_build(state.facts.os_build)
    for item in plan.imports:
        secret = settings.new_password()
        pfx = import_copy(item.payload).to_bytes(secret, encryption)
        args = {"store": MY, "pfx": b64(pfx), "password": secret, "thumbprint": item.thumbprint}
        steps.append(Step("import_pfx", args))
    steps += machine + [s for s in ca_steps(plan) if not s.args["store"].startswith("LocalMachine")]
    for thumb in sorted(set(plan.keep.values())):
        steps.append(Step("assert_cert", {"store": MY, "thumbprint": thumb, "expect": KEY_READY}))
    steps += [Step("remove_cert", {"store": MY, "thumbprint": r.thumbprint}) for r in plan.removals]
    steps += event_steps(plan, settings)
    steps.append(Step("list_certs", {"store": MY}))
    response = runner.run(steps)
    if response.failed:
        done = [s.op for s in response.steps if s.ok]
        hresult = f" [HRESULT {response.hresult}]" if response.hresult else ""
        known = WINDOWS_FIXES.get(response.hresult or "")
        raise WorkflowError(
            messages.WINDOWS_REFUSED,
            fix=(_(known) + "; " if known else "") + _(messages.WINDOWS_REFUSED.fix),
            detail=response.error,
            hresult=hresult,
            done=", ".join(done) or _("none"),
        )
    return parse_listing(response.result_of("list_certs"), settings.expect.rule)


def event_steps(plan: HostPlan, settings: Settings) -> list[Step]:
    """Return the audit-trail entries of the change, for the clinic's own IT (Application log, never fatal)."""
    who = settings.operator or "-"
    entries = [
        (
            EVENT_IDS["install"],
            _(
                "onshi-cert installed the client certificate {thumbprint} ({code}, valid until {date}) for {user}",
                thumbprint=i.thumbprint,
                code=i.code,
                date=f"{i.info.not_after:%Y-%m-%d}",
                user=who,
            ),
        )
        for i in plan.imports
    ]
    entries += [
        (
            EVENT_IDS["remove"],
            _(
                "onshi-cert removed the certificate {thumbprint} ({code}): {reason}; backup: {backup}",
                thumbprint=r.thumbprint,
                code=r.item.code or "-",
                reason=r.detail,
                backup=r.backup_note or _(BACKUP_ROUTES.get(r.backup, r.backup)),
            ),
        )
        for r in plan.removals
    ]
    entries += [
        (EVENT_IDS["trust"], _("onshi-cert added {subject} to {store}", subject=c.subject.rfc4514_string(), store=s))
        for s, c in plan.ca_adds
    ]
    return [
        Step(
            "write_event",
            {"source": EVENT_SOURCE, "event_id": event_id, "entry_type": "Information", "message": message},
        )
        for event_id, message in entries
    ]


# --- what the engineer sees ------------------------------------------------------------------------------------


def _line(thumb: str, code: str | None, not_after: Any, issuer: str, note: str = "") -> str:
    text = _(
        "{thumbprint} {code} until {date} issuer={issuer}",
        thumbprint=thumb,
        code=code or "-",
        date=f"{not_after:%Y-%m-%d}",
        issuer=issuer,
    )
    return text + (f"  [{note}]" if note else "")


def diff(state: State, plan: HostPlan, settings: Settings) -> list[dict[str, str]]:
    """Return one before/after block per store the plan touches, each changed line with its reason."""
    user = settings.operator or state.facts.user_name or "CurrentUser"
    removed = {r.thumbprint: r for r in plan.removals}
    before, after = [], []
    for cert in state.my:
        info = cert.info
        removal = removed.get(cert.thumbprint)
        text = _line(cert.thumbprint, info.facility_code, info.not_after, info.issuer_cn)
        if removal:
            note = _(
                "remove: {reason}; backup: {backup}",
                reason=removal.detail,
                backup=removal.backup_note or _(BACKUP_ROUTES.get(removal.backup, removal.backup)),
            )
            before.append(f"{text}  [{note}]")
        else:
            before.append(text)
            after.append(text)
    present = {c.thumbprint for c in state.my}
    for item in plan.imports:
        info = item.info
        line = _line(
            item.thumbprint, item.code, info.not_after, info.issuer_cn, _("install from {file}", file=item.origin)
        )
        if item.thumbprint in present:  # re-imported to restore its key: replace the line
            old = _line(item.thumbprint, item.code, info.not_after, info.issuer_cn)
            after = [a for a in after if a != old]
        after.append(line)
    blocks = [_block(f"CurrentUser({user})\\My", before, after)]
    why = _("add: pinned chain of the kept certificate")
    for store in sorted({s for s, _cert in plan.ca_adds}):
        added = [f"{thumbprint(c)} {c.subject.rfc4514_string()}  [{why}]" for s, c in plan.ca_adds if s == store]
        name = store if store.startswith("LocalMachine") else store.replace("CurrentUser", f"CurrentUser({user})")
        blocks.append(_block(name, [], added))
    return [b for b in blocks if b["before"] != b["after"]] or blocks[:1]


def _block(name: str, before: list[str], after: list[str]) -> dict[str, str]:
    return {
        "before_header": name,
        "after_header": name,
        "before": "".join(f"{line}\n" for line in sorted(before)),
        "after": "".join(f"{line}\n" for line in sorted(after)),
    }


def summary(certs: list[InstalledCert]) -> list[str]:
    """Return one line per certificate of ``CurrentUser\\My``."""
    return sorted(
        f"{c.thumbprint} {c.info.facility_code or '-'} until {c.info.not_after:%Y-%m-%d} "
        f"key={'yes' if c.info.has_key else 'no'} issuer={c.info.issuer_cn}"
        for c in certs
    )


def describe_plan(plan: HostPlan, check_mode: bool) -> dict[str, Any]:
    """Return the plan as the module result shows it (check mode says 'would')."""
    return {
        "planned": check_mode,
        "codes": {
            code: {
                "keep": c.winner.thumbprint if c.winner else None,
                "source": c.winner.source if c.winner else None,
                "origin": c.winner.origin if c.winner else None,
                "not_after": c.winner.info.not_after.isoformat() if c.winner else None,
                "install": c.install,
                "outdated": [{"file": o.origin, "reason": why} for o, why in c.outdated],
                "held": list(dict.fromkeys(c.held)),
            }
            for code, c in plan.codes.items()
        },
        "installed": [
            {
                "thumbprint": i.thumbprint,
                "facility_code": i.code,
                "from": i.origin,
                "not_after": i.info.not_after.isoformat(),
            }
            for i in plan.imports
        ],
        "removed": [r.to_dict() for r in plan.removals],
        "kept": [{"thumbprint": t, "reason": why} for t, why in plan.stays.items()],
        "ca_added": [{"store": s, "subject": c.subject.rfc4514_string()} for s, c in plan.ca_adds],
        "missing": plan.missing,
        "attention": [a.to_dict() for a in plan.attention],
        "disagreement": plan.disagreement,
    }


# --- the jobs -----------------------------------------------------------------------------------------------------


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
    _refuse_early(settings.expect, offers, unreadable)
    index = settings.index()
    mine = index.verified_map(index.thumbprints_of(host), settings.backup_password)
    export_except = sorted({o.thumbprint for o in offers} | {t for t, ok in mine.items() if ok})
    export_except = export_except if scope.remove else None
    state = read_state(runner, settings, export_except=export_except)
    pool = [*state.ca_certs(), *(c for o in offers for c in o.payload.chain)]
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
        result = _result(state, plan, settings, runner, summary(state.my), backups=new_backups, warnings=warnings)
        result["changed"] = plan.changes or bool(new_backups)
        result |= {"before": cert_rows(state.my), "after": predicted_rows(state, plan), "restored": restored or []}
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
    )
    result |= {"before": cert_rows(state.my), "after": cert_rows(after), "restored": restored or []}
    return _finish(result, plan, problems, short, min_days_left, missing_fix)


def cert_rows(certs: list[InstalledCert]) -> list[dict[str, Any]]:
    """Return ``CurrentUser\\My`` as work reports list it: thumbprint, code, expiry, key."""
    return sorted(
        (
            {
                "thumbprint": c.thumbprint,
                "facility_code": c.info.facility_code,
                "not_after": c.info.not_after.isoformat(),
                "has_key": bool(c.info.has_key),
            }
            for c in certs
        ),
        key=lambda row: (row["facility_code"] or "", row["not_after"]),
    )


def predicted_rows(state: State, plan: HostPlan) -> list[dict[str, Any]]:
    """Return ``CurrentUser\\My`` as the plan would leave it (check mode)."""
    removed = {r.thumbprint for r in plan.removals}
    rows = [row for row in cert_rows(state.my) if row["thumbprint"] not in removed]
    present = {row["thumbprint"] for row in rows}
    rows += [
        {
            "thumbprint": i.thumbprint,
            "facility_code": i.code,
            "not_after": i.info.not_after.isoformat(),
            "has_key": True,
        }
        for i in plan.imports
        if i.thumbprint not in present
    ]
    return sorted(rows, key=lambda row: (row["facility_code"] or "", row["not_after"]))


def _finish(
    result: dict[str, Any],
    plan: HostPlan,
    problems: list[OnshiCertError],
    short: dict[str, str],
    min_days_left: int,
    missing_fix: str | None,
) -> dict[str, Any]:
    """Give each code its outcome, and fail the task for every code that could not be finished: a file refused or
    unreadable (its own error), a renewal that did not happen, a code the job must give a certificate but could
    not. What was done for the other codes stays done and is said; when nothing changed, the first file or
    renewal problem is raised as it is."""
    done = _("what could be done was done") if result["changed"] else _("nothing was changed")
    errors = list(problems)
    if short:
        detail = "; ".join(short.values())
        errors.append(WorkflowError(messages.NOT_RENEWED, days=min_days_left, detail=detail, done=done))
    if errors and not result["changed"]:
        raise errors[0]
    if missing_fix is not None and plan.missing:
        found = [a.message for a in plan.attention if a.facility_code in plan.missing and a.code != "blocked"]
        detail = _(
            "needs a certificate for {codes} ({problems}), but no usable .p12 or backup was offered; {done}",
            codes=", ".join(plan.missing),
            problems="; ".join(found),
            done=done,
        )
        errors.append(WorkflowError(messages.CODE_WITHOUT_CERT, fix=missing_fix, detail=detail))
    touched = {i.code for i in plan.imports} | {r.item.code for r in plan.removals}
    for code, entry in result["codes"].items():
        entry["outcome"] = (
            "blocked"
            if plan.codes[code].held
            else "missing"
            if code in plan.missing
            else "not_renewed"
            if code in short
            else "changed"
            if code in touched
            else "ok"
        )
    outcomes = [entry["outcome"] for entry in result["codes"].values()]
    result["outcome"] = next((o for o in OUTCOMES if o in outcomes), "ok")
    if errors:
        result |= {
            "failed": True,
            "msg": " / ".join(e.describe() + (f" ({e.file})" if e.file else "") for e in errors),
            "error_code": errors[0].code,
            "fix": errors[0].fix,
        }
    return result


#: Each code's outcome, worst first: the PC's outcome is the worst of its codes'.
OUTCOMES = ("blocked", "missing", "not_renewed", "changed", "ok")


def _not_renewed(plan: HostPlan, min_days_left: int) -> dict[str, str]:
    """Return code -> why, for each code whose kept certificate is not valid for more than ``min_days_left`` days."""
    if min_days_left <= 0:
        return {}
    return {
        code: _(
            "{code}: {thumbprint} expires on {date}",
            code=code,
            thumbprint=c.winner.thumbprint,
            date=f"{c.winner.info.not_after:%Y-%m-%d}",
        )
        if c.winner
        else f"{code}: {_('none')}"
        for code, c in plan.codes.items()
        if c.winner is None or c.winner.info.not_after <= _now_plus(min_days_left)
    }


def _now_plus(days: int) -> dt.datetime:
    return utcnow() + dt.timedelta(days=days)


def _result(
    state: State,
    plan: HostPlan,
    settings: Settings,
    runner: Runner,
    certificates: list[str],
    *,
    backups: list[dict[str, Any]],
    warnings: list[str],
) -> dict[str, Any]:
    kept = next(iter(plan.codes.values())).winner if len(plan.codes) == 1 else None
    return {
        "changed": plan.changes,
        **describe_plan(plan, settings.check_mode),
        "thumbprint": kept.thumbprint if kept else None,
        "facility_code": kept.code if kept else None,
        "not_after": kept.info.not_after.isoformat() if kept else None,
        "imported": bool(plan.imports),
        "backups": backups,
        "warnings": list(dict.fromkeys(warnings)),
        "attention_needed": plan.needs_person,
        "host": state.facts.to_dict(),
        "certificates": certificates,
        "diff": diff(state, plan, settings),
        "executions": runner.executions,
    }


def backup(runner: Runner, settings: Settings, host: str, *, pc_copy_dir: str | None) -> dict[str, Any]:
    """Back up the kept certificate of each facility code (``onshi_cert_backup``), verified, in one execution.

    Every code on its own: a kept certificate whose key is not exportable (renewed in place with the MPKI client
    tool, a state the docs call normal) is reported ``not_exportable`` and the PC needs a person; an export that
    fails for another reason fails the task after the other codes were backed up."""
    if settings.backup_dir is None or not settings.backup_password:
        raise WorkflowError(messages.MISSING_SETTING, what="onshi_cert_backup", needs="backup_dir, backup_password")
    index = settings.index()
    verified = index.verified_map(index.thumbprints_of(host), settings.backup_password)
    state = read_state(runner, settings, export_except=sorted(t for t, ok in verified.items() if ok))
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
            path = backups.backup_path(settings.backup_dir, code, host, winner.thumbprint)
            done.append(
                {
                    "facility_code": code,
                    "thumbprint": winner.thumbprint,
                    "path": str(path),
                    "not_after": winner.info.not_after.isoformat(),
                    "new": True,
                }
            )
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
        data, bundle = backups.rebuild(
            item.pfx, state.export_password or "", winner.chain.ca_certificates, settings.backup_password, encryption
        )
        backups.verify(data, settings.backup_password, winner.thumbprint)
        written = backups.write(settings.backup_dir, host, code, data, bundle, encryption)
        index.add(written, settings.backup_password)
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
        "attention": [a.to_dict() for a in plan.attention],
        "attention_needed": plan.needs_person,
        "host": state.facts.to_dict(),
        "executions": runner.executions,
    }
