"""The test certificate factory: a CA like the real one, leaf certificates, .p12 files, broken ones.

Public on purpose: the unit tests, the lab and engineers rehearsing a rollout all use it. Keys are
generated at run time; none is ever written to the repository.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from onshi_cert.core.certinfo import DEFAULT_ISSUER_CN, utcnow
from onshi_cert.core.pkcs12 import Encryption, encrypt_pkcs12
from onshi_cert.core.renewal import renewed_not_after

LOOKALIKE_ISSUER_CN = "Online Billing NW Common Root CA2"


def new_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    """Generate a fresh RSA key."""
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


@dataclass
class Issued:
    """A leaf certificate, its key and the chain above it (intermediate first, root last)."""

    cert: x509.Certificate
    key: Any = field(repr=False)
    chain: list[x509.Certificate]

    def p12(
        self,
        password: str = "1234",
        encryption: Encryption | str = Encryption.AES256,
        *,
        include_key: bool = True,
        include_chain: bool = True,
        friendly_name: str | None = None,
    ) -> bytes:
        """Return the certificate as a .p12, as the download site would (AES by default)."""
        return encrypt_pkcs12(
            self.key if include_key else None,
            self.cert,
            self.chain if include_chain else [],
            password,
            Encryption(encryption),
            friendly_name,
        )


class CertificateFactory:
    """Issues certificates from a CA named like the real one ("Online Billing NW Common Root CA").

    ``key_pool`` > 0 reuses that many leaf keys round-robin, which makes big simulated fleets fast;
    0 generates a fresh key for every leaf. ``root_key`` and ``root`` continue an existing CA.
    """

    def __init__(
        self,
        issuer_cn: str = DEFAULT_ISSUER_CN,
        *,
        intermediate: bool = False,
        key_bits: int = 2048,
        key_pool: int = 0,
        now: dt.datetime | None = None,
        root_key: Any = None,
        root: x509.Certificate | None = None,
    ) -> None:
        self.now = now or utcnow()
        self.key_bits = key_bits
        self._pool = [new_key(key_bits) for _ in range(key_pool)]
        self._pool_cycle = itertools.cycle(self._pool) if self._pool else None
        self._serials = itertools.count(0x1000)
        self.root_key = root_key or new_key(key_bits)
        root_name = (
            root.subject
            if root is not None
            else x509.Name(
                [
                    x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
                    x509.NameAttribute(NameOID.COMMON_NAME, issuer_cn),
                ]
            )
        )
        self.root = root or self._sign(
            root_name,
            root_name,
            self.root_key.public_key(),
            self.root_key,
            self.now - dt.timedelta(days=3650),
            self.now + dt.timedelta(days=7300),
            ca=True,
        )
        self.issuer_cert, self.issuer_key = self.root, self.root_key
        self.chain = [self.root]
        if intermediate:
            key = new_key(key_bits)
            name = x509.Name(
                [
                    x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
                    x509.NameAttribute(NameOID.COMMON_NAME, f"{issuer_cn} - Sub CA"),
                ]
            )
            cert = self._sign(
                name,
                root_name,
                key.public_key(),
                self.root_key,
                self.now - dt.timedelta(days=3000),
                self.now + dt.timedelta(days=6000),
                ca=True,
            )
            self.issuer_cert, self.issuer_key = cert, key
            self.chain = [cert, self.root]

    def _leaf_key(self) -> rsa.RSAPrivateKey:
        return next(self._pool_cycle) if self._pool_cycle else new_key(self.key_bits)

    def _sign(
        self,
        subject: x509.Name,
        issuer: x509.Name,
        public_key: Any,
        signer: Any,
        not_before: dt.datetime,
        not_after: dt.datetime,
        *,
        ca: bool = False,
        client_auth: bool = True,
    ) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(next(self._serials) << 64 | x509.random_serial_number() >> 100)
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            usages = [ExtendedKeyUsageOID.CLIENT_AUTH] if client_auth else [ExtendedKeyUsageOID.EMAIL_PROTECTION]
            builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        return builder.sign(signer, hashes.SHA256())

    def leaf(
        self,
        facility_code: str = "3410712362",
        *,
        terminal: str = "01",
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        days_left: float | None = None,
        client_auth: bool = True,
        key: Any = None,
        cn: str | None = None,
        ou: str | None = None,
    ) -> Issued:
        """Issue a client certificate for ``facility_code``.

        By default it was issued today and runs 3 years 3 months; ``days_left`` sets the expiry
        relative to the factory's ``now`` (negative: already expired). ``cn`` replaces the common name
        (``<code>-<terminal>``) and ``ou`` adds an organisational unit, to build hostile subjects.
        """
        if days_left is not None:
            not_after = self.now + dt.timedelta(days=days_left)
        if not_before is None:
            not_before = (
                self.now - dt.timedelta(days=30)
                if not_after is None
                else min(self.now, not_after) - dt.timedelta(days=1150)
            )
        not_after = not_after or renewed_not_after(not_before)
        key = key or self._leaf_key()
        attributes = [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Online Eligibility Confirmation"),
        ]
        if ou is not None:
            attributes.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou))
        common = cn if cn is not None else f"{facility_code}-{terminal}"
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common))
        subject = x509.Name(attributes)
        cert = self._sign(
            subject,
            self.issuer_cert.subject,
            key.public_key(),
            self.issuer_key,
            not_before,
            not_after,
            client_auth=client_auth,
        )
        return Issued(cert, key, list(self.chain))

    def mismatched_p12(self, issued: Issued, password: str = "1234") -> bytes:
        """Return a .p12 whose private key belongs to no certificate inside it."""
        return encrypt_pkcs12(new_key(self.key_bits), None, [issued.cert, *issued.chain], password, Encryption.AES256)


def corrupt(data: bytes) -> bytes:
    """Return ``data`` damaged in the middle (a truncated or bit-rotted download)."""
    middle = len(data) // 2
    return data[:middle] + bytes(b ^ 0x5A for b in data[middle : middle + 16]) + data[middle + 16 :]
