"""Judging what the policy decides over: ``.p12`` files on the controller and certificates on a PC.

Everything here turns bytes into :class:`~onshi_cert.core.policy.Judged` objects; the decision itself
is :func:`onshi_cert.core.policy.plan_host`, the only place that says what is kept, installed or removed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

# Guarded: without cryptography the action plugins stop first and name it (requirements.py).
with contextlib.suppress(ImportError):
    from cryptography import x509

from ..i18n import say as _
from . import messages
from .certinfo import utcnow
from .errors import OnshiCertError
from .hoststate import InstalledCert
from .paths import path_component
from .pkcs12 import Pkcs12Bundle, load_pkcs12
from .policy import (
    INTERMEDIATE_STORE,
    MY,
    Expectations,
    Judged,
    judge,
    refusal,
)
from .reopen import reopen_bundle

__all__ = [
    "INTERMEDIATE_STORE",
    "MY",
    "P12File",
    "PreflightError",
    "find_p12_files",
    "import_copy",
    "judge_bundle",
    "judge_installed",
    "open_p12",
    "preflight",
]


class PreflightError(OnshiCertError):
    """A file must not be installed on this PC; nothing was changed."""

    @classmethod
    def refused(cls, kind: str, detail: str, file: str | None) -> PreflightError:
        """Return the error for a file refused as ``kind`` (wrong_issuer, expired, ...), its code and fix."""
        return cls(messages.REFUSED[kind], detail=detail, file=file)

    @classmethod
    def wrap(cls, exc: OnshiCertError, file: str | None) -> PreflightError:
        """Return ``exc`` (its code, message and fix) as the failure of ``file``."""
        return cls(exc.message, fix=exc.fix, file=file, **exc.values)


def judge_bundle(
    bundle: Pkcs12Bundle,
    expect: Expectations,
    *,
    origin: str,
    source: str = "p12",
    pool: Iterable[x509.Certificate] = (),
) -> Judged:
    """Judge the leaf of an opened file: its chain goes through the file's own CAs and ``pool``."""
    info = bundle.describe(expect.rule)
    return judge(
        info,
        bundle.leaf,
        expect,
        source=source,
        origin=origin,
        pool=[*bundle.chain, *pool],
        key_ok=True,
        exportable=True,
        payload=bundle,
    )


def judge_installed(
    installed: Iterable[InstalledCert],
    expect: Expectations,
    pool: Iterable[x509.Certificate],
    *,
    backed_up: Mapping[str, bool] | None = None,
    origin: str = MY,
) -> list[Judged]:
    """Judge the certificates of a PC's store; ``backed_up`` says which have a verified backup."""
    pool = list(pool)
    judged = []
    for item in installed:
        info = item.info
        judged.append(
            judge(
                info,
                item.cert,
                expect,
                source="pc",
                origin=origin,
                pool=pool,
                key_ok=bool(info.has_key and info.key_usable is not False),
                exportable=info.key_exportable,
                backed_up=None if backed_up is None else backed_up.get(info.thumbprint, False),
                payload=item,
            )
        )
    return judged


def preflight(
    data: bytes,
    password: str,
    expect: Expectations,
    *,
    origin: str = "the file",
    now: dt.datetime | None = None,
    pool: Iterable[x509.Certificate] = (),
) -> Judged:
    """Open and judge a ``.p12`` on its own (inspect, intake): refuse anything that is not usable now."""
    now = now or utcnow()
    judged = judge_bundle(load_pkcs12(data, password), expect, origin=origin, pool=pool)
    refused = refusal(judged, expect, now)
    if refused:
        raise PreflightError.refused(refused[0], refused[1], origin)
    if now >= judged.info.not_after:
        detail = _("the certificate expired on {date}", date=f"{judged.info.not_after:%Y-%m-%d}")
        raise PreflightError.refused("expired", detail, origin)
    if now < judged.info.not_before:
        detail = _("the certificate is valid only from {when} UTC", when=f"{judged.info.not_before:%Y-%m-%d %H:%M}")
        raise PreflightError.refused("not_yet_valid", detail, origin)
    return judged


def open_p12(path: Path, password: str) -> Pkcs12Bundle:
    """Read and open ``path``; a missing file, a wrong password or damage is an error naming the fix."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PreflightError(messages.FILE_UNREADABLE, reason=exc.strerror, file=str(path)) from exc
    return reopen_bundle(data, password) or load_pkcs12(data, password)  # the full load names any failure


@dataclass(frozen=True)
class P12File:
    """A ``.p12`` the PC may get, and the password key that opens it."""

    path: Path
    password_keys: tuple[str, ...]


def find_p12_files(p12_dir: Path, host: str, codes: Iterable[str]) -> list[P12File]:
    """Return the ``.p12`` files offered to ``host``: ``<host>/*.p12``, ``<host>.p12``, ``<code>.p12`` in ``p12_dir``
    (each name as :func:`path_component` writes it: a host named ``受付/2F`` or ``..`` never reaches another folder).

    Which code a file serves is read from the certificate inside it, never from its name, so a
    two-code PC may have both in its folder, and a misnamed file is refused by the policy.
    """
    found: list[P12File] = []
    folder = p12_dir / path_component(host)
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in (".p12", ".pfx") and path.is_file():
                found.append(P12File(path, (f"{host}/{path.name}", path.name, path.stem, host)))
    single = p12_dir / f"{path_component(host)}.p12"
    if single.is_file():
        found.append(P12File(single, (single.name, host)))
    for code in codes:
        path = p12_dir / f"{path_component(code)}.p12"
        if path.is_file():
            found.append(P12File(path, (path.name, code)))
    return found


def import_copy(bundle: Pkcs12Bundle) -> Pkcs12Bundle:
    """Return the leaf and key alone: CA certificates go to their own stores, never into My."""
    return Pkcs12Bundle(
        key=bundle.key, leaf=bundle.leaf, chain=[], protection=bundle.protection, friendly_name=bundle.friendly_name
    )
