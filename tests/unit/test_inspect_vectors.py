"""``onshi-cert inspect``: each verdict states only the verdict and the fix that goes with it; cryptography's published
PKCS#12 files (some read only through its BER fallback, one a key without a certificate) each get a stated verdict."""

from __future__ import annotations

import datetime as dt
import json
import warnings
from pathlib import Path

import cryptography_vectors
import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from onshi_cert.core import messages
from onshi_cert.core.policy import Verdict
from onshi_cert.i18n import t, tr
from onshi_cert_tools.cli import BER_NOTE, EXIT_CODES, RENEW_FIX, main

#: Each verdict a file can get: how to make such a file, the --expect-code given, and the fix inspect must print.
VERDICTS = {
    Verdict.OK: ({}, "3410712362", None),
    Verdict.EXPIRING: ({"days_left": 40}, "3410712362", RENEW_FIX),
    Verdict.EXPIRED: ({"days_left": -2}, "3410712362", messages.REFUSED["expired"].fix),
    Verdict.NOT_YET_VALID: ({"starts_in_days": 3}, "3410712362", messages.REFUSED["not_yet_valid"].fix),
    Verdict.WRONG_FACILITY: ({}, "0110113719", messages.REFUSED["wrong_facility"].fix),
    Verdict.WRONG_ISSUER: ({"lookalike": True}, "3410712362", messages.REFUSED["wrong_issuer"].fix),
    Verdict.BAD_CODE: ({"cn": "3410712363-01"}, None, messages.REFUSED["bad_code"].fix),
    Verdict.NOT_CLIENT_AUTH: ({"client_auth": False}, "3410712362", messages.REFUSED["not_client_auth"].fix),
}


@pytest.fixture(autouse=True)
def pinned(tmp_path, factory, monkeypatch) -> None:
    """Pin the test factory's root and give the password as an engineer would, in the shell."""
    path = tmp_path / "root.pem"
    path.write_bytes(factory.root.public_bytes(Encoding.PEM))
    monkeypatch.setenv("ONSHI_CERT_TRUST_ANCHORS", str(path))
    monkeypatch.setenv("ONSHI_CERT_PASSWORD", "1234")


def inspect(capsys, path: Path, *args: str) -> tuple[int, str, str]:
    code = main(["inspect", str(path), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_every_verdict_is_covered() -> None:
    """The table names every verdict a file can get (NO_KEY: a file without a key does not open at all)."""
    assert set(VERDICTS) == set(Verdict) - {Verdict.NO_KEY}


@pytest.mark.parametrize("verdict", list(VERDICTS), ids=str)
@pytest.mark.parametrize("lang", ["en", "ja"])
def test_the_verdict_line_states_the_verdict_and_the_fix_goes_with_it(
    verdict, lang, tmp_path, factory, lookalike_factory, capsys
) -> None:
    """The verdict line holds the verdict alone (the warning stage has its own line); the fix is the verdict's."""
    kwargs, expect, fix = VERDICTS[verdict]
    kwargs = dict(kwargs)
    maker = lookalike_factory if kwargs.pop("lookalike", False) else factory
    if "starts_in_days" in kwargs:
        now = dt.datetime.now(dt.UTC)
        start = now + dt.timedelta(days=kwargs.pop("starts_in_days"))
        issued = maker.leaf(not_before=start, not_after=start + dt.timedelta(days=1000))
    else:
        issued = maker.leaf(**kwargs)
    path = tmp_path / "cert.p12"
    path.write_bytes(issued.p12("1234"))
    expect_args = ["--expect-code", expect] if expect else []
    code, out, _ = inspect(capsys, path, "--json", *expect_args)
    result = json.loads(out)
    assert result["verdict"] == verdict.value and code == EXIT_CODES[verdict.value]
    assert result["fix"] == (tr("en", fix) if fix else "")
    code, out, _ = inspect(capsys, path, "--lang", lang, *expect_args)
    lines = {
        line.split("  ", 1)[0].strip(): line.split("  ", 1)[1].strip() for line in out.splitlines() if "  " in line
    }
    assert lines[t("verdict", lang)] == t(f"verdict.{verdict.value}", lang)  # nothing but the verdict
    assert lines[t("stage", lang)] == t(f"stage.{result['stage']}", lang)
    assert lines.get(t("fix", lang)) == (tr(lang, fix) if fix else None)


VECTORS = Path(cryptography_vectors.__file__).parent / "pkcs12"
#: cryptography's PKCS#12 vectors with their password (as its own tests open them), and what inspect says of each.
#: Their certificates come from a test CA that is not pinned: a file that opens is judged wrong_issuer (exit 14).
VECTOR_CASES = {
    "cert-key-aes256cbc.p12": ("cryptography", "wrong_issuer"),
    "cert-none-key-none.p12": ("cryptography", "wrong_issuer"),
    "cert-rc2-key-3des.p12": ("cryptography", "wrong_issuer"),
    "name-1-pwd.p12": ("password", "wrong_issuer"),
    "no-name-pwd.p12": ("password", "wrong_issuer"),
    "no-password.p12": ("", "wrong_issuer"),  # read only through the BER fallback
    "name-1-pwd.p12 ": ("wrong", "bad_password"),
    "cert-aes256cbc-no-key.p12": ("cryptography", "no_key"),
    "no-cert-key-aes256cbc.p12": ("cryptography", "no_key"),  # a key without any certificate: ONSHI-E019
    "java-truststore.p12": ("", "no_key"),
}


@pytest.mark.parametrize("name", list(VECTOR_CASES), ids=str.strip)
def test_cryptographys_published_files_each_get_a_stated_verdict(name, capsys, monkeypatch) -> None:
    """No raw Python warning, no traceback: a verdict with its exit code; the BER fallback is said in our words."""
    password, expected = VECTOR_CASES[name]
    monkeypatch.setenv("ONSHI_CERT_PASSWORD", password)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning that reached the user would fail here
        code, out, _err = inspect(capsys, VECTORS / name.strip(), "--json")
    result = json.loads(out)
    assert code == EXIT_CODES[expected]
    if expected in ("bad_password", "no_key"):
        assert result["error"] == expected and result["fix"]
        return
    assert result["verdict"] == expected and result["fix"]
    assert result["ber"] is (name == "no-password.p12")
    assert (tr("en", BER_NOTE) in result["certificate"]["warnings"]) is result["ber"]


def test_a_key_without_a_certificate_is_named_so_with_the_right_fix(capsys, monkeypatch) -> None:
    """The fix for a key with no certificate points to the download site, not to 'a backup WITH its private key'."""
    monkeypatch.setenv("ONSHI_CERT_PASSWORD", "cryptography")
    code, out, _ = inspect(capsys, VECTORS / "no-cert-key-aes256cbc.p12", "--json")
    assert code == EXIT_CODES["no_key"]
    result = json.loads(out)
    assert result["error_code"] == "ONSHI-E019" and "no certificate" in result["message"]
    assert "download site" in result["fix"] and "WITH its private key" not in result["fix"]
