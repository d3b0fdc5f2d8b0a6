"""The lab checks what it is sent: ansible-core's own exec payload, complete, or a refusal that names what is wrong."""

from __future__ import annotations

import json

import pytest

from onshi_cert.agent import payload
from onshi_cert_tools.lab.executor import MANIFEST_SEPARATOR, Refused, execute
from onshi_cert_tools.lab.fleet import LabCA, build_hosts

REQUEST = {"contract": 1, "steps": [{"op": "host_info", "args": {}}]}


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    """Return a lab PC with the default users."""
    ca = LabCA.load_or_create(tmp_path_factory.mktemp("ca"))
    return build_hosts({"hosts": [{"name": "pc01", "facility_codes": ["3410712362"]}]}, ca)[0]


def without(stdin: bytes, script: str) -> bytes:
    """Return the payload with one script taken out of its exec manifest (as a hand-built payload might be)."""
    head, _, rest = stdin.partition(MANIFEST_SEPARATOR)
    manifest = json.loads(rest)
    del manifest["scripts"][script]
    return head + MANIFEST_SEPARATOR + json.dumps(manifest).encode()


def test_ansible_cores_become_payload_runs_as_the_become_user(host) -> None:
    """The payload ansible-core's module_manifest builds for runas runs the agent as the operator, with DPAPI."""
    command, arguments = payload.command_line()
    stdin = payload.stdin_for(REQUEST, become_user="OQSComApp", become_password="Lab-Oqs-2026!")
    answer = json.loads(execute(host, "Administrator", command, arguments, stdin).stdout)
    result = answer["steps"][0]["result"]
    assert result["user"].endswith("\\OQSComApp") and result["dpapi"] is True


@pytest.mark.parametrize(
    "missing", ["Ansible.Become.cs", "Ansible.Process.cs", "Ansible.AccessToken.cs", "Ansible.ModuleUtils.AddType.psm1"]
)
def test_a_become_manifest_missing_a_script_is_refused(host, missing: str) -> None:
    """On Windows become_wrapper.ps1 would fail to load it: the lab refuses and names the script."""
    command, arguments = payload.command_line()
    stdin = payload.stdin_for(REQUEST, become_user="OQSComApp", become_password="Lab-Oqs-2026!")
    with pytest.raises(Refused, match=missing.replace(".", r"\.")):
        execute(host, "Administrator", command, arguments, without(stdin, missing))
