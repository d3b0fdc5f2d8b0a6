"""The ``onshi-cert inspect`` command: output, exit codes, and where the password may come from."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from onshi_cert_tools.cli import EXIT_CODES, main
from onshi_cert_tools.factory import corrupt


@pytest.fixture
def p12(tmp_path, factory):
    """Return a function writing a .p12 for the given factory.leaf() arguments."""

    def write(name: str = "cert.p12", password: str = "1234", fac=None, **kwargs):
        issued = (fac or factory).leaf(**kwargs)
        path = tmp_path / name
        path.write_bytes(issued.p12(password))
        return path

    return write


@pytest.fixture(autouse=True)
def anchor(tmp_path, factory, monkeypatch) -> Path:
    """Pin the test factory's root for every inspect run of this module, as an engineer does once in the shell."""
    path = tmp_path / "root.pem"
    path.write_bytes(factory.root.public_bytes(Encoding.PEM))
    monkeypatch.setenv("ONSHI_CERT_TRUST_ANCHORS", str(path))
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_json_output_of_a_good_file(p12, capsys, monkeypatch) -> None:
    """A good file prints its facility code and verdict and exits 0."""
    monkeypatch.setenv("ONSHI_CERT_PASSWORD", "1234")
    code, out, _ = run(capsys, "inspect", str(p12()), "--json", "--expect-code", "3410712362")
    result = json.loads(out)
    assert code == 0
    assert result["certificate"]["facility_code"] == "3410712362"
    assert result["verdict"] == "ok"
    assert result["encryption"] == "aes256"
    assert result["min_windows_build"] == 16299


@pytest.mark.parametrize(
    ("kwargs", "expect", "verdict"),
    [
        ({"days_left": 40}, "3410712362", "expiring"),
        ({"days_left": -2}, "3410712362", "expired"),
        ({}, "0110113719", "wrong_facility"),
        ({"client_auth": False}, "3410712362", "not_client_auth"),
    ],
)
def test_exit_code_per_verdict(p12, capsys, monkeypatch, kwargs, expect, verdict) -> None:
    """Each verdict has its documented exit code."""
    monkeypatch.setenv("ONSHI_CERT_PASSWORD", "1234")
    code, out, _ = run(capsys, "inspect", str(p12(**kwargs)), "--json", "--expect-code", expect)
    assert json.loads(out)["verdict"] == verdict
    assert code == EXIT_CODES[verdict]


def test_wrong_issuer_exit_code(p12, capsys, monkeypatch, lookalike_factory) -> None:
    """A look-alike CA name exits 14."""
    monkeypatch.setenv("ONSHI_CERT_PASSWORD", "1234")
    code, out, _ = run(capsys, "inspect", str(p12(fac=lookalike_factory)), "--json")
    assert (code, json.loads(out)["verdict"]) == (14, "wrong_issuer")


def test_failures_name_the_file_and_the_fix(p12, tmp_path, capsys, monkeypatch) -> None:
    """Wrong password, damage and a missing file each exit with their code and say the fix."""
    monkeypatch.setenv("ONSHI_CERT_PASSWORD", "9999")
    path = p12()
    code, _, err = run(capsys, "inspect", str(path), "--lang", "en")
    assert code == 3
    assert str(path) in err and "Fix:" in err
    monkeypatch.setenv("ONSHI_CERT_PASSWORD", "1234")
    broken = tmp_path / "broken.p12"
    broken.write_bytes(corrupt(path.read_bytes()))
    assert run(capsys, "inspect", str(broken))[0] == 4
    assert run(capsys, "inspect", str(tmp_path / "missing.p12"))[0] == 2
    assert run(capsys, "inspect", str(path), "--expect-code", "3410712363")[0] == 2


def test_a_wrong_check_digit_in_the_certificate_never_passes(p12, capsys, monkeypatch) -> None:
    """A certificate for 3410712363 (bad check digit) is refused even when 3410712362 is expected (exit 16)."""
    monkeypatch.setenv("ONSHI_CERT_PASSWORD", "1234")
    path = p12(facility_code="3410712363")
    code, out, _ = run(capsys, "inspect", str(path), "--json", "--expect-code", "3410712362")
    assert (code, json.loads(out)["verdict"]) == (16, "bad_code")


def test_another_clinics_code_in_the_cn_is_wrong_facility(p12, capsys, monkeypatch) -> None:
    """CN carries another clinic's code, OU this PC's: ambiguous, never this PC's certificate."""
    monkeypatch.setenv("ONSHI_CERT_PASSWORD", "1234")
    path = p12(facility_code="0110113719", ou="3410712362")
    code, out, _ = run(capsys, "inspect", str(path), "--json", "--expect-code", "3410712362")
    assert code != 0 and json.loads(out)["verdict"] in ("bad_code", "wrong_facility")


def test_forged_ca_with_the_genuine_name_and_an_unpinned_run_fail(p12, capsys, monkeypatch, now) -> None:
    """A CA copying the genuine name is wrong_issuer (14); without any pin nothing is genuine either."""
    from onshi_cert_tools.factory import CertificateFactory

    monkeypatch.setenv("ONSHI_CERT_PASSWORD", "1234")
    forged = p12(name="forged.p12", fac=CertificateFactory(now=now))
    code, out, _ = run(capsys, "inspect", str(forged), "--json")
    assert (code, json.loads(out)["verdict"]) == (14, "wrong_issuer")
    monkeypatch.delenv("ONSHI_CERT_TRUST_ANCHORS")
    code, out, _ = run(capsys, "inspect", str(p12()), "--json")
    assert code == 14 and "no trust anchor" in json.loads(out)["trust_reason"]


def test_pin_prints_the_fingerprint_of_a_root(tmp_path, capsys, factory) -> None:
    """``onshi-cert pin`` prints the root's SHA-256 fingerprint as YAML for the inventory."""
    from onshi_cert.core.trust import fingerprint

    path = tmp_path / "root.der"
    path.write_bytes(factory.root.public_bytes(Encoding.DER))
    code, out, _ = run(capsys, "pin", str(path))
    assert code == 0 and f'"{fingerprint(factory.root)}"' in out and "onshi_cert_trust_anchors:" in out


def test_password_file_and_japanese_output(p12, tmp_path, capsys, monkeypatch) -> None:
    """The password is read from a file; --lang ja prints Japanese labels."""
    monkeypatch.delenv("ONSHI_CERT_PASSWORD", raising=False)
    secret = tmp_path / "pw"
    secret.write_text("1234\n")
    code, out, _ = run(capsys, "inspect", str(p12()), "--password-file", str(secret), "--lang", "ja")
    assert code == 0
    assert "医療機関等コード" in out and "3410712362" in out and "正常" in out


def test_no_password_without_terminal_is_an_error(p12, capsys, monkeypatch) -> None:
    """Without a terminal and with no password source, it exits 2 and says where a password can come from."""
    monkeypatch.delenv("ONSHI_CERT_PASSWORD", raising=False)
    monkeypatch.setattr(sys, "stdin", open("/dev/null"))  # noqa: SIM115
    code, _, err = run(capsys, "inspect", str(p12()), "--lang", "en")
    assert code == 2
    assert "--password-file" in err


def test_password_is_never_an_argument() -> None:
    """No option takes the password itself."""
    out = subprocess.run(
        [sys.executable, "-m", "onshi_cert_tools.cli", "inspect", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "--password " not in out and "--password=" not in out
    assert "exit codes" in out


def test_sample_writes_usable_files(tmp_path, capsys, monkeypatch) -> None:
    """``onshi-cert sample`` writes .p12 files that inspect opens with the written password."""
    assert main(["sample", str(tmp_path)]) == 0
    capsys.readouterr()
    assert (tmp_path / "password.txt").stat().st_mode & 0o777 == 0o600
    code, out, _ = run(
        capsys,
        "inspect",
        str(tmp_path / "3410712362.p12"),
        "--password-file",
        str(tmp_path / "password.txt"),
        "--json",
        "--trust-anchor",
        str(tmp_path / "sample-ca.pem"),
    )
    assert code == 0 and json.loads(out)["certificate"]["facility_code"] == "3410712362"
    issuer = json.loads(out)["certificate"]["issuer_cn"]
    assert "TEST" in issuer and issuer != "Online Billing NW Common Root CA"  # never mistaken for the real root


def test_windows_contract_writes_cases_and_the_runner(tmp_path, capsys, monkeypatch) -> None:
    """``onshi-cert windows-contract`` writes the cases (0600: they hold the password) and run-contract.ps1."""
    monkeypatch.setenv("ONSHI_OPERATOR_PASSWORD", "Operator-Secret-1")
    code, out, _ = run(capsys, "windows-contract", "--out", str(tmp_path / "cases"))
    assert code == 0 and "run-contract.ps1" in out
    cases = sorted((tmp_path / "cases").glob("[0-9][0-9].json"))
    from onshi_cert_tools import realpc

    assert len(cases) == len(realpc.cases("OQSComApp")) and all(p.stat().st_mode & 0o777 == 0o600 for p in cases)
    assert (tmp_path / "cases" / "run-contract.ps1").read_bytes().startswith(b"#Requires -Version 5.1")
    monkeypatch.delenv("ONSHI_OPERATOR_PASSWORD")
    monkeypatch.setattr(sys, "stdin", open("/dev/null"))  # noqa: SIM115
    assert run(capsys, "windows-contract", "--out", str(tmp_path / "again"))[0] == 2


def test_a_japanese_shell_gets_japanese_errors_with_their_code(p12, ja_locale) -> None:
    """Under a real ja_JP.UTF-8 locale the command speaks the catalogue's Japanese, code first, with the fix."""
    path = p12()
    env = {**os.environ, **ja_locale, "ONSHI_CERT_PASSWORD": "9999"}
    proc = subprocess.run(
        [sys.executable, "-m", "onshi_cert_tools.cli", "inspect", str(path)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 3
    assert f"エラー: {path}: [ONSHI-E012] パスワードが違うため、この PKCS#12 ファイルを開けません" in proc.stderr
    assert "対処: ダウンロード時に設定した4桁のパスワードを使ってください" in proc.stderr
    env["ONSHI_CERT_PASSWORD"] = "1234"
    shown = subprocess.run(
        [sys.executable, "-m", "onshi_cert_tools.cli", "inspect", str(path)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "医療機関等コード" in shown.stdout and "有効期限" in shown.stdout and "判定" in shown.stdout


def test_help_is_plain_text() -> None:
    """onshi-cert --help reads as text (no reStructuredText markup) and lists every command."""
    out = subprocess.run(
        [sys.executable, "-m", "onshi_cert_tools.cli", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "``" not in out and ":func:" not in out
    for command in ("inspect", "intake", "fleet", "notify", "backups", "doctor", "lab", "report"):
        assert command in out
