"""Files engineers bring from Excel: a passwords CSV in UTF-8 (with or without BOM) or CP932, Japanese headings."""

from __future__ import annotations

import pytest

from onshi_cert_tools.intake import IntakeError, read_passwords

ROWS = "ファイル名,パスワード\r\nsapporo-naika-pc01.p12,1234\r\n札幌内科.p12,5678\r\n"


@pytest.mark.parametrize(
    "encoded",
    [ROWS.encode("utf-8"), ("\ufeff" + ROWS).encode("utf-8"), ROWS.encode("cp932")],
    ids=["utf-8", "utf-8-bom", "cp932"],
)
def test_a_passwords_csv_from_excel_reads_the_same(tmp_path, encoded: bytes) -> None:
    path = tmp_path / "passwords.csv"
    path.write_bytes(encoded)
    assert read_passwords(path, None) == {"sapporo-naika-pc01.p12": "1234", "札幌内科.p12": "5678"}


def test_anything_else_is_refused_with_the_fix(tmp_path) -> None:
    path = tmp_path / "passwords.csv"
    path.write_bytes(b"\xff\xfe\x00\xd8broken\x81")
    with pytest.raises(IntakeError) as error:
        read_passwords(path, None)
    assert "neither UTF-8 nor Shift_JIS (CP932)" in str(error.value) and "CSV UTF-8" in error.value.fix
