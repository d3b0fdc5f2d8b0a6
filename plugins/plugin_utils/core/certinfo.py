"""What the toolkit knows about one X.509 certificate, whether read from a .p12 or from a PC."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any

# Guarded: without cryptography the action plugins stop first and name it (requirements.py).
with contextlib.suppress(ImportError):
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .facility import FacilityRule

DEFAULT_ISSUER_CN = "Online Billing NW Common Root CA"


def utcnow() -> dt.datetime:
    """Return the current time, timezone-aware in UTC."""
    return dt.datetime.now(dt.UTC)


def thumbprint(cert: x509.Certificate) -> str:
    """Return the SHA-1 thumbprint as Windows shows it: 40 upper-case hex digits."""
    return cert.fingerprint(hashes.SHA1()).hex().upper()


def common_name(name: x509.Name) -> str:
    """Return the first CN of ``name``, or its RFC 4514 text when it has none."""
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else name.rfc4514_string()


def subject_attributes(name: x509.Name) -> list[tuple[tuple[str, ...], str]]:
    """Return each attribute once as (its names: short name, long name, dotted OID; its value)."""
    pairs = []
    for attribute in name:
        oid = attribute.oid
        names = {oid.dotted_string, getattr(oid, "_name", "") or oid.dotted_string}
        short = x509.name._NAMEOID_TO_NAME.get(oid)
        if short:
            names.add(short)
        pairs.append((tuple(sorted(names)), str(attribute.value)))
    return pairs


def key_description(public_key: Any) -> tuple[str, int]:
    """Return the key type (RSA, EC, ...) and its size in bits."""
    if isinstance(public_key, rsa.RSAPublicKey):
        return "RSA", public_key.key_size
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return "EC", public_key.curve.key_size
    if isinstance(public_key, dsa.DSAPublicKey):
        return "DSA", public_key.key_size
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256
    if isinstance(public_key, ed448.Ed448PublicKey):
        return "Ed448", 456
    return type(public_key).__name__, 0


def public_key_id(public_key: Any) -> str:
    """Return a stable identifier of a public key (SHA-256 of its SubjectPublicKeyInfo)."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def has_client_auth(cert: x509.Certificate) -> bool:
    """Return True when the certificate may authenticate a TLS client (no EKU means any use)."""
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return True
    return ExtendedKeyUsageOID.CLIENT_AUTH in eku or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in eku


@dataclass
class CertificateInfo:
    """A certificate described for verdicts, plans and reports (all values JSON-friendly)."""

    thumbprint: str
    subject: str
    subject_cn: str
    issuer: str
    issuer_cn: str
    serial: str
    not_before: dt.datetime
    not_after: dt.datetime
    facility_codes: list[str]  # the one code of the rule's field, or empty (see code_error)
    client_auth: bool
    key_type: str
    key_size: int
    self_signed: bool
    has_key: bool | None = None
    key_usable: bool | None = None
    key_exportable: bool | None = None
    provider: str | None = None
    key_protection: str | None = None  # "none", "ui" (a prompt on every use) or "hardware" (a card, a TPM)
    key_error: str | None = None  # why the key was not opened or did not sign (the agent's or Windows' words)
    warnings: list[str] = field(default_factory=list)
    code_error: str | None = None  # why the subject has no usable facility code (ambiguous, bad check digit)
    is_ca: bool = False
    trusted: bool | None = None  # chains to a pinned root (None: not judged yet)
    trust_reason: str = ""

    @property
    def facility_code(self) -> str | None:
        """Return the first facility code found in the subject, if any."""
        return self.facility_codes[0] if self.facility_codes else None

    def days_remaining(self, now: dt.datetime | None = None) -> int:
        """Return whole days until expiry (negative once expired)."""
        return int((self.not_after - (now or utcnow())).total_seconds() // 86400)

    def to_dict(self, now: dt.datetime | None = None) -> dict[str, Any]:
        """Return a JSON-friendly dict, with ``days_remaining`` computed at ``now``."""
        data = asdict(self)
        data["not_before"] = self.not_before.isoformat()
        data["not_after"] = self.not_after.isoformat()
        data["facility_code"] = self.facility_code
        data["days_remaining"] = self.days_remaining(now)
        return data


def describe_certificate(
    cert: x509.Certificate,
    *,
    rule: FacilityRule | None = None,
    has_key: bool | None = None,
) -> CertificateInfo:
    """Describe ``cert``; the facility code is read with ``rule`` (default: the subject's CN)."""
    rule = rule or FacilityRule()
    reading = rule.read(subject_attributes(cert.subject))
    key_type, key_size = key_description(cert.public_key())
    return CertificateInfo(
        thumbprint=thumbprint(cert),
        subject=cert.subject.rfc4514_string(),
        subject_cn=common_name(cert.subject),
        issuer=cert.issuer.rfc4514_string(),
        issuer_cn=common_name(cert.issuer),
        serial=format(cert.serial_number, "X"),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        facility_codes=[reading.code.code] if reading.code else [],
        client_auth=has_client_auth(cert),
        key_type=key_type,
        key_size=key_size,
        self_signed=cert.subject == cert.issuer,
        has_key=has_key,
        warnings=list(reading.code.warnings) if reading.code else [],
        code_error=reading.error if cert_is_leaf(cert) else None,
        is_ca=not cert_is_leaf(cert),
    )


def cert_is_leaf(cert: x509.Certificate) -> bool:
    """Return True unless the certificate's basic constraints make it a CA."""
    try:
        return not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return True


def is_issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Return True when ``issuer``'s name and key signed ``cert``."""
    try:
        cert.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True
