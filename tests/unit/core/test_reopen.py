"""Re-checking a backup without RSA primality tests answers exactly as the full load does, for every file."""

from __future__ import annotations

import base64
import shutil

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from onshi_cert.core import backup
from onshi_cert.core.certinfo import thumbprint
from onshi_cert.core.errors import Pkcs12Error
from onshi_cert.core.install import open_p12
from onshi_cert.core.pkcs12 import Encryption, encrypt_pkcs12, load_pkcs12
from onshi_cert.core.reopen import reopen, reopen_bundle
from onshi_cert_tools.factory import CertificateFactory, corrupt
from onshi_cert_tools.lab.agent_model import _windows_pkcs12
from onshi_cert_tools.lab.windows import StoredCert

PASSWORD = "Lab-Backup-2026!"


@pytest.fixture(scope="module")
def issued(factory_with_intermediate: CertificateFactory):
    return factory_with_intermediate.leaf("3410712362")


def full(data: bytes, password: str, expected: str) -> bool:
    try:
        backup.verify(data, password, expected)
    except backup.BackupError:
        return False
    return True


@pytest.mark.parametrize("encryption", list(Encryption))
def test_a_toolkit_backup_reopens_on_the_fast_path(issued, encryption: Encryption) -> None:
    """AES-256 and 3DES backups (what the toolkit writes) open without the full load: same key, same chain."""
    data = encrypt_pkcs12(issued.key, issued.cert, issued.chain, PASSWORD, encryption)
    opened = reopen(data, PASSWORD)
    assert opened is not None
    key, certificates = opened
    assert key.private_numbers() == issued.key.private_numbers()
    assert {c.fingerprint(c.signature_hash_algorithm) for c in certificates} >= {
        issued.cert.fingerprint(issued.cert.signature_hash_algorithm)
    }
    assert len(certificates) == 1 + len(issued.chain)
    assert backup.reverify(data, PASSWORD, thumbprint(issued.cert)) is True


@pytest.mark.parametrize("encryption", list(Encryption))
@pytest.mark.parametrize("case", ["right", "wrong password", "other certificate", "damaged", "truncated"])
def test_the_fast_check_agrees_with_the_full_one(issued, factory: CertificateFactory, encryption, case) -> None:
    """Whatever the file, reverify says what verify says (the fast path only ever saves time)."""
    data = encrypt_pkcs12(issued.key, issued.cert, issued.chain, PASSWORD, encryption)
    password, expected = PASSWORD, thumbprint(issued.cert)
    if case == "wrong password":
        password = "Lab-Backup-2025!"
    elif case == "other certificate":  # a PC's backup swapped for another certificate's, under the same name
        other = factory.leaf("0110113719")
        data = encrypt_pkcs12(other.key, other.cert, [], PASSWORD, encryption)
    elif case == "damaged":
        data = corrupt(data)
    elif case == "truncated":
        data = data[: len(data) // 2]
    assert backup.reverify(data, password, expected) is full(data, password, expected) is (case == "right")


def test_a_key_of_another_certificate_is_refused(factory: CertificateFactory) -> None:
    issued = factory.leaf("3410712362")
    data = factory.mismatched_p12(issued, PASSWORD)
    assert backup.reverify(data, PASSWORD, thumbprint(issued.cert)) is False
    assert full(data, PASSWORD, thumbprint(issued.cert)) is False


def test_an_inconsistent_rsa_key_is_never_taken_on_the_fast_path(issued) -> None:
    """A key whose parts disagree (a wrong CRT exponent) under a valid MAC: the fast path declines and the full
    load, which validates the key, refuses it."""
    numbers = issued.key.private_numbers()
    broken = rsa.RSAPrivateNumbers(
        p=numbers.p,
        q=numbers.q,
        d=numbers.d,
        dmp1=numbers.dmp1 ^ 2,
        dmq1=numbers.dmq1,
        iqmp=numbers.iqmp,
        public_numbers=numbers.public_numbers,
    ).private_key(unsafe_skip_rsa_key_validation=True)
    data = pkcs12.serialize_key_and_certificates(
        None, broken, issued.cert, None, serialization.BestAvailableEncryption(PASSWORD.encode())
    )
    assert reopen(data, PASSWORD) is None
    assert backup.reverify(data, PASSWORD, thumbprint(issued.cert)) is False


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to write RC2-40")
def test_another_protection_is_left_to_the_full_load(issued) -> None:
    """A Windows-style export (RC2-40 certificates, as the lab's PCs export) is not opened on the fast path,
    yet verifies in full."""
    key_pem = issued.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    der = base64.b64encode(issued.cert.public_bytes(serialization.Encoding.DER)).decode()
    data = _windows_pkcs12(StoredCert(der=der, key_pem=key_pem), PASSWORD)
    assert data, "openssl could not write RC2-40"
    assert reopen(data, PASSWORD) is None
    assert backup.reverify(data, PASSWORD, thumbprint(issued.cert)) is full(data, PASSWORD, thumbprint(issued.cert))


def same_bundle(fast, full_bundle) -> bool:
    """Whether two bundles hold the same key, leaf, chain (in order), protection and friendly name."""
    return (
        fast.key.private_numbers() == full_bundle.key.private_numbers()
        and fast.leaf == full_bundle.leaf
        and fast.chain == full_bundle.chain
        and fast.protection == full_bundle.protection
        and fast.friendly_name == full_bundle.friendly_name
    )


@pytest.mark.parametrize("encryption", list(Encryption))
@pytest.mark.parametrize("friendly_name", [None, "オン資 3410712362"])
@pytest.mark.parametrize("include_chain", [True, False])
def test_a_p12_opens_on_the_fast_path_as_the_full_load_opens_it(
    issued, encryption, friendly_name, include_chain
) -> None:
    """A download .p12 (AES or 3DES, with or without a name and chain) gives the bundle load_pkcs12 gives."""
    data = issued.p12("4821", encryption, friendly_name=friendly_name, include_chain=include_chain)
    fast = reopen_bundle(data, "4821")
    assert fast is not None and fast.friendly_name == friendly_name
    assert same_bundle(fast, load_pkcs12(data, "4821"))


@pytest.mark.parametrize("case", ["wrong password", "no key", "key of another certificate", "damaged", "truncated"])
def test_a_p12_the_fast_path_cannot_vouch_for_goes_to_the_full_load(
    issued, factory: CertificateFactory, case, tmp_path
) -> None:
    """Anything but a clean success is None, and open_p12 then raises exactly what load_pkcs12 raises."""
    password, data = "4821", issued.p12("4821")
    if case == "wrong password":
        password = "4822"
    elif case == "no key":
        data = issued.p12("4821", include_key=False)
    elif case == "key of another certificate":
        data = factory.mismatched_p12(issued, "4821")
    elif case == "damaged":
        data = corrupt(data)
    elif case == "truncated":
        data = data[: len(data) // 2]
    assert reopen_bundle(data, password) is None
    with pytest.raises(Pkcs12Error) as full_error:
        load_pkcs12(data, password)
    path = tmp_path / "x.p12"
    path.write_bytes(data)
    with pytest.raises(Pkcs12Error) as fast_error:
        open_p12(path, password)
    assert type(fast_error.value) is type(full_error.value) and str(fast_error.value) == str(full_error.value)


def test_two_certificates_of_one_key_go_to_the_full_load(issued, factory_with_intermediate) -> None:
    """Which of two certificates of the same key is the leaf is OpenSSL's choice (the key's local id): the fast
    path does not guess."""
    renewed = factory_with_intermediate.leaf("3410712362", key=issued.key, days_left=900)
    data = encrypt_pkcs12(issued.key, renewed.cert, [issued.cert, *issued.chain], "4821", Encryption.AES256)
    assert reopen_bundle(data, "4821") is None
    assert load_pkcs12(data, "4821").leaf == renewed.cert


# --- cryptography's published PKCS#12 vectors ----------------------------------------------------------------------

VECTOR_DIR = __import__("pathlib").Path(__import__("cryptography_vectors").__file__).parent / "pkcs12"
#: Each vector with the password cryptography's own tests open it with.
VECTOR_PASSWORDS = {
    "cert-key-aes256cbc.p12": "cryptography",
    "cert-none-key-none.p12": "cryptography",
    "cert-rc2-key-3des.p12": "cryptography",
    "cert-aes256cbc-no-key.p12": "cryptography",
    "no-cert-key-aes256cbc.p12": "cryptography",
    "name-1-pwd.p12": "password",
    "name-2-pwd.p12": "password",
    "name-all-pwd.p12": "password",
    "name-unicode-pwd.p12": "password",
    "no-name-pwd.p12": "password",
    "no-cert-name-all-pwd.p12": "password",
    "no-password.p12": "",
}


def variants(data: bytes, password: str):
    """The file as given, with the right and a wrong password, truncated at several points, and with a bit flipped
    at several places (the MAC, the encrypted content, the structure)."""
    yield "as-is", data, password
    yield "wrong-password", data, password + "x"
    for cut in (len(data) // 3, len(data) // 2, len(data) - 1):
        yield f"truncated-{cut}", data[:cut], password
    for at in (12, len(data) // 4, len(data) // 2, len(data) - 5):
        yield f"bit-{at}", data[:at] + bytes([data[at] ^ 0x10]) + data[at + 1 :], password


def full_load(data: bytes, password: str):
    """Return (key, certificates) as the full load gives them, or None where it refuses the file."""
    try:
        bundle = load_pkcs12(data, password)
    except Pkcs12Error:
        return None
    return bundle


@pytest.mark.parametrize("name", sorted(VECTOR_PASSWORDS))
def test_the_fast_path_never_accepts_what_the_full_load_refuses(name) -> None:
    """Over cryptography's published PKCS#12 files and their damaged variants: whatever the fast path opens, the full
    load opens too, to the same key and the same leaf; where the full load refuses, the fast path answers None."""
    data = (VECTOR_DIR / name).read_bytes()
    for label, variant, password in variants(data, VECTOR_PASSWORDS[name]):
        fast, fast_bundle = reopen(variant, password), reopen_bundle(variant, password)
        bundle = full_load(variant, password)
        if bundle is None:
            assert fast is None and fast_bundle is None, (name, label)
            continue
        if fast is not None:
            key, certificates = fast
            assert key.private_numbers() == bundle.key.private_numbers(), (name, label)
            assert bundle.leaf in certificates, (name, label)
        if fast_bundle is not None:
            assert thumbprint(fast_bundle.leaf) == thumbprint(bundle.leaf), (name, label)
            assert fast_bundle.key.private_numbers() == bundle.key.private_numbers(), (name, label)
