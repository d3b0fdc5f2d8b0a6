"""Step 1, read: what the PC holds (facts and stores) in one execution, and the task's settings."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

# Guarded: without cryptography the action plugins stop first and name it (requirements.py).
with contextlib.suppress(ImportError):
    from cryptography import x509

from ..agent.contract import EVENT_SOURCE, Response, Step
from ..core import backup as backups
from ..core import messages
from ..core.audit import host_report
from ..core.errors import OnshiCertError
from ..core.hoststate import HostFacts, InstalledCert, parse_listing
from ..core.policy import INTERMEDIATE_STORE, MY, ROOT_STORES, Expectations
from ..i18n import say as _


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
    known: tuple[str, ...] = ()  # thumbprints of ours from the PC's last report (options.known_thumbprints)

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


def read_state(
    runner: Runner,
    settings: Settings,
    *,
    known: list[str],
    export: bool,
    pool: list[x509.Certificate] | None = None,
) -> State:
    """Read facts and stores, opening only the keys the controller names, in one execution when it can.

    The agent opens a key only when named. ``known`` are the certificates with a verified backup (or the files the
    task offers): opened, never exported. ``settings.known`` are the PC's certificates of ours at its last report:
    opened and, with ``export`` (a change that may remove), exported for the backup of what may go. When the PC holds
    a certificate of ours (by its signature chain, through the PC's CA stores and ``pool``) that was not named, one
    more execution opens its key and, with ``export``, exports it.
    """
    password = settings.new_password() if export and not settings.check_mode else None
    backed_up = {t.upper() for t in known}
    remembered = {t.upper() for t in settings.known}
    listing: dict[str, Any] = {"store": MY, "probe": sorted(backed_up | remembered)}
    if password is not None and remembered - backed_up:
        listing |= {"export": sorted(remembered - backed_up), "export_password": password}
    steps = [
        Step("host_info", {"event_source": EVENT_SOURCE}),
        Step("list_certs", listing),
        Step("list_certs", {"store": INTERMEDIATE_STORE}),
    ]
    steps += [Step("list_certs", {"store": store}) for store in ROOT_STORES]
    response = _check(runner.run(steps, check_mode=settings.check_mode), _("cannot read the PC's certificates"))
    rule = settings.expect.rule
    state = State(
        facts=HostFacts.from_result(response.result_of("host_info")),
        my=parse_listing(response.result_of("list_certs", 0), rule, password),
        intermediates=parse_listing(response.result_of("list_certs", 1), rule),
        roots=parse_listing(response.result_of("list_certs", 2), rule)
        + parse_listing(response.result_of("list_certs", 3), rule),
        export_password=password,
    )
    exported = set(listing.get("export", []))
    # Only what a second read would change is judged here (a chain check per certificate costs milliseconds).
    pending = [c for c in state.my if not c.probed or (password and c.thumbprint not in backed_up | exported)]
    ours = ours_with_keys(pending, settings.expect, [*state.ca_certs(), *(pool or [])])
    unopened = {c.thumbprint for c in ours if not c.probed}
    unsaved = {c.thumbprint for c in ours if c.thumbprint not in backed_up | exported} if password else set()
    if unopened | unsaved:
        again: dict[str, Any] = {"store": MY, "probe": sorted(unopened | unsaved)}
        if unsaved:
            again |= {"export": sorted(unsaved), "export_password": password}
        answer = _check(
            runner.run([Step("list_certs", again)], check_mode=settings.check_mode),
            _("cannot read the PC's certificates"),
        )
        first = {c.thumbprint: c for c in state.my}
        state.my = parse_listing(answer.result_of("list_certs"), rule, password)
        for item in state.my:  # what the first read opened or exported stays
            before = first.get(item.thumbprint)
            if before is not None and item.thumbprint not in unopened | unsaved:
                item.info, item.pfx, item.export_error, item.probed = (
                    before.info,
                    before.pfx,
                    before.export_error,
                    before.probed,
                )
    return state


def ours_with_keys(
    installed: list[InstalledCert], expect: Expectations, pool: list[x509.Certificate]
) -> list[InstalledCert]:
    """Return the certificates with a private key that chain to a pinned root."""
    return [c for c in installed if c.info.has_key and expect.anchors.verify(c.cert, pool).trusted]


def unprobed_ours(installed: list[InstalledCert], expect: Expectations, pool: list[x509.Certificate]) -> list[str]:
    """Return the thumbprints of the certificates of ours whose key was not opened."""
    return sorted(c.thumbprint for c in ours_with_keys([c for c in installed if not c.probed], expect, pool))


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
    known: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Read the PC's facts and stores in one execution and judge them (``onshi_cert_info``; read-only)."""
    index = backups.BackupIndex.scan(backup_dir, expect.known_codes) if backup_dir else None
    named = {*known, *(index.thumbprints_of(host) if index is not None and host else [])}
    steps = [Step("host_info", {"read_files": [face_auth_path]})]
    steps += [Step("list_certs", {"store": MY, "probe": [] if expiry_only else sorted(named)})]
    steps += [Step("list_certs", {"store": store}) for store in AUDIT_STORES[1:]]
    response = _check(runner.run(steps), _("cannot read the PC's certificates"))
    installed = parse_listing(response.result_of("list_certs", 0), expect.rule)
    cas = [c for i in range(1, len(AUDIT_STORES)) for c in parse_listing(response.result_of("list_certs", i))]
    # A network logon cannot open keys: say nothing about them. Otherwise a certificate of ours without a
    # verified backup was not named: one more execution opens its key.
    ours = [] if expiry_only else unprobed_ours(installed, expect, [c.cert for c in cas])
    if ours:
        again = _check(
            runner.run([Step("list_certs", {"store": MY, "probe": ours})]), _("cannot read the PC's certificates")
        )
        installed = parse_listing(again.result_of("list_certs"), expect.rule)
    report = host_report(
        HostFacts.from_result(response.result_of("host_info")),
        installed,
        cas,
        expect,
        face_auth_path=face_auth_path,
        face_auth_minimum=face_auth_minimum,
        backups=index,
        backup_password=backup_password,
        host=host,
    )
    report["executions"] = runner.executions
    return report


def require_dpapi(state: State) -> None:
    """Refuse, with the fix, a logon that cannot persist user keys (Windows would say 'password is not correct')."""
    if not state.facts.dpapi:
        raise WorkflowError(messages.NO_DPAPI, user=state.facts.user, logon=state.facts.logon_type)
