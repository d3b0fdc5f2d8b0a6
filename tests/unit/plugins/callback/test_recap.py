"""The recap's lines: an unreachable PC's whole reason with its code and fix, never a sentence cut in the middle."""

from __future__ import annotations

import importlib
from types import SimpleNamespace


def test_an_unreachable_pcs_reason_is_whole() -> None:
    recap = importlib.import_module("ansible_collections.onshi.cert.plugins.callback.onshi_cert_recap")
    callback = recap.CallbackModule()
    reason = (
        "ntlm: HTTPSConnectionPool(host='192.0.2.11', port=5986): Max retries exceeded with url: /wsman (Caused by "
        "ConnectTimeoutError(<urllib3.connection.HTTPSConnection object>, 'Connection to 192.0.2.11 timed out.'))"
    )
    result = SimpleNamespace(_host=SimpleNamespace(get_name=lambda: "pc01"), _result={"msg": reason + "\nmore"})
    callback.v2_runner_on_unreachable(result)
    (note,) = callback.notes["pc01"]
    assert note.startswith("[ONSHI-E093]") and reason in note and "winrm quickconfig" in note


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
