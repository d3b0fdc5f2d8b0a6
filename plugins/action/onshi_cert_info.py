# onshi_cert_info: read a PC's certificates and judge them on the controller (one agent execution).
from __future__ import annotations

from pathlib import Path

from ansible_collections.onshi.cert.plugins.plugin_utils import options, workflow
from ansible_collections.onshi.cert.plugins.plugin_utils.action_frame import OnshiAction
from ansible_collections.onshi.cert.plugins.plugin_utils.agent_session import AgentSession
from ansible_collections.onshi.cert.plugins.plugin_utils.core.audit import fact_summary
from ansible_collections.onshi.cert.plugins.plugin_utils.core.certinfo import utcnow

SPEC = options.spec(
    **options.FACE_AUTH_SPEC,
    backup_dir={"type": "path"},
    backup_password={"type": "str", "no_log": True},
    expiry_only={"type": "bool", "default": False},
    facts_only={"type": "bool", "default": False},
)


class ActionModule(OnshiAction):
    SPEC = SPEC

    def act(self, args, task_vars, host):
        expect = options.expectations(args)
        options.require_anchors(expect)
        report = workflow.audit(
            AgentSession(self, task_vars),
            expect,
            face_auth_path=args["face_auth_path"],
            face_auth_minimum=args["face_auth_minimum"],
            expiry_only=args["expiry_only"],
            backup_dir=Path(args["backup_dir"]) if args.get("backup_dir") else None,
            backup_password=args.get("backup_password"),
            host=task_vars.get("inventory_hostname"),
            known=options.known_thumbprints(task_vars, args["known"], self.role_name()),
        )
        # Both facts are cacheable: AWX's fact cache keeps them per host (its host page, smart inventories).
        facts = {"onshi_cert": report, "onshi_cert_summary": fact_summary(report, utcnow().isoformat())}
        if args["facts_only"]:  # the report once: Ansible copies, cleans and hands each result to every callback
            return {"changed": False, "ansible_facts": facts}
        return {"changed": False, "onshi_cert": report, "ansible_facts": facts}
