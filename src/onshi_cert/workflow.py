"""The order every change follows on a PC: read, back up what will go, import, verify, only then remove.

Pure orchestration over an agent runner (``run(steps, check_mode)``, ``without_become()``); the action
plugins supply one that goes over the task's connection. No Ansible imports here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from onshi_cert.agent.contract import Response, Step, b64
from onshi_cert.core import backup as backups
from onshi_cert.core.certinfo import CertificateInfo, utcnow
from onshi_cert.core.errors import OnshiCertError
from onshi_cert.core.facility import FacilityRule
from onshi_cert.core.hoststate import HostFacts, InstalledCert, parse_listing
from onshi_cert.core.install import MY, ChangePlan, import_copy, plan_install, plan_removal, read_p12
from onshi_cert.core.pkcs12 import Pkcs12Bundle, encryption_for_build
from onshi_cert.core.policy import Expectations, plan_store
from onshi_cert.core.renewal import FEE_YEN, POSTAGE_YEN

KEY_READY = {"has_private_key": True, "key_usable": True, "key_exportable": True}


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
    rule: FacilityRule
    check_mode: bool = False
    backup_dir: Path | None = None
    backup_password: str | None = None
    backup_stale: bool = True
    ca_store: str | None = "LocalMachine\\Root"
    new_password: Callable[[], str] = field(default=lambda: "")


@dataclass
class State:
    """What the first execution read."""

    facts: HostFacts
    my: list[InstalledCert]
    trusted: list[InstalledCert]
    intermediates: list[InstalledCert]
    export_password: str | None = None  # the one-time password of the PFX bytes in ``my``

    def chain_certs(self) -> list[x509.Certificate]:
        """Return the CA certificates the PC holds (to complete backups' chains)."""
        return [c.cert for c in self.trusted + self.intermediates]


def _check(response: Response, what: str) -> Response:
    if response.failed:
        raise WorkflowError(f"{what}: {response.error or response.msg}")
    return response


def read_state(runner: Runner, settings: Settings, *, export_except: list[str] | None) -> State:
    """Read facts and stores in one execution; with ``export_except`` also export ours not listed."""
    listing: dict[str, Any] = {"store": MY}
    if export_except is not None and not settings.check_mode:
        listing |= {
            "export_issuer": settings.expect.issuer_cn,
            "export_except": export_except,
            "export_password": settings.new_password(),
        }
    steps = [Step("host_info"), Step("list_certs", listing), Step("list_certs", {"store": "CurrentUser\\CA"})]
    if settings.ca_store:
        steps.append(Step("list_certs", {"store": settings.ca_store}))
    response = _check(runner.run(steps, check_mode=settings.check_mode), "cannot read the PC's certificates")
    return State(
        facts=HostFacts.from_result(response.result_of("host_info")),
        my=parse_listing(response.result_of("list_certs", 0), settings.rule),
        intermediates=parse_listing(response.result_of("list_certs", 1)),
        trusted=parse_listing(response.result_of("list_certs", 2)) if settings.ca_store else [],
        export_password=listing.get("export_password"),
    )


def require_dpapi(state: State) -> None:
    """Refuse, with the fix, a logon that cannot persist user keys (Windows would say 'password is not correct')."""
    if not state.facts.dpapi:
        raise WorkflowError(
            f"the agent runs as {state.facts.user} with a {state.facts.logon_type} logon that has no DPAPI, so "
            "Windows cannot store a private key for the user (it would misleadingly say 'The specified network "
            "password is not correct')",
            fix="run the task with become: true, become_method: runas, become_user: the operating user and "
            "ansible_become_password set; or connect with CredSSP",
        )


def back_up(
    state: State, plan: ChangePlan, settings: Settings, host: str, extra_chain: list[x509.Certificate]
) -> tuple[list[dict[str, Any]], list[str]]:
    """Write a verified backup of every certificate about to be removed that has an exportable key."""
    written: list[dict[str, Any]] = []
    warnings: list[str] = []
    if not settings.backup_stale:
        return written, warnings
    encryption = encryption_for_build(state.facts.os_build)
    for thumb in plan.remove:
        item = next(c for c in state.my if c.thumbprint == thumb)
        if not item.info.has_key:
            continue
        if settings.backup_dir is not None and settings.backup_password:
            existing = backups.find(settings.backup_dir, thumb, settings.backup_password)
            if existing is not None:  # backed up before (and so not exported again)
                written.append(existing.to_dict() | {"new": False})
                continue
        if item.pfx is None:
            warnings.append(
                f"{thumb} cannot be backed up ({item.export_error or 'key not exportable'}); "
                "removing it anyway because it is stale"
            )
            continue
        if settings.backup_dir is None or not settings.backup_password:
            raise WorkflowError(
                f"{thumb} must be backed up before it is removed, but no backup folder is set",
                fix="set backup_dir and backup_password (from the vault), or backup_stale: false",
            )
        data, bundle = backups.rebuild(
            item.pfx,
            state.export_password or "",
            extra_chain + state.chain_certs(),
            settings.backup_password,
            encryption,
        )
        backups.verify(data, settings.backup_password, thumb, need_chain=False)
        code = item.info.facility_code or "unknown"
        written.append(
            backups.write(settings.backup_dir, host, code, data, bundle, encryption).to_dict() | {"new": True}
        )
    return written, warnings


def ca_steps(plan: ChangePlan) -> list[Step]:
    """Return add_cert steps for the CA certificates the plan adds."""
    return [
        Step("add_cert", {"store": store, "der": b64(cert.public_bytes(Encoding.DER))}) for store, cert in plan.ca_adds
    ]


def apply(
    runner: Runner, state: State, plan: ChangePlan, settings: Settings, bundle: Pkcs12Bundle | None, keep: list[str]
) -> list[InstalledCert]:
    """Make the planned changes in one execution (two when an administrator must add a machine CA).

    Import first, then assert the imported and kept certificates have usable keys, and only then
    remove; the agent stops at the first failing step, so a failed check leaves every certificate.
    """
    steps: list[Step] = []
    machine = [s for s in ca_steps(plan) if s.args["store"].startswith("LocalMachine")]
    if machine and not state.facts.is_admin:
        with runner.without_become():
            response = runner.run(machine)
        _check(response, "cannot add the CA to the machine's trusted roots (nothing else was changed)")
        machine = []
    if plan.import_leaf and bundle is not None:
        secret = settings.new_password()
        pfx = import_copy(bundle).to_bytes(secret, encryption_for_build(state.facts.os_build))
        steps.append(Step("import_pfx", {"store": MY, "pfx": b64(pfx), "password": secret}))
    steps += machine + [s for s in ca_steps(plan) if not s.args["store"].startswith("LocalMachine")]
    for thumb in keep:
        steps.append(Step("assert_cert", {"store": MY, "thumbprint": thumb, "expect": KEY_READY}))
    steps += [Step("remove_cert", {"store": MY, "thumbprint": t}) for t in plan.remove]
    steps.append(Step("list_certs", {"store": MY}))
    response = runner.run(steps)
    if response.failed:
        done = [s.op for s in response.steps if s.ok]
        raise WorkflowError(
            f"{response.error} (steps done before it: {', '.join(done) or 'none'}; no certificate was removed "
            "after a failed check)",
            fix="re-run the playbook once the cause is fixed: it picks up where it stopped",
        )
    return parse_listing(response.result_of("list_certs"), settings.rule)


def summary(certs: list[InstalledCert]) -> list[str]:
    """Return one line per certificate, for --diff."""
    return sorted(
        f"{c.thumbprint} {c.info.facility_code or '-'} until {c.info.not_after:%Y-%m-%d} "
        f"key={'yes' if c.info.has_key else 'no'} issuer={c.info.issuer_cn}"
        for c in certs
    )


def _already_backed_up(settings: Settings, host: str) -> list[str]:
    if settings.backup_dir is None or not settings.backup_dir.is_dir():
        return []
    return [b.thumbprint for b in backups.latest_for(settings.backup_dir, host=host)]


def _predict(state: State, plan: ChangePlan, bundle: Pkcs12Bundle | None, rule: FacilityRule) -> list[str]:
    after = [c for c in state.my if c.thumbprint not in plan.remove]
    lines = summary(after)
    if plan.import_leaf and bundle is not None and plan.new_thumbprint not in {c.thumbprint for c in after}:
        info = bundle.describe(rule)
        lines = sorted(
            [
                *lines,
                f"{info.thumbprint} {info.facility_code or '-'} until {info.not_after:%Y-%m-%d} "
                f"key=yes issuer={info.issuer_cn}",
            ]
        )
    return lines


def _result(
    state: State, plan: ChangePlan, before: list[str], after: list[str], runner: Runner, **extra: Any
) -> dict[str, Any]:
    return {
        "changed": plan.changes,
        "removed": [{"thumbprint": t, "reason": r} for t, r in plan.remove.items()],
        "kept": [{"thumbprint": t, "reason": r} for t, r in plan.refused.items()],
        "ca_added": [{"store": s, "subject": c.subject.rfc4514_string()} for s, c in plan.ca_adds],
        "warnings": plan.warnings,
        "host": state.facts.to_dict(),
        "certificates": after,
        "diff": {
            "before": "\n".join(before) + "\n",
            "after": "\n".join(after) + "\n",
            "before_header": "CurrentUser\\My",
            "after_header": "CurrentUser\\My",
        },
        "executions": runner.executions,
        **extra,
    }


def source(settings: Settings, path: str | None, password: str | None, restore_from: str | None) -> tuple[Path, str]:
    """Return the .p12 to install: ``path`` with ``password``, or the newest backup of ``restore_from``.

    ``restore_from`` names the old PC (its inventory name) or a facility code; an expired newest
    backup is refused, since only a new certificate can help then.
    """
    if restore_from is None:
        if not path or password is None:
            raise WorkflowError(
                "state=present needs path and password (or restore_from)",
                fix="set path to the downloaded .p12 and password from the vault",
            )
        return Path(path), password
    if settings.backup_dir is None or not settings.backup_password:
        raise WorkflowError("restore_from needs backup_dir and backup_password", fix="set both (password from vault)")
    by_code = restore_from.isdigit() and len(restore_from) == 10
    found = backups.latest_for(
        settings.backup_dir, host=None if by_code else restore_from, facility_code=restore_from if by_code else None
    )
    if not found:
        raise WorkflowError(
            f"no verified backup of {restore_from} in {settings.backup_dir}",
            fix="check the old PC's name or facility code; without a backup, apply for a new certificate on the portal",
        )
    newest = found[0]
    if newest.not_after <= utcnow():
        raise WorkflowError(
            f"the newest backup of {restore_from} ({newest.path.name}) expired on {newest.not_after:%Y-%m-%d}",
            fix=f"an expired backup cannot be restored: apply for a new certificate on the portal "
            f"({FEE_YEN:,} yen + {POSTAGE_YEN} yen postage) and provision it",
        )
    return newest.path, settings.backup_password


def _back_up_new(
    settings: Settings, state: State, bundle: Pkcs12Bundle, info: CertificateInfo, host: str
) -> list[dict[str, Any]]:
    """Back up the certificate being installed from the .p12 itself (same key, no export needed)."""
    thumb = info.thumbprint
    if settings.backup_dir is None or not settings.backup_password:
        raise WorkflowError(
            "backup_new needs backup_dir and backup_password",
            fix="set both (the password from the vault), or backup_new: false",
        )
    existing = backups.find(settings.backup_dir, thumb, settings.backup_password)
    if existing is not None:
        return []
    code = info.facility_code or "unknown"
    if settings.check_mode:
        return [
            {
                "facility_code": code,
                "thumbprint": thumb,
                "new": True,
                "path": str(backups.backup_path(settings.backup_dir, code, host, thumb)),
            }
        ]
    encryption = encryption_for_build(state.facts.os_build)
    data = bundle.to_bytes(settings.backup_password, encryption)
    reopened = backups.verify(data, settings.backup_password, thumb, need_chain=bool(bundle.chain))
    return [backups.write(settings.backup_dir, host, code, data, reopened, encryption).to_dict() | {"new": True}]


def install(
    runner: Runner,
    settings: Settings,
    path: Path,
    password: str,
    host: str,
    *,
    remove_stale: bool,
    backup_new: bool = False,
) -> dict[str, Any]:
    """Install a .p12 (``state: present``): pre-flight, read, back up, import, verify, remove stale.

    With ``backup_new`` the certificate itself is backed up too (from the .p12 on the controller),
    so provisioning costs one execution when nothing changes and two when something does.
    """
    if not settings.expect.facility_codes:
        raise WorkflowError(
            "no facility code is expected for this PC, so a wrong facility's certificate could not be told apart",
            fix="set onshi_cert_facility_codes for the host in the inventory",
        )
    bundle, info = read_p12(path, password, settings.expect, settings.rule)
    export_except = [info.thumbprint, *_already_backed_up(settings, host)] if remove_stale else None
    state = read_state(runner, settings, export_except=export_except)
    plan = plan_install(
        bundle,
        info,
        state.my,
        state.trusted,
        state.intermediates,
        settings.expect,
        ca_store=settings.ca_store,
        remove_stale=remove_stale,
    )
    if plan.import_leaf:
        require_dpapi(state)
    before = summary(state.my)
    extra = {
        "thumbprint": info.thumbprint,
        "facility_code": info.facility_code,
        "imported": plan.import_leaf,
        "not_after": info.not_after.isoformat(),
    }
    new_backup = _back_up_new(settings, state, bundle, info, host) if backup_new else []
    if settings.check_mode or not plan.changes:
        result = _result(
            state, plan, before, _predict(state, plan, bundle, settings.rule), runner, backups=new_backup, **extra
        )
        result["changed"] = plan.changes or bool(new_backup)
        return result
    written, warnings = back_up(state, plan, settings, host, bundle.chain)
    written += new_backup
    plan.warnings += warnings
    after = apply(runner, state, plan, settings, bundle, keep=[info.thumbprint])
    if not any(c.thumbprint == info.thumbprint and c.info.key_usable for c in after):
        raise WorkflowError(
            f"{info.thumbprint} is not in CurrentUser\\My with a usable key after the import",
            fix="check the PC's event log; nothing was removed",
        )
    return _result(state, plan, before, summary(after), runner, backups=written, **extra)


def remove(
    runner: Runner,
    settings: Settings,
    host: str,
    *,
    thumbprints: list[str],
    facility_code: str | None,
    expired_only: bool,
    stale_only: bool,
    force: bool,
) -> dict[str, Any]:
    """Remove selected certificates (``state: absent``), backing each up first."""
    state = read_state(runner, settings, export_except=_already_backed_up(settings, host))
    plan = plan_removal(
        state.my,
        settings.expect,
        thumbprints=thumbprints,
        facility_code=facility_code,
        expired_only=expired_only,
        stale_only=stale_only,
        force=force,
    )
    before = summary(state.my)
    if settings.check_mode or not plan.changes:
        return _result(state, plan, before, _predict(state, plan, None, settings.rule), runner, backups=[])
    written, warnings = back_up(state, plan, settings, host, [])
    plan.warnings += warnings
    kept = plan_store([c.info for c in state.my], settings.expect).keep.values()
    after = apply(runner, state, plan, settings, None, keep=[t for t in kept if t not in plan.remove])
    return _result(state, plan, before, summary(after), runner, backups=written)


def backup(runner: Runner, settings: Settings, host: str, *, pc_copy_dir: str | None) -> dict[str, Any]:
    """Back up the kept certificate of each facility code (``onshi_cert_backup``), verified, in one execution."""
    if settings.backup_dir is None or not settings.backup_password:
        raise WorkflowError(
            "backup_dir and backup_password are required",
            fix="set onshi_cert_backup_dir and the vaulted onshi_cert_backup_password",
        )
    verified = {
        t for t in _already_backed_up(settings, host) if backups.find(settings.backup_dir, t, settings.backup_password)
    }
    state = read_state(runner, settings, export_except=sorted(verified))
    keep = plan_store([c.info for c in state.my], settings.expect).keep
    encryption = encryption_for_build(state.facts.os_build)
    done: list[dict[str, Any]] = []
    for code, thumb in sorted(keep.items()):
        item = next(c for c in state.my if c.thumbprint == thumb)
        existing = backups.find(settings.backup_dir, thumb, settings.backup_password) if thumb in verified else None
        if existing is not None:
            done.append(existing.to_dict() | {"new": False})
            continue
        if settings.check_mode:
            done.append(
                {
                    "facility_code": code,
                    "thumbprint": thumb,
                    "path": str(backups.backup_path(settings.backup_dir, code, host, thumb)),
                    "new": True,
                }
            )
            continue
        if item.pfx is None:
            raise WorkflowError(
                f"cannot back up {thumb} ({code}): {item.export_error or 'the key is not exportable'}",
                fix="this certificate was imported without 'mark this key as exportable'; re-import it from its "
                ".p12 with onshi_cert (state: present), or apply for a new certificate",
            )
        data, bundle = backups.rebuild(
            item.pfx, state.export_password or "", state.chain_certs(), settings.backup_password, encryption
        )
        backups.verify(data, settings.backup_password, thumb, need_chain=bool(state.chain_certs()))
        written = backups.write(settings.backup_dir, host, code, data, bundle, encryption)
        done.append(written.to_dict() | {"new": True, "data": data})
    new = [d for d in done if d["new"]]
    if pc_copy_dir and new and not settings.check_mode:
        steps = [
            Step(
                "write_file",
                {"path": f"{pc_copy_dir.rstrip(chr(92))}\\{host}_{d['thumbprint']}.pfx", "content": b64(d["data"])},
            )
            for d in new
        ]
        _check(runner.run(steps), f"cannot copy the backup to {pc_copy_dir} on the PC (the controller copy is kept)")
    for entry in done:
        entry.pop("data", None)
    warnings = [
        f"no usable certificate for {code}: nothing to back up"
        for code in plan_store([c.info for c in state.my], settings.expect).missing
    ]
    return {
        "changed": bool(new),
        "backups": done,
        "warnings": warnings,
        "host": state.facts.to_dict(),
        "executions": runner.executions,
    }
