"""Delivering alerts: mail by SMTP (STARTTLS or SMTPS before any password) and webhook POSTs, through a proxy.

The proxy is the setting's ``proxy`` (``http://[user:password@]host:port``), else the environment's
``HTTPS_PROXY`` (``HTTP_PROXY`` for an ``http://`` webhook) as urllib reads them, and none for a host that
``NO_PROXY`` names. A webhook goes through it as urllib sends any request (CONNECT for https); mail goes through a
CONNECT tunnel to the mail server's port, TLS inside it, so the proxy never sees the password or the message.
Only the standard library. A webhook's URL carries its own key: only its scheme, host and path are ever shown.
"""

from __future__ import annotations

import base64
import smtplib
import socket
import ssl
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import unquote, urlsplit

from ..core import messages
from ..core.errors import OnshiCertError


class NotifyError(OnshiCertError):
    """An alert could not be delivered, or the notification settings are wrong."""


def proxy_for(scheme: str, host: str, explicit: str | None = None) -> str | None:
    """Return the proxy to reach ``host`` over ``scheme`` (``https``, ``http``; mail tunnels as ``https``)."""
    if explicit:
        return explicit
    if urllib.request.proxy_bypass(host):
        return None
    found = urllib.request.getproxies()
    return found.get(scheme) or (found.get("https") if scheme != "http" else None)


def tunnel(proxy: str, host: str, port: int, timeout: float) -> socket.socket:
    """Return a socket to ``host:port`` through the HTTP proxy ``proxy`` (CONNECT)."""
    parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    sock = socket.create_connection((parts.hostname or "", parts.port or 8080), timeout)
    lines = [f"CONNECT {host}:{port} HTTP/1.1", f"Host: {host}:{port}"]
    if parts.username:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        lines.append("Proxy-Authorization: Basic " + base64.b64encode(pair).decode())
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    answer = b""
    while not answer.endswith(b"\r\n\r\n") and len(answer) < 65536:  # byte by byte: what follows is the server's
        chunk = sock.recv(1)
        if not chunk:
            break
        answer += chunk
    status = answer.split(b"\r\n", 1)[0].decode("latin-1")
    if len(status.split()) < 2 or status.split()[1] != "200":
        sock.close()
        raise OSError(f"the proxy {parts.hostname}:{parts.port or 8080} refused CONNECT {host}:{port}: {status!r}")
    return sock


class _SMTP(smtplib.SMTP):
    def __init__(self, *args: Any, proxy: str | None = None, **kwargs: Any):
        self.proxy = proxy  # set before smtplib connects in its __init__
        super().__init__(*args, **kwargs)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return tunnel(self.proxy, host, port, timeout) if self.proxy else super()._get_socket(host, port, timeout)


class _SMTPS(smtplib.SMTP_SSL):
    def __init__(self, *args: Any, proxy: str | None = None, **kwargs: Any):
        self.proxy = proxy
        super().__init__(*args, **kwargs)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        if not self.proxy:
            return super()._get_socket(host, port, timeout)
        return self.context.wrap_socket(tunnel(self.proxy, host, port, timeout), server_hostname=host)


def send_mail(smtp: dict[str, Any], message: Any, recipients: list[str], password: str | None) -> None:
    """Send ``message``: STARTTLS (or SMTPS) before any password, a certificate the system trusts (or cafile)."""
    context = ssl.create_default_context(cafile=smtp.get("cafile"))
    host, user = str(smtp["host"]), smtp.get("user")
    secure = bool(smtp.get("ssl")) or smtp.get("starttls", True)
    if user and not secure:
        raise NotifyError(messages.NOTIFY_INSECURE, host=host)
    proxy = proxy_for("https", host, smtp.get("proxy"))
    try:
        if smtp.get("ssl"):
            port = int(smtp.get("port", 465))
            client: smtplib.SMTP = _SMTPS(host, port, context=context, timeout=30, proxy=proxy)
        else:
            client = _SMTP(host, int(smtp.get("port", 587)), timeout=30, proxy=proxy)
        with client:
            client.ehlo()
            if not smtp.get("ssl") and smtp.get("starttls", True):
                client.starttls(context=context)
                client.ehlo()
            if user:
                offered = client.esmtp_features.get("auth", "").upper().split()
                if "PLAIN" in offered:  # inside TLS; one attempt (login() would retry every mechanism on failure)
                    client.user, client.password = str(user), password or ""
                    client.auth("PLAIN", client.auth_plain)
                else:
                    client.login(str(user), password or "")
            client.send_message(message, to_addrs=recipients)
    except (OSError, smtplib.SMTPException) as exc:
        raise NotifyError(messages.NOTIFY_FAILED, channel=f"smtp {host}", detail=exc) from None


def post(url: str, body: bytes, *, cafile: str | None = None, proxy: str | None = None) -> None:
    """POST ``body`` (JSON) to ``url``, through the proxy for it; anything but 2xx is a failure."""
    parts = urlsplit(url)
    where = f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}{parts.path}"[:80]  # never the query: its key
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise NotifyError(messages.NOTIFY_SETTINGS, detail=f"webhooks: {where}")
    via = proxy_for(parts.scheme, parts.hostname, proxy)
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({parts.scheme: via} if via else {}),
        urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=cafile)),
    )
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json; charset=utf-8"}
    )
    try:
        with opener.open(request, timeout=30) as answer:
            answer.read()
            status, reason = answer.status, answer.reason
    except urllib.error.HTTPError as exc:
        status, reason = exc.code, exc.reason
    except (OSError, urllib.error.URLError) as exc:
        detail = getattr(exc, "reason", exc)
        raise NotifyError(messages.NOTIFY_FAILED, channel=f"webhook {where}", detail=detail) from None
    if not 200 <= status < 300:
        raise NotifyError(messages.NOTIFY_FAILED, channel=f"webhook {where}", detail=f"HTTP {status} {reason}")
