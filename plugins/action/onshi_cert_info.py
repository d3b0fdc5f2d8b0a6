# onshi_cert_info: read a PC's certificates and judge them on the controller (one agent execution).
from __future__ import annotations

from pathlib import Path

from ansible_collections.onshi.cert.plugins.plugin_utils import options
from ansible_collections.onshi.cert.plugins.plugin_utils.agent.contract import Step
from ansible_collections.onshi.cert.plugins.plugin_utils.ansible_support import AgentSession, OnshiAction, fail
from ansible_collections.onshi.cert.plugins.plugin_utils.core import messages
from ansible_collections.onshi.cert.plugins.plugin_utils.core.audit import host_report
from ansible_collections.onshi.cert.plugins.plugin_utils.core.backup import BackupIndex
from ansible_collections.onshi.cert.plugins.plugin_utils.core.errors import OnshiCertError
from ansible_collections.onshi.cert.plugins.plugin_utils.core.hoststate import HostFacts, parse_listing
from ansible_collections.onshi.cert.plugins.plugin_utils.core.policy import ROOT_STORES
from ansible_collections.onshi.cert.plugins.plugin_utils.i18n import say as _

SPEC = options.spec(
    **options.FACE_AUTH_SPEC,
    backup_dir={"type": "path"},
    backup_password={"type": "str", "no_log": True},
    expiry_only={"type": "bool", "default": False},
)
READ_STORES = ("CurrentUser\\My", "CurrentUser\\CA", *ROOT_STORES)


class ActionModule(OnshiAction):
    SPEC = SPEC

    def act(self, args, task_vars, host):
        expect = options.expectations(args)
        options.require_anchors(expect)
        session = AgentSession(self, task_vars)
        steps = [Step("host_info", {"read_files": [args["face_auth_path"]]})]
        steps += [Step("list_certs", {"store": store}) for store in READ_STORES]
        response = session.run(steps)
        if response.failed:
            raise fail(
                host,
                OnshiCertError(
                    messages.PC_STEP_FAILED,
                    what=_("cannot read the PC's certificates"),
                    detail=response.error or response.msg,
                ),
            )
        installed = parse_listing(response.result_of("list_certs", 0), expect.rule)
        if args["expiry_only"]:  # a network logon cannot open keys: say nothing about them
            for item in installed:
                item.info.key_usable = item.info.key_exportable = None
        cas = [
            c for index in range(1, len(READ_STORES)) for c in parse_listing(response.result_of("list_certs", index))
        ]
        report = host_report(
            HostFacts.from_result(response.result_of("host_info")),
            installed,
            cas,
            expect,
            face_auth_path=args["face_auth_path"],
            face_auth_minimum=args["face_auth_minimum"],
            backups=BackupIndex.scan(Path(args["backup_dir"])) if args.get("backup_dir") else None,
            backup_password=args.get("backup_password"),
            host=task_vars.get("inventory_hostname"),
        )
        report["executions"] = session.executions
        return {"changed": False, "onshi_cert": report, "ansible_facts": {"onshi_cert": report}}
