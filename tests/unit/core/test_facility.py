"""Facility codes: the known valid codes pass, every single-digit change fails, errors name the part."""

from __future__ import annotations

import pytest

from onshi_cert.core.errors import FacilityCodeError
from onshi_cert.core.facility import FacilityRule, luhn_check_digit, parse_facility_code

VALID = ["3410712362", "0110113719"]


def single_digit_changes(code: str) -> list[str]:
    """Return every code that differs from ``code`` in exactly one digit."""
    return [code[:i] + d + code[i + 1 :] for i in range(10) for d in "0123456789" if d != code[i]]


@pytest.mark.parametrize("code", VALID)
def test_known_codes_are_valid(code: str) -> None:
    """The examples from the domain facts parse, with their parts."""
    parsed = parse_facility_code(code)
    assert parsed.code == code
    assert not parsed.legacy_check
    assert parsed.warnings == ()


def test_parts_are_split() -> None:
    """The code splits into prefecture, fee table, district, institution and check digit."""
    parsed = parse_facility_code("3410712362")
    assert (parsed.prefecture, parsed.fee_table, parsed.district, parsed.institution, parsed.check_digit) == (
        34,
        "1",
        "07",
        "1236",
        2,
    )
    assert parsed.kind == "medical"
    assert parsed.kind_ja == "医科"


@pytest.mark.parametrize("code", VALID)
def test_every_single_digit_change_is_rejected_strictly(code: str) -> None:
    """With the legacy rule off, all 90 single-digit variants are rejected."""
    for variant in single_digit_changes(code):
        with pytest.raises(FacilityCodeError):
            parse_facility_code(variant, allow_legacy=False)


@pytest.mark.parametrize("code", VALID)
def test_single_digit_changes_never_pass_silently(code: str) -> None:
    """With the legacy rule on, a variant is rejected or accepted only with a legacy warning (11-14)."""
    legacy_hits = []
    for variant in single_digit_changes(code):
        try:
            parsed = parse_facility_code(variant)
        except FacilityCodeError:
            continue
        assert parsed.legacy_check and parsed.warnings, variant
        assert 11 <= parsed.prefecture <= 14
        legacy_hits.append(variant)
    assert len(legacy_hits) <= 1


def test_luhn_matches_the_worked_example() -> None:
    """The check digit of 341071236 is 2, as in the domain facts."""
    assert luhn_check_digit("341071236") == 2
    assert luhn_check_digit("011011371") == 9


@pytest.mark.parametrize(
    ("value", "part"),
    [
        ("341071236", "10 digits"),
        ("34107123620", "10 digits"),
        ("34107l2362", "digits only"),
        ("４４１０７１２３６２", "digits only"),
        ("4810712362", "prefecture 48"),
        ("0010712362", "prefecture 00"),
        ("3420712362", "fee-table digit 2"),
        ("3410712363", "check digit 3"),
    ],
)
def test_errors_name_the_wrong_part(value: str, part: str) -> None:
    """Each error message says which part of the code is wrong."""
    with pytest.raises(FacilityCodeError, match=part):
        parse_facility_code(value)


def test_alternate_prefecture_is_accepted() -> None:
    """Prefectures 51-97 are alternates of 01-47."""
    base = "84107123"  # prefecture 84 = 34 + 50
    code = base + "6" + str(luhn_check_digit(base + "6"))
    assert parse_facility_code(code).prefecture == 34


def test_legacy_code_is_accepted_with_a_warning() -> None:
    """A prefecture 11-14 code whose check digit covers only its last 7 digits passes with a warning."""
    nine = "131012345"
    legacy = nine + str(luhn_check_digit(nine[2:]))
    assert luhn_check_digit(nine) != luhn_check_digit(nine[2:])
    parsed = parse_facility_code(legacy)
    assert parsed.legacy_check
    assert "legacy check digit" in parsed.warnings[0]
    with pytest.raises(FacilityCodeError, match="check digit"):
        parse_facility_code(legacy, allow_legacy=False)


def test_legacy_rule_is_limited_to_prefectures_11_to_14() -> None:
    """The 7-digit check digit is not accepted for other prefectures."""
    nine = "231012345"
    code = nine + str(luhn_check_digit(nine[2:]))
    assert luhn_check_digit(nine) != luhn_check_digit(nine[2:])
    with pytest.raises(FacilityCodeError):
        parse_facility_code(code)


@pytest.mark.parametrize(
    ("rule", "subject", "code", "error"),
    [
        (FacilityRule(), [(("CN",), "3410712362-01")], "3410712362", None),
        (FacilityRule(), [(("O",), "clinic 0110113719"), (("CN",), "3410712362")], None, "another facility code"),
        (FacilityRule(), [(("O",), "clinic 3410712362"), (("CN",), "3410712362")], "3410712362", None),
        (FacilityRule(), [(("CN",), "3410712363")], None, "check digit"),
        (FacilityRule(), [(("CN",), "13410712362")], None, "no facility code"),
        (FacilityRule(), [(("CN",), "3410712362 0110113719")], None, "2 different"),
        (FacilityRule("serialNumber"), [(("CN",), "x"), (("serialNumber",), "0110113719")], "0110113719", None),
        (FacilityRule(pattern=r"HC(\d{10})"), [(("CN",), "HC3410712362")], "3410712362", None),
        (
            FacilityRule(),
            [(("OU",), "3410712362"), (("CN",), "terminal")],
            None,
            "no facility code in the subject's CN",
        ),
    ],
)
def test_rule_reads_one_field_unambiguously(rule: FacilityRule, subject: list, code: str | None, error) -> None:
    """The code comes from the named field; a bad check digit or a second different code anywhere refuses it."""
    reading = rule.read(subject)
    assert reading.value == code
    assert (reading.error is None) == (error is None)
    if error:
        assert error in reading.error
