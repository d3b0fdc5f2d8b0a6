"""Each lab PC's HTTPS listener certificate, as day0.ps1 makes it on a real PC, and its fingerprint."""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from onshi_cert_tools.lab.windows import WindowsHost


def listener_tls(folder: Path, host: WindowsHost) -> tuple[Path, Path]:
    """Return (cert, key) files of the PC's HTTPS listener certificate, creating them once in ``folder``.

    Made as day0.ps1 makes it: self-signed, CA:true with keyCertSign (a client may pin it as its own anchor),
    server authentication, the PC's name and address in the subject alternative name. The file name is a digest
    of the host name, never the name itself.
    """
    name_part = listener_name(host)
    cert_file, key_file = folder / f"{name_part}-cert.pem", folder / f"{name_part}-key.pem"
    if not cert_file.exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        common = host.name.upper()[:15]
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1825))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(True, False, True, False, False, True, False, False, False), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName(host.name), x509.IPAddress(ipaddress.ip_address(host.address))]
                ),
                critical=False,
            )
            .sign(key, hashes.SHA256())
        )
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        key_file.chmod(0o600)
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        # what day0.ps1 prints, for the committed inventory's lookup (inventories/lab/hosts.yml)
        (folder / f"{name_part}.sha256").write_text(listener_fingerprint(cert_file) + "\n", encoding="ascii")
    return cert_file, key_file


def listener_name(host: WindowsHost) -> str:
    """Return the stem of the PC's listener files: a digest of its name, never the name itself."""
    return f"listener-{hashlib.sha256(host.name.encode()).hexdigest()[:16]}"


def listener_fingerprint(cert_file: Path) -> str:
    """Return the SHA-256 fingerprint of a listener certificate as day0.ps1 prints it (AA:BB:...)."""
    der = x509.load_pem_x509_certificate(cert_file.read_bytes()).public_bytes(serialization.Encoding.DER)
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())
