"""A model of the Windows parts that matter: users, certificate stores with private keys, files.

Everything here is plain data that round-trips through JSON, so a lab PC's state persists on disk
between runs and tests can read it.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any

from cryptography import x509

from onshi_cert.core.certinfo import DEFAULT_ISSUER_CN, common_name

KSP = "Microsoft Software Key Storage Provider"
CSP = "Microsoft Enhanced RSA and AES Cryptographic Provider"


@dataclass
class StoredCert:
    """A certificate in a store, with its private key (PKCS#8 PEM) when it has one."""

    der: str  # base64
    key_pem: str | None = None
    exportable: bool = True
    usable: bool = True
    provider: str = KSP
    friendly_name: str = ""
    protection: str = "none"  # "ui": strong protection, a prompt on every use (never opened by the agent)
    hangs: bool = False  # opening the key waits for a prompt or a card no remote session can answer

    @property
    def der_bytes(self) -> bytes:
        """Return the DER bytes."""
        return base64.b64decode(self.der)

    @property
    def thumbprint(self) -> str:
        """Return the SHA-1 thumbprint, upper-case as Windows shows it."""
        return hashlib.sha1(self.der_bytes).hexdigest().upper()

    def certificate(self) -> x509.Certificate:
        """Return the parsed certificate."""
        return x509.load_der_x509_certificate(self.der_bytes)


@dataclass
class User:
    """A local Windows account."""

    name: str
    password: str
    admin: bool = False
    remote_management: bool | None = None  # member of Remote Management Users; default: admin
    builtin: bool = False  # the built-in Administrator (RID 500): UAC remote restrictions do not filter it
    profile: bool = True  # has a profile (has logged on once); without one Windows gives a TEMP profile

    @property
    def may_connect(self) -> bool:
        """Return True when WinRM lets this user connect (administrators, Remote Management Users)."""
        return self.admin if self.remote_management is None else self.remote_management

    def network_admin(self, host: WindowsHost) -> bool:
        """Return whether a network logon of this account has administrator rights: UAC remote restrictions
        filter a local administrator's token unless it is the built-in Administrator or the PC sets
        LocalAccountTokenFilterPolicy=1."""
        builtin = self.builtin or self.name.lower() == "administrator"
        return self.admin and (builtin or host.token_filter_policy)

    def may_connect_to(self, host: WindowsHost) -> bool:
        """Return True when WinRM lets this account in over the network (its filtered token counts)."""
        if self.remote_management:
            return True
        return self.network_admin(host) if self.remote_management is None else False


@dataclass
class Session:
    """Who the code runs as: the CurrentUser, how it logged on, and what that allows."""

    user: str
    admin: bool
    logon_type: str  # network, interactive
    dpapi: bool
    become: bool = False


@dataclass
class WindowsHost:
    """One simulated オン資PC."""

    name: str
    address: str
    http_port: int = 5985
    https_port: int = 5986
    https: bool = False
    allow_unencrypted: bool = False
    basic_auth: bool = False  # WSMan:\\localhost\\Service\\Auth\\Basic (Windows' default: off; day 0 keeps it off)
    winrm_enabled: bool = True
    os_build: int = 19045
    language: str = "en-US"  # Windows' display language: its messages are localized (ja-JP on Japanese Windows)
    language_mode: str = "FullLanguage"  # ConstrainedLanguage under AppLocker/WDAC enforcement
    site: str = "default"
    facility_name: str = ""  # 医療機関名: the inventory's onshi_cert_facility_name (not a PC property; kept here)
    operator: str = "OQSComApp"
    facility_codes: list[str] = field(default_factory=list)
    users: dict[str, User] = field(default_factory=dict)
    stores: dict[str, list[StoredCert]] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # path -> base64 content
    readonly_dirs: list[str] = field(default_factory=list)
    clock_offset_seconds: float = 0.0  # the PC's clock minus the true time
    system_free_mb: int = 20480  # free space of the system drive
    token_filter_policy: bool = False  # LocalAccountTokenFilterPolicy=1: local administrators keep full rights remotely
    unreadable_files: list[str] = field(default_factory=list)  # files another process holds open
    unopenable_stores: list[str] = field(default_factory=list)  # stores whose opening is refused (access denied)
    admin_membership_unknown: bool = False  # neither Get-LocalGroupMember nor ADSI can list Administrators
    event_sources: list[str] = field(default_factory=list)  # registered sources of the Application log
    events: list[dict[str, Any]] = field(default_factory=list)  # the Application log's entries, oldest first

    @property
    def ps_version(self) -> str:
        """Return the Windows PowerShell version this build ships."""
        return f"5.1.{self.os_build}.1"

    def user(self, name: str) -> User | None:
        """Return the account called ``name`` (case-insensitive, with or without a ``HOST\\`` prefix)."""
        bare = name.split("\\")[-1].split("@")[0].lower()
        return next((u for u in self.users.values() if u.name.lower() == bare), None)

    def store_key(self, session: Session, store: str) -> str:
        """Return the key of ``store`` as seen by ``session`` (CurrentUser stores are per user)."""
        location, name = store.split("\\")
        return f"CurrentUser[{session.user}]\\{name}" if location == "CurrentUser" else store

    def store(self, session: Session, store: str) -> list[StoredCert]:
        """Return the list behind ``store`` for ``session``, created empty when missing."""
        return self.stores.setdefault(self.store_key(session, store), [])

    def user_store(self, user: str, name: str = "My") -> list[StoredCert]:
        """Return ``user``'s CurrentUser store ``name``."""
        return self.stores.setdefault(f"CurrentUser[{user}]\\{name}", [])

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-friendly state."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WindowsHost:
        """Rebuild a host from ``to_dict`` output."""
        data = dict(data)
        data["users"] = {k: User(**v) for k, v in data.get("users", {}).items()}
        data["stores"] = {k: [StoredCert(**c) for c in v] for k, v in data.get("stores", {}).items()}
        return cls(**data)

    def summary(self, issuer_cn: str = DEFAULT_ISSUER_CN) -> dict[str, Any]:
        """Return a readable view of the stores for tests and ``lab status``."""
        view: dict[str, list[dict[str, Any]]] = {}
        for key, certs in sorted(self.stores.items()):
            rows = []
            for stored in certs:
                cert = stored.certificate()
                rows.append(
                    {
                        "thumbprint": stored.thumbprint,
                        "subject_cn": common_name(cert.subject),
                        "issuer_cn": common_name(cert.issuer),
                        "ours": common_name(cert.issuer) == issuer_cn,
                        "not_after": cert.not_valid_after_utc.isoformat(),
                        "has_key": stored.key_pem is not None,
                        "exportable": stored.exportable,
                    }
                )
            view[key] = rows
        return {"name": self.name, "os_build": self.os_build, "stores": view, "files": sorted(self.files)}
