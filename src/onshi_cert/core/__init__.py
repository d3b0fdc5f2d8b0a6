"""The certificate core: pure Python on the controller, no Ansible imports."""

from onshi_cert.core.certinfo import DEFAULT_ISSUER_CN, CertificateInfo, describe_certificate, thumbprint
from onshi_cert.core.errors import (
    BadPasswordError,
    CorruptPkcs12Error,
    FacilityCodeError,
    NoPrivateKeyError,
    OnshiCertError,
    Pkcs12Error,
)
from onshi_cert.core.facility import FacilityCode, FacilityRule, is_valid_facility_code, parse_facility_code
from onshi_cert.core.pkcs12 import Encryption, Pkcs12Bundle, Protection, encryption_for_build, load_pkcs12
from onshi_cert.core.policy import Assessment, Expectations, Stage, StorePlan, Verdict, assess, plan_store
from onshi_cert.core.renewal import RenewalPlan, renewal_plan

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
    "NoPrivateKeyError",
    "OnshiCertError",
    "Pkcs12Bundle",
    "Pkcs12Error",
    "Protection",
    "RenewalPlan",
    "Stage",
    "StorePlan",
    "Verdict",
    "assess",
    "describe_certificate",
    "encryption_for_build",
    "is_valid_facility_code",
    "load_pkcs12",
    "parse_facility_code",
    "plan_store",
    "renewal_plan",
    "thumbprint",
]
