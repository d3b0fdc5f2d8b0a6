"""The PC's WinRM listener, pinned: the certificate day0.ps1 made, recorded by its SHA-256 fingerprint.

Day 0 (``day0.ps1``) gives each PC an HTTPS listener with a self-signed certificate and prints its fingerprint;
the inventory keeps it as ``onshi_cert_listener_fingerprint``. Before any step on a PC the controller reads the
listener's certificate (a TLS handshake with the address and port of the task's own connection) and refuses a
PC whose certificate is not that one: no password, no request goes to a listener it does not know. The check is
a handshake of its own, before the connection's; with ``ansible_winrm_ca_trust_path`` pointing at the same
certificate the connection itself validates it too (docs/windows.md, day 0). No Ansible imports here.
"""

from __future__ import annotations

import hashlib
import re
import socket
import ssl

from .core import messages
from .core.errors import OnshiCertError

TIMEOUT_S = 10


def normalize(value: str, host: str = "") -> str:
    """Return a SHA-256 fingerprint as 64 upper-case hex digits; accept colons, spaces and lower case."""
    digits = re.sub(r"[\s:]", "", str(value)).upper()
    if not re.fullmatch(r"[0-9A-F]{64}", digits):
        raise OnshiCertError(messages.LISTENER_FORMAT, host=host, value=str(value)[:80])
    return digits


def pretty(digits: str) -> str:
    """Return 64 hex digits as day0.ps1 prints them: AA:BB:..."""
    return ":".join(digits[i : i + 2] for i in range(0, len(digits), 2))


def presented(address: str, port: int, timeout: float = TIMEOUT_S) -> str:
    """Return the SHA-256 fingerprint (64 hex digits) of the certificate the listener at address:port presents."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the fingerprint is the check, not a CA
    with socket.create_connection((address, port), timeout=timeout) as raw, context.wrap_socket(raw) as tls:
        der = tls.getpeercert(binary_form=True)
    if not der:
        raise OSError("no certificate")  # the reason of LISTENER_UNREADABLE
    return hashlib.sha256(der).hexdigest().upper()


def check(host: str, address: str, port: int, *, https: bool, expected: str) -> str:
    """Raise unless the listener at address:port presents the certificate ``expected``; return its fingerprint."""
    wanted = normalize(expected, host)
    if not https:
        raise OnshiCertError(messages.LISTENER_NOT_HTTPS, host=host, port=port)
    try:
        got = presented(address, port)
    except (OSError, ssl.SSLError) as exc:
        raise OnshiCertError(messages.LISTENER_UNREADABLE, host=host, address=address, port=port, reason=exc) from exc
    if got != wanted:
        raise OnshiCertError(messages.LISTENER_MISMATCH, host=host, expected=pretty(wanted), got=pretty(got))
    return pretty(got)
