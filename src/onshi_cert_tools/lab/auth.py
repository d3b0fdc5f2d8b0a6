"""Authentication like a Windows WinRM listener: NTLM (with message encryption over HTTP) and Basic.

NTLM authenticates a TCP connection, not a request, so each connection keeps its pyspnego acceptor
context; message encryption (MS-WSMV 2.2.9.1.1) wraps every SOAP body in ``multipart/encrypted``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

import spnego
from spnego.channel_bindings import GssChannelBindings
from spnego.exceptions import SpnegoError

from onshi_cert_tools.lab.windows import WindowsHost

BOUNDARY = b"--Encrypted Boundary"
PROTOCOL = "application/HTTP-SPNEGO-session-encrypted"
ENCRYPTED_CONTENT_TYPE = f'multipart/encrypted;protocol="{PROTOCOL}";boundary="Encrypted Boundary"'


class AuthError(Exception):
    """Authentication failed: the listener answers 401 and runs nothing."""


@dataclass
class ConnectionAuth:
    """The authentication state of one TCP connection."""

    context: spnego.ContextProxy | None = None
    user: str | None = None
    complete: bool = False
    failures: int = field(default=0)


@functools.lru_cache(maxsize=256)
def _nt_hash(password: str) -> str | None:
    """The NT hash (MD4 of the UTF-16LE password) as hex, from pyspnego's own NTLM code; None without it."""
    try:
        from spnego._ntlm_raw.crypto import ntowfv1
    except ImportError:
        return None
    return ntowfv1(password).hex().upper()


def write_user_file(host: WindowsHost, folder: Path) -> Path:
    """Write the host's accounts in an NTLM_USER_FILE format pyspnego reads (lab passwords only).

    As Windows keeps them (no LM hash since Vista), each account is its NT hash, in the smbpasswd format
    (``[DOMAIN\\]USER:UID:LM:NT:FLAGS:TIME``): pyspnego would otherwise derive the LM hash from the password at
    every logon with a DES written in Python, the lab's largest cost per connection. Without the hash helper,
    the password format (``DOMAIN:USER:PASSWORD``) is written as before."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{host.name}.ntlm"
    lines = []
    for user in host.users.values():
        nt_hash = _nt_hash(user.password)
        for domain in ("", host.name.upper()[:15], "."):
            if nt_hash is None or any(mark in user.name for mark in ":\\@"):
                lines.append(f"{domain}:{user.name}:{user.password}")
            else:
                account = f"{domain}\\{user.name}" if domain else user.name
                lines.append(f"{account}:1000:{'0' * 32}:{nt_hash}:[U]:LCT-00000000")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def channel_bindings(server_cert_der: bytes | None) -> GssChannelBindings | None:
    """Return the tls-server-end-point bindings a client computes for our certificate (RFC 5929)."""
    if not server_cert_der:
        return None
    digest = hashlib.sha256(server_cert_der).digest()
    return GssChannelBindings(application_data=b"tls-server-end-point:" + digest)


def ntlm_step(
    state: ConnectionAuth, token: bytes, user_file: Path, bindings: GssChannelBindings | None
) -> bytes | None:
    """Advance the connection's NTLM handshake; return the challenge, or None once authenticated."""
    # pyspnego's acceptor reads the account store from this variable when created and while it
    # steps; the lab serves every PC from one thread, so setting it just before is race-free.
    os.environ["NTLM_USER_FILE"] = str(user_file)
    try:
        if state.context is None or state.complete:
            state.context = spnego.server(protocol="ntlm", channel_bindings=bindings)
            state.complete = False
        answer = state.context.step(token)
    except SpnegoError as exc:
        state.context = None
        raise AuthError(f"NTLM authentication failed: {exc}") from exc
    if state.context.complete:
        state.complete = True
        state.user = (state.context.client_principal or "").split("\\")[-1]
        return None
    return answer


def basic_user(header_value: str, host: WindowsHost) -> str:
    """Return the user of a Basic Authorization value, or raise AuthError."""
    try:
        user, _, password = base64.b64decode(header_value).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError) as exc:
        raise AuthError("malformed Basic credentials") from exc
    account = host.user(user)
    if account is None or account.password != password:
        raise AuthError("the user name or password is incorrect")
    return account.name


def decrypt(state: ConnectionAuth, body: bytes) -> bytes:
    """Unwrap a ``multipart/encrypted`` request body with the connection's NTLM context."""
    if state.context is None or not state.complete:
        raise AuthError("encrypted message on a connection that is not authenticated")
    message = b""
    parts = [p for p in body.split(BOUNDARY + b"\r\n") if p]
    for header, payload in zip(parts[0::2], parts[1::2], strict=False):
        length = int(re.search(rb"Length=(\d+)", header).group(1))  # type: ignore[union-attr]
        if payload.endswith(BOUNDARY + b"--\r\n"):
            payload = payload[: -len(BOUNDARY + b"--\r\n")]
        payload = payload.replace(b"\tContent-Type: application/octet-stream\r\n", b"", 1)
        signature_length = struct.unpack("<i", payload[:4])[0]
        signature = payload[4 : 4 + signature_length]
        try:
            plain = state.context.unwrap(signature + payload[4 + signature_length :]).data
        except SpnegoError as exc:
            raise AuthError(f"message decryption failed: {exc}") from exc
        if len(plain) != length:
            raise AuthError("decrypted length does not match the declared length")
        message += plain
    return message


def encrypt(state: ConnectionAuth, message: bytes) -> bytes:
    """Wrap a response body as ``multipart/encrypted`` with the connection's NTLM context."""
    assert state.context is not None
    wrapped = state.context.wrap(message, encrypt=True).data
    signature, sealed = wrapped[:16], wrapped[16:]
    return (
        BOUNDARY + b"\r\n\tContent-Type: " + PROTOCOL.encode() + b"\r\n"
        b"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length="
        + str(len(message)).encode()
        + b"\r\n"
        + BOUNDARY
        + b"\r\n\tContent-Type: application/octet-stream\r\n"
        + struct.pack("<i", len(signature))
        + signature
        + sealed
        + BOUNDARY
        + b"--\r\n"
    )
