"""The agent session: one agent request over the task's own connection (winrm or psrp), with become, secrets
sealed, and the transport checked; what the action plugins hand the workflow as its runner."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator, Mapping
from typing import Any

from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.plugins.action import ActionBase

from . import listener
from .agent.contract import (
    AGENT_MODULE,
    WRAPPER_REFUSALS,
    ContractError,
    Response,
    Step,
    build_request,
    parse_response,
)
from .core import messages
from .core.errors import OnshiCertError
from .i18n import say as _


def agent_name(action: ActionBase) -> str:
    """Return the agent module's FQCN in the collection the action plugin was loaded from (onshi.cert)."""
    namespace, collection = type(action).__module__.split(".")[1:3]
    return f"{namespace}.{collection}.{AGENT_MODULE}"


#: Per-host options of the fleet-wide (run_once) actions -> the host variable each is read from when not given.
HOST_VARIABLES = {
    "sites": "group_names",
    "site_names": "onshi_cert_site",
    "facility_names": "onshi_cert_facility_name",
    "facility_codes": "onshi_cert_facility_codes",
}


def from_hostvars(args: dict[str, Any], task_vars: dict[str, Any], variables: dict[str, str]) -> dict[str, Any]:
    """Return ``args`` with each per-host option (``variables``: option -> host variable) that was not given
    filled, for every host of ``args["hosts"]``, from that host's variables, each host's variables computed
    once: a ``map('extract', hostvars, ...)`` per option computes every host's variables once per option."""
    missing = {option: var for option, var in variables.items() if args.get(option) is None}
    filled: dict[str, dict[str, Any]] = {option: {} for option in missing}
    hostvars = task_vars.get("hostvars") or {}
    raw_get = getattr(hostvars, "raw_get", None)  # Ansible's HostVars: the variables as stored, not templated
    for name in args["hosts"] if missing else ():
        if name not in hostvars:
            for option in missing:
                filled[option][name] = None
            continue
        # A value with no template in it is used as stored: templating a PC's onshi_cert fact only copies it (in
        # ansible-core 2.19, deeply: a third of the report's time at 1,000 PCs). Anything that may be a template
        # (or any value, without raw_get) is read through hostvars[name], templated with that host's variables
        # under Ansible's own trust rules (a fact's "{{" from a certificate subject is never rendered).
        raw = raw_get(name) if raw_get is not None else None
        templated = None
        for option, var in missing.items():
            value = raw.get(var) if isinstance(raw, Mapping) else None
            if raw is None or (value is not None and _may_template(value)):
                templated = templated if templated is not None else hostvars[name]
                value = templated.get(var)
            filled[option][name] = value
    return args | filled


def _may_template(value: Any) -> bool:
    """Return whether ``value`` holds a string Jinja could treat as a template (then it is read templated)."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value or "{#" in value
    if isinstance(value, Mapping):
        return any(_may_template(k) or _may_template(v) for k, v in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(_may_template(v) for v in value)
    return False


def one_time_password() -> str:
    """Return a random password for a PFX that only lives for one agent request."""
    return secrets.token_urlsafe(24)


def insecure_transport(connection: Any, task_vars: dict[str, Any]) -> str | None:
    """Return why the connection would send secrets readable on the wire, or None when it is safe."""
    kind = getattr(connection, "transport", None)
    if kind in ("psrp", "ansible.builtin.psrp"):
        return _insecure_psrp(connection)
    if kind not in ("winrm", "ansible.builtin.winrm"):
        return None
    if connection_endpoint(connection, "")[2]:
        return None
    transports = [t for t in (connection.get_option("transport") or []) if t] or ["plaintext"]
    if set(transports) & {"basic", "plaintext"}:
        return _("Basic authentication over plain HTTP")
    if str(task_vars.get("ansible_winrm_message_encryption", "auto")).lower() == "never":
        return _("WinRM over plain HTTP with message encryption turned off")
    return None


def _insecure_psrp(connection: Any) -> str | None:
    """The psrp connection's own options: plain HTTP is safe only with an auth that encrypts messages."""
    if connection_endpoint(connection, "")[2]:
        return None
    auth = str(connection.get_option("auth") or "negotiate").lower()
    if auth in ("basic", "certificate"):
        return _("{auth} authentication over plain HTTP (psrp)", auth=auth.capitalize())
    if str(connection.get_option("message_encryption") or "auto").lower() == "never":
        return _("PSRP over plain HTTP with message encryption turned off")
    return None


class AgentSession:
    """Runs agent requests for one task, counting executions and keeping secrets out of logs."""

    def __init__(self, action: ActionBase, task_vars: dict[str, Any]) -> None:
        self.action = action
        self.task_vars = task_vars
        self.executions = 0
        self.host = task_vars.get("inventory_hostname", "?")
        reason = insecure_transport(action._connection, task_vars)
        if reason and task_vars.get("onshi_cert_allow_insecure_transport") is not True:
            raise fail(self.host, OnshiCertError(messages.INSECURE, reason=reason))
        expected = task_vars.get("onshi_cert_listener_fingerprint")
        kind = str(getattr(action._connection, "transport", "") or "").rsplit(".", 1)[-1]
        if expected and kind in ("winrm", "psrp"):  # day 0: nothing goes to a listener not recorded
            address, port, https = connection_endpoint(action._connection, self.host)
            try:
                listener.check(self.host, address, port, https=https, expected=str(action._templar.template(expected)))
            except OnshiCertError as exc:
                raise fail(self.host, exc) from None

    @contextlib.contextmanager
    def _quiet(self) -> Iterator[None]:
        """Censor the connection's own logging of the agent's raw answer (it may hold PFX bytes).

        The connection keeps its own play context (not the action's), so both are set.
        """
        contexts = {
            id(c): c
            for c in (self.action._play_context, getattr(self.action._connection, "_play_context", None))
            if c is not None
        }
        before = {key: context.no_log for key, context in contexts.items()}
        for context in contexts.values():
            context.no_log = True
        try:
            yield
        finally:
            for key, context in contexts.items():
                context.no_log = before[key]

    @contextlib.contextmanager
    def without_become(self) -> Iterator[None]:
        """Run as the connecting user (an administrator) instead of the become user."""
        connection = self.action._connection
        before = connection.become
        connection.become = None
        try:
            yield
        finally:
            connection.become = before

    def run(self, steps: list[Step], *, check_mode: bool = False) -> Response:
        """Run ``steps`` in one agent execution; raise AnsibleActionFail on a transport or contract error."""
        try:
            request = build_request(steps, check_mode=check_mode)
        except ContractError as exc:
            raise fail(self.host, OnshiCertError(messages.INTERNAL, detail=exc)) from None
        request["_ansible_no_log"] = True
        if not self.action._is_pipelining_enabled("new"):
            # Unpipelined, ansible-core would write the module and its arguments (passwords, key material) to
            # a file on the PC first. WinRM and PSRP pipeline unless keep_remote_files is set.
            raise fail(self.host, OnshiCertError(messages.NOT_PIPELINED))
        self.executions += 1
        with self._quiet():
            raw = self.action._execute_module(
                module_name=agent_name(self.action), module_args=request, task_vars=self.task_vars
            )
        try:
            return parse_response(raw)
        except ContractError as exc:
            detail = str(raw.get("msg") or raw.get("module_stderr") or raw.get("module_stdout") or "").strip()[:500]
            if any(refusal in detail for refusal in WRAPPER_REFUSALS):
                # AppLocker/WDAC: ansible-core's module wrapper refused the unsigned agent (with its module util), or
                # a signed agent's unsigned util, before it ran, so the agent could not say so itself.
                blocked = OnshiCertError(messages.AGENT_BLOCKED, what=AGENT_MODULE, detail=detail)
                raise fail(self.host, blocked) from None
            raise fail(self.host, OnshiCertError(messages.AGENT_NO_ANSWER, detail=detail or exc)) from None


def fail(host: str, exc: OnshiCertError, *, file: str | None = None) -> AnsibleActionFail:
    """Return the one failure an action raises: host, file, ``[code]`` what is wrong, and the fix.

    The result also carries ``error_code`` (ONSHI-E###) and ``fix``, for the recap and for AWX, and
    ``error_fields``, the values the message was filled with, for documents in another language.
    """
    where = f"{host}: {file}: " if file else f"{host}: "
    result = {"error_code": exc.code, "fix": exc.fix}
    fields = exc.fields()
    return AnsibleActionFail(where + exc.describe(), result=result | ({"error_fields": fields} if fields else {}))


def connection_endpoint(connection: Any, host: str) -> tuple[str, int, bool]:
    """Return the address, port and whether it is HTTPS, as the task's WinRM or PSRP connection will connect: as
    both plugins decide it, a scheme (``protocol`` for psrp) left unset is http on port 5985 and https otherwise."""
    port = _option(connection, "port")
    scheme = _option(connection, "scheme") or _option(connection, "protocol")
    if scheme is None:
        scheme = "http" if port == 5985 else "https"
    https = str(scheme).lower() == "https"
    return str(_option(connection, "remote_addr") or host), int(port or (5986 if https else 5985)), https


def _option(connection: Any, name: str) -> Any:
    """Return a connection option, or None when this connection plugin has no such option."""
    try:
        return connection.get_option(name)
    except (KeyError, AnsibleError):
        return None
