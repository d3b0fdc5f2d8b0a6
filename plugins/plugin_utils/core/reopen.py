"""Re-open a PKCS#12 file the toolkit wrote itself, without cryptography's RSA key validation.

``pkcs12.load_pkcs12`` (cryptography) validates an RSA private key on every load, primality tests included:
about 70 ms per file, by far the largest cost of checking a PC's backups again at every audit and run. A
backup is fully opened (``load_pkcs12``) when it is written; checking it again later needs what can change:
that today's password opens it (the MAC), that it still holds the certificate its manifest names, and that
its key is that certificate's key and consistent (n = p*q, e*d = 1 mod lcm(p-1, q-1)). This module does
exactly that for the two protections the toolkit writes (PBES2 with PBKDF2 and AES-CBC; PKCS#12 PBE with
3DES) and answers None for anything else, so that the caller falls back to the full load. A ``.p12`` from the
download site is opened the same way for its judgement and installation (``reopen_bundle``): the primality
tests are all that is left out.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
from typing import Any

with contextlib.suppress(ImportError):
    from cryptography import x509
    from cryptography.hazmat.primitives import padding, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
try:
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
except ImportError:  # cryptography before 43 keeps it with the other ciphers
    with contextlib.suppress(ImportError):
        from cryptography.hazmat.primitives.ciphers.algorithms import TripleDES

from . import _der
from .errors import Pkcs12Error
from .pkcs12 import (
    OID_DATA,
    OID_ENCRYPTED_DATA,
    OID_PBES2,
    OID_SHROUDED_KEY_BAG,
    Pkcs12Bundle,
    certificates_of,
    mac_matches,
    pkcs12_kdf,
    read_layout,
)

OID_CERT_BAG = "1.2.840.113549.1.12.10.1.3"
OID_X509_CERT = "1.2.840.113549.1.9.22.1"
OID_FRIENDLY_NAME = "1.2.840.113549.1.9.20"
BMP_STRING = 0x1E
OID_PBKDF2 = "1.2.840.113549.1.5.12"
OID_PBE_SHA1_3DES = "1.2.840.113549.1.12.1.3"
PRF_DIGESTS = {"1.2.840.113549.2.7": "sha1", "1.2.840.113549.2.9": "sha256", "1.2.840.113549.2.11": "sha512"}
AES_KEY_SIZES = {"2.16.840.1.101.3.4.1.2": 16, "2.16.840.1.101.3.4.1.22": 24, "2.16.840.1.101.3.4.1.42": 32}


class Unsupported(Exception):
    """A protection this module does not open: the full load decides."""


def _cbc_decrypt(algorithm: Any, iv: bytes, data: bytes) -> bytes:
    decryptor = Cipher(algorithm, modes.CBC(iv)).decryptor()
    padded = decryptor.update(data) + decryptor.finalize()
    unpadder = padding.PKCS7(algorithm.block_size).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


def _decrypt(identifier: _der.Node, password: str, data: bytes) -> bytes:
    """Decrypt ``data`` protected as the AlgorithmIdentifier says (PBES2/PBKDF2/AES or PKCS#12 3DES)."""
    oid, params = [*identifier.expect(_der.SEQUENCE).children(), None][:2]
    scheme = oid.oid()
    if scheme == OID_PBES2 and params is not None:
        kdf, encryption = params.children()
        kdf_oid, kdf_params = kdf.children()
        if kdf_oid.oid() != OID_PBKDF2:
            raise Unsupported(kdf_oid.oid())
        fields = kdf_params.children()
        salt, iterations = fields[0].expect(_der.OCTET_STRING).content, fields[1].integer()
        prf = next((f.children()[0].oid() for f in fields[2:] if f.tag == _der.SEQUENCE), "1.2.840.113549.2.7")
        cipher_oid, iv = encryption.children()
        size = AES_KEY_SIZES.get(cipher_oid.oid())
        if size is None or prf not in PRF_DIGESTS:
            raise Unsupported(cipher_oid.oid())
        key = hashlib.pbkdf2_hmac(PRF_DIGESTS[prf], password.encode(), salt, iterations, size)
        return _cbc_decrypt(algorithms.AES(key), iv.expect(_der.OCTET_STRING).content, data)
    if scheme == OID_PBE_SHA1_3DES and params is not None:
        salt_node, iterations_node = params.children()[:2]
        secret = password.encode("utf-16-be") + b"\x00\x00"
        salt, iterations = salt_node.expect(_der.OCTET_STRING).content, iterations_node.integer()
        key = pkcs12_kdf("sha1", secret, salt, 1, iterations, 24)
        iv = pkcs12_kdf("sha1", secret, salt, 2, iterations, 8)
        return _cbc_decrypt(TripleDES(key), iv, data)
    raise Unsupported(scheme)


def _safe_contents(auth_safe: bytes, password: str) -> list[_der.Node]:
    """Return the SafeBags of every ContentInfo of the AuthenticatedSafe, decrypting EncryptedData."""
    bags: list[_der.Node] = []
    for info in _der.parse(auth_safe).expect(_der.SEQUENCE).children():
        kind, *body = info.children()
        if kind.oid() == OID_DATA:
            content = body[0].children()[0].expect(_der.OCTET_STRING).content
        elif kind.oid() == OID_ENCRYPTED_DATA:
            encrypted_info = body[0].children()[0].children()[1].children()
            encrypted = encrypted_info[2]
            if encrypted.tag != 0x80:  # [0] IMPLICIT OCTET STRING, primitive (as the toolkit writes it)
                raise Unsupported(f"tag {encrypted.tag:#x}")
            content = _decrypt(encrypted_info[1], password, encrypted.content)
        else:
            raise Unsupported(kind.oid())
        bags += _der.parse(content).expect(_der.SEQUENCE).children()
    return bags


def _consistent(key: Any) -> bool:
    """Check an RSA key's parts against each other (what remains of validation once primality is skipped)."""
    if not isinstance(key, rsa.RSAPrivateKey):
        return True  # EC and other keys are fully checked by load_der_private_key itself
    numbers = key.private_numbers()
    p, q, d, n, e = numbers.p, numbers.q, numbers.d, numbers.public_numbers.n, numbers.public_numbers.e
    return (
        p > 1
        and q > 1
        and p * q == n
        and (e * d) % math.lcm(p - 1, q - 1) == 1
        and numbers.dmp1 == d % (p - 1)
        and numbers.dmq1 == d % (q - 1)
        and (numbers.iqmp * q) % p == 1
    )


def reopen(data: bytes, password: str) -> tuple[Any, list[x509.Certificate]] | None:
    """Return (key, certificates) of a file the toolkit wrote, or None when only the full load can tell.

    None covers everything but a clean success: a MAC that does not match, another protection, a damaged or
    unexpected structure, an inconsistent key. The caller then opens the file with ``load_pkcs12``, which
    gives the precise error.
    """
    opened = _open(data, password)
    return None if opened is None else (opened[1], [certificate for certificate, _name in opened[2]])


def reopen_bundle(data: bytes, password: str) -> Pkcs12Bundle | None:
    """Return what ``load_pkcs12`` returns for ``data`` when this module can open it; None: the full load decides.

    For a ``.p12`` about to be judged and installed: its MAC, its decryption, its key's consistency with itself
    and with the leaf certificate (the certificate of the key, as ``load_pkcs12`` picks it) are checked as
    ``load_pkcs12`` checks them; only the primality tests of the key's primes are not repeated (primes that are
    not prime are made so by the issuer: no damage on the way gives them, since n = p*q is checked and n is the
    certificate's).
    """
    opened = _open(data, password)
    if opened is None:
        return None
    layout, key, named = opened
    certificates = [cert for cert, _name in named]
    leaves = certificates_of(key, certificates)
    if len(leaves) != 1:
        return None  # no certificate of the key (the full load names it), or several: the full load picks one
    leaf = leaves[0]
    return Pkcs12Bundle(
        key=key,
        leaf=leaf,
        chain=[cert for cert in certificates if cert != leaf],
        protection=layout.protection,
        friendly_name=next(name for cert, name in named if cert == leaf),
    )


def _friendly_name(bag: _der.Node) -> str | None:
    """The friendlyName attribute of a SafeBag (a BMPString), if it has one."""
    parts = bag.children()
    if len(parts) < 3 or parts[2].tag != _der.SET:
        return None
    for attribute in parts[2].children():
        attribute_id, values = attribute.children()[:2]
        if attribute_id.oid() == OID_FRIENDLY_NAME:
            for value in values.children():
                if value.tag == BMP_STRING:
                    return value.content.decode("utf-16-be", errors="replace")
    return None


def _open(data: bytes, password: str) -> tuple[Any, Any, list[tuple[x509.Certificate, str | None]]] | None:
    """Return the layout, the key and each certificate with its friendly name, or None when only the full load can
    tell."""
    try:
        layout = read_layout(data)
        if mac_matches(layout, password) is not True:
            return None
        key = None
        certificates: list[tuple[x509.Certificate, str | None]] = []
        for bag in _safe_contents(layout.auth_safe, password):
            bag_id, value = bag.children()[:2]
            if bag_id.oid() == OID_CERT_BAG:
                cert_id, cert_value = value.children()[0].children()[:2]
                if cert_id.oid() == OID_X509_CERT:
                    der = cert_value.children()[0].expect(_der.OCTET_STRING).content
                    certificates.append((x509.load_der_x509_certificate(der), _friendly_name(bag)))
            elif bag_id.oid() == OID_SHROUDED_KEY_BAG:
                if key is not None:
                    return None  # two keys: the full load decides which one it takes
                key = serialization.load_der_private_key(
                    value.children()[0].encode(), password.encode(), unsafe_skip_rsa_key_validation=True
                )
    except (Unsupported, Pkcs12Error, _der.DerError, IndexError, ValueError, TypeError):
        return None
    if key is None or not _consistent(key):
        return None
    if not certificates_of(key, [cert for cert, _name in certificates]):
        return None  # a key without its certificate: the full load refuses it (ONSHI-E019, E015)
    return layout, key, certificates
