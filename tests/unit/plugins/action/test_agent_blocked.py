"""A PC whose AppLocker/WDAC policy blocks the agent: ansible-core's module wrapper refuses it before it runs (the agent
and its module util are unsigned), and the task says so with the policy fix instead of "the agent did not answer"."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from ansible.errors import AnsibleActionFail
from ansible_collections.onshi.cert.plugins.plugin_utils.agent.contract import Step
from ansible_collections.onshi.cert.plugins.plugin_utils.agent_session import AgentSession

WRAPPER_REFUSAL = {
    "failed": True,
    "msg": "failure during exec_wrapper: Cannot run untrusted PowerShell script "
    "'ansible_collections.onshi.cert.plugins.modules.onshi_cert_agent.ps1' in ConstrainedLanguage mode with "
    "module util imports.",
}


class FakeAction:
    """What AgentSession uses of an action plugin: the play context, pipelining and _execute_module."""

    def __init__(self, answer: dict) -> None:
        self._play_context = SimpleNamespace(no_log=False)
        self._connection = SimpleNamespace(_play_context=SimpleNamespace(no_log=False))
        self.answer = answer

    def _is_pipelining_enabled(self, module_style: str) -> bool:
        return True

    def _execute_module(self, **kwargs) -> dict:
        return dict(self.answer)


def run(answer: dict) -> AnsibleActionFail:
    session = AgentSession(FakeAction(answer), {"inventory_hostname": "pc-07"})
    with pytest.raises(AnsibleActionFail) as raised:
        session.run([Step("host_info", {})])
    return raised.value


def test_the_wrappers_applocker_refusal_is_the_policy_error_with_its_fix() -> None:
    failure = run(WRAPPER_REFUSAL)
    assert failure.result["error_code"] == "ONSHI-E051"
    assert "pc-07: " in str(failure) and "ConstrainedLanguage" in str(failure)
    assert "AppLocker/WDAC" in failure.result["fix"]


def test_a_signed_agent_with_an_unsigned_util_is_the_same_policy_error() -> None:
    """Signing the agent alone is not enough: the wrapper will not load its unsigned module util either."""
    failure = run(
        {
            "failed": True,
            "msg": "failure during exec_wrapper: PowerShell module util "
            "'ansible_collections.onshi.cert.plugins.module_utils.OnshiCertRequest.psm1' is not trusted and cannot be "
            "loaded.",
        }
    )
    assert failure.result["error_code"] == "ONSHI-E051" and "module util" in failure.result["fix"]


def test_any_other_answer_without_the_contract_is_still_no_answer() -> None:
    failure = run({"failed": True, "msg": "powershell.exe is not recognized"})
    assert failure.result["error_code"] == "ONSHI-E092"
