"""Day 0: the PC's WinRM listener pinned by fingerprint (plugin_utils/listener.py), the ledger's column, and
day0.ps1 itself (static: it cannot run here; the Windows workflow runs it)."""

from __future__ import annotations

import re
import socket
import ssl
import threading
from importlib import resources

import pytest

from onshi_cert import listener
from onshi_cert.core.errors import OnshiCertError
from onshi_cert_tools.lab.listener import listener_fingerprint, listener_tls
from onshi_cert_tools.lab.windows import WindowsHost
from tests.unit.agent.test_agent_script import functions, syntax_errors


@pytest.fixture
def served(tmp_path):
    """Yield (port, fingerprint) of a TLS listener on 127.0.0.1 with a day-0 style certificate."""
    cert, key = listener_tls(tmp_path, WindowsHost(name="pc01", address="127.0.0.1"))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _addr = server.accept()
            except TimeoutError:
                continue
            try:
                with context.wrap_socket(conn, server_side=True):
                    pass
            except (OSError, ssl.SSLError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], listener_fingerprint(cert)
    stop.set()
    thread.join()
    server.close()


def test_the_recorded_certificate_passes_and_any_other_is_refused(served) -> None:
    """The fingerprint day0.ps1 printed (any case, with or without colons) passes; another is ONSHI-E094."""
    port, fingerprint = served
    assert listener.check("pc01", "127.0.0.1", port, https=True, expected=fingerprint.lower()) == fingerprint
    assert listener.check("pc01", "127.0.0.1", port, https=True, expected=fingerprint.replace(":", "")) == fingerprint
    with pytest.raises(OnshiCertError) as caught:
        listener.check("pc01", "127.0.0.1", port, https=True, expected="AB" * 32)
    assert caught.value.code == "ONSHI-E094" and fingerprint in caught.value.text


@pytest.mark.parametrize(
    ("https", "expected", "code"),
    [(False, "AB" * 32, "ONSHI-E095"), (True, "AB:CD", "ONSHI-E097"), (True, "zz" * 32, "ONSHI-E097")],
    ids=["not-https", "too-short", "not-hex"],
)
def test_a_recorded_fingerprint_needs_https_and_64_hex_digits(served, https, expected, code) -> None:
    """A fingerprint over HTTP, or one that is not SHA-256, is refused before any connection."""
    with pytest.raises(OnshiCertError) as caught:
        listener.check("pc01", "127.0.0.1", served[0], https=https, expected=expected)
    assert caught.value.code == code


def test_a_listener_that_does_not_answer_is_named(tmp_path) -> None:
    """Nothing listens: ONSHI-E096 names the address and port (day0.ps1 not run, or not open to us)."""
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    with pytest.raises(OnshiCertError) as caught:
        listener.check("pc01", "127.0.0.1", port, https=True, expected="AB" * 32)
    assert caught.value.code == "ONSHI-E096" and f"127.0.0.1:{port}" in caught.value.text


def test_the_ledger_column_becomes_https_and_the_pin(tmp_path) -> None:
    """The ledger's リスナー指紋 column: HTTPS on 5986 and the pin; a bad one names its row; http with it is refused."""
    from onshi_cert_tools import ledger

    good = "ab" * 32
    path = tmp_path / "ledger.csv"
    path.write_text(
        "医療機関等コード,端末名,IP,方式,リスナー指紋\n"
        f"0110113719,pc01,192.0.2.1,,{good}\n"
        "0110113719,pc02,192.0.2.2,,12:34\n"
        f"0110113719,pc03,192.0.2.3,http,{good}\n",
        encoding="utf-8",
    )
    read = ledger.parse(ledger.read_cells(path), path)
    assert [r.host for r in read.rows] == ["pc01"]
    values = ledger.host_vars(read.rows[0], "OQSComApp")
    assert values["ansible_winrm_scheme"] == "https" and values["ansible_port"] == 5986
    assert values["onshi_cert_listener_fingerprint"] == listener.pretty(good.upper())
    bad = dict(read.bad)
    assert "SHA-256" in bad[3] and "HTTPS" in bad[4]


DAY0 = resources.files("onshi_cert_tools").joinpath("day0.ps1").read_bytes()


def test_day0_is_valid_windows_powershell_and_never_handles_a_password() -> None:
    """day0.ps1 parses; it asks for, writes and prints no password (no SecureString, no credential)."""
    assert syntax_errors(DAY0) == []
    text = re.sub(r"(?s)<#.*?#>", "", DAY0.decode())  # the help block says it never asks for one
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    for word in ("Password", "SecureString", "Get-Credential", "PSCredential"):
        assert word.lower() not in code.lower(), word


def test_day0_checks_administrator_rights_before_any_change() -> None:
    """The first thing the script does is refuse a non-administrator (D001), before any Set-, New- or Remove-."""
    text = DAY0.decode()
    main = text[text.index("if (-not (Test-Administrator))") :]
    first_change = re.search(r"\b(Set-Service|Set-Item|New-Item|New-NetFirewallRule|New-SelfSignedCertificate)\b", main)
    assert first_change is not None and main.index("Stop-WithCode 'D001'") < first_change.start()


def test_day0_turns_off_basic_and_unencrypted_and_opens_only_the_given_addresses() -> None:
    """Basic and unencrypted off, an HTTPS listener, one firewall rule narrowed to -MaintenanceAddress (never Any)."""
    text = DAY0.decode()
    assert "Set-Item -Path WSMan:\\localhost\\Service\\Auth\\Basic -Value $false" in text
    assert "Set-Item -Path WSMan:\\localhost\\Service\\AllowUnencrypted -Value $false" in text
    assert "-Transport HTTPS" in text and "-Transport HTTP " not in text
    assert "-RemoteAddress $MaintenanceAddress" in text and "RemoteAddress Any" not in text
    assert "Enable-PSRemoting" not in text and "quickconfig" not in text.lower()  # both open HTTP to everyone
    assert re.search(r"'2\.5\.29\.19=\{critical\}\{text\}ca=1", text)  # pinnable by OpenSSL as its own anchor


def test_day0_undoes_what_it_recorded_and_fails_whole() -> None:
    """-Undo puts back each recorded change; a failure in the middle runs the same undo (nothing half-changed)."""
    bodies = functions(DAY0)
    restore = bodies["Restore-Pc"]
    for part in ("Remove-NetFirewallRule", "Listener", "-DeleteKey", "Auth\\Basic", "AllowUnencrypted", "Set-Service"):
        assert part in restore, part
    text = DAY0.decode()
    catch = text[text.index("\ncatch {") :]
    assert "Restore-Pc $state" in catch
    assert sorted(set(re.findall(r"'(D00\d)'", text))) == ["D001", "D002", "D003", "D004", "D005"]


def test_the_command_reads_compares_and_writes_day0(served, tmp_path, capsys) -> None:
    """onshi-cert listener pin prints the inventory line; --expect refuses another (E094); listener day0 writes it."""
    from onshi_cert_tools.cli import main

    port, fingerprint = served
    assert main(["listener", "pin", f"127.0.0.1:{port}"]) == 0
    assert f'onshi_cert_listener_fingerprint: "{fingerprint}"' in capsys.readouterr().out
    assert main(["listener", "pin", "127.0.0.1", "--port", str(port), "--expect", fingerprint]) == 0
    assert main(["listener", "pin", f"127.0.0.1:{port}", "--expect", "CD" * 32]) == 1
    assert "ONSHI-E094" in capsys.readouterr().err
    assert main(["listener", "day0", "--out", str(tmp_path / "day0.ps1")]) == 0
    assert (tmp_path / "day0.ps1").read_bytes() == DAY0


def test_a_locked_face_auth_file_is_found_and_unreadable_with_windows_reason() -> None:
    """host_info's file_errors: the face-authentication file is there but locked; the version is unknown, the
    reason is Windows' (the pre-flight shows it), and nothing else of the PC fails."""
    from onshi_cert.core.hoststate import HostFacts

    path = "C:\\Program Files\\OQS-Auth\\Version.info"
    reason = f"The process cannot access the file '{path}' because it is being used by another process."
    facts = HostFacts.from_result({"files": {path: None}, "file_errors": {path: reason}})
    face = facts.face_auth(path)
    assert (face["found"], face["version"], face["ok"], face["error"]) == (True, None, False, reason)
