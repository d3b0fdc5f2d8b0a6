"""Trust by signature, never by name: roots pinned by fingerprint, chains checked with ``cryptography``.

A certificate is genuine only when a signature chain leads from it to a pinned root. The pins are
SHA-256 digests, either of a root certificate (its fingerprint, as Windows and browsers show it) or
of its public key (SubjectPublicKeyInfo, which survives a re-issued root with the same key). Any
certificate may serve as an intermediate while a chain is built; only a pinned one ends it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

# Guarded: without cryptography the action plugins stop first and name it (requirements.py).
with contextlib.suppress(ImportError):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.verification import (
        Criticality,
        ExtensionPolicy,
        PolicyBuilder,
        Store,
        VerificationError,
    )

from ..i18n import say as _
from . import messages
from .errors import OnshiCertError

PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


class TrustError(OnshiCertError):
    """The configured trust anchors cannot be read."""


def fingerprint(cert: x509.Certificate) -> str:
    """Return the certificate's SHA-256 fingerprint: 64 upper-case hex digits."""
    return cert.fingerprint(hashes.SHA256()).hex().upper()


def spki_pin(cert: x509.Certificate) -> str:
    """Return the SHA-256 of the certificate's public key (SubjectPublicKeyInfo), upper-case hex."""
    der = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest().upper()


def normalize_pin(value: str) -> str:
    """Return a pin as 64 upper-case hex digits; accept ``AA:BB:..``, spaces and a ``sha256:`` prefix."""
    text = str(value).strip()
    if text.lower().startswith(("sha256:", "sha256/")):
        text = text[7:]
    digits = re.sub(r"[\s:]", "", text).upper()
    if not re.fullmatch(r"[0-9A-F]{64}", digits):
        raise TrustError(messages.TRUST_NOT_PIN, value=value)
    return digits


def load_certificates(data: bytes) -> list[x509.Certificate]:
    """Return the certificates of PEM text (one or more) or of one DER certificate."""
    blocks = PEM_CERT.findall(data)
    try:
        if blocks:
            return [x509.load_pem_x509_certificate(block) for block in blocks]
        return [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise TrustError(messages.TRUST_NOT_CERT, detail=exc) from exc


def is_ca(cert: x509.Certificate) -> bool:
    """Return True when the certificate's basic constraints make it a CA."""
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def is_self_signed(cert: x509.Certificate) -> bool:
    """Return True when the certificate names itself as issuer and its own key signed it."""
    if cert.subject != cert.issuer:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except Exception:
        return False
    return True


@dataclass(frozen=True)
class ChainResult:
    """Whether a certificate chains to a pinned root; the chain (leaf first) or the reason it does not."""

    trusted: bool
    chain: tuple[x509.Certificate, ...] = ()
    reason: str = ""
    root_missing: bool = False  # the pinned root itself was not at hand (the PC or file lacks it)

    @property
    def root(self) -> x509.Certificate | None:
        """Return the pinned root that ends the chain."""
        return self.chain[-1] if self.trusted else None

    @property
    def intermediates(self) -> tuple[x509.Certificate, ...]:
        """Return the certificates between the leaf and the root."""
        return self.chain[1:-1] if self.trusted else ()

    @property
    def ca_certificates(self) -> list[x509.Certificate]:
        """Return the verified CA certificates above the leaf: intermediates, then the pinned root."""
        return list(self.chain[1:]) if self.trusted else []


@dataclass(frozen=True)
class TrustAnchors:
    """The pinned roots: digests from the inventory, and the root certificates known so far."""

    pins: frozenset[str] = frozenset()
    certificates: tuple[x509.Certificate, ...] = field(default=(), repr=False)

    @classmethod
    def from_config(cls, values: Iterable[str] | str | None) -> TrustAnchors:
        """Read pins: each a SHA-256 fingerprint or public-key digest, or PEM text of the root itself."""
        if values is None:
            return cls()
        if isinstance(values, str):
            values = [values]
        pins: set[str] = set()
        certs: list[x509.Certificate] = []
        for value in values:
            if not isinstance(value, str):
                raise TrustError(messages.TRUST_NOT_STRING, value=value)
            if "-----BEGIN CERTIFICATE-----" in value:
                for cert in load_certificates(value.encode()):
                    certs.append(cert)
                    pins.add(fingerprint(cert))
            elif value.strip():
                pins.add(normalize_pin(value))
        return cls(frozenset(pins), tuple(certs))

    def __bool__(self) -> bool:
        return bool(self.pins)

    def is_pinned(self, cert: x509.Certificate) -> bool:
        """Return True when ``cert`` is a pinned root (by fingerprint or public key), self-signed and a CA."""
        return (fingerprint(cert) in self.pins or spki_pin(cert) in self.pins) and is_ca(cert) and is_self_signed(cert)

    def verify(
        self, leaf: x509.Certificate, candidates: Iterable[x509.Certificate], at: dt.datetime | None = None
    ) -> ChainResult:
        """Return whether ``leaf`` chains to a pinned root through any of ``candidates`` (checked at ``at``).

        ``at`` defaults to a moment inside the leaf's validity, so that an expired certificate of
        ours is still recognised as ours (and can be removed as expired, never kept as foreign).
        """
        if not self.pins:
            return ChainResult(False, reason=_("no trust anchor is configured"))
        pool = {fingerprint(c): c for c in (*self.certificates, *candidates)}
        roots = [c for c in pool.values() if self.is_pinned(c)]
        if self.is_pinned(leaf):
            return ChainResult(True, (leaf,))
        if not roots:
            return ChainResult(
                False, reason=_("the pinned root CA certificate is not available to check the chain"), root_missing=True
            )
        others = [c for c in pool.values() if not self.is_pinned(c) and c != leaf]
        when = at or _inside_validity(leaf)
        ca_policy = ExtensionPolicy.permit_all().require_present(x509.BasicConstraints, Criticality.AGNOSTIC, None)
        verifier = (
            PolicyBuilder()
            .store(Store(roots))
            .time(when)
            .extension_policies(ca_policy=ca_policy, ee_policy=ExtensionPolicy.permit_all())
            .build_client_verifier()
        )
        try:
            verified = verifier.verify(leaf, others)
        except VerificationError as exc:
            return ChainResult(False, reason=_("no signature chain to a pinned root ({detail})", detail=exc))
        return ChainResult(True, tuple(verified.chain))


def _inside_validity(cert: x509.Certificate) -> dt.datetime:
    """Return the middle of the certificate's validity period (the chain is judged there)."""
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    return start + (end - start) / 2


__all__ = [
    "ChainResult",
    "TrustAnchors",
    "TrustError",
    "fingerprint",
    "is_ca",
    "is_self_signed",
    "load_certificates",
    "normalize_pin",
    "spki_pin",
]
