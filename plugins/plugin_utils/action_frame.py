"""The frame every action plugin shares: validated arguments, the role's variables, check mode, one clear failure.

This, ``agent_session.py`` and ``warmup.py`` (caches filled once in the ansible-playbook parent) are the only places,
besides the plugins themselves (``plugins/action/``), that import Ansible.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

from . import i18n, options, requirements
from .agent_session import fail, one_time_password
from .core import messages, paths
from .core.errors import OnshiCertError
from .warmup import role_argument_specs, warm

warm()  # in the ansible-playbook parent, before it forks its workers


DATA_OPTIONS = ("backup_dir", "p12_dir", "dest", "data_dir")
#: The options a task writes into: never an AWX or ansible-runner job folder (gone when the job ends).
WRITTEN_OPTIONS = ("backup_dir", "dest", "data_dir")


def refuse_collection_paths(args: dict[str, Any]) -> None:
    """Refuse a data folder inside an installed collection (reinstalling it deletes everything below), and a
    folder written into inside the job's own folder (ONSHI-E156), before anything is read or changed."""
    for name in DATA_OPTIONS:
        value = args.get(name)
        if value and "ansible_collections" in Path(str(value)).resolve().parts:
            raise OnshiCertError(messages.DATA_IN_COLLECTION, option=name, value=value)
        if value and name in WRITTEN_OPTIONS:
            paths.outside_job_folder(str(value))


class OnshiAction(ActionBase):
    """The frame every onshi-cert action plugin shares: check mode, validated arguments, one clear failure.

    A plugin sets ``SPEC`` (and ``SPEC_RULES`` such as ``mutually_exclusive``) and implements ``act``,
    which returns the result; an OnshiCertError becomes the task's failure naming the host and file.
    """

    _supports_check_mode = True
    _supports_async = False
    SPEC: ClassVar[dict[str, Any]] = {}
    SPEC_RULES: ClassVar[dict[str, Any]] = {}
    #: False for a controller task that runs once for the whole play (the fleet record): a PC's wrong variables are
    #: that PC's failure, at its own task, not the job's.
    ROLE_VARIABLES: ClassVar[bool] = True

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        """Validate the arguments, call ``act`` and shape its result or failure."""
        result = super().run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        host = task_vars.get("inventory_hostname", "?")
        i18n.use(self._templar.template(task_vars.get("onshi_cert_lang")) if "onshi_cert_lang" in task_vars else None)
        if self.ROLE_VARIABLES:
            self.validate_role_variables(task_vars, host)
        absent = requirements.missing()
        if absent:
            raise fail(host, OnshiCertError(messages.MISSING_PACKAGES, packages=", ".join(absent)))
        try:
            options.check_text_inputs(self._task.args, skip=options.SHARED_OPTIONS)
        except OnshiCertError as exc:
            raise fail(host, exc) from None
        args = self.validate_argument_spec(**self.SPEC, **self.SPEC_RULES)[1]
        self._known = options.known_thumbprints(task_vars, args.get("known"), self.role_name())
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

    def role_name(self) -> str | None:
        """Return the name of the role this task belongs to (``onshi_cert_audit``), or None outside a role."""
        role = getattr(self._task, "_role", None)
        return role.get_name().rsplit(".", 1)[-1] if role is not None else None

    def validate_role_variables(self, task_vars: dict[str, Any], host: str) -> dict[str, Any]:
        """Check the calling role's variables against its meta/argument_specs.yml, here in the worker; return
        the variables it templated to check them (name -> value).

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
            known=getattr(self, "_known", ()),
            **changes,
        )
