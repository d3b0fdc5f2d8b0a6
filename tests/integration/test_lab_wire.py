"""The lab speaks WS-Management like a Windows listener: driven here with pywinrm directly."""

from __future__ import annotations

import base64
import json

import pytest
import requests
import winrm
from pypsrp.exceptions import AuthenticationError
from pypsrp.exceptions import WinRMTransportError as PsrpTransportError
from pypsrp.exceptions import WSManFaultError as PsrpFault
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan
from winrm.exceptions import (
    InvalidCredentialsError,
    WinRMOperationTimeoutError,
    WinRMTransportError,
    WSManFaultError,
)
from winrm.protocol import Protocol

from onshi_cert_tools import payload

pytestmark = pytest.mark.integration
ADMIN = ("Administrator", "Lab-Admin-2026!")
OPERATOR = ("OQSComApp", "Lab-Oqs-2026!")
HOST_INFO = {"contract": 1, "steps": [{"op": "host_info", "args": {}}]}


def endpoint(lab, name: str, https: bool = False) -> str:
    host = lab.status()["hosts"][name]
    if https:
        return f"https://{host['address']}:{host['https_port']}/wsman"
    return f"http://{host['address']}:{host['http_port']}/wsman"


def protocol(lab, name: str, *, https: bool = False, transport: str = "ntlm", user=ADMIN, **kwargs) -> Protocol:
    return Protocol(
        endpoint(lab, name, https),
        transport=transport,
        username=user[0],
        password=user[1],
        server_cert_validation="ignore",
        **kwargs,
    )


@pytest.mark.parametrize(
    ("name", "https", "transport"),
    [("sapporo-naika-pc01", False, "ntlm"), ("kyoto-clinic-pc01", True, "ntlm"), ("kyoto-clinic-pc01", True, "basic")],
    ids=["http-ntlm-encrypted", "https-ntlm", "https-basic"],
)
def test_agent_runs_over_each_supported_transport(reset_lab, name, https, transport) -> None:
    """NTLM with message encryption over HTTP, NTLM and Basic over HTTPS all run the agent."""
    answer = payload.run(protocol(reset_lab, name, https=https, transport=transport), HOST_INFO)
    assert answer["steps"][0]["result"]["user"].endswith("\\Administrator")
    record = reset_lab.records(name)
    assert record["executions"] == 1
    assert {"Create", "Command", "Send", "Receive", "Signal", "Delete"} <= set(record["operations"])


def test_http_traffic_is_encrypted_on_the_wire(reset_lab) -> None:
    """Over HTTP with NTLM, pywinrm wraps every message; the lab answers in kind."""
    proto = protocol(reset_lab, "sapporo-naika-pc01")
    shell = proto.open_shell()
    assert proto.transport.encryption is not None
    assert proto.transport.encryption.protocol_string == b"application/HTTP-SPNEGO-session-encrypted"
    proto.close_shell(shell)


def test_become_changes_current_user_and_gives_dpapi(reset_lab) -> None:
    """With become and a password the agent runs as the operator with DPAPI; without a password, no DPAPI."""
    proto = protocol(reset_lab, "sapporo-naika-pc01")
    with_password = payload.run(proto, HOST_INFO, become_user="OQSComApp", become_password=OPERATOR[1])
    s4u = payload.run(proto, HOST_INFO, become_user="OQSComApp")
    assert with_password["steps"][0]["result"]["dpapi"] is True
    assert with_password["steps"][0]["result"]["user"].endswith("\\OQSComApp")
    assert s4u["steps"][0]["result"]["dpapi"] is False


def test_become_with_a_wrong_password_fails_like_runas(reset_lab) -> None:
    """A wrong become password fails as LogonUser does."""
    answer = payload.run(
        protocol(reset_lab, "sapporo-naika-pc01"), HOST_INFO, become_user="OQSComApp", become_password="nope"
    )
    assert answer["failed"] is True and "Win32ErrorCode 1326" in answer["msg"]


@pytest.mark.parametrize(
    ("user", "https", "transport"),
    [
        (("Administrator", "wrong"), False, "ntlm"),
        (("Nobody", "x"), False, "ntlm"),
        (("Administrator", "wrong"), True, "basic"),
        (ADMIN, False, "basic"),
    ],
    ids=["wrong-password", "unknown-user", "basic-wrong-password", "basic-over-http"],
)
def test_bad_credentials_get_401_and_nothing_runs(reset_lab, user, https, transport) -> None:
    """Wrong or unknown credentials, and Basic over plain HTTP, are rejected with 401."""
    name = "kyoto-clinic-pc01"
    session = winrm.Session(
        endpoint(reset_lab, name, https), auth=user, transport=transport, server_cert_validation="ignore"
    )
    with pytest.raises(InvalidCredentialsError):
        session.run_cmd("ipconfig")
    assert reset_lab.records(name)["executions"] == 0


def test_non_admin_connection_is_denied(reset_lab) -> None:
    """A user outside Administrators and Remote Management Users gets Access is denied."""
    with pytest.raises(WSManFaultError) as caught:
        protocol(reset_lab, "sapporo-naika-pc01", user=OPERATOR).open_shell()
    assert caught.value.wsman_fault_code == 5
    assert "Access is denied" in caught.value.reason


def test_disabled_winrm_refuses_connections(reset_lab) -> None:
    """A PC whose WinRM is off refuses the TCP connection."""
    with pytest.raises(requests.exceptions.ConnectionError):
        protocol(reset_lab, "okinawa-houmon-pc01").open_shell()


def test_unknown_shell_is_a_soap_fault(reset_lab) -> None:
    """A request for a shell the server does not know gets Windows' fault code."""
    proto = protocol(reset_lab, "sapporo-naika-pc01")
    with pytest.raises(WSManFaultError) as caught:
        proto.run_command("00000000-0000-0000-0000-000000000000", "ipconfig")
    assert caught.value.wsman_fault_code == 2150858843


def test_slow_command_times_out_receive_then_finishes(reset_lab) -> None:
    """With latency above the operation timeout, Receive faults with TimedOut; a later Receive gets the output."""
    reset_lab.set_latency(2.5, host="sapporo-naika-pc01")
    proto = protocol(reset_lab, "sapporo-naika-pc01", operation_timeout_sec=1, read_timeout_sec=5)
    shell = proto.open_shell(codepage=65001)
    command, arguments = payload.command_line()
    command_id = proto.run_command(shell, command, arguments, console_mode_stdin=False)
    proto.send_command_input(shell, command_id, payload.stdin_for(HOST_INFO), end=True)
    with pytest.raises(WinRMOperationTimeoutError):
        proto.get_command_output_raw(shell, command_id)
    stdout, _, rc = proto.get_command_output(shell, command_id)
    assert rc == 0 and b'"host_info"' in stdout
    proto.close_shell(shell)


def test_anything_but_the_agent_is_refused_by_name(reset_lab) -> None:
    """A plain command, or a module that is not the agent's exact text, is refused with a message naming it."""
    session = winrm.Session(endpoint(reset_lab, "sapporo-naika-pc01"), auth=ADMIN, transport="ntlm")
    plain = session.run_cmd("whoami", ["/all"])
    assert plain.status_code == 1 and b"'whoami /all' is not a PowerShell encoded command" in plain.std_out
    tampered = payload.run(
        protocol(reset_lab, "sapporo-naika-pc01"), HOST_INFO, script=b"Write-Output 'hello'", module_name="win_ping.ps1"
    )
    assert tampered["failed"] is True
    assert "module 'win_ping.ps1'" in tampered["msg"] and "is not the onshi-cert agent" in tampered["msg"]
    record = reset_lab.records("sapporo-naika-pc01", scripts=True)
    assert len(record["refused"]) == 2
    assert record["command_lines"][0] == "whoami /all"


def test_dropped_connection_at_a_step_keeps_earlier_steps(reset_lab) -> None:
    """A fault cuts the connection before step 1: step 0 took effect, the client sees a dropped connection."""
    rows = reset_lab.host("tokyo-clinic-pc02")["summary"]["stores"]["CurrentUser[OQSComApp]\\My"]
    steps = [
        {"op": "remove_cert", "args": {"store": "CurrentUser\\My", "thumbprint": r["thumbprint"]}} for r in rows[:2]
    ]
    reset_lab.set_faults("tokyo-clinic-pc02", [{"execution": 1, "step": 1}])
    # The client may resend on a fresh connection, which has no NTLM context: Windows answers 400 then.
    with pytest.raises((requests.exceptions.ConnectionError, WinRMTransportError)):
        payload.run(
            protocol(reset_lab, "tokyo-clinic-pc02"),
            {"contract": 1, "steps": steps},
            become_user="OQSComApp",
            become_password=OPERATOR[1],
        )
    left = reset_lab.host("tokyo-clinic-pc02")["summary"]["stores"]["CurrentUser[OQSComApp]\\My"]
    assert [r["thumbprint"] for r in left] == [r["thumbprint"] for r in rows[1:]]


def test_unreachable_switch_drops_connections(reset_lab) -> None:
    """A host made unreachable by the control API drops every connection until made reachable again."""
    reset_lab.set_reachable("sapporo-naika-pc01", False)
    with pytest.raises(requests.exceptions.ConnectionError):
        protocol(reset_lab, "sapporo-naika-pc01").open_shell()
    reset_lab.set_reachable("sapporo-naika-pc01", True)
    assert payload.run(protocol(reset_lab, "sapporo-naika-pc01"), HOST_INFO)["failed"] is False


# --- PSRP: the same PCs through a PowerShell runspace pool (pypsrp, as ansible-core's psrp connection) ---------


def runspace_pool(lab, name: str, *, https: bool = False, configuration: str = "Microsoft.PowerShell", user=ADMIN):
    host = lab.status()["hosts"][name]
    wsman = WSMan(
        host["address"],
        port=host["https_port"] if https else host["http_port"],
        ssl=https,
        username=user[0],
        password=user[1],
        auth="ntlm",
        cert_validation=False,
    )
    return RunspacePool(wsman, configuration_name=configuration)


def run_in_pool(pool, script: str, lines: list[str] | None):
    shell = PowerShell(pool)
    shell.add_script(script)
    shell.invoke(input=lines)
    return shell


def bootstrap_script() -> str:
    """The script ansible-core's psrp connection runs in the pool: the encoded command's text."""
    return base64.b64decode(payload.command_line()[1][-1]).decode("utf-16-le")


def answer_of(shell) -> dict:
    """The agent's JSON answer from a pipeline's output."""
    return json.loads("".join(str(o) for o in shell.output))


@pytest.mark.parametrize(("name", "https"), [("sapporo-naika-pc01", False), ("kyoto-clinic-pc01", True)])
def test_agent_runs_in_a_psrp_runspace_pool(reset_lab, name, https) -> None:
    """The exec payload's script runs in the pool, its input sent as lines; two pipelines share one pool."""
    script = bootstrap_script()
    lines = payload.stdin_for(HOST_INFO).decode("utf-8").splitlines()
    with runspace_pool(reset_lab, name, https=https) as pool:
        for _ in range(2):
            shell = run_in_pool(pool, script, lines)
            assert shell.state == 4 and not shell.had_errors  # Completed
            answer = answer_of(shell)
            assert answer["steps"][0]["result"]["user"].endswith("\\Administrator")
    record = reset_lab.records(name)
    assert record["executions"] == 2 and record["refused"] == []
    assert {"Create", "Command", "Send", "Receive", "Delete"} <= set(record["operations"])


def test_psrp_refuses_anything_but_the_agent_and_other_configurations(reset_lab) -> None:
    """A plain script in the pool is refused by name (rc 1 through SetShouldExit); another endpoint is a fault."""
    with runspace_pool(reset_lab, "sapporo-naika-pc01") as pool:
        shell = run_in_pool(pool, "Get-ChildItem Cert:\\CurrentUser\\My", None)
        answer = answer_of(shell)
        assert answer["failed"] is True and "not the bootstrap_wrapper.ps1" in answer["msg"]
    assert len(reset_lab.records("sapporo-naika-pc01")["refused"]) == 1
    with pytest.raises(PsrpFault) as caught, runspace_pool(reset_lab, "sapporo-naika-pc01", configuration="JEA"):
        pass
    assert "Cannot find the JEA session configuration" in str(caught.value)


def test_psrp_with_a_wrong_password_runs_nothing(reset_lab) -> None:
    """NTLM with a wrong password is a 401, as for winrm: the pool never opens and nothing runs."""
    wrong = ("Administrator", "not-the-password")
    with pytest.raises(AuthenticationError), runspace_pool(reset_lab, "sapporo-naika-pc01", user=wrong):
        pass
    record = reset_lab.records("sapporo-naika-pc01")
    assert record["executions"] == 0 and record["auth_failures"] >= 1


def test_psrp_connection_cut_at_a_step_keeps_earlier_steps(reset_lab) -> None:
    """A fault cuts a pipeline before its step 1 (become, over PSRP): step 0 took effect, the client sees the
    connection drop, and the next pipeline in a new pool finds the PC as step 0 left it."""
    rows = reset_lab.host("tokyo-clinic-pc02")["summary"]["stores"]["CurrentUser[OQSComApp]\\My"]
    steps = [
        {"op": "remove_cert", "args": {"store": "CurrentUser\\My", "thumbprint": r["thumbprint"]}} for r in rows[:2]
    ]
    script = bootstrap_script()
    request = {"contract": 1, "steps": steps}
    lines = payload.stdin_for(request, become_user="OQSComApp", become_password=OPERATOR[1]).decode().splitlines()
    reset_lab.set_faults("tokyo-clinic-pc02", [{"execution": 1, "step": 1}])
    # pypsrp's next request (closing the pool) goes on a fresh connection without NTLM context: a 400, as on Windows
    dropped = (requests.exceptions.ConnectionError, PsrpTransportError)
    with pytest.raises(dropped), runspace_pool(reset_lab, "tokyo-clinic-pc02") as pool:
        run_in_pool(pool, script, lines)
    left = reset_lab.host("tokyo-clinic-pc02")["summary"]["stores"]["CurrentUser[OQSComApp]\\My"]
    assert [r["thumbprint"] for r in left] == [r["thumbprint"] for r in rows[1:]]
    with runspace_pool(reset_lab, "tokyo-clinic-pc02") as pool:
        shell = run_in_pool(pool, script, payload.stdin_for(HOST_INFO).decode().splitlines())
        assert answer_of(shell)["failed"] is False
