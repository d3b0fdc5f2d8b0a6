"""What a lab PC does with a WinRM command: recognise Ansible's PowerShell exec payload, apply
``become``, and run the onshi-cert agent through the Windows model. Anything else is refused by name.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import shlex
from dataclasses import dataclass, field
from typing import Any

from onshi_cert.agent.contract import AGENT_FILE, AGENT_UTIL, agent_script, agent_util_script
from onshi_cert_tools.lab.agent_model import Interrupted, run_agent
from onshi_cert_tools.lab.cores import ENVIRONMENT, Core, known_cores
from onshi_cert_tools.lab.windows import Session, WindowsHost

POWERSHELL = ("powershell", "powershell.exe")
MANIFEST_SEPARATOR = b"\n\0\0\0\0\n"
LEGACY_SEPARATOR = b"\0\0\0\0"
KNOWN_WRAPPERS = {"exec_wrapper.ps1", "module_wrapper.ps1", "become_wrapper.ps1"}
KNOWN_LEGACY_WRAPPERS = {"module_powershell_wrapper", "become_wrapper"}
AGENT_SHA256 = hashlib.sha256(agent_script()).hexdigest()
AGENT_UTIL_SHA256 = hashlib.sha256(agent_util_script()).hexdigest()


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


def _split(line: str) -> list[str]:
    """Split a command line as ``shlex.split`` does ([] when it cannot).

    A line of printable characters without quotes or backslashes (what Ansible sends: options and base64) splits
    on its spaces alone, exactly as shlex would; shlex reads it a character at a time in Python: 3.5 ms for the
    4,000-character line of each execution, about a sixth of the lab's CPU per audited PC.
    """
    if line.isprintable() and not any(c in line for c in "'\"\\"):
        return line.split()
    try:
        return shlex.split(line)
    except ValueError:
        return []


def decode_command_line(command: str, arguments: list[str]) -> str:
    """Return the PowerShell script a command line runs; Refused when it is not an encoded command.

    WinRM joins the command and its arguments with spaces (ansible-core 2.21 sends the whole line as the
    command), and PowerShell reads -NoProfile -NonInteractive [-ExecutionPolicy X] -EncodedCommand B64.
    """
    line = " ".join([command, *arguments])
    parts = _split(line)
    options = [p.lower() for p in parts[1:-1]]
    well_formed = (
        len(parts) >= 5
        and parts[0].lower() in POWERSHELL
        and options[:2] == ["-noprofile", "-noninteractive"]
        and options[-1] == "-encodedcommand"
        and options[2:-1] in ([], ["-executionpolicy", "unrestricted"])
    )
    if not well_formed:
        raise Refused(f"command line {line[:120]!r} is not a PowerShell encoded command")
    try:
        return base64.b64decode(parts[-1], validate=True).decode("utf-16-le")
    except ValueError as exc:
        raise Refused(f"command line {line[:120]!r} does not carry a base64 UTF-16 script") from exc


@functools.lru_cache(maxsize=64)
def script_text(encoded: str) -> str:
    """Return the text of a manifest's base64 script: a fleet's executions carry the same few, decoded once."""
    return base64.b64decode(encoded).decode("utf-8", errors="replace")


@functools.lru_cache(maxsize=64)
def text_sha256(text: str) -> str:
    """Return the SHA-256 (hex) of a script's UTF-8 text, once per distinct text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class Payload:
    """What the exec wrappers would run: the module's text, its arguments and the become request."""

    module_name: str
    module_text: str
    complex_args: dict[str, Any]
    become: dict[str, Any] | None  # user, password (None: S4U), logon type
    scripts: list[str]
    #: the PowerShell module utils the exec wrapper loads before the module: name as ansible-core sends it -> text
    utils: dict[str, str] = field(default_factory=dict)


def _parse_actions(core: Core, stdin: bytes) -> Payload:
    """Read ansible-core 2.19+'s input: the bootstrap JSON, then a manifest of scripts and actions."""
    head, sep, rest = stdin.partition(MANIFEST_SEPARATOR)
    if not sep:
        raise Refused("the bootstrap input has no exec manifest")
    bootstrap = json.loads(head)
    if bootstrap.get("name") != "exec_wrapper" or bootstrap.get("script") not in core.exec_wrappers:
        raise Refused(f"the bootstrap input does not carry ansible-core {core.version}'s exec_wrapper.ps1")
    manifest = json.loads(rest)
    scripts = {name: script_text(info["script"]) for name, info in manifest.get("scripts", {}).items()}
    actions = manifest.get("actions", [])
    names = [a.get("name") for a in actions]
    unknown = [n for n in names if n not in KNOWN_WRAPPERS]
    if unknown:
        raise Refused(f"exec wrapper action {unknown[0]!r} is not modelled by the lab (async and coverage are not)")
    if not names or names[-1] != "module_wrapper.ps1":
        raise Refused("the exec manifest does not end with module_wrapper.ps1")
    needed = core.needed_module | (core.needed_become if "become_wrapper.ps1" in names else frozenset())
    absent = sorted(needed - set(scripts))
    if absent:
        # On Windows the wrapper would fail to load them: say so instead of running the agent anyway.
        raise Refused(f"the exec manifest lacks {', '.join(absent)}, which the wrappers it runs would load")
    module = actions[-1].get("params", {})
    module_name = module.get("Script", "?")
    complex_args: dict[str, Any] = {}
    for variable in module.get("Variables") or []:
        if variable.get("Name") == "complex_args":
            complex_args = variable.get("Value") or {}
    become = None
    action = next((a for a in actions if a.get("name") == "become_wrapper.ps1"), None)
    if action:
        params = action.get("params", {})
        become = {
            "user": str(params.get("BecomeUser") or ""),
            "password": action.get("secure_params", {}).get("BecomePassword"),
            "logon": str(params.get("LogonType") or "Interactive"),
        }
    utils = {name.removesuffix(".psm1"): text for name, text in scripts.items() if name.endswith(".psm1")}
    return Payload(
        module_name,
        scripts.get(module_name, ""),
        complex_args,
        become,
        [bootstrap["script"], *scripts.values()],
        utils,
    )


def _parse_legacy(core: Core, stdin: bytes) -> Payload:
    """Read ansible-core 2.16-2.18's input: the exec wrapper, four NULs, then a JSON manifest."""
    head, sep, rest = stdin.partition(LEGACY_SEPARATOR)
    if not sep:
        raise Refused("the bootstrap input has no exec manifest")
    if head.decode("utf-8", errors="replace") not in core.exec_wrappers:
        raise Refused(f"the bootstrap input does not carry ansible-core {core.version}'s exec_wrapper.ps1")
    manifest = json.loads(rest)
    names = list(manifest.get("actions", []))
    unknown = [n for n in names if n not in KNOWN_LEGACY_WRAPPERS]
    if unknown:
        raise Refused(f"exec wrapper action {unknown[0]!r} is not modelled by the lab (async and coverage are not)")
    if not names or names[-1] != "module_powershell_wrapper":
        raise Refused("the exec manifest does not end with module_powershell_wrapper")
    present = {*manifest.get("powershell_modules", {}), *manifest.get("csharp_utils", {})}
    needed = core.needed_module | (core.needed_become if "become_wrapper" in names else frozenset())
    absent = sorted(needed - present)
    if absent:
        raise Refused(f"the exec manifest lacks {', '.join(absent)}, which the wrappers it runs would load")
    if "become_wrapper" in names and "become_wrapper" not in manifest:
        raise Refused("the exec manifest runs become_wrapper without carrying it")
    become = None
    if "become_wrapper" in names:
        flags = dict(flag.split("=", 1) for flag in str(manifest.get("become_flags") or "").split() if "=" in flag)
        become = {
            "user": str(manifest.get("become_user") or ""),
            "password": manifest.get("become_password"),
            "logon": flags.get("logon_type", "interactive"),
        }
    module_text = script_text(manifest.get("module_entry", ""))
    wrappers = [script_text(manifest[n]) for n in names if n in manifest]
    utils = {name: script_text(data) for name, data in (manifest.get("powershell_modules") or {}).items()}
    return Payload(
        AGENT_FILE, module_text, manifest.get("module_args") or {}, become, [head.decode(), *wrappers], utils
    )


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
    script: str | None = None,
) -> Outcome:
    """Run one WinRM command on ``host`` as ``connecting_user``.

    ``script`` is given for a PSRP pipeline: the runspace runs the script itself (the psrp connection
    decodes the encoded command instead of starting powershell.exe), and ``stdin`` is its input lines.
    Raises Refused for anything that is not Ansible's exec payload carrying the onshi-cert agent,
    and Interrupted when a fault cuts the connection at a step boundary.
    """
    if script is None:
        script = decode_command_line(command, arguments)
    if "\n" not in script.strip() and script.strip().lower().startswith(POWERSHELL):
        # ansible-core 2.16-2.18 wrap the module's command line in one more encoded PowerShell command:
        # the outer PowerShell runs the inner one, which reads the same input.
        script = decode_command_line(script.strip(), [])
    core = next((c for c in known_cores() if script in c.bootstraps), None)
    if core is None:
        versions = ", ".join(c.version for c in known_cores())
        raise Refused(
            f"the encoded command is not the bootstrap_wrapper.ps1 of a known ansible-core ({versions}; "
            f"name more with {ENVIRONMENT}) ({len(script)} characters)"
        )
    payload = (_parse_legacy if core.style == "legacy" else _parse_actions)(core, stdin)
    digest = text_sha256(payload.module_text)
    if not payload.module_name.endswith(AGENT_FILE) or digest != AGENT_SHA256:
        raise Refused(
            f"module {payload.module_name!r} (sha256 {digest[:12]}) is not the onshi-cert agent "
            f"{AGENT_FILE} (sha256 {AGENT_SHA256[:12]}); the lab runs nothing else"
        )
    # The agent reads its request with its module util, which the exec wrapper loads first (2.19 and later name it
    # by its full name, 2.16-2.18 as the agent's #AnsibleRequires line does): without it, or with other text, the
    # agent would stop at its first Test-Key on Windows, or run code that is not onshi-cert's.
    util = next((text for name, text in payload.utils.items() if name.endswith(f"module_utils.{AGENT_UTIL}")), None)
    if util is None:
        raise Refused(f"the exec manifest lacks the agent's module util {AGENT_UTIL}, which the agent needs")
    util_digest = text_sha256(util)
    if util_digest != AGENT_UTIL_SHA256:
        raise Refused(
            f"module util {AGENT_UTIL} (sha256 {util_digest[:12]}) is not the onshi-cert agent's "
            f"(sha256 {AGENT_UTIL_SHA256[:12]}); the lab runs nothing else"
        )
    complex_args = payload.complex_args
    recorded = [script, *payload.scripts]
    if host.language_mode != "FullLanguage" and core.style != "legacy":
        # Under AppLocker/WDAC, ansible-core 2.19+'s module_wrapper.ps1 runs an untrusted (unsigned) module in
        # ConstrainedLanguage, but refuses one that imports module utils before it starts; the exec wrapper
        # answers that failure as its JSON (Write-AnsibleErrorJson). The agent's own check is not reached.
        reason = (
            f"Cannot run untrusted PowerShell script '{payload.module_name}' in ConstrainedLanguage mode with "
            "module util imports."
        )
        return Outcome(
            json.dumps({"failed": True, "msg": f"failure during exec_wrapper: {reason}", "exception": reason}).encode(),
            rc=1,
            scripts=recorded,
        )

    connecting = host.user(connecting_user)
    if connecting is None:  # authentication already checked the user exists
        return _fail(f"Failed to find user '{connecting_user}'")
    session = Session(connecting.name, connecting.network_admin(host), "network", dpapi=False)
    become = payload.become
    if become:
        target_name, password = become["user"], become["password"]
        target = host.user(target_name)
        if target is None or (password is not None and password != target.password):
            return _fail(
                f"Failed to become user {target_name}: LogonUser failed (The user name or password is incorrect, "
                "Win32ErrorCode 1326)"
            )
        logon = become["logon"].lower()
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
