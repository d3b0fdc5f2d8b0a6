"""The recap's lines: an unreachable PC's whole reason with its code and fix, never a sentence cut in the middle."""

from __future__ import annotations

import importlib
from types import SimpleNamespace


def test_an_unreachable_pcs_reason_is_whole(monkeypatch) -> None:
    """An unreachable PC's line says the cause in words with the address (the exception text is Ansible's own
    output above it); a reason the recap does not know is kept whole, never cut in the middle."""
    recap = importlib.import_module("ansible_collections.onshi.cert.plugins.callback.onshi_cert_recap")
    monkeypatch.setenv("ONSHI_CERT_LANG", "en")
    callback = recap.CallbackModule()  # speaks the language of ONSHI_CERT_LANG
    monkeypatch.delenv("ONSHI_CERT_LANG")
    timeout = (
        "ntlm: HTTPSConnectionPool(host='192.0.2.11', port=5986): Max retries exceeded with url: /wsman (Caused by "
        "ConnectTimeoutError(<urllib3.connection.HTTPSConnection object>, 'Connection to 192.0.2.11 timed out.'))"
    )
    unknown = "psrp: something the recap has never seen, said whole (with its parentheses) and then some more"
    for host, reason in (("pc01", timeout), ("pc02", unknown)):
        result = SimpleNamespace(_host=SimpleNamespace(get_name=lambda h=host: h), _result={"msg": reason + "\nmore"})
        callback.v2_runner_on_unreachable(result)
    (said,) = callback.notes["pc01"]
    assert said.startswith("[ONSHI-E093]") and "192.0.2.11:5986 did not answer in time" in said
    assert "ConnectTimeoutError" not in said and "winrm quickconfig" in said
    (kept,) = callback.notes["pc02"]
    recap.i18n.use(None)  # the process's own language again, for the tests after this one
    assert unknown in kept and "more" not in kept.replace(unknown, "")


def test_each_connection_failure_is_said_by_its_cause(monkeypatch) -> None:
    """What requests, pywinrm, pypsrp and the OS say when a PC cannot be reached, in the reader's words."""
    reach = importlib.import_module("ansible_collections.onshi.cert.plugins.plugin_utils.reach")
    pool = "ntlm: HTTPConnectionPool(host='127.0.10.12', port=5985): Max retries exceeded with url: /wsman (Caused by "
    cases = {
        pool + "NewConnectionError('...: Failed to establish a new connection: [Errno 111] Connection refused'))":
            "127.0.10.12:5985 が接続を拒否しました",
        pool + "NameResolutionError(\"...: Failed to resolve 'pc.example' ([Errno -2] Name or service not known)\"))":
            "名前 127.0.10.12 が見つかりません",
        pool + "NewConnectionError('...: [Errno 113] No route to host'))": "127.0.10.12:5985 への経路がありません",
        "ntlm: the specified credentials were rejected by the server": "ユーザー名またはパスワードを拒否しました",
        "basic: HTTPSConnectionPool(host='pc01', port=5986): Max retries exceeded with url: /wsman (Caused by "
        "SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed')))":
            "HTTPS 証明書を信頼できません",
    }  # fmt: skip
    monkeypatch.setenv("ONSHI_CERT_LANG", "ja")
    i18n = importlib.import_module("ansible_collections.onshi.cert.plugins.plugin_utils.i18n")
    i18n.use(None)
    try:
        for line, words in cases.items():
            assert words in reach.connection_cause(line), line
        assert reach.connection_cause("port=54013 rejected") == "port=54013 rejected", "a number is no status code"
        assert reach.connection_cause("psrp: [Errno -2] Name or service not known") == (
            "端末の名前が見つかりません（DNS、またはインベントリの ansible_host）"
        ), "without an address, the PC's name"
    finally:
        monkeypatch.delenv("ONSHI_CERT_LANG")
        i18n.use(None)


def test_each_attention_line_carries_its_fix() -> None:
    recap = importlib.import_module("ansible_collections.onshi.cert.plugins.callback.onshi_cert_recap")
    callback = recap.CallbackModule()
    data = {
        "changed": False,
        "attention": [{"code": "no_backup", "message": "no verified backup of AB", "fix": "run backup.yml"}],
    }
    callback.v2_runner_on_ok(SimpleNamespace(_host=SimpleNamespace(get_name=lambda: "pc01"), _result=data))
    assert "pc01" in callback.attention
    assert callback.notes["pc01"] == ["no verified backup of AB Fix: run backup.yml"]
