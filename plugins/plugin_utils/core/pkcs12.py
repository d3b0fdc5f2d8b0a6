"""PKCS#12 (.p12/.pfx) files: open them, tell failures apart, see their protection, re-encrypt.

Everything happens in memory on the controller (WINDOWS.md 8: never load a PFX on the PC to read it).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import warnings
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

# Guarded: without cryptography the action plugins stop first and name it (requirements.py).
with contextlib.suppress(ImportError):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

from . import _der, messages
from .certinfo import CertificateInfo, describe_certificate, public_key_id
from .errors import BadPasswordError, CorruptPkcs12Error, NoPrivateKeyError
from .facility import FacilityRule

OID_DATA = "1.2.840.113549.1.7.1"
OID_ENCRYPTED_DATA = "1.2.840.113549.1.7.6"
OID_SHROUDED_KEY_BAG = "1.2.840.113549.1.12.10.1.2"
OID_PBES2 = "1.2.840.113549.1.5.13"
OID_PBMAC1 = "1.2.840.113549.1.5.14"

ALGORITHMS = {
    "1.2.840.113549.1.12.1.1": "RC4-128",
    "1.2.840.113549.1.12.1.2": "RC4-40",
    "1.2.840.113549.1.12.1.3": "3DES",
    "1.2.840.113549.1.12.1.4": "2-key 3DES",
    "1.2.840.113549.1.12.1.5": "RC2-128",
    "1.2.840.113549.1.12.1.6": "RC2-40",
    "2.16.840.1.101.3.4.1.2": "AES-128",
    "2.16.840.1.101.3.4.1.22": "AES-192",
    "2.16.840.1.101.3.4.1.42": "AES-256",
}
DIGESTS = {
    "1.3.14.3.2.26": "sha1",
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
}
# Windows 10 1709 (build 16299) is the first to import PBES2/AES-protected PFX files (WINDOWS.md 3).
AES_MIN_WINDOWS_BUILD = 16299


class Encryption(StrEnum):
    """How a PKCS#12 file the toolkit writes is protected."""

    AES256 = "aes256"
    TRIPLE_DES = "3des"


def encryption_for_build(build: int | None) -> Encryption:
    """Return the strongest encryption a Windows build can import (unknown build: 3DES, the safe one)."""
    return Encryption.AES256 if build and build >= AES_MIN_WINDOWS_BUILD else Encryption.TRIPLE_DES


@dataclass(frozen=True)
class Protection:
    """How a PKCS#12 file is protected, and the lowest Windows build that imports it."""

    certificate_algorithm: str | None
    key_algorithm: str | None
    mac_digest: str | None
    mac_iterations: int | None

    @property
    def uses_aes(self) -> bool:
        """Return True when PBES2/AES protects the certificates or the key."""
        return any((a or "").startswith("AES") for a in (self.certificate_algorithm, self.key_algorithm))

    @property
    def min_windows_build(self) -> int:
        """Return the lowest Windows build that imports this file (0: any supported build)."""
        if self.uses_aes or self.mac_digest not in (None, "sha1"):
            return AES_MIN_WINDOWS_BUILD
        return 0

    @property
    def label(self) -> str:
        """Return a short name: ``aes256``, ``3des`` or the algorithms found."""
        algorithms = {a for a in (self.certificate_algorithm, self.key_algorithm) if a}
        if algorithms == {"AES-256"}:
            return Encryption.AES256.value
        if algorithms <= {"3DES", "RC2-40"} and algorithms:
            return Encryption.TRIPLE_DES.value if "3DES" in algorithms else "rc2-40"
        return "+".join(sorted(algorithms)) or "none"


def _algorithm_of(identifier: _der.Node) -> str:
    """Name the encryption algorithm of an AlgorithmIdentifier, looking inside PBES2."""
    parts = identifier.expect(_der.SEQUENCE).children()
    oid = parts[0].oid()
    if oid == OID_PBES2:
        scheme = parts[1].children()[1].children()[0].oid()
        return ALGORITHMS.get(scheme, scheme)
    return ALGORITHMS.get(oid, oid)


@dataclass
class Layout:
    """The outer structure of a PKCS#12 file, read without a password (what :mod:`.reopen` builds on)."""

    auth_safe: bytes
    protection: Protection
    mac_salt: bytes = b""
    mac_value: bytes = b""
    key_bag: bytes = b""


def read_layout(data: bytes) -> Layout:
    """Parse the outer PKCS#12 structure; raise CorruptPkcs12Error when it is not one."""
    try:
        pfx = _der.parse(data).expect(_der.SEQUENCE).children()
        if pfx[0].integer() != 3:
            raise _der.DerError("PFX version is not 3")
        content_info = pfx[1].expect(_der.SEQUENCE).children()
        if content_info[0].oid() != OID_DATA:
            raise _der.DerError("public-key integrity mode is not supported")
        auth_safe = content_info[1].expect(_der.CONTEXT_0).children()[0].expect(_der.OCTET_STRING).content
        cert_alg = key_alg = None
        key_bag = b""
        for info in _der.parse(auth_safe).expect(_der.SEQUENCE).children():
            kind, *body = info.children()
            if kind.oid() == OID_ENCRYPTED_DATA:
                encrypted = body[0].children()[0].children()[1].children()
                cert_alg = _algorithm_of(encrypted[1])
            elif kind.oid() == OID_DATA:
                bags = body[0].children()[0].expect(_der.OCTET_STRING).content
                for bag in _der.parse(bags).children():
                    bag_id, value = bag.children()[:2]
                    if bag_id.oid() == OID_SHROUDED_KEY_BAG:
                        key_bag = value.children()[0].encode()
                        key_alg = _algorithm_of(value.children()[0].children()[0])
        mac_digest = mac_iterations = None
        salt = mac_value = b""
        if len(pfx) > 2:
            mac = pfx[2].expect(_der.SEQUENCE).children()
            digest_info = mac[0].expect(_der.SEQUENCE).children()
            digest_oid = digest_info[0].children()[0].oid()
            mac_value = digest_info[1].expect(_der.OCTET_STRING).content
            mac_digest = "pbmac1" if digest_oid == OID_PBMAC1 else DIGESTS.get(digest_oid, digest_oid)
            salt = mac[1].expect(_der.OCTET_STRING).content
            mac_iterations = mac[2].integer() if len(mac) > 2 else 1
    except (_der.DerError, IndexError) as exc:
        raise CorruptPkcs12Error(messages.P12_UNREADABLE, detail=exc) from exc
    return Layout(auth_safe, Protection(cert_alg, key_alg, mac_digest, mac_iterations), salt, mac_value, key_bag)


def pkcs12_kdf(digest: str, password: bytes, salt: bytes, purpose: int, iterations: int, size: int) -> bytes:
    """Derive key material as RFC 7292 appendix B.2 does (purpose 3: the MAC key)."""
    # hashlib's own constructor (hashlib.sha256) is about a third faster per round than hashlib.new(name).
    new = getattr(hashlib, digest, None) or functools.partial(hashlib.new, digest)
    block = new().block_size

    def stretch(value: bytes) -> bytes:
        if not value:
            return b""
        length = block * -(-len(value) // block)
        return (value * (length // len(value) + 1))[:length]

    diversifier = bytes([purpose]) * block
    material = bytearray(stretch(salt) + stretch(password))
    output = b""
    while len(output) < size:
        digest_value = new(diversifier + bytes(material)).digest()
        for _round in range(iterations - 1):
            digest_value = new(digest_value).digest()
        output += digest_value
        addend = int.from_bytes(stretch(digest_value)[:block], "big") + 1
        for start in range(0, len(material), block):
            chunk = int.from_bytes(material[start : start + block], "big") + addend
            material[start : start + block] = (chunk % (1 << (8 * block))).to_bytes(block, "big")
    return output[:size]


def mac_matches(layout: Layout, password: str) -> bool | None:
    """Return whether the password reproduces the file's MAC (None: no MAC we can check)."""
    protection = layout.protection
    if protection.mac_digest not in DIGESTS.values() or not protection.mac_iterations:
        return None
    candidates = [password.encode("utf-16-be") + b"\x00\x00"]
    if not password:
        candidates.append(b"")
    for secret in candidates:
        key = pkcs12_kdf(
            protection.mac_digest,
            secret,
            layout.mac_salt,
            3,
            protection.mac_iterations,
            hashlib.new(protection.mac_digest).digest_size,
        )
        expected = hmac.new(key, layout.auth_safe, protection.mac_digest).digest()
        if hmac.compare_digest(expected, layout.mac_value):
            return True
    return False


def _key_bag_opens(layout: Layout, password: str) -> bool:
    """Return True when ``password`` decrypts the shrouded key bag (so a MAC failure is damage)."""
    if not layout.key_bag:
        return False
    try:
        serialization.load_der_private_key(layout.key_bag, password.encode())
    except (ValueError, TypeError):
        return False
    return True


@dataclass
class Pkcs12Bundle:
    """An opened PKCS#12 file: the key, the leaf that matches it, and the other certificates."""

    key: Any = field(repr=False)
    leaf: x509.Certificate
    chain: list[x509.Certificate]
    protection: Protection
    friendly_name: str | None = None
    ber: bool = False  # read only through cryptography's BER fallback (not the DER the standard asks for)

    # Deliberately no "is the issuer genuine" here: certificates inside the same file prove nothing.
    # Trust is a chain to a pinned root (onshi_cert.core.trust), judged by onshi_cert.core.policy.

    def describe(self, rule: FacilityRule | None = None) -> CertificateInfo:
        """Describe the leaf certificate (it has its key, by construction)."""
        info = describe_certificate(self.leaf, rule=rule, has_key=True)
        info.key_usable = True
        info.key_exportable = True
        return info

    def to_bytes(self, password: str, encryption: Encryption, friendly_name: str | None = None) -> bytes:
        """Serialize again with ``password`` and ``encryption`` (3DES for builds before 16299)."""
        return encrypt_pkcs12(
            self.key, self.leaf, self.chain, password, encryption, friendly_name or self.friendly_name
        )


def encrypt_pkcs12(
    key: Any,
    leaf: x509.Certificate | None,
    chain: list[x509.Certificate],
    password: str,
    encryption: Encryption,
    friendly_name: str | None = None,
) -> bytes:
    """Return PKCS#12 bytes protected by AES-256/SHA-256 or by Windows-legacy 3DES/SHA-1."""
    if encryption is Encryption.AES256:
        algorithm, mac = pkcs12.PBES.PBESv2SHA256AndAES256CBC, hashes.SHA256()
    else:
        algorithm, mac = pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC, hashes.SHA1()
    protection = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(2048)
        .key_cert_algorithm(algorithm)
        .hmac_hash(mac)
        .build(password.encode())
    )
    name = friendly_name.encode() if friendly_name else None
    return pkcs12.serialize_key_and_certificates(name, key, leaf, chain or None, protection)


def read_protection(data: bytes) -> Protection:
    """Return how ``data`` is protected without a password; raise CorruptPkcs12Error if unreadable."""
    return read_layout(data).protection


def certificates_of(key: Any, certificates: list[x509.Certificate]) -> list[x509.Certificate]:
    """Return the certificates of ``key`` (the same public key), in their order."""
    wanted = public_key_id(key.public_key())
    return [c for c in certificates if public_key_id(c.public_key()) == wanted]


def load_pkcs12(data: bytes, password: str) -> Pkcs12Bundle:
    """Open PKCS#12 bytes; raise CorruptPkcs12Error, BadPasswordError or NoPrivateKeyError."""
    layout = read_layout(data)
    try:
        # OpenSSL checks the MAC (when the file has one) before it decrypts anything, so a file that opens here
        # matched it; only a failure needs the slower check in Python that tells a wrong password from damage.
        with warnings.catch_warnings(record=True) as said:  # the BER fallback is said once, as the bundle's flag
            warnings.simplefilter("always")
            loaded = pkcs12.load_pkcs12(data, password.encode())
    except ValueError as exc:
        mac_ok = mac_matches(layout, password)
        if mac_ok is False and _key_bag_opens(layout, password):
            raise CorruptPkcs12Error(messages.P12_INTEGRITY) from None
        if mac_ok:
            raise CorruptPkcs12Error(messages.P12_DAMAGED) from exc
        raise BadPasswordError(messages.P12_BAD_PASSWORD) from None
    if loaded.key is None:
        raise NoPrivateKeyError(messages.P12_NO_KEY)
    certs = ([loaded.cert.certificate] if loaded.cert else []) + [c.certificate for c in loaded.additional_certs]
    if not certs:
        raise NoPrivateKeyError(messages.P12_NO_CERT)
    leaves = certificates_of(loaded.key, certs)
    if not leaves:
        raise NoPrivateKeyError(messages.P12_KEY_MISMATCH)
    leaf = leaves[0]
    name = loaded.cert.friendly_name if loaded.cert else None
    return Pkcs12Bundle(
        key=loaded.key,
        leaf=leaf,
        chain=[c for c in certs if c != leaf],
        protection=layout.protection,
        friendly_name=name.decode(errors="replace") if name else None,
        ber=any("falling back to parsing as BER" in str(w.message) for w in said),
    )
