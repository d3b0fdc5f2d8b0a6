# onshi_cert_backup: verified PFX backups of each facility code's certificate, kept on the controller.
from __future__ import annotations

import datetime as dt
from pathlib import Path

from ansible_collections.onshi.cert.plugins.plugin_utils import options, workflow
from ansible_collections.onshi.cert.plugins.plugin_utils.action_frame import OnshiAction
from ansible_collections.onshi.cert.plugins.plugin_utils.agent_session import AgentSession
from ansible_collections.onshi.cert.plugins.plugin_utils.core import retention
from ansible_collections.onshi.cert.plugins.plugin_utils.core.backup import Backup, BackupIndex

SPEC = options.spec(
    backup_dir={"type": "path", "required": True},
    backup_password={"type": "str", "required": True, "no_log": True},
    pc_copy_dir={"type": "str"},
    keep={"type": "int", "default": 0},
    prune_expired={"type": "bool", "default": False},
)


class ActionModule(OnshiAction):
    SPEC = SPEC

    def act(self, args, task_vars, host):
        settings = self.settings(args, backup_dir=Path(args["backup_dir"]), backup_password=args["backup_password"])
        result = workflow.backup(AgentSession(self, task_vars), settings, host, pc_copy_dir=args.get("pc_copy_dir"))
        if args["keep"] > 0 or args["prune_expired"]:
            # After this run's backups exist: the PC's older backups beyond the newest ``keep`` (never the only
            # verified backup of a valid certificate), and expired ones on request.
            index = BackupIndex.scan(settings.backup_dir)
            if settings.check_mode:  # judge as if the backups this run would write were there
                for entry in (e for e in result["backups"] if e.get("new")):
                    planned = Backup(
                        Path(entry["path"]),
                        entry["thumbprint"],
                        entry["facility_code"],
                        dt.datetime.fromisoformat(entry["not_after"]),
                        "",
                        "",
                        host,
                        dt.datetime.now(dt.UTC).isoformat(),
                    )
                    index.add(planned, args["backup_password"])
            decisions = retention.plan(
                index,
                args["backup_password"],
                keep=args["keep"],
                prune_expired=args["prune_expired"],
                hosts={host},
            )
            pruned = [d for d in decisions if d.remove]
            if not settings.check_mode:
                retention.apply(pruned)
            result["pruned"] = [
                {"path": str(d.backup.path), "thumbprint": d.backup.thumbprint, "reason": d.reason} for d in pruned
            ]
            result["changed"] = result["changed"] or bool(pruned)
        return result
