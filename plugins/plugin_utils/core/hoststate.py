"""What the agent reports about a PC, turned into the core's terms (certificates, host facts)."""

from __future__ import annotations

import base64
import contextlib
import re
from dataclasses import dataclass, field
from typing import Any

# Guarded: without cryptography the action plugins stop first and name it (requirements.py).
with contextlib.suppress(ImportError):
    from cryptography import x509

from ..agent.contract import unseal
from .certinfo import CertificateInfo, describe_certificate
from .facility import FacilityRule

FACE_AUTH_PATH = "C:\\Program Files\\OQS-Auth\\Version.info"  # unconfirmed: configurable
FACE_AUTH_MINIMUM = "2.1.0"
FACE_AUTH_PATTERN = r"(\d+)\.(\d+)\.(\d+)"


@dataclass
class InstalledCert:
    """A certificate found in a PC's store, with its key facts and, if exported, its PFX bytes."""

    info: CertificateInfo
    cert: x509.Certificate
    pfx: bytes | None = field(default=None, repr=False)
    export_error: str | None = None
    probed: bool = True  # the agent opened its key (a test signature); False: it was not named

    @property
    def thumbprint(self) -> str:
        """Return the thumbprint."""
        return self.info.thumbprint


def parse_listing(
    result: dict[str, Any], rule: FacilityRule | None = None, export_password: str | None = None
) -> list[InstalledCert]:
    """Turn a ``list_certs`` result into InstalledCert objects; sealed exports are opened with ``export_password``."""
    installed = []
    for row in result.get("certificates", []):
        cert = x509.load_der_x509_certificate(base64.b64decode(row["der"]))
        info = describe_certificate(cert, rule=rule, has_key=bool(row.get("has_private_key")))
        # A key the agent was not asked to open is unknown (None), never assumed to work.
        probed = bool(row.get("key_probed", True))  # an agent before the probe list opened every key
        info.key_usable = bool(row.get("key_usable")) if probed else None
        info.key_exportable = bool(row.get("key_exportable")) if probed else None
        info.provider = row.get("provider")
        info.key_protection = row.get("key_protection")
        info.key_error = row.get("key_error")
        pfx = unseal(row["pfx"], export_password) if row.get("pfx") and export_password else None
        installed.append(InstalledCert(info, cert, pfx, row.get("export_error"), probed))
    return installed


def parse_version(text: str | None, pattern: str = FACE_AUTH_PATTERN) -> tuple[int, ...] | None:
    """Return the first version number in ``text`` (e.g. ``Version=2.1.3``), or None."""
    if not text:
        return None
    match = re.search(pattern, text)
    if not match:
        return None
    groups = match.groups() or (match.group(0),)
    return tuple(int(g) for g in ".".join(groups).split(".") if g.isdigit())


def version_text(version: tuple[int, ...] | None) -> str | None:
    """Return a version tuple as dotted text."""
    return ".".join(str(p) for p in version) if version else None


@dataclass
class HostFacts:
    """The host facts the agent reads (``host_info``)."""

    computer_name: str
    os_build: int
    os_version: str
    ps_version: str
    user: str
    is_admin: bool
    logon_type: str
    dpapi: bool
    files: dict[str, str | None]
    event_source: bool = False  # the onshi-cert source of the Application log exists (the audit trail can be written)
    file_errors: dict[str, str] = field(default_factory=dict)  # a file that is there but cannot be read: why

    @classmethod
    def from_result(cls, result: dict[str, Any]) -> HostFacts:
        """Build from a ``host_info`` result."""
        return cls(
            computer_name=str(result.get("computer_name", "")),
            os_build=int(result.get("os_build") or 0),
            os_version=str(result.get("os_version", "")),
            ps_version=str(result.get("ps_version", "")),
            user=str(result.get("user", "")),
            is_admin=bool(result.get("is_admin")),
            logon_type=str(result.get("logon_type", "unknown")),
            dpapi=bool(result.get("dpapi")),
            files=dict(result.get("files") or {}),
            event_source=bool(result.get("event_source_exists")),
            file_errors={str(k): str(v) for k, v in (result.get("file_errors") or {}).items()},
        )

    @property
    def user_name(self) -> str:
        """Return the account name without its ``HOST\\`` prefix."""
        return self.user.split("\\")[-1]

    def face_auth(
        self, path: str, minimum: str = FACE_AUTH_MINIMUM, pattern: str = FACE_AUTH_PATTERN
    ) -> dict[str, Any]:
        """Return the face-authentication library version read from ``path`` and whether it is enough."""
        version = parse_version(self.files.get(path), pattern)
        wanted = parse_version(minimum)
        return {
            "path": path,
            "found": self.files.get(path) is not None or path in self.file_errors,
            "error": self.file_errors.get(path),  # there, but unreadable (locked, no right): Windows' reason
            "version": version_text(version),
            "minimum": minimum,
            "ok": bool(version and wanted and version >= wanted),
        }

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-friendly facts (file contents left out)."""
        return {
            "computer_name": self.computer_name,
            "os_build": self.os_build,
            "os_version": self.os_version,
            "ps_version": self.ps_version,
            "user": self.user,
            "is_admin": self.is_admin,
            "logon_type": self.logon_type,
            "dpapi": self.dpapi,
        }
