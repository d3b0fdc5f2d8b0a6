"""Argument specs shared by the action plugins, and their translation into core objects."""

from __future__ import annotations

from typing import Any

from onshi_cert.core.certinfo import DEFAULT_ISSUER_CN
from onshi_cert.core.errors import FacilityCodeError
from onshi_cert.core.facility import DEFAULT_PATTERN, FacilityRule, parse_facility_code
from onshi_cert.core.hoststate import FACE_AUTH_MINIMUM, FACE_AUTH_PATH
from onshi_cert.core.policy import Expectations

COMMON_SPEC: dict[str, dict[str, Any]] = {
    "facility_codes": {"type": "list", "elements": "str", "default": []},
    "issuer_cn": {"type": "str", "default": DEFAULT_ISSUER_CN},
    "code_attributes": {"type": "list", "elements": "str", "default": []},
    "code_pattern": {"type": "str", "default": DEFAULT_PATTERN},
    "face_auth_path": {"type": "str", "default": FACE_AUTH_PATH},
    "face_auth_minimum": {"type": "str", "default": FACE_AUTH_MINIMUM},
}


def spec(**options: dict[str, Any]) -> dict[str, Any]:
    """Return an argument spec: the common options plus ``options``."""
    return {"argument_spec": {**COMMON_SPEC, **options}}


def expectations(args: dict[str, Any]) -> Expectations:
    """Return the host's expectations; raise FacilityCodeError naming a bad code."""
    codes = []
    for value in args.get("facility_codes") or []:
        try:
            codes.append(parse_facility_code(value).code)
        except FacilityCodeError as exc:
            raise FacilityCodeError(
                f"facility_codes: {exc}",
                fix="correct onshi_cert_facility_codes in the inventory (10 digits, from the issuance notice)",
            ) from exc
    return Expectations(tuple(codes), args.get("issuer_cn") or DEFAULT_ISSUER_CN)


def rule(args: dict[str, Any]) -> FacilityRule:
    """Return the facility-code extraction rule."""
    return FacilityRule(tuple(args.get("code_attributes") or ()), args.get("code_pattern") or DEFAULT_PATTERN)
