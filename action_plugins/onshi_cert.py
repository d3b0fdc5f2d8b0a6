# onshi_cert: install a .p12 (state=present) or remove certificates (state=absent) on a PC.
from __future__ import annotations

from pathlib import Path

from onshi_cert import options, workflow
from onshi_cert.ansible_support import AgentSession, OnshiAction

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


SPEC_RULES = {"mutually_exclusive": [["path", "restore_from"]]}


class ActionModule(OnshiAction):
    SPEC = SPEC
    SPEC_RULES = SPEC_RULES

    def act(self, args, task_vars, host):
        session = AgentSession(self, task_vars)
        settings = self.settings(
            args,
            backup_dir=Path(args["backup_dir"]) if args.get("backup_dir") else None,
            backup_password=args.get("backup_password"),
            backup_stale=args["backup_stale"],
            ca_store=None if args["ca_store"] == "none" else args["ca_store"],
        )
        if args["state"] == "present":
            path, password = workflow.source(settings, args.get("path"), args.get("password"), args.get("restore_from"))
            outcome = workflow.install(
                session,
                settings,
                path,
                password,
                host,
                remove_stale=args["remove_stale"],
                backup_new=args["backup_new"],
            )
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
        if not self._task.diff:
            outcome.pop("diff")
        return outcome
