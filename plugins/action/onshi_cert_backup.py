# onshi_cert_backup: verified PFX backups of each facility code's certificate, kept on the controller.
from __future__ import annotations

from pathlib import Path

from ansible_collections.onshi.cert.plugins.plugin_utils import options, workflow
from ansible_collections.onshi.cert.plugins.plugin_utils.ansible_support import AgentSession, OnshiAction

SPEC = options.spec(
    backup_dir={"type": "path", "required": True},
    backup_password={"type": "str", "required": True, "no_log": True},
    pc_copy_dir={"type": "str"},
)


class ActionModule(OnshiAction):
    SPEC = SPEC

    def act(self, args, task_vars, host):
        settings = self.settings(args, backup_dir=Path(args["backup_dir"]), backup_password=args["backup_password"])
        return workflow.backup(AgentSession(self, task_vars), settings, host, pc_copy_dir=args.get("pc_copy_dir"))
