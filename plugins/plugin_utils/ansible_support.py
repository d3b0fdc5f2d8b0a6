"""Glue shared by the action plugins: run the agent over the task's connection, shape failures.

This and ``warmup.py`` (caches filled once in the ansible-playbook parent) are the only places, besides the
plugins themselves (``plugins/action/``), that import Ansible.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

from . import i18n, options, requirements
from .agent.contract import (
    AGENT_MODULE,
    WRAPPER_REFUSALS,
    ContractError,
    Response,
    Step,
    build_request,
    parse_response,
)
from .core import messages, paths
from .core.errors import OnshiCertError
from .i18n import say as _
from .warmup import role_argument_specs, settle_worker, warm

warm()  # in the ansible-playbook parent, before it forks its workers


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
    scheme = connection.get_option("scheme")
    if scheme is None:
        scheme = "http" if connection.get_option("port") == 5985 else "https"
    if scheme == "https":
        return None
    transports = [t for t in (connection.get_option("transport") or []) if t] or ["plaintext"]
    if set(transports) & {"basic", "plaintext"}:
        return _("Basic authentication over plain HTTP")
    if str(task_vars.get("ansible_winrm_message_encryption", "auto")).lower() == "never":
        return _("WinRM over plain HTTP with message encryption turned off")
    return None


def _insecure_psrp(connection: Any) -> str | None:
    """The psrp connection's own options: plain HTTP is safe only with an auth that encrypts messages."""
    protocol = connection.get_option("protocol")
    if protocol is None:
        protocol = "http" if connection.get_option("port") == 5985 else "https"
    if protocol == "https":
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

    The result also carries ``error_code`` (ONSHI-E###) and ``fix``, for the recap and for AWX.
    """
    where = f"{host}: {file}: " if file else f"{host}: "
    return AnsibleActionFail(where + exc.describe(), result={"error_code": exc.code, "fix": exc.fix})


DATA_OPTIONS = ("backup_dir", "p12_dir", "dest")
#: The option that names, for other options, the variables they are read from (``options_from_variables``).
OPTION_VARS = "option_vars"


def _variable_names(names: Any) -> list[str]:
    """The variable names of one ``option_vars`` entry (a name, or a non-empty list of names); [] if malformed."""
    found = [names] if isinstance(names, str) else names if isinstance(names, list) else []
    return found if found and all(isinstance(name, str) and name for name in found) else []


def refuse_collection_paths(args: dict[str, Any]) -> None:
    """Refuse a data folder inside an installed collection: reinstalling it deletes everything below."""
    for name in DATA_OPTIONS:
        value = args.get(name)
        if value and "ansible_collections" in Path(str(value)).resolve().parts:
            raise OnshiCertError(messages.DATA_IN_COLLECTION, option=name, value=value)


class OnshiAction(ActionBase):
    """The frame every onshi-cert action plugin shares: check mode, validated arguments, one clear failure.

    A plugin sets ``SPEC`` (and ``SPEC_RULES`` such as ``mutually_exclusive``) and implements ``act``,
    which returns the result; an OnshiCertError becomes the task's failure naming the host and file.
    """

    _supports_check_mode = True
    _supports_async = False
    SPEC: ClassVar[dict[str, Any]] = {}
    SPEC_RULES: ClassVar[dict[str, Any]] = {}

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        """Validate the arguments, call ``act`` and shape its result or failure."""
        settle_worker()
        result = super().run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        host = task_vars.get("inventory_hostname", "?")
        i18n.use(self._templar.template(task_vars.get("onshi_cert_lang")) if "onshi_cert_lang" in task_vars else None)
        checked = self.validate_role_variables(task_vars, host)
        self.options_from_variables(task_vars, host, checked)
        absent = requirements.missing()
        if absent:
            raise fail(host, OnshiCertError(messages.MISSING_PACKAGES, packages=", ".join(absent)))
        try:
            options.check_text_inputs(self._task.args, skip=options.SHARED_OPTIONS)
        except OnshiCertError as exc:
            raise fail(host, exc) from None
        args = self.validate_argument_spec(**self.SPEC, **self.SPEC_RULES)[1]
        try:
            refuse_collection_paths(args)
            outcome = self.act(args, task_vars, host)
        except OnshiCertError as exc:
            raise fail(host, exc, file=getattr(exc, "file", None) or args.get("path")) from None
        result.update(outcome)
        opened = paths.take_warnings()  # a data folder open to other users (core.paths.private_dir)
        if opened:
            result["warnings"] = [*result.get("warnings", []), *opened]
        return result

    def validate_role_variables(self, task_vars: dict[str, Any], host: str) -> dict[str, Any]:
        """Check the calling role's variables against its meta/argument_specs.yml, here in the worker; return
        the variables it templated to check them (name -> value), which ``options_from_variables`` reuses.

        The playbooks import the roles with ``rolespec_validate: false``: Ansible's own check would add a task,
        and so a forked worker, per PC; this is the same ArgumentSpecValidator check with the same messages.
        """
        role = getattr(self._task, "_role", None)
        if role is None or not hasattr(role, "_get_role_argspecs"):
            return {}
        spec = (role_argument_specs(role).get("main") or {}).get("options") or {}
        if not spec:
            return {}
        # A variable that is not required and still holds the role's own default is not templated again here
        # (each template is compiled anew in every worker): the defaults are right by construction, and what they
        # resolve to reaches the module as an option, which the action's own argument spec checks.
        defaults = role.get_default_vars() if hasattr(role, "get_default_vars") else {}
        provided = self._templar.template(
            {
                name: task_vars[name]
                for name in spec
                if name in task_vars
                and (spec[name].get("required") or name not in defaults or task_vars[name] != defaults[name])
            }
        )
        errors = ArgumentSpecValidator(spec).validate(provided, validate_role_argument_spec=True).error_messages
        if errors:
            raise fail(host, OnshiCertError(messages.ROLE_VARIABLES, role=role.get_name(), errors="; ".join(errors)))
        return provided

    def options_from_variables(self, task_vars: dict[str, Any], host: str, known: Mapping[str, Any]) -> None:
        """Fill the options named in ``option_vars`` (option -> variable, or a list of variables: the first that is
        set) that the task does not set itself from those variables, leaving out a variable that is not defined,
        is null or is omit. ``known`` holds variables already templated (by ``validate_role_variables``): they
        are not templated again.

        The roles pass their variables this way instead of an ``"{{ variable }}"`` per option: Ansible compiles
        every template anew in every forked worker (about 1 ms each, a dozen per PC and task), while a variable
        read here is templated only when its own value is a template.
        """
        mapping = self._task.args.get(OPTION_VARS)
        if mapping is None or OPTION_VARS not in self.SPEC.get("argument_spec", {}):
            return
        if not isinstance(mapping, dict) or not all(
            isinstance(option, str) and _variable_names(names) for option, names in mapping.items()
        ):
            detail = _("a mapping of option names to variable names is needed, not {value!r}", value=mapping)
            raise fail(host, OnshiCertError(messages.OPTION_VARS, detail=detail))
        args = {name: value for name, value in self._task.args.items() if name != OPTION_VARS}
        omit = task_vars.get("omit")  # ansible-core before 2.19 returns its omit placeholder
        for option, names in mapping.items():
            if option in args:
                continue
            for variable in _variable_names(names):
                if variable not in task_vars:
                    continue
                try:
                    value = known[variable] if variable in known else self._templar.template(task_vars[variable])
                except Exception as exc:  # ansible-core 2.19 and later raise for omit; anything else is re-raised
                    if type(exc).__name__ == "AnsibleValueOmittedError":
                        continue
                    raise
                if value is not None and not (isinstance(value, str) and omit and value == omit):
                    args[option] = value
                    break
        self._task.args = args

    def act(self, args: dict[str, Any], task_vars: dict[str, Any], host: str) -> dict[str, Any]:
        """Do the module's work; return its result."""
        raise NotImplementedError

    def settings(self, args: dict[str, Any], **changes: Any) -> Any:
        """Return the workflow settings for ``args`` (expectations, rule, check mode), with ``changes``."""
        from . import workflow

        expect = options.expectations(args)
        options.require_anchors(expect)
        become_user = self._play_context.become_user if self._play_context.become else None
        return workflow.Settings(
            expect=expect,
            check_mode=bool(self._task.check_mode),
            new_password=one_time_password,
            operator=str(become_user or ""),
            **changes,
        )
