# onshi_cert: bring a PC's certificates to the one plan (state=present) or remove stale ones (state=absent).
from __future__ import annotations

from pathlib import Path

from ansible_collections.onshi.cert.plugins.plugin_utils import options, workflow
from ansible_collections.onshi.cert.plugins.plugin_utils.action_frame import OnshiAction
from ansible_collections.onshi.cert.plugins.plugin_utils.agent_session import AgentSession
from ansible_collections.onshi.cert.plugins.plugin_utils.core import messages
from ansible_collections.onshi.cert.plugins.plugin_utils.core.errors import OnshiCertError
from ansible_collections.onshi.cert.plugins.plugin_utils.core.install import find_p12_files
from ansible_collections.onshi.cert.plugins.plugin_utils.core.policy import Scope
from ansible_collections.onshi.cert.plugins.plugin_utils.i18n import say as _

SPEC = options.spec(
    state={"type": "str", "choices": ["present", "absent"], "default": "present"},
    path={"type": "path"},
    password={"type": "str", "no_log": True},
    p12_dir={"type": "path"},
    passwords={"type": "dict", "default": {}, "no_log": True},
    remove_stale={"type": "bool", "default": True},
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
    force={"type": "bool", "default": False},
    restore_from={"type": "str"},
    backup_new={"type": "bool", "default": False},
    min_days_left={"type": "int", "default": 0},
)
SPEC_RULES = {
    "mutually_exclusive": [["path", "restore_from", "p12_dir"]],
    "required_together": [["path", "password"]],
}


class ActionModule(OnshiAction):
    SPEC = SPEC
    SPEC_RULES = SPEC_RULES

    def act(self, args, task_vars, host):
        session = AgentSession(self, task_vars)
        settings = self.settings(
            args,
            backup_dir=Path(args["backup_dir"]) if args.get("backup_dir") else None,
            backup_password=args.get("backup_password"),
            ca_store=None if args["ca_store"] == "none" else args["ca_store"],
        )
        if args["state"] == "absent":
            scope = Scope(
                thumbprints=frozenset(t.upper() for t in args["thumbprints"]),
                facility_code=args.get("facility_code"),
                expired_only=args["expired_only"],
                force=frozenset(t.upper() for t in args["thumbprints"]) if args["force"] else frozenset(),
            )
            outcome = workflow.converge(session, settings, host, scope=scope)
        else:
            found = self._offers(args, settings, host)
            where = args.get("p12_dir")
            fix = (
                _(
                    "put the downloaded .p12 into {folder}/{host}/ (or {folder}/{host}.p12, {folder}/<code>.p12) and "
                    "its 4-digit password into the vault",
                    folder=where,
                    host=host,
                )
                if where
                else _("apply for a new certificate for each code without a valid backup, then provision it")
                if args.get("restore_from")
                else None
            )
            outcome = workflow.converge(
                session,
                settings,
                host,
                **found,
                scope=Scope(remove=args["remove_stale"]),
                backup_new=args["backup_new"],
                min_days_left=args["min_days_left"],
                missing_fix=fix,
            )
        if not self._task.diff:
            outcome.pop("diff")
        return outcome

    def _offers(self, args, settings, host):
        """Return converge's arguments for the files offered to this PC (one .p12, the .p12 files of its folder, or
        backups to restore): the offers, what to say of them, the errors of the folder's files that cannot be
        opened (each holds only its code) and the restore record."""
        if args.get("restore_from"):
            offers, notes, restored = workflow.restore_offers(settings, settings.index(), args["restore_from"])
            return {"offers": offers, "notes": notes, "restored": restored}
        if args.get("path"):
            return {"offers": workflow.p12_offers([(Path(args["path"]), args["password"])], settings.expect)}
        if not args.get("p12_dir"):
            return {}
        offers, unreadable = [], []
        for found in find_p12_files(Path(args["p12_dir"]), host, settings.expect.facility_codes):
            key = next((k for k in found.password_keys if k in args["passwords"]), None)
            if key is None:
                first = found.password_keys[0]
                unreadable.append(workflow.PreflightError(messages.P12_NO_PASSWORD, key=first, file=str(found.path)))
                continue
            try:
                password = options.text_entry("passwords", key, args["passwords"][key])
                offers += workflow.p12_offers([(found, password)], settings.expect)
            except OnshiCertError as exc:
                unreadable.append(workflow.PreflightError.wrap(exc, str(found.path)))
        return {"offers": offers, "unreadable": unreadable}
