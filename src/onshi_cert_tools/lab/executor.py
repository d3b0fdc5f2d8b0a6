"""What a lab PC does with a WinRM command: recognise Ansible's PowerShell exec payload, apply
``become``, and run the onshi-cert agent through the Windows model. Anything else is refused by name.
"""

from __future__ import annotations

import base64
import hashlib
import json
import pkgutil
from dataclasses import dataclass, field
from typing import Any

from onshi_cert.agent.contract import AGENT_FILE, agent_script
from onshi_cert_tools.lab.agent_model import Interrupted, run_agent
from onshi_cert_tools.lab.windows import Session, WindowsHost

POWERSHELL_PREFIX = ["PowerShell", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Unrestricted"]
MANIFEST_SEPARATOR = b"\n\0\0\0\0\n"
KNOWN_WRAPPERS = {"exec_wrapper.ps1", "module_wrapper.ps1", "become_wrapper.ps1"}


def _ansible_script(name: str) -> str:
    data = pkgutil.get_data("ansible.executor.powershell", name)
    if data is None:  # pragma: no cover - ansible-core always ships them
        raise RuntimeError(f"ansible-core lacks {name}")
    return data.decode("utf-8")


def _as_encoded_command(script: str) -> str:
    """Normalise a script exactly as ansible's PowerShell shell plugin does before encoding it."""
    return "\n".join(line.strip() for line in script.splitlines() if line.strip())


def _needed_by(*wrappers: str) -> frozenset[str]:
    """Return every script ansible-core's own dependency scan says these wrappers load (C# utils included)."""
    from ansible.executor.powershell.module_manifest import PSModuleDepFinder

    finder = PSModuleDepFinder()
    for wrapper in wrappers:
        finder.scan_exec_script(wrapper)
    return frozenset(finder.scripts)


BOOTSTRAP = _as_encoded_command(_ansible_script("bootstrap_wrapper.ps1"))
NEEDED_FOR_MODULE = _needed_by("module_wrapper.ps1")
NEEDED_FOR_BECOME = _needed_by("exec_wrapper.ps1", "become_wrapper.ps1")
EXEC_WRAPPER = _ansible_script("exec_wrapper.ps1")
AGENT_SHA256 = hashlib.sha256(agent_script()).hexdigest()


class Refused(Exception):
    """The lab will not run this: it is not something it models."""


@dataclass
class Outcome:
    """What the command printed and its exit code, plus what the lab learned."""

    stdout: bytes
    stderr: bytes = b""
    rc: int = 0
    changed_state: bool = False
    scripts: list[str] = field(default_factory=list)
    requested_steps: list[str] = field(default_factory=list)  # the operations the request asked for


def decode_command_line(command: str, arguments: list[str]) -> str:
    """Return the PowerShell script a command line runs; Refused when it is not an encoded command."""
    parts = [command, *arguments]
    if (
        len(parts) != len(POWERSHELL_PREFIX) + 2
        or [p.lower() for p in parts[:5]] != [p.lower() for p in POWERSHELL_PREFIX]
        or parts[5].lower() != "-encodedcommand"
    ):
        raise Refused(f"command line {' '.join(parts)[:120]!r} is not a PowerShell encoded command")
    return base64.b64decode(parts[6]).decode("utf-16-le")


def _fail(msg: str) -> Outcome:
    return Outcome(json.dumps({"failed": True, "msg": msg}).encode(), rc=1)


def execute(
    host: WindowsHost,
    connecting_user: str,
    command: str,
    arguments: list[str],
    stdin: bytes,
    *,
    cut_before_step: int | None = None,
) -> Outcome:
    """Run one WinRM command on ``host`` as ``connecting_user``.

    Raises Refused for anything that is not Ansible's exec payload carrying the onshi-cert agent,
    and Interrupted when a fault cuts the connection at a step boundary.
    """
    script = decode_command_line(command, arguments)
    if script != BOOTSTRAP:
        raise Refused(f"the encoded command is not ansible-core's bootstrap_wrapper.ps1 ({len(script)} characters)")
    head, sep, rest = stdin.partition(MANIFEST_SEPARATOR)
    if not sep:
        raise Refused("the bootstrap input has no exec manifest")
    bootstrap = json.loads(head)
    if bootstrap.get("name") != "exec_wrapper" or bootstrap.get("script") != EXEC_WRAPPER:
        raise Refused("the bootstrap input does not carry ansible-core's exec_wrapper.ps1")
    manifest = json.loads(rest)
    scripts = {
        name: base64.b64decode(info["script"]).decode("utf-8", errors="replace")
        for name, info in manifest.get("scripts", {}).items()
    }
    actions = manifest.get("actions", [])
    names = [a.get("name") for a in actions]
    unknown = [n for n in names if n not in KNOWN_WRAPPERS]
    if unknown:
        raise Refused(f"exec wrapper action {unknown[0]!r} is not modelled by the lab (async and coverage are not)")
    if not names or names[-1] != "module_wrapper.ps1":
        raise Refused("the exec manifest does not end with module_wrapper.ps1")
    needed = NEEDED_FOR_MODULE | (NEEDED_FOR_BECOME if "become_wrapper.ps1" in names else frozenset())
    absent = sorted(needed - set(scripts))
    if absent:
        # On Windows the wrapper would fail to load them: say so instead of running the agent anyway.
        raise Refused(f"the exec manifest lacks {', '.join(absent)}, which the wrappers it runs would load")
    module = actions[-1].get("params", {})
    module_name = module.get("Script", "?")
    module_text = scripts.get(module_name, "")
    digest = hashlib.sha256(module_text.encode("utf-8")).hexdigest()
    if not module_name.endswith(AGENT_FILE) or digest != AGENT_SHA256:
        raise Refused(
            f"module {module_name!r} (sha256 {digest[:12]}) is not the onshi-cert agent "
            f"{AGENT_FILE} (sha256 {AGENT_SHA256[:12]}); the lab runs nothing else"
        )
    complex_args: dict[str, Any] = {}
    for variable in module.get("Variables") or []:
        if variable.get("Name") == "complex_args":
            complex_args = variable.get("Value") or {}
    recorded = [script, EXEC_WRAPPER, *scripts.values()]

    connecting = host.user(connecting_user)
    if connecting is None:  # authentication already checked the user exists
        return _fail(f"Failed to find user '{connecting_user}'")
    session = Session(connecting.name, connecting.admin, "network", dpapi=False)
    become = next((a for a in actions if a.get("name") == "become_wrapper.ps1"), None)
    if become:
        target_name = str(become.get("params", {}).get("BecomeUser") or "")
        password = become.get("secure_params", {}).get("BecomePassword")
        target = host.user(target_name)
        if target is None or (password is not None and password != target.password):
            return _fail(
                f"Failed to become user {target_name}: LogonUser failed (The user name or password is incorrect, "
                "Win32ErrorCode 1326)"
            )
        logon = str(become.get("params", {}).get("LogonType") or "Interactive").lower()
        # With a password Windows creates a full logon with DPAPI; without one, an S4U logon has none.
        session = Session(
            target.name,
            target.admin,
            "interactive" if logon == "interactive" else logon,
            dpapi=password is not None,
            become=True,
        )
    requested = [str(step.get("op")) for step in complex_args.get("steps") or []]
    try:
        answer = run_agent(host, session, complex_args, cut_before_step=cut_before_step)
    except Interrupted as exc:
        exc.requested_steps = requested  # type: ignore[attr-defined]
        raise
    return Outcome(
        json.dumps(answer).encode(),
        rc=0,
        changed_state=bool(answer.get("changed")),
        scripts=recorded,
        requested_steps=requested,
    )


__all__ = ["Interrupted", "Outcome", "Refused", "execute"]
