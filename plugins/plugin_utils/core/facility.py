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

from ..i18n import say as _
from . import messages
from .errors import FacilityCodeError

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
        raise FacilityCodeError(messages.CODE_NOT_DIGITS, code=code)
    if len(code) != 10:
        raise FacilityCodeError(messages.CODE_LENGTH, code=code, length=len(code))
    prefecture = int(code[:2])
    if not (1 <= prefecture <= 47 or 51 <= prefecture <= 97):
        raise FacilityCodeError(messages.CODE_PREFECTURE, code=code, prefecture=code[:2])
    if code[2] not in FEE_TABLES:
        raise FacilityCodeError(messages.CODE_FEE_TABLE, code=code, digit=code[2])
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
        warning = _(
            "facility code {code} carries a legacy check digit computed over its last 7 digits "
            "(old code of prefectures 11-14): confirm it against the issuance notice",
            code=code,
        )
        return FacilityCode(**parts, legacy_check=True, warnings=(warning,))
    raise FacilityCodeError(messages.CODE_CHECK_DIGIT, code=code, given=given, expected=expected)


def is_valid_facility_code(value: str | int, *, allow_legacy: bool = True) -> bool:
    """Return True when ``value`` is a valid facility code."""
    try:
        parse_facility_code(value, allow_legacy=allow_legacy)
    except FacilityCodeError:
        return False
    return True


DEFAULT_FIELD = "CN"
# Any 10-digit run in a subject that passes the layout and check digit "looks like" a facility code.
ANY_CODE = re.compile(r"(?<!\d)\d{10}(?!\d)")


@dataclass(frozen=True)
class CodeReading:
    """The facility code a subject carries in the rule's field, or why it carries none usable."""

    code: FacilityCode | None = None
    error: str | None = None

    @property
    def value(self) -> str | None:
        """Return the code as text, or None."""
        return self.code.code if self.code else None


@dataclass(frozen=True)
class FacilityRule:
    """Where a certificate subject carries its facility code: one named field (configurable; default CN).

    ``field`` is a subject attribute name (``CN``, ``OU``, ``serialNumber``, ...) or a dotted OID.
    ``pattern`` is a regular expression whose whole match (or first group) is a candidate code.
    A subject is refused when the field holds a code with a wrong check digit, or two different
    codes, or when any other attribute holds a different valid-looking code: another clinic's
    certificate must never pass for this one's.
    """

    field: str = DEFAULT_FIELD
    pattern: str = DEFAULT_PATTERN

    def read(self, subject: Iterable[tuple[Iterable[str], str]]) -> CodeReading:
        """Read the code from ``subject``: pairs of (the attribute's names, its value), in order."""
        regex = re.compile(self.pattern)
        wanted = self.field.lower()
        in_field: list[str] = []
        elsewhere: list[str] = []
        for names, value in subject:
            if wanted in {n.lower() for n in names}:
                for match in regex.finditer(value):
                    candidate = match.group(1) if regex.groups else match.group(0)
                    if candidate not in in_field:
                        in_field.append(candidate)
            else:
                elsewhere += [m.group(0) for m in ANY_CODE.finditer(value) if is_valid_facility_code(m.group(0))]
        if not in_field:
            return CodeReading(error=_("no facility code in the subject's {field}", field=self.field))
        codes: list[FacilityCode] = []
        for candidate in in_field:
            try:
                codes.append(parse_facility_code(candidate))
            except FacilityCodeError as exc:
                return CodeReading(
                    error=_("{field} holds an invalid facility code: {detail}", field=self.field, detail=exc)
                )
        if len(codes) > 1:
            listed = ", ".join(c.code for c in codes)
            return CodeReading(
                error=_(
                    "{field} holds {count} different facility codes ({codes})",
                    field=self.field,
                    count=len(codes),
                    codes=listed,
                )
            )
        others = sorted({c for c in elsewhere if c != codes[0].code})
        if others:
            return CodeReading(
                error=_(
                    "the subject carries another facility code ({others}) beside {field}={code}: ambiguous",
                    others=", ".join(others),
                    field=self.field,
                    code=codes[0].code,
                )
            )
        return CodeReading(codes[0])
