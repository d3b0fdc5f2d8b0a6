"""A certificate as the policy sees it: what a host expects, and what is true of one certificate wherever it is (on
the PC, in a ``.p12``, in a backup)."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

# Guarded: without cryptography the action plugins stop first and name it (requirements.py).
with contextlib.suppress(ImportError):
    from cryptography import x509

from ..i18n import say as _
from .certinfo import DEFAULT_ISSUER_CN, CertificateInfo
from .facility import FacilityRule
from .renewal import RENEWAL_WINDOW_DAYS
from .trust import ChainResult, TrustAnchors


@dataclass(frozen=True)
class Expectations:
    """What a host expects: its facility codes, the pinned roots, where the code is read, what may go."""

    facility_codes: tuple[str, ...] = ()
    anchors: TrustAnchors = field(default_factory=TrustAnchors)
    rule: FacilityRule = field(default_factory=FacilityRule)
    retire_codes: tuple[str, ...] = ()  # old codes whose valid certificates may go once every expected code is held
    warn_days: int = RENEWAL_WINDOW_DAYS
    genuine_name: str = DEFAULT_ISSUER_CN  # only to name look-alikes in messages; never a reason to trust

    @property
    def known_codes(self) -> tuple[str, ...]:
        """Return the expected and the retired codes: whose backups a task of this PC looks at."""
        return self.facility_codes + self.retire_codes


@dataclass
class Judged:
    """One certificate as the policy sees it: what is true of it and where it is."""

    info: CertificateInfo
    cert: x509.Certificate = field(repr=False)
    source: str  # "pc", "p12" or "backup"
    origin: str  # the store, or the file
    chain: ChainResult
    key_ok: bool  # a private key is present and opens (a file's key always does)
    exportable: bool | None = None  # None: unknown (not read)
    backed_up: bool | None = None  # a verified backup with the current password exists (None: not checked)
    payload: Any = field(default=None, repr=False)  # what the caller needs to import it (a bundle)

    @property
    def thumbprint(self) -> str:
        """Return the thumbprint."""
        return self.info.thumbprint

    @property
    def code(self) -> str | None:
        """Return the certificate's one facility code, or None when it has none usable."""
        return self.info.facility_codes[0] if self.info.facility_codes and not self.info.code_error else None

    @property
    def ours(self) -> bool:
        """Return True when the certificate chains to a pinned root and is not itself a CA."""
        return self.chain.trusted and not self.info.is_ca

    def valid_at(self, now: dt.datetime) -> bool:
        """Return True within the validity period."""
        return self.info.not_before <= now < self.info.not_after

    def usable(self, now: dt.datetime) -> bool:
        """Return True when this certificate can serve its code now (rule 1's 'valid')."""
        return bool(self.ours and self.code and self.info.client_auth and self.valid_at(now) and self.key_ok)

    def days_left(self, now: dt.datetime) -> int:
        """Return whole days until expiry."""
        return self.info.days_remaining(now)


def judge(
    info: CertificateInfo,
    cert: x509.Certificate,
    expect: Expectations,
    *,
    source: str,
    origin: str,
    pool: Iterable[x509.Certificate] = (),
    key_ok: bool,
    exportable: bool | None = None,
    backed_up: bool | None = None,
    payload: Any = None,
) -> Judged:
    """Return ``cert`` judged: its chain to a pinned root through ``pool`` (CA certificates seen anywhere)."""
    chain = expect.anchors.verify(cert, pool)
    info.trusted = chain.trusted
    info.trust_reason = chain.reason
    return Judged(info, cert, source, origin, chain, key_ok, exportable, backed_up, payload)


def unusable(item: Judged, now: dt.datetime) -> str:
    """Say why ``item`` cannot serve its code now (expired, not yet valid, no usable key, not for clients)."""
    if now >= item.info.not_after:
        return _("expired on {date}", date=f"{item.info.not_after:%Y-%m-%d}")
    if now < item.info.not_before:
        return _("valid only from {when} UTC", when=f"{item.info.not_before:%Y-%m-%d %H:%M}")
    if not item.key_ok:
        if item.info.key_protection == "hardware":
            return _(
                "its private key is on a smart card or other hardware ({provider}), which onshi-cert never uses",
                provider=item.info.provider or "?",
            )
        if item.info.key_protection == "ui":
            return _("its private key asks for a password or a confirmation on every use (strong protection)")
        return _("its private key is missing or cannot be opened")
    if not item.info.client_auth:
        return _("the certificate is not for client authentication")
    return _("not usable")
