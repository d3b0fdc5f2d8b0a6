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
