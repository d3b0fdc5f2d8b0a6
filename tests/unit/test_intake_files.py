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


def test_an_unquoted_password_in_yaml_is_refused_as_provisioning_refuses_it(tmp_path) -> None:
    """Intake reads passwords with provisioning's typed-input rule: an unquoted 0042 (the number 34 to YAML) is
    refused for that file with 'quote it' (ONSHI-E030), never tried as a password ('apply for a new certificate');
    the other files of the folder are judged as usual."""
    from onshi_cert.core.trust import TrustAnchors, fingerprint
    from onshi_cert_tools.factory import CertificateFactory
    from onshi_cert_tools.intake import plan

    factory = CertificateFactory()
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    (downloads / "100001.p12").write_bytes(factory.leaf("0110113719").p12("0042"))
    (downloads / "100002.p12").write_bytes(factory.leaf("3410712362").p12("1234"))
    passwords = tmp_path / "passwords.yml"
    passwords.write_text("100001.p12: 0042\n100002.p12: '1234'\n", encoding="utf-8")
    read = read_passwords(passwords, None)
    result = plan(
        downloads,
        {"pc01": ["0110113719"], "pc02": ["3410712362"]},
        read,
        anchors=TrustAnchors(frozenset({fingerprint(factory.root)})),
    )
    decisions = {d.file: d for d in result.decisions}
    refused = decisions["100001.p12"]
    assert refused.status == "rejected" and "ONSHI-E030" in refused.reason and "'0042'" in refused.reason
    assert "apply for a new certificate" not in refused.reason
    assert decisions["100002.p12"].status == "assigned" and decisions["100002.p12"].host == "pc02"
