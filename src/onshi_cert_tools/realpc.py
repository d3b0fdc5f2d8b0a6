"""The agent on a real Windows PC, without Ansible in between: cases generated here, run and checked there.

``generate`` writes, for each contract case, the exact command line and stdin that ansible-core's WinRM
connection would send (built by ansible-core's own ``module_manifest`` through :mod:`payload`), with and
without ``become``, and what the answer must show, as declarative expectations. On the PC,
``run-contract.ps1`` (shipped beside the agent) feeds each case to ``powershell.exe`` as WinRM does,
checks the answer against the expectations and exits non-zero on any mismatch:

    onshi-cert windows-contract --out cases --operator OQSComApp      # on the controller (password: env)
    powershell -ExecutionPolicy Bypass -File run-contract.ps1 -Folder cases   # on the Windows PC

:func:`check` evaluates the same expectations in Python (the lab runs the cases in the test suite).
Test material only: a throw-away test CA named apart from the real one signs the certificate, which goes
into the operating user's ``CurrentUser\\My`` only and is removed again by the last changing case.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding

from onshi_cert.agent.contract import EVENT_SOURCE, HR_ACCESS_DENIED, HR_INVALID_PASSWORD, b64
from onshi_cert.core.certinfo import thumbprint
from onshi_cert.core.pkcs12 import Encryption
from onshi_cert_tools import payload
from onshi_cert_tools.factory import CertificateFactory

MY = "CurrentUser\\My"
MACHINE_ROOT = "LocalMachine\\Root"
KEY_READY = {"has_private_key": True, "key_usable": True}
NO_FILE = "C:\\onshi-cert-no-such-file.txt"
TEST_CA = "onshi-cert contract test CA (not for production)"
TEST_CODE = "4760177776"
WIN_INI = "C:\\Windows\\win.ini"

# An expectation is [path, test, value]: path is dot-separated keys and list indexes into the answer
# ("steps.0.result.dpapi"); test is one of TESTS. run-contract.ps1 implements exactly these.
#   eq, ne            equal / not equal (an empty object {} equals {})
#   endswith          the text ends with value (case-insensitive); startswith likewise
#   length            the list has value elements
#   any_has, none_has some element / no element of the list has the key value
#   any_eq            some element of the list has value[0] equal to value[1]
#   all_eq            every element of the list has value[0] equal to value[1]
Expectation = list[Any]
TESTS = ("eq", "ne", "endswith", "startswith", "length", "any_has", "none_has", "any_eq", "all_eq")


@dataclass
class Case:
    """One request to the agent, who runs it, and what its answer must show."""

    name: str
    request: dict[str, Any]
    become: bool
    expect: list[Expectation]


def _steps(*steps: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    return {"contract": 1, "steps": [{"op": op, "args": args} for op, args in steps]}


SUCCEEDED: list[Expectation] = [["failed", "eq", False]]


def cases(operator: str) -> list[Case]:
    """Return the agent's behaviour cases for a PC whose operating user is ``operator`` (fresh material each time).

    The one list: the lab runs it in-process (tests/unit/agent/test_realpc.py) and over WinRM through
    ansible-playbook (tests/contract), and a real Windows PC runs it with run-contract.ps1 (the Windows workflow).
    The cases run in order and leave the PC as they found it: what one adds, a later one removes.
    """
    factory = CertificateFactory(TEST_CA, key_pool=1)
    issued = factory.leaf(TEST_CODE, days_left=30)
    thumb = thumbprint(issued.cert)
    ca_der = b64(factory.root.public_bytes(Encoding.DER))
    ca_thumb = thumbprint(factory.root)
    one_time, export = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    pfx = b64(issued.p12(one_time, Encryption.TRIPLE_DES, include_chain=False))
    der = b64(issued.cert.public_bytes(Encoding.DER))
    return [
        Case(
            "host_info as the operator, reading a file and a missing one (hashtable arguments)",
            _steps(("host_info", {"read_files": [WIN_INI, NO_FILE], "event_source": EVENT_SOURCE})),
            True,
            [
                *SUCCEEDED,
                ["steps.0.result.user", "endswith", f"\\{operator}"],
                ["steps.0.result.dpapi", "eq", True],
                ["steps.0.result.logon_type", "ne", "unknown"],
                ["steps.0.result.files." + WIN_INI, "ne", None],
                ["steps.0.result.files." + NO_FILE, "eq", None],
                ["steps.0.result.file_errors", "eq", {}],
                ["steps.0.result.os_build", "ne", None],
                ["steps.0.result.ps_version", "startswith", "5.1"],
                # the pre-flight's facts
                ["steps.0.result.profile", "eq", True],
                ["steps.0.result.system_free_mb", "ne", None],
                ["steps.0.result.utc_now", "ne", None],
                ["steps.0.result.admin_member", "eq", False],
                ["steps.0.result.event_source_exists", "ne", None],
            ],
        ),
        Case(
            "check mode refuses a change",
            {**_steps(("remove_cert", {"store": MY, "thumbprint": thumb})), "_ansible_check_mode": True},
            True,
            [["failed", "eq", True], ["steps.0.error", "endswith", "refusing a change in check mode"]],
        ),
        Case(
            "an operation outside the contract is refused by name",
            _steps(("format_disk", {})),
            True,
            [
                ["failed", "eq", True],
                ["msg", "eq", "Failed to run 'format_disk': unknown operation (contract version 1)"],
            ],
        ),
        Case(
            "a wrong PFX password fails with its HRESULT, and stops the steps after it",
            _steps(
                ("import_pfx", {"store": MY, "pfx": pfx, "password": "wrong", "thumbprint": thumb}),
                ("host_info", {}),
            ),
            True,
            [["failed", "eq", True], ["steps.0.hresult", "eq", HR_INVALID_PASSWORD], ["steps", "length", 1]],
        ),
        Case(
            "import with an exportable key, verify it, export it sealed; an unnamed key is not opened",
            _steps(
                ("import_pfx", {"store": MY, "pfx": pfx, "password": one_time, "thumbprint": thumb}),
                ("assert_cert", {"store": MY, "thumbprint": thumb, "expect": {"has_private_key": True}}),
                ("export_pfx", {"store": MY, "thumbprint": thumb, "password": export}),
                ("list_certs", {"store": MY, "probe": [thumb], "export": [thumb], "export_password": export}),
                ("list_certs", {"store": MY, "export_password": export}),
            ),
            True,
            [
                *SUCCEEDED,
                ["changed", "eq", True],
                ["steps.0.result.thumbprint", "eq", thumb],
                ["steps.0.result.replaced", "eq", False],
                ["steps.1.result.key_usable", "eq", True],
                ["steps.1.result.key_exportable", "eq", True],
                ["steps.1.result.key_protection", "eq", "none"],
                ["steps.2.result.pfx", "ne", None],
                ["steps.3.result.certificates", "any_has", "pfx"],
                ["steps.3.result.certificates", "any_has", "key_usable"],
                ["steps.4.result.certificates", "none_has", "pfx"],
                ["steps.4.result.certificates", "all_eq", ["key_probed", False]],
            ],
        ),
        Case(
            "importing it again changes nothing (no orphan key)",
            _steps(("import_pfx", {"store": MY, "pfx": pfx, "password": one_time, "thumbprint": thumb})),
            True,
            [*SUCCEEDED, ["changed", "eq", False], ["steps.0.result.already_present", "eq", True]],
        ),
        Case(
            "remove the test certificate with its key (deleted, and verified gone)",
            _steps(("remove_cert", {"store": MY, "thumbprint": thumb})),
            True,
            [*SUCCEEDED, ["steps.0.result.removed", "eq", True], ["steps.0.result.key_deleted", "eq", True]],
        ),
        Case(
            "a certificate whose key is lost is repaired by importing its PFX again",
            _steps(
                ("add_cert", {"store": MY, "der": der}),  # the entry without a working key
                ("import_pfx", {"store": MY, "pfx": pfx, "password": one_time, "thumbprint": thumb}),
                ("assert_cert", {"store": MY, "thumbprint": thumb, "expect": KEY_READY}),
            ),
            True,
            [
                *SUCCEEDED,
                ["steps.1.result.replaced", "eq", True],
                ["steps.1.result.already_present", "eq", False],
                ["steps.2.result.key_usable", "eq", True],
            ],
        ),
        Case(
            "remove it again",
            _steps(("remove_cert", {"store": MY, "thumbprint": thumb})),
            True,
            [*SUCCEEDED, ["steps.0.result.key_deleted", "eq", True]],
        ),
        Case(
            "a certificate without a key is removed; no key is claimed deleted",
            _steps(("add_cert", {"store": MY, "der": der}), ("remove_cert", {"store": MY, "thumbprint": thumb})),
            True,
            [*SUCCEEDED, ["steps.1.result.removed", "eq", True], ["steps.1.result.key_deleted", "eq", False]],
        ),
        Case("host_info without become", _steps(("host_info", {})), False, SUCCEEDED),
        Case(
            "the administrator adds a CA to LocalMachine\\Root and removes it again",
            _steps(
                ("add_cert", {"store": MACHINE_ROOT, "der": ca_der}),
                ("list_certs", {"store": MACHINE_ROOT}),
                ("remove_cert", {"store": MACHINE_ROOT, "thumbprint": ca_thumb}),
            ),
            False,
            [
                *SUCCEEDED,
                ["steps.0.result.already_present", "eq", False],
                ["steps.1.result.certificates", "any_eq", ["der", ca_der]],
                ["steps.2.result.removed", "eq", True],
            ],
        ),
        Case(
            "the operator may not add to LocalMachine\\Root (access denied, with its HRESULT)",
            _steps(("add_cert", {"store": MACHINE_ROOT, "der": ca_der})),
            True,
            [["failed", "eq", True], ["steps.0.hresult", "eq", HR_ACCESS_DENIED]],
        ),
        Case(
            "the administrator registers the event-log source (once; then it is already there)",
            _steps(("add_event_source", {"source": EVENT_SOURCE})),
            False,
            [*SUCCEEDED, ["steps.0.result.source", "eq", EVENT_SOURCE]],
        ),
        Case(
            "the operator writes an audit-trail entry to the Application log",
            _steps(
                (
                    "write_event",
                    {
                        "source": EVENT_SOURCE,
                        "event_id": 1000,
                        "entry_type": "Information",
                        "message": "onshi-cert contract test (no certificate was changed)",
                    },
                )
            ),
            True,
            [*SUCCEEDED, ["steps.0.result.written", "eq", True]],
        ),
    ]


def generate(out: Path, operator: str, password: str) -> list[Case]:
    """Write each case (command line, stdin, expectations) as ``NN.json``, 0600: become payloads hold a password."""
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    command, arguments = payload.command_line()
    made = cases(operator)
    for index, case in enumerate(made):
        options = {"become_user": operator, "become_password": password} if case.become else {}
        stdin = payload.stdin_for(case.request, **options)
        data = {
            "name": case.name,
            "command": command,
            "arguments": arguments,
            "stdin": base64.b64encode(stdin).decode(),
            "expect": case.expect,
        }
        path = out / f"{index:02d}.json"
        path.write_text(json.dumps(data), encoding="utf-8")
        path.chmod(0o600)
    return made


def _at(answer: Any, path: str) -> tuple[bool, Any]:
    """Return whether ``path`` exists in ``answer`` and its value (keys may hold dots only as the last part)."""
    value, parts = answer, path.split(".")
    for index, part in enumerate(parts):
        if isinstance(value, dict) and ".".join(parts[index:]) in value:
            return True, value[".".join(parts[index:])]
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return False, None
    return True, value


def passes(test: str, value: Any, wanted: Any) -> bool:
    """Return whether ``value`` (present in the answer) meets ``test`` with ``wanted`` (see TESTS)."""
    items = [v for v in value if isinstance(v, dict)] if isinstance(value, list) else None
    if test in ("eq", "ne"):
        return (value == wanted) is (test == "eq")
    if test in ("endswith", "startswith"):
        return getattr(str(value).lower(), test)(str(wanted).lower())
    if test == "length":
        return isinstance(value, list) and len(value) == wanted
    if items is None:
        return False
    if test in ("any_has", "none_has"):
        return any(wanted in v for v in items) is (test == "any_has")
    if test == "any_eq":
        return any(v.get(wanted[0]) == wanted[1] for v in items)
    if test == "all_eq":
        return all(v.get(wanted[0]) == wanted[1] for v in items)
    raise ValueError(f"unknown test {test!r}")


def problems_in(answer: Any, expect: list[Expectation]) -> list[str]:
    """Return each expectation the answer does not meet (the same rules run-contract.ps1 applies)."""
    found = []
    for path, test, wanted in expect:
        present, value = _at(answer, path)
        if not (present and passes(test, value, wanted)):
            found.append(f"{path} {test} {wanted!r}: got {value!r}" if present else f"{path}: missing")
    return found


def check(out: Path, made: list[Case]) -> list[str]:
    """Return every problem in the answers saved beside the cases (``NN.answer.json``)."""
    problems = []
    for index, case in enumerate(made):
        try:
            answer = json.loads((out / f"{index:02d}.answer.json").read_text(encoding="utf-8-sig"))
        except (OSError, ValueError) as exc:
            problems.append(f"{case.name}: no JSON answer ({exc})")
            continue
        problems += [f"{case.name}: {p}" for p in problems_in(answer, case.expect)]
    return problems


def run(out: Path, operator: str, password: str, runner: Callable[[Path], None]) -> tuple[list[Case], list[str]]:
    """Generate the cases, run them with ``runner``, check the answers; the password-holding files are removed."""
    made = generate(out, operator, password)
    try:
        runner(out)
        return made, check(out, made)
    finally:
        for path in out.glob("[0-9][0-9].json"):
            path.unlink()


def winrm_runner(
    endpoint: str, user: str, password: str, *, listener_cert: Path | None = None
) -> Callable[[Path], None]:
    """Return a runner that sends each case over WinRM as ansible-core's winrm connection does (pywinrm, NTLM with
    message encryption): a network logon as ``user`` (an administrator), and ``become`` in the payload, so DPAPI,
    UAC remote restrictions and WinRM's quotas take part. With ``listener_cert`` (the PEM of the PC's listener
    certificate, from day 0) the HTTPS listener is validated against it; without, it is not validated (tests)."""

    def run(folder: Path) -> None:
        from winrm.protocol import Protocol

        protocol = Protocol(
            endpoint=endpoint,
            transport="ntlm",
            username=user,
            password=password,
            server_cert_validation="validate" if listener_cert else "ignore",
            ca_trust_path=str(listener_cert) if listener_cert else "legacy_requests",
        )
        for case_file in sorted(folder.glob("[0-9][0-9].json")):
            case = json.loads(case_file.read_text(encoding="utf-8"))
            shell = protocol.open_shell(codepage=65001)
            try:
                command = protocol.run_command(shell, case["command"], case["arguments"])
                protocol.send_command_input(shell, command, base64.b64decode(case["stdin"]), end=True)
                stdout, _stderr, _rc = protocol.get_command_output(shell, command)
                protocol.cleanup_command(shell, command)
            finally:
                protocol.close_shell(shell)
            (folder / f"{case_file.stem}.answer.json").write_bytes(stdout)

    return run
