"""The lab checks what it is sent: ansible-core's own exec payload, complete, or a refusal that names what is wrong."""

from __future__ import annotations

import json
import shlex

import pytest

from onshi_cert_tools import payload
from onshi_cert_tools.lab import executor
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


UTIL = "ansible_collections.onshi.cert.plugins.module_utils.OnshiCertRequest.psm1"


def with_util(stdin: bytes, text: str) -> bytes:
    """Return the payload with the agent's module util replaced by ``text``."""
    import base64

    head, _, rest = stdin.partition(MANIFEST_SEPARATOR)
    manifest = json.loads(rest)
    manifest["scripts"][UTIL]["script"] = base64.b64encode(text.encode()).decode()
    return head + MANIFEST_SEPARATOR + json.dumps(manifest).encode()


def test_the_agents_module_util_travels_with_it_and_must_be_onshi_certs(host) -> None:
    """ansible-core carries the agent's module util in the manifest (the agent reads its request with it): a
    payload without it, or with another text under its name, is refused; the util as written runs."""
    command, arguments = payload.command_line()
    stdin = payload.stdin_for(REQUEST)
    assert json.loads(execute(host, "Administrator", command, arguments, stdin).stdout)["steps"][0]["ok"] is True
    with pytest.raises(Refused, match="lacks the agent's module util OnshiCertRequest"):
        execute(host, "Administrator", command, arguments, without(stdin, UTIL))
    tampered = with_util(stdin, "Function Test-Key { $true }\nExport-ModuleMember -Function Test-Key\n")
    with pytest.raises(Refused, match=r"module util OnshiCertRequest .* is not the onshi-cert agent's"):
        execute(host, "Administrator", command, arguments, tampered)


def test_under_applocker_the_module_wrapper_refuses_the_agent_with_its_util(tmp_path) -> None:
    """ansible-core 2.19+'s module_wrapper.ps1 runs an unsigned module in ConstrainedLanguage, but refuses one
    with module util imports before it starts: the exec wrapper's failure JSON, and no step of the agent runs."""
    ca = LabCA.load_or_create(tmp_path)
    spec = {"hosts": [{"name": "pc02", "facility_codes": ["3410712362"], "language_mode": "ConstrainedLanguage"}]}
    locked = build_hosts(spec, ca)[0]
    command, arguments = payload.command_line()
    outcome = execute(locked, "Administrator", command, arguments, payload.stdin_for(REQUEST))
    answer = json.loads(outcome.stdout)
    assert outcome.rc == 1 and answer["failed"] is True and "steps" not in answer
    assert "in ConstrainedLanguage mode with module util imports" in answer["msg"]
    assert outcome.requested_steps == []


def test_the_command_line_may_come_whole_or_wrapped_once_more(host) -> None:
    """ansible-core 2.21 sends the whole line as the command (quoted base64); 2.16-2.18 wrap the line in one more
    encoded PowerShell command. Both run the same bootstrap, as Windows would."""
    import base64

    command, arguments = payload.command_line()
    stdin = payload.stdin_for(REQUEST)
    whole = " ".join([command, *arguments[:-1], f"'{arguments[-1]}'"])
    assert json.loads(execute(host, "Administrator", whole, [], stdin).stdout)["steps"][0]["ok"] is True
    outer = base64.b64encode(" ".join([command, *arguments]).encode("utf-16-le")).decode()
    wrapped = [*arguments[:-1], outer]
    assert json.loads(execute(host, "Administrator", command, wrapped, stdin).stdout)["steps"][0]["ok"] is True


def test_an_unknown_release_or_another_script_is_refused_by_name(host) -> None:
    """A bootstrap that no known ansible-core sends is refused, naming the releases the lab knows."""
    import base64

    command, arguments = payload.command_line()
    other = base64.b64encode(b"W\x00r\x00i\x00t\x00e\x00-\x00H\x00o\x00s\x00t\x00").decode()
    with pytest.raises(Refused, match=r"not the bootstrap_wrapper\.ps1 of a known ansible-core"):
        execute(host, "Administrator", command, [*arguments[:-1], other], payload.stdin_for(REQUEST))
    with pytest.raises(Refused, match="is not a PowerShell encoded command"):
        execute(host, "Administrator", "cmd.exe", ["/c", "dir"], b"")


def test_the_event_log_trail_needs_an_administrator_once_and_never_fails_a_change() -> None:
    """The operating user cannot register the source (answered, not failed) nor write without it; once the
    administrator registered it, the operating user's entries are written."""
    from onshi_cert_tools.lab.agent_model import run_agent
    from onshi_cert_tools.lab.windows import Session, WindowsHost

    host = WindowsHost("pc", "127.0.0.1", language="ja-JP")
    user = Session("OQSComApp", admin=False, logon_type="interactive", dpapi=True, become=True)
    admin = Session("Administrator", admin=True, logon_type="network", dpapi=False)
    event = {"source": "onshi-cert", "event_id": 1001, "entry_type": "Information", "message": "installed <x>"}

    def steps(*items):
        return {"steps": [{"op": op, "args": args} for op, args in items]}

    answer = run_agent(host, user, steps(("add_event_source", {"source": "onshi-cert"}), ("write_event", event)))
    assert answer["failed"] is False and answer["changed"] is False
    assert (
        answer["steps"][0]["result"]["created"] is False
        and "アクセスが拒否されました" in answer["steps"][0]["result"]["error"]
    )
    assert answer["steps"][1]["result"]["written"] is False and host.events == []
    info = run_agent(host, user, steps(("host_info", {"event_source": "onshi-cert"})))
    assert info["steps"][0]["result"]["event_source_exists"] is False

    assert run_agent(host, admin, steps(("add_event_source", {"source": "onshi-cert"})))["changed"] is True
    written = run_agent(host, user, steps(("write_event", event)))
    assert written["changed"] is True and written["steps"][0]["result"]["written"] is True
    assert host.events == [event | {"user": "PC\\OQSComApp"}]
    assert (
        run_agent(
            host,
            user,
            steps(("write_event", event)),
        )["failed"]
        is False
    )
    checked = run_agent(host, user, {"_ansible_check_mode": True, **steps(("write_event", event))})
    assert checked["failed"] is True and len(host.events) == 2  # check mode changes nothing, the log included


@pytest.mark.parametrize(
    "line",
    [
        "PowerShell -NoProfile -NonInteractive -EncodedCommand QQBCAEMA",
        "  PowerShell   -NoProfile\t-NonInteractive -EncodedCommand  QQBC+/= ",
        "PowerShell -NoProfile -NonInteractive -EncodedCommand 'QQBC AEMA'",
        'PowerShell -NoProfile "-NonInteractive" -EncodedCommand QQBC\\ AEMA',
        "PowerShell -NoProfile -NonInteractive -EncodedCommand QQBC\u3000AEMA",
        "PowerShell -NoProfile -NonInteractive -EncodedCommand QQBC\x0cAEMA",
        "PowerShell -NoProfile -NonInteractive -EncodedCommand 'unterminated",
        "PowerShell # not a comment -EncodedCommand QQBC",
        "",
    ],
)
def test_command_lines_split_as_shlex_splits_them(line: str) -> None:
    """The lab's fast split of a plain command line gives exactly what shlex gives, and [] where shlex fails."""
    try:
        expected = shlex.split(line)
    except ValueError:
        expected = []
    assert executor._split(line) == expected
