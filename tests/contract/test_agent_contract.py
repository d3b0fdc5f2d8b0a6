"""The agent's behaviour cases (onshi_cert_tools.realpc.cases, the one list), run over WinRM through
ansible-playbook against the lab, and against a real Windows PC when ONSHI_WINDOWS_* are set."""

from __future__ import annotations

import pytest

from onshi_cert.agent.contract import b64, unseal
from onshi_cert.core.certinfo import thumbprint
from onshi_cert.core.pkcs12 import Encryption, load_pkcs12
from onshi_cert_tools import realpc
from onshi_cert_tools.factory import CertificateFactory

pytestmark = pytest.mark.integration
MY = "CurrentUser\\My"


def test_every_behaviour_case(target) -> None:
    """Each case, in order, as Ansible runs the agent (become as the operator, or the connection's administrator)."""
    problems = []
    cases = realpc.cases(target.operator)
    while cases:  # the cases run in order; neighbours with the same become run in one playbook run
        case = cases[0]
        request = dict(case.request)
        if request.pop("_ansible_check_mode", False):
            answers, done = [target.run(request["steps"], check=True, use_become=case.become)], [case]
        else:
            done = []
            for other in cases:
                if other.become != case.become or "_ansible_check_mode" in other.request:
                    break
                done.append(other)
            answers = target.run_all([{"steps": c.request["steps"]} for c in done], use_become=case.become)
        for ran, answer in zip(done, answers, strict=True):
            problems += [f"{ran.name}: {p}" for p in realpc.problems_in(answer, ran.expect)]
        cases = cases[len(done) :]
    assert problems == []


def test_a_sealed_export_opens_on_the_controller(target) -> None:
    """What the agent seals (export_pfx) the controller opens with the one-time password: the same certificate."""
    issued = CertificateFactory(realpc.TEST_CA).leaf(realpc.TEST_CODE, days_left=30)
    thumb = thumbprint(issued.cert)
    pfx = issued.p12("One-Time-1", Encryption.TRIPLE_DES, include_chain=False)
    try:
        answer = target.run(
            [
                {"op": "import_pfx", "args": {"store": MY, "pfx": b64(pfx), "password": "One-Time-1"}},
                {"op": "export_pfx", "args": {"store": MY, "thumbprint": thumb, "password": "Back-2"}},
            ]
        )
        assert answer["failed"] is False, answer.get("msg")
        exported = load_pkcs12(unseal(answer["steps"][1]["result"]["pfx"], "Back-2"), "Back-2")
        assert thumbprint(exported.leaf) == thumb
    finally:
        removed = target.run([{"op": "remove_cert", "args": {"store": MY, "thumbprint": thumb}}])
    assert removed["steps"][0]["result"]["key_deleted"] is True
