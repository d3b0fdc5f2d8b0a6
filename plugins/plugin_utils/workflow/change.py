"""Steps 4-6, import, verify, only then remove: one agent request carries the plan's changes in that order."""

from __future__ import annotations

import contextlib

# Guarded: without cryptography the action plugins stop first and name it (requirements.py).
with contextlib.suppress(ImportError):
    from cryptography.hazmat.primitives.serialization import Encoding

from ..agent.contract import (
    EVENT_IDS,
    EVENT_SOURCE,
    HR_ACCESS_DENIED,
    HR_BAD_KEY_STATE,
    HR_CANCELLED,
    HR_INVALID_PASSWORD,
    Step,
    b64,
)
from ..core import messages
from ..core.hoststate import InstalledCert, parse_listing
from ..core.install import import_copy
from ..core.pkcs12 import encryption_for_build
from ..core.policy import MY, HostPlan
from ..i18n import N_
from ..i18n import say as _
from .read import Runner, Settings, State, WorkflowError, _check

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
    kept = sorted(set(plan.keep.values()) | {item.thumbprint for item in plan.imports})
    steps.append(Step("list_certs", {"store": MY, "probe": kept}))
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
