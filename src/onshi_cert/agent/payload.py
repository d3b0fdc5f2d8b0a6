"""Build the exact exec payload Ansible (2.19+) sends to run the agent, for callers without Ansible's
task machinery: the lab's wire tests and direct pywinrm checks.
"""

from __future__ import annotations

import base64
import json
import pkgutil
from typing import Any

from onshi_cert.agent.contract import AGENT_FILE, agent_script

COMMON_ARGS = ["PowerShell", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Unrestricted"]


def _ansible_script(name: str) -> bytes:
    data = pkgutil.get_data("ansible.executor.powershell", name)
    if data is None:  # pragma: no cover
        raise RuntimeError(f"ansible-core lacks {name}")
    return data


def command_line() -> tuple[str, list[str]]:
    """Return the command and arguments that start ``bootstrap_wrapper.ps1``, as Ansible encodes it."""
    script = _ansible_script("bootstrap_wrapper.ps1").decode()
    script = "\n".join(line.strip() for line in script.splitlines() if line.strip())
    encoded = base64.b64encode(script.encode("utf-16-le")).decode()
    return COMMON_ARGS[0], [*COMMON_ARGS[1:], "-EncodedCommand", encoded]


def stdin_for(
    complex_args: dict[str, Any],
    *,
    script: bytes | None = None,
    module_name: str = AGENT_FILE,
    become_user: str | None = None,
    become_password: str | None = None,
) -> bytes:
    """Return the bootstrap input that runs ``script`` (the agent by default) with ``complex_args``."""
    scripts = {
        "module_wrapper.ps1": _ansible_script("module_wrapper.ps1"),
        module_name: script if script is not None else agent_script(),
    }
    actions: list[dict[str, Any]] = []
    if become_user is not None:
        scripts["become_wrapper.ps1"] = _ansible_script("become_wrapper.ps1")
        secure = {"BecomePassword": become_password} if become_password is not None else {}
        actions.append({"name": "become_wrapper.ps1", "params": {"BecomeUser": become_user}, "secure_params": secure})
    actions.append(
        {
            "name": "module_wrapper.ps1",
            "params": {
                "Script": module_name,
                "Environment": {},
                "ForModule": True,
                "CSharpModules": [],
                "PowerShellModules": [],
                "Variables": [{"Name": "complex_args", "Value": complex_args, "Scope": "Global"}],
            },
            "secure_params": {},
        }
    )
    manifest = {
        "scripts": {n: {"path": n, "script": base64.b64encode(s).decode()} for n, s in scripts.items()},
        "actions": actions,
        "signed_hashlist": [],
    }
    bootstrap = {
        "name": "exec_wrapper",
        "script": _ansible_script("exec_wrapper.ps1").decode(),
        "params": {"MinOSVersion": None, "MinPSVersion": "5.1", "TempPath": None},
    }
    return f"{json.dumps(bootstrap)}\n\0\0\0\0\n{json.dumps(manifest)}".encode()


def run(protocol: Any, complex_args: dict[str, Any], **options: Any) -> dict[str, Any]:
    """Run the agent through an open pywinrm ``Protocol`` and return its JSON answer."""
    shell = protocol.open_shell(codepage=65001)
    try:
        command, arguments = command_line()
        command_id = protocol.run_command(shell, command, arguments, console_mode_stdin=False)
        protocol.send_command_input(shell, command_id, stdin_for(complex_args, **options), end=True)
        stdout, stderr, rc = protocol.get_command_output(shell, command_id)
        protocol.cleanup_command(shell, command_id)
    finally:
        protocol.close_shell(shell)
    try:
        return json.loads(stdout)
    except ValueError as exc:
        raise RuntimeError(f"the agent did not answer with JSON (rc {rc}): {stdout[:300]!r} {stderr[:300]!r}") from exc
