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

from .certinfo import utcnow
from .errors import OnshiCertError
from .hoststate import InstalledCert
from .pkcs12 import Pkcs12Bundle, load_pkcs12
from .policy import (
    INTERMEDIATE_STORE,
    MY,
    Expectations,
    Judged,
    judge,
    refusal,
)
from .renewal import FEE_YEN, POSTAGE_YEN

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

FIXES = {
    "wrong_issuer": "the file is forged or not an Online Eligibility Confirmation certificate: download it again "
    "from the official download site (and check onshi_cert_trust_anchors)",
    "bad_code": "this is not a certificate for one facility: download the file issued for this PC's facility",
    "wrong_facility": "use the .p12 downloaded for this PC's facility, or correct onshi_cert_facility_codes",
    "not_client_auth": "use the client certificate (.p12) from the certificate download site",
    "expired": f"apply for a new certificate on the portal ({FEE_YEN:,} yen + {POSTAGE_YEN} yen postage)",
    "not_usable": "check the controller's clock, or install it once it is valid",
}


class PreflightError(OnshiCertError):
    """A file must not be installed on this PC; nothing was changed."""

    def __init__(self, message: str, *, fix: str = "", code: str = "", file: str | None = None) -> None:
        super().__init__(message, fix=fix)
        self.code = code
        self.file = file


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
        raise PreflightError(refused[1], fix=FIXES[refused[0]], code=refused[0], file=origin)
    if now >= judged.info.not_after:
        raise PreflightError(
            f"the certificate expired on {judged.info.not_after:%Y-%m-%d}", fix=FIXES["expired"], code="expired"
        )
    if now < judged.info.not_before:
        raise PreflightError(
            f"the certificate is valid only from {judged.info.not_before:%Y-%m-%d %H:%M} UTC",
            fix=FIXES["not_usable"],
            code="not_yet_valid",
        )
    return judged


def open_p12(path: Path, password: str) -> Pkcs12Bundle:
    """Read and open ``path``; a missing file, a wrong password or damage is an error naming the fix."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PreflightError(
            f"cannot read the file ({exc.strerror})", fix="check the path, or put the downloaded .p12 there"
        ) from exc
    return load_pkcs12(data, password)


@dataclass(frozen=True)
class P12File:
    """A ``.p12`` the PC may get, and the password key that opens it."""

    path: Path
    password_keys: tuple[str, ...]


def find_p12_files(p12_dir: Path, host: str, codes: Iterable[str]) -> list[P12File]:
    """Return the ``.p12`` files offered to ``host``: ``<host>/*.p12``, ``<host>.p12``, ``<code>.p12`` in ``p12_dir``.

    Which code a file serves is read from the certificate inside it, never from its name, so a
    two-code PC may have both in its folder, and a misnamed file is refused by the policy.
    """
    found: list[P12File] = []
    folder = p12_dir / host
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in (".p12", ".pfx") and path.is_file():
                found.append(P12File(path, (f"{host}/{path.name}", path.name, path.stem, host)))
    single = p12_dir / f"{host}.p12"
    if single.is_file():
        found.append(P12File(single, (single.name, host)))
    for code in codes:
        path = p12_dir / f"{code}.p12"
        if path.is_file():
            found.append(P12File(path, (path.name, code)))
    return found


def import_copy(bundle: Pkcs12Bundle) -> Pkcs12Bundle:
    """Return the leaf and key alone: CA certificates go to their own stores, never into My."""
    return Pkcs12Bundle(
        key=bundle.key, leaf=bundle.leaf, chain=[], protection=bundle.protection, friendly_name=bundle.friendly_name
    )
