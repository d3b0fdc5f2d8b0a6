"""PKCS#12 inspection on generated files: failures told apart, protection read, re-encryption."""

from __future__ import annotations

import pytest

from onshi_cert.core.errors import BadPasswordError, CorruptPkcs12Error, NoPrivateKeyError
from onshi_cert.core.pkcs12 import (
    AES_MIN_WINDOWS_BUILD,
    Encryption,
    encryption_for_build,
    load_pkcs12,
    read_protection,
)
from onshi_cert.core.trust import TrustAnchors, fingerprint
from onshi_cert_tools.factory import CertificateFactory, corrupt


@pytest.fixture(scope="module")
def issued(factory_with_intermediate: CertificateFactory):
    """Return a certificate issued through an intermediate CA."""
    return factory_with_intermediate.leaf("3410712362")


@pytest.mark.parametrize("encryption", list(Encryption))
def test_opens_with_the_right_password(issued, encryption: Encryption) -> None:
    """The leaf is the certificate matching the key; the other certificates are its chain."""
    bundle = load_pkcs12(issued.p12("4821", encryption), "4821")
    assert bundle.leaf == issued.cert
    assert {c.subject for c in bundle.chain} == {c.subject for c in issued.chain}


@pytest.mark.parametrize("encryption", list(Encryption))
@pytest.mark.parametrize("password", ["4822", "", "48210", "ｌ"])
def test_wrong_password_is_told_apart(issued, encryption: Encryption, password: str) -> None:
    """A wrong password raises BadPasswordError, whose fix mentions the download password."""
    with pytest.raises(BadPasswordError) as caught:
        load_pkcs12(issued.p12("4821", encryption), password)
    assert "4-digit password" in caught.value.fix


@pytest.mark.parametrize("encryption", list(Encryption))
def test_damaged_content_is_corrupt_not_wrong_password(issued, encryption: Encryption) -> None:
    """Bit rot inside the certificates is reported as damage, since the password still opens the key."""
    with pytest.raises(CorruptPkcs12Error, match="integrity"):
        load_pkcs12(corrupt(issued.p12("4821", encryption)), "4821")


@pytest.mark.parametrize("encryption", list(Encryption))
def test_a_changed_mac_alone_is_refused(issued, encryption: Encryption) -> None:
    """Contents intact but the MAC changed: not opened (the file is opened by OpenSSL, which checks the MAC first;
    the check in Python runs only to name the failure)."""
    from onshi_cert.core.pkcs12 import read_layout

    data = issued.p12("4821", encryption)
    mac = read_layout(data).mac_value
    assert data.count(mac) == 1
    tampered = data.replace(mac, bytes([mac[0] ^ 0x01]) + mac[1:])
    with pytest.raises(CorruptPkcs12Error, match="integrity"):
        load_pkcs12(tampered, "4821")
    with pytest.raises(BadPasswordError):
        load_pkcs12(tampered, "0000")


@pytest.mark.parametrize(
    "mangle",
    [lambda d: d[: len(d) // 2], lambda d: b"", lambda d: b"not a p12 at all", lambda d: b"\x30\x03\x02\x01\x02"],
    ids=["truncated", "empty", "text", "wrong-version"],
)
def test_unreadable_bytes_are_corrupt(issued, mangle) -> None:
    """Truncated or foreign bytes raise CorruptPkcs12Error before any password is tried."""
    with pytest.raises(CorruptPkcs12Error):
        load_pkcs12(mangle(issued.p12("4821")), "4821")
    with pytest.raises(CorruptPkcs12Error):
        read_protection(mangle(issued.p12("4821")))


def test_file_without_key_is_refused(issued) -> None:
    """A certificate-only PKCS#12 raises NoPrivateKeyError."""
    with pytest.raises(NoPrivateKeyError, match="no private key"):
        load_pkcs12(issued.p12("4821", include_key=False), "4821")


def test_key_matching_no_certificate_is_refused(factory: CertificateFactory) -> None:
    """A key that belongs to none of the certificates raises NoPrivateKeyError."""
    issued = factory.leaf("3410712362")
    with pytest.raises(NoPrivateKeyError, match="matches its private key"):
        load_pkcs12(factory.mismatched_p12(issued, "4821"), "4821")


@pytest.mark.parametrize(
    ("encryption", "label", "build"),
    [(Encryption.AES256, "aes256", AES_MIN_WINDOWS_BUILD), (Encryption.TRIPLE_DES, "3des", 0)],
)
def test_protection_and_lowest_windows_build(issued, encryption, label, build) -> None:
    """AES-256/SHA-256 files need build 16299; 3DES/SHA-1 files import on any build."""
    protection = read_protection(issued.p12("4821", encryption))
    assert protection.label == label
    assert protection.min_windows_build == build
    assert protection.uses_aes is (encryption is Encryption.AES256)


def test_reencrypt_for_an_old_build(issued) -> None:
    """An AES file re-encrypted for build 15063 becomes 3DES and keeps key, leaf and chain."""
    bundle = load_pkcs12(issued.p12("4821", Encryption.AES256), "4821")
    encryption = encryption_for_build(15063)
    again = load_pkcs12(bundle.to_bytes("9999", encryption), "9999")
    assert encryption is Encryption.TRIPLE_DES
    assert again.protection.label == "3des"
    assert again.leaf == bundle.leaf
    assert set(again.chain) == set(bundle.chain)


@pytest.mark.parametrize(("build", "expected"), [(None, "3des"), (10240, "3des"), (16299, "aes256"), (26100, "aes256")])
def test_encryption_for_build(build, expected) -> None:
    """Unknown or pre-1709 builds get 3DES; 1709 and later get AES-256."""
    assert encryption_for_build(build).value == expected


def test_describe_reports_every_field(issued) -> None:
    """The description carries code, issuer, thumbprint in Windows form, serial, EKU and key."""
    info = load_pkcs12(issued.p12("4821"), "4821").describe()
    assert info.facility_code == "3410712362"
    assert info.issuer_cn == "Online Billing NW Common Root CA - Sub CA"
    assert len(info.thumbprint) == 40 and info.thumbprint == info.thumbprint.upper()
    assert int(info.serial, 16) == issued.cert.serial_number
    assert info.client_auth is True
    assert (info.key_type, info.key_size) == ("RSA", 2048)
    assert info.has_key is True
    assert info.to_dict()["facility_code"] == "3410712362"


def test_same_name_other_key_fails_signature_check(factory, now) -> None:
    """A CA that copies the real CA's name but not its key chains only to itself, never to the pinned real root."""
    impostor = CertificateFactory(now=now, key_pool=1)
    bundle = load_pkcs12(impostor.leaf("3410712362").p12("4821"), "4821")
    assert bundle.describe().issuer_cn == "Online Billing NW Common Root CA"
    pinned = TrustAnchors(frozenset({fingerprint(factory.root)}))
    assert not pinned.verify(bundle.leaf, [*bundle.chain, factory.root]).trusted
    assert TrustAnchors(frozenset({fingerprint(impostor.root)})).verify(bundle.leaf, bundle.chain).trusted
