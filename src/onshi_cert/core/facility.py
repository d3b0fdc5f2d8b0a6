"""Facility codes (医療機関等コード): parse, validate and find them in certificate subjects.

Layout ``PP T DD NNNN C``: prefecture 01-47 (alternates 51-97), fee table (1 medical, 3 dental,
4 pharmacy, 6 home-visit nursing), district, institution number, Luhn check digit over the first
nine digits. Some old codes of prefectures 11-14 carry a check digit over the last seven of those
nine digits only: they are accepted with a warning, never silently.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from onshi_cert.core.errors import FacilityCodeError

FEE_TABLES = {"1": "medical", "3": "dental", "4": "pharmacy", "6": "home-visit nursing"}
FEE_TABLES_JA = {"1": "医科", "3": "歯科", "4": "調剤", "6": "訪問看護"}
LEGACY_PREFECTURES = range(11, 15)
DEFAULT_PATTERN = r"(?<!\d)\d{10}(?!\d)"


def luhn_check_digit(digits: str) -> int:
    """Return the check digit: weights 2,1,2,... from the right, two-digit products summed."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        product = int(char) * (2 if position % 2 == 0 else 1)
        total += product // 10 + product % 10
    return (10 - total % 10) % 10


@dataclass(frozen=True)
class FacilityCode:
    """A validated 10-digit facility code and its parts."""

    code: str
    prefecture: int
    fee_table: str
    district: str
    institution: str
    check_digit: int
    legacy_check: bool = False
    warnings: tuple[str, ...] = field(default=())

    @property
    def kind(self) -> str:
        """Return the English name of the fee table (medical, dental, pharmacy, ...)."""
        return FEE_TABLES[self.fee_table]

    @property
    def kind_ja(self) -> str:
        """Return the Japanese name of the fee table (医科, 歯科, ...)."""
        return FEE_TABLES_JA[self.fee_table]

    def __str__(self) -> str:
        return self.code


def parse_facility_code(value: str | int, *, allow_legacy: bool = True) -> FacilityCode:
    """Validate ``value`` and return its parts; raise FacilityCodeError naming the wrong part."""
    code = str(value).strip()
    if not code.isascii() or not code.isdigit():
        raise FacilityCodeError(f"facility code {code!r} must hold digits only")
    if len(code) != 10:
        raise FacilityCodeError(f"facility code {code!r} must be 10 digits, not {len(code)}")
    prefecture = int(code[:2])
    if not (1 <= prefecture <= 47 or 51 <= prefecture <= 97):
        raise FacilityCodeError(f"facility code {code}: prefecture {code[:2]} is not 01-47 (or an alternate 51-97)")
    if code[2] not in FEE_TABLES:
        raise FacilityCodeError(
            f"facility code {code}: fee-table digit {code[2]} is not 1 (medical), 3 (dental), "
            "4 (pharmacy) or 6 (home-visit nursing)"
        )
    given = int(code[9])
    parts = {
        "code": code,
        "prefecture": prefecture if prefecture <= 47 else prefecture - 50,
        "fee_table": code[2],
        "district": code[3:5],
        "institution": code[5:9],
        "check_digit": given,
    }
    expected = luhn_check_digit(code[:9])
    if given == expected:
        return FacilityCode(**parts)
    if allow_legacy and prefecture in LEGACY_PREFECTURES and given == luhn_check_digit(code[2:9]):
        warning = (
            f"facility code {code} carries a legacy check digit computed over its last 7 digits "
            "(old code of prefectures 11-14): confirm it against the issuance notice"
        )
        return FacilityCode(**parts, legacy_check=True, warnings=(warning,))
    raise FacilityCodeError(f"facility code {code}: check digit {given} is wrong (expected {expected})")


def is_valid_facility_code(value: str | int, *, allow_legacy: bool = True) -> bool:
    """Return True when ``value`` is a valid facility code."""
    try:
        parse_facility_code(value, allow_legacy=allow_legacy)
    except FacilityCodeError:
        return False
    return True


@dataclass(frozen=True)
class FacilityRule:
    """Where a certificate subject carries its facility code (configurable; the field is unconfirmed).

    ``attributes`` limits the search to these subject attribute names (``CN``, ``OU``,
    ``serialNumber``, or a dotted OID); empty means every attribute. ``pattern`` is a regular
    expression whose whole match (or first group) is a candidate code.
    """

    attributes: tuple[str, ...] = ()
    pattern: str = DEFAULT_PATTERN

    def find_codes(self, subject: Iterable[tuple[str, str]]) -> list[FacilityCode]:
        """Return the valid codes found in ``subject`` pairs of (attribute name, value), in order."""
        wanted = {name.lower() for name in self.attributes}
        regex = re.compile(self.pattern)
        found: list[FacilityCode] = []
        for name, value in subject:
            if wanted and name.lower() not in wanted:
                continue
            for match in regex.finditer(value):
                candidate = match.group(1) if regex.groups else match.group(0)
                if is_valid_facility_code(candidate) and candidate not in {c.code for c in found}:
                    found.append(parse_facility_code(candidate))
        return found
