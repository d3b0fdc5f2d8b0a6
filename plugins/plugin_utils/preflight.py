"""The pre-flight checks of one PC (``onshi_cert_preflight``): what each finding means, and its fix.

The action plugin gathers the facts (a TCP connection, two ``host_info`` answers); everything judged here is plain
Python, so the command line and the tests judge the same way. No Ansible imports here.
"""

from __future__ import annotations

import datetime as dt
import socket
import ssl
from typing import Any

from . import listener
from .core import messages
from .core.errors import Message, OnshiCertError
from .core.hoststate import HostFacts
from .i18n import say as _

OLDEST_BUILD = 14393  # Windows 10 1607 / Server 2016
AES_BUILD = 16299  # below it an AES-protected PFX does not import (onshi-cert sends 3DES there)


class Checks:
    """The checks of one PC, in order, each ok or with its error."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def ok(self, name: str, detail: str = "") -> None:
        self.rows.append({"check": name, "ok": True, "detail": detail})

    def fail(self, name: str, message: Message, **values: Any) -> None:
        error = OnshiCertError(message, **values)
        self.rows.append({"check": name, "ok": False, **error.to_dict(), "detail": error.describe()})

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [row for row in self.rows if not row["ok"]]


def network(
    checks: Checks,
    address: str,
    port: int,
    *,
    https: bool,
    validate: bool,
    cafile: str | None,
    fingerprint: str | None = None,
    host: str = "",
) -> bool:
    """DNS, the TCP port, the listener pinned at day 0 and (HTTPS with validation) the certificate, from the
    controller; False stops here."""
    try:
        socket.getaddrinfo(address, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        checks.fail("dns", messages.PRE_DNS, host=address, detail=exc)
        return False
    checks.ok("dns", address)
    try:
        socket.create_connection((address, port), timeout=10).close()
    except OSError as exc:
        checks.fail("port", messages.PRE_PORT, host=address, port=port, detail=exc)
        return False
    checks.ok("port", f"{address}:{port}")
    if fingerprint:
        try:
            checks.ok("listener", listener.check(host or address, address, port, https=https, expected=fingerprint))
        except OnshiCertError as exc:
            checks.rows.append({"check": "listener", "ok": False, **exc.to_dict(), "detail": exc.describe()})
            return False
    elif https:
        checks.fail("listener", messages.LISTENER_NOT_PINNED, host=host or address)
    else:
        checks.ok("listener", _("HTTP: day 0 not done (WinRM over HTTPS, open only to the maintenance addresses)"))
        return True
    if https and validate and not fingerprint:
        context = ssl.create_default_context(cafile=cafile)
        try:
            with (
                socket.create_connection((address, port), timeout=10) as raw,
                context.wrap_socket(raw, server_hostname=address),
            ):
                pass
        except (OSError, ssl.SSLError) as exc:
            checks.fail("tls", messages.PRE_TLS, detail=exc)
            return False
        checks.ok("tls", address)
    return True


def rights(checks: Checks, raw: dict[str, Any]) -> None:
    """The connecting user's rights: administrator, filtered by UAC remote restrictions, or none."""
    facts = HostFacts.from_result(raw)
    if facts.is_admin:
        checks.ok("admin", facts.user)
        winrm_service(checks, raw)
    elif raw.get("admin_member") is None:
        checks.fail("admin", messages.PRE_ADMIN_UNKNOWN, user=facts.user)
    elif raw.get("admin_member") and not raw.get("token_filter_policy"):
        checks.fail("admin", messages.PRE_ADMIN_FILTERED, user=facts.user)
    else:
        checks.fail("admin", messages.PRE_NOT_ADMIN, user=facts.user)


def winrm_service(checks: Checks, raw: dict[str, Any]) -> None:
    """What day 0 turns off on the PC's WinRM service (read by an administrator): Basic and unencrypted traffic."""
    service = raw.get("winrm")
    if not isinstance(service, dict):
        return  # an agent or a session that cannot read WSMan:\localhost: nothing to say
    if service.get("basic"):
        checks.fail("winrm_basic", messages.PRE_WINRM_BASIC)
    else:
        checks.ok("winrm_basic", _("Basic authentication is off"))
    if service.get("allow_unencrypted"):
        checks.fail("winrm_unencrypted", messages.PRE_WINRM_UNENCRYPTED)
    else:
        checks.ok("winrm_unencrypted", _("unencrypted traffic is refused"))


def operator(checks: Checks, raw: dict[str, Any]) -> None:
    """The operating user's session: DPAPI (user keys persist) and a real profile."""
    facts = HostFacts.from_result(raw)
    checks.ok("become", facts.user)
    if facts.dpapi:
        checks.ok("dpapi", facts.logon_type)
    else:
        checks.fail("dpapi", messages.NO_DPAPI, user=facts.user, logon=facts.logon_type)
    if raw.get("profile"):
        checks.ok("profile", facts.user)
    else:
        checks.fail("profile", messages.PRE_PROFILE, user=facts.user)


def machine(checks: Checks, args: dict[str, Any], info: dict[str, Any], *, face_auth: bool) -> None:
    """The clock, the disk, the Windows build and (as the operating user) the face-authentication library."""
    facts = HostFacts.from_result(info)
    try:
        skew = abs((dt.datetime.fromisoformat(str(info["utc_now"])) - dt.datetime.now(dt.UTC)).total_seconds())
    except (KeyError, ValueError, TypeError):
        skew = None
    if skew is not None and skew > args["max_clock_skew"]:
        checks.fail("clock", messages.PRE_CLOCK, seconds=int(skew))
    else:
        checks.ok("clock", "" if skew is None else f"{int(skew)} s")
    free = info.get("system_free_mb")
    if isinstance(free, int) and free < args["min_free_mb"]:
        checks.fail("disk", messages.PRE_DISK, free=free, needed=args["min_free_mb"])
    else:
        checks.ok("disk", f"{free} MB")
    if facts.os_build and facts.os_build < OLDEST_BUILD:
        checks.fail("windows", messages.PRE_OS, build=facts.os_build)
    else:
        note = _("AES-protected .p12 files do not import below build 16299: onshi-cert re-encrypts them (3DES)")
        checks.ok("windows", f"{facts.os_build}" + (f" ({note})" if facts.os_build < AES_BUILD else ""))
    if face_auth:
        face = facts.face_auth(args["face_auth_path"], args["face_auth_minimum"])
        if face["ok"]:
            checks.ok("face_auth", str(face["version"]))
        else:
            found = face["version"] or (_("not found") if not face["found"] else _("unreadable"))
            if face.get("error"):
                found = f"{found} ({face['error']})"
            checks.fail(
                "face_auth",
                messages.FACE_AUTH_TOO_OLD,
                version=found,
                path=args["face_auth_path"],
                minimum=args["face_auth_minimum"],
            )
