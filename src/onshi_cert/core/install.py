"""Planning changes to a PC's stores: pre-flight checks of a .p12, what to import, add and remove."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509

from onshi_cert.core.certinfo import CertificateInfo, thumbprint, utcnow
from onshi_cert.core.errors import OnshiCertError
from onshi_cert.core.facility import FacilityRule
from onshi_cert.core.hoststate import InstalledCert
from onshi_cert.core.pkcs12 import Pkcs12Bundle, load_pkcs12
from onshi_cert.core.policy import Expectations, Verdict, assess, plan_store
from onshi_cert.core.renewal import FEE_YEN, POSTAGE_YEN

MY = "CurrentUser\\My"
INTERMEDIATE_STORE = "CurrentUser\\CA"


class PreflightError(OnshiCertError):
    """The .p12 must not be installed on this PC; nothing was changed."""


def _refusal(verdict: Verdict, info: CertificateInfo, expect: Expectations) -> PreflightError:
    codes = ", ".join(info.facility_codes) or "no facility code"
    expected = ", ".join(expect.facility_codes)
    if verdict is Verdict.WRONG_ISSUER:
        return PreflightError(
            f"the certificate is issued by {info.issuer_cn!r}, not {expect.issuer_cn!r}",
            fix="this is not an Online Eligibility Confirmation certificate: download it again from the "
            "official download site",
        )
    if verdict is Verdict.WRONG_FACILITY:
        return PreflightError(
            f"the certificate is for {codes}, but this PC expects {expected}",
            fix="use the .p12 downloaded for this PC's facility, or correct onshi_cert_facility_codes",
        )
    if verdict is Verdict.EXPIRED:
        return PreflightError(
            f"the certificate expired on {info.not_after:%Y-%m-%d}",
            fix=f"apply for a new certificate on the portal ({FEE_YEN:,} yen + {POSTAGE_YEN} yen postage)",
        )
    if verdict is Verdict.NOT_YET_VALID:
        return PreflightError(
            f"the certificate is valid only from {info.not_before:%Y-%m-%d %H:%M} UTC",
            fix="check the controller's clock, or install it once it is valid",
        )
    return PreflightError(
        "the certificate is not for client authentication",
        fix="use the client certificate (.p12) from the certificate download site",
    )


def preflight(
    data: bytes, password: str, expect: Expectations, rule: FacilityRule, now: dt.datetime | None = None
) -> tuple[Pkcs12Bundle, CertificateInfo]:
    """Open and judge a .p12 before the PC is touched; raise an OnshiCertError that says the fix."""
    bundle = load_pkcs12(data, password)
    info = bundle.describe(rule)
    assessment = assess(info, expect, now or utcnow())
    if bundle.issuer_verified() is False:
        raise PreflightError(
            f"the certificate names {info.issuer_cn!r} as issuer, but that CA's signature does not verify",
            fix="the file is forged or damaged: download it again from the official download site",
        )
    for verdict in (
        Verdict.WRONG_ISSUER,
        Verdict.WRONG_FACILITY,
        Verdict.EXPIRED,
        Verdict.NOT_YET_VALID,
        Verdict.NOT_CLIENT_AUTH,
    ):
        if verdict in assessment.findings:
            raise _refusal(verdict, info, expect)
    return bundle, info


def read_p12(
    path: Path, password: str, expect: Expectations, rule: FacilityRule, now: dt.datetime | None = None
) -> tuple[Pkcs12Bundle, CertificateInfo]:
    """Read ``path`` and run :func:`preflight`; a missing file is an error that says so."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PreflightError(
            f"cannot read the file ({exc.strerror})", fix="check the path, or put the downloaded .p12 there"
        ) from exc
    return preflight(data, password, expect, rule, now)


@dataclass
class ChangePlan:
    """What one task will change on a PC, in the order it must happen."""

    import_leaf: bool = False
    new_thumbprint: str | None = None
    ca_adds: list[tuple[str, x509.Certificate]] = field(default_factory=list)
    remove: dict[str, str] = field(default_factory=dict)  # thumbprint -> reason
    refused: dict[str, str] = field(default_factory=dict)  # thumbprint -> why it is kept
    warnings: list[str] = field(default_factory=list)

    @property
    def changes(self) -> bool:
        """Return True when anything would change."""
        return bool(self.import_leaf or self.ca_adds or self.remove)


def _missing(
    store: str, certs: list[x509.Certificate], present: list[InstalledCert]
) -> list[tuple[str, x509.Certificate]]:
    have = {p.thumbprint for p in present}
    return [(store, c) for c in certs if thumbprint(c) not in have]


def plan_install(
    bundle: Pkcs12Bundle,
    info: CertificateInfo,
    my: list[InstalledCert],
    trusted: list[InstalledCert],
    intermediates: list[InstalledCert],
    expect: Expectations,
    *,
    ca_store: str | None,
    remove_stale: bool,
    now: dt.datetime | None = None,
) -> ChangePlan:
    """Plan installing ``bundle``: import unless a usable copy is there, add its CAs, remove what is stale."""
    now = now or utcnow()
    plan = ChangePlan(new_thumbprint=info.thumbprint)
    current = next((c for c in my if c.thumbprint == info.thumbprint), None)
    plan.import_leaf = current is None or not (current.info.has_key and current.info.key_usable)
    if current is not None and plan.import_leaf:
        plan.warnings.append(f"{info.thumbprint} is installed without a usable key: importing it again")
    if ca_store:
        plan.ca_adds += _missing(ca_store, bundle.roots(), trusted)
    plan.ca_adds += _missing(INTERMEDIATE_STORE, bundle.intermediates(), intermediates)
    if remove_stale:
        others = [c.info for c in my if c.thumbprint != info.thumbprint]
        store_plan = plan_store([*others, info], expect, now, always_keep=[info.thumbprint])
        plan.remove = dict(store_plan.stale)
    plan.warnings += info.warnings
    return plan


def plan_removal(
    my: list[InstalledCert],
    expect: Expectations,
    *,
    thumbprints: list[str],
    facility_code: str | None,
    expired_only: bool,
    stale_only: bool,
    force: bool,
    now: dt.datetime | None = None,
) -> ChangePlan:
    """Plan removing the selected certificates of ours; never the last usable one of a code unless forced."""
    now = now or utcnow()
    wanted = {t.upper() for t in thumbprints}
    store_plan = plan_store([c.info for c in my], expect, now)
    plan = ChangePlan()
    for cert in my:
        ours = cert.info.issuer_cn == expect.issuer_cn
        selected = (not wanted or cert.thumbprint in wanted) and (
            facility_code is None or facility_code in cert.info.facility_codes
        )
        if not selected or (not ours and cert.thumbprint not in wanted):
            continue
        if expired_only and now < cert.info.not_after:
            continue
        if stale_only and cert.thumbprint not in store_plan.stale:
            continue
        kept_for = [code for code, thumb in store_plan.keep.items() if thumb == cert.thumbprint]
        if kept_for and not force:
            plan.refused[cert.thumbprint] = (
                f"it is the last usable certificate for {', '.join(kept_for)} (force: true removes it anyway)"
            )
            continue
        plan.remove[cert.thumbprint] = store_plan.stale.get(cert.thumbprint, "selected")
    return plan


def import_copy(bundle: Pkcs12Bundle) -> Pkcs12Bundle:
    """Return the leaf and key alone: CA certificates go to their own stores, never into My."""
    return Pkcs12Bundle(
        key=bundle.key, leaf=bundle.leaf, chain=[], protection=bundle.protection, friendly_name=bundle.friendly_name
    )


__all__ = [
    "MY",
    "ChangePlan",
    "PreflightError",
    "import_copy",
    "plan_install",
    "plan_removal",
    "preflight",
    "read_p12",
]
