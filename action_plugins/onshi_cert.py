# onshi_cert: install a .p12 (state=present) or remove certificates (state=absent) on a PC.
from __future__ import annotations

from pathlib import Path

from ansible.plugins.action import ActionBase

from onshi_cert import options, workflow
from onshi_cert.ansible_support import AgentSession, fail, one_time_password
from onshi_cert.core.errors import OnshiCertError

SPEC = options.spec(
    state={"type": "str", "choices": ["present", "absent"], "default": "present"},
    path={"type": "path"},
    password={"type": "str", "no_log": True},
    remove_stale={"type": "bool", "default": True},
    backup_stale={"type": "bool", "default": True},
    backup_dir={"type": "path"},
    backup_password={"type": "str", "no_log": True},
    ca_store={
        "type": "str",
        "choices": ["LocalMachine\\Root", "CurrentUser\\Root", "none"],
        "default": "LocalMachine\\Root",
    },
    thumbprints={"type": "list", "elements": "str", "default": []},
    facility_code={"type": "str"},
    expired_only={"type": "bool", "default": False},
    stale_only={"type": "bool", "default": False},
    force={"type": "bool", "default": False},
    restore_from={"type": "str"},
    backup_new={"type": "bool", "default": False},
)
MUTUALLY_EXCLUSIVE = [["path", "restore_from"]]


class ActionModule(ActionBase):
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        _, args = self.validate_argument_spec(**SPEC, mutually_exclusive=MUTUALLY_EXCLUSIVE)
        host = task_vars.get("inventory_hostname", "?")
        session = AgentSession(self, task_vars)
        try:
            settings = workflow.Settings(
                expect=options.expectations(args),
                rule=options.rule(args),
                check_mode=bool(self._task.check_mode),
                backup_dir=Path(args["backup_dir"]) if args.get("backup_dir") else None,
                backup_password=args.get("backup_password"),
                backup_stale=args["backup_stale"],
                ca_store=None if args["ca_store"] == "none" else args["ca_store"],
                new_password=one_time_password,
            )
            if args["state"] == "present":
                path, password = workflow.source(
                    settings, args.get("path"), args.get("password"), args.get("restore_from")
                )
                outcome = workflow.install(session, settings, path, password, host, remove_stale=args["remove_stale"],
                                           backup_new=args["backup_new"])
            else:
                outcome = workflow.remove(
                    session,
                    settings,
                    host,
                    thumbprints=args["thumbprints"],
                    facility_code=args.get("facility_code"),
                    expired_only=args["expired_only"],
                    stale_only=args["stale_only"],
                    force=args["force"],
                )
        except OnshiCertError as exc:
            raise fail(host, exc, file=args.get("path")) from None
        if not self._task.diff:
            outcome.pop("diff")
        for warning in outcome.get("warnings", []):
            self._display.warning(f"{host}: {warning}")
        result.update(outcome)
        return result
