"""The certificate core: pure Python on the controller, no Ansible imports."""

from .certinfo import DEFAULT_ISSUER_CN, CertificateInfo, describe_certificate, thumbprint
from .errors import (
    BadPasswordError,
    CorruptPkcs12Error,
    FacilityCodeError,
    NoPrivateKeyError,
    OnshiCertError,
    Pkcs12Error,
)
from .facility import FacilityCode, FacilityRule, is_valid_facility_code, parse_facility_code
from .pkcs12 import Encryption, Pkcs12Bundle, Protection, encryption_for_build, load_pkcs12
from .policy import (
    Assessment,
    Expectations,
    HostPlan,
    Judged,
    Scope,
    Stage,
    Verdict,
    assess,
    plan_host,
)
from .renewal import RenewalPlan, renewal_plan
from .trust import TrustAnchors, TrustError

__all__ = [
    "DEFAULT_ISSUER_CN",
    "Assessment",
    "BadPasswordError",
    "CertificateInfo",
    "CorruptPkcs12Error",
    "Encryption",
    "Expectations",
    "FacilityCode",
    "FacilityCodeError",
    "FacilityRule",
    "HostPlan",
    "Judged",
    "NoPrivateKeyError",
    "OnshiCertError",
    "Pkcs12Bundle",
    "Pkcs12Error",
    "Protection",
    "RenewalPlan",
    "Scope",
    "Stage",
    "TrustAnchors",
    "TrustError",
    "Verdict",
    "assess",
    "describe_certificate",
    "encryption_for_build",
    "is_valid_facility_code",
    "load_pkcs12",
    "parse_facility_code",
    "plan_host",
    "renewal_plan",
    "thumbprint",
]
