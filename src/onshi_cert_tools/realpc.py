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

from onshi_cert.agent.contract import EVENT_SOURCE, HR_INVALID_PASSWORD, b64
from onshi_cert.core.certinfo import thumbprint
from onshi_cert.core.pkcs12 import Encryption
from onshi_cert_tools import payload
from onshi_cert_tools.factory import CertificateFactory

MY = "CurrentUser\\My"
TEST_CA = "onshi-cert contract test CA (not for production)"
TEST_CODE = "4760177776"
WIN_INI = "C:\\Windows\\win.ini"

# An expectation is [path, test, value]: path is dot-separated keys and list indexes into the answer
# ("steps.0.result.dpapi"); test is "eq", "ne", "endswith" (case-insensitive) or "any_has" (some element
# of the list at path has the key value). run-contract.ps1 implements exactly these four.
Expectation = list[Any]


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
    """Return the contract cases for a PC whose operating user is ``operator`` (fresh test material each time)."""
    issued = CertificateFactory(TEST_CA, key_pool=1).leaf(TEST_CODE, days_left=30)
    thumb = thumbprint(issued.cert)
    one_time, export = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    pfx = b64(issued.p12(one_time, Encryption.TRIPLE_DES, include_chain=False))
    return [
        Case(
            "host_info as the operator, reading a file (hashtable arguments)",
            _steps(("host_info", {"read_files": [WIN_INI], "event_source": EVENT_SOURCE})),
            True,
            [
                *SUCCEEDED,
                ["steps.0.result.user", "endswith", f"\\{operator}"],
                ["steps.0.result.dpapi", "eq", True],
                ["steps.0.result.files." + WIN_INI, "ne", None],
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
            "a wrong PFX password fails with its HRESULT",
            _steps(("import_pfx", {"store": MY, "pfx": pfx, "password": "wrong", "thumbprint": thumb})),
            True,
            [["failed", "eq", True], ["steps.0.hresult", "eq", HR_INVALID_PASSWORD]],
        ),
        Case(
            "import with an exportable key, verify it, export it sealed",
            _steps(
                ("import_pfx", {"store": MY, "pfx": pfx, "password": one_time, "thumbprint": thumb}),
                ("assert_cert", {"store": MY, "thumbprint": thumb, "expect": {"has_private_key": True}}),
                ("list_certs", {"store": MY, "export_password": export}),
            ),
            True,
            [
                *SUCCEEDED,
                ["steps.0.result.thumbprint", "eq", thumb],
                ["steps.1.result.key_usable", "eq", True],
                ["steps.1.result.key_exportable", "eq", True],
                ["steps.2.result.certificates", "any_has", "pfx"],
            ],
        ),
        Case(
            "importing it again changes nothing (no orphan key)",
            _steps(("import_pfx", {"store": MY, "pfx": pfx, "password": one_time, "thumbprint": thumb})),
            True,
            [*SUCCEEDED, ["changed", "eq", False], ["steps.0.result.already_present", "eq", True]],
        ),
        Case(
            "remove the test certificate with its key",
            _steps(("remove_cert", {"store": MY, "thumbprint": thumb})),
            True,
            [*SUCCEEDED, ["steps.0.result.removed", "eq", True], ["steps.0.result.key_deleted", "eq", True]],
        ),
        Case("host_info without become", _steps(("host_info", {})), False, SUCCEEDED),
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


def problems_in(answer: Any, expect: list[Expectation]) -> list[str]:
    """Return each expectation the answer does not meet (the same rules run-contract.ps1 applies)."""
    found = []
    for path, test, wanted in expect:
        present, value = _at(answer, path)
        ok = {
            "eq": present and value == wanted,
            "ne": present and value != wanted,
            "endswith": present and str(value).lower().endswith(str(wanted).lower()),
            "any_has": present and isinstance(value, list) and any(isinstance(v, dict) and wanted in v for v in value),
        }[test]
        if not ok:
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
