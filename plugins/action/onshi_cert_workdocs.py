# onshi_cert_workdocs: each clinic's work plan (check mode) or work report, written on the controller.
from __future__ import annotations

import datetime as dt
from pathlib import Path

from ansible_collections.onshi.cert.plugins.plugin_utils.action_frame import OnshiAction
from ansible_collections.onshi.cert.plugins.plugin_utils.agent_session import HOST_VARIABLES, from_hostvars
from ansible_collections.onshi.cert.plugins.plugin_utils.core import messages
from ansible_collections.onshi.cert.plugins.plugin_utils.core.errors import OnshiCertError
from ansible_collections.onshi.cert.plugins.plugin_utils.i18n import say as _
from ansible_collections.onshi.cert.plugins.plugin_utils.report import workdocs
from ansible_collections.onshi.cert.plugins.plugin_utils.report.aggregate import site_of
from ansible_collections.onshi.cert.plugins.plugin_utils.report.render import zone

SPEC = {
    "argument_spec": {
        "hosts": {"type": "list", "elements": "str", "required": True},
        "results": {"type": "dict"},
        "result_var": {"type": "str"},
        "sites": {"type": "dict"},
        "site_names": {"type": "dict"},
        "facility_names": {"type": "dict"},
        "facility_codes": {"type": "dict"},
        "dest": {"type": "path", "required": True},
        "kind": {"type": "str", "choices": ["auto", "plan", "report"], "default": "auto"},
        "langs": {"type": "list", "elements": "str", "choices": ["ja", "en"], "default": ["ja", "en"]},
        "pdf": {"type": "bool", "default": False},
        "timezone": {"type": "str", "default": "Asia/Tokyo"},
        "pc_copy_dir": {"type": "str", "default": ""},
    }
}
SPEC_RULES = {"required_one_of": [["results", "result_var"]]}


class ActionModule(OnshiAction):
    SPEC = SPEC
    SPEC_RULES = SPEC_RULES

    def act(self, args, task_vars, host):
        variables = {"results": args["result_var"], **HOST_VARIABLES} if args.get("result_var") else HOST_VARIABLES
        args = from_hostvars(args, task_vars, variables)
        kind = args["kind"] if args["kind"] != "auto" else "plan" if self._task.check_mode else "report"
        entries = [
            workdocs.PcEntry(
                name,
                str(args["site_names"].get(name) or site_of(args["sites"].get(name))),
                str(args["facility_names"].get(name) or ""),
                [str(c) for c in args["facility_codes"].get(name) or []],
                args["results"].get(name) or None,
            )
            for name in args["hosts"]
        ]
        tz = zone(args["timezone"])
        dest = Path(args["dest"].replace("{date}", dt.datetime.now(tz).strftime("%Y%m%d")))
        docs = workdocs.build(entries, kind, args["pc_copy_dir"])
        try:
            files = workdocs.write(docs, dest, langs=tuple(args["langs"]), pdf=args["pdf"], timezone=args["timezone"])
        except OSError as exc:
            raise OnshiCertError(messages.REPORT_WRITE, folder=dest, reason=exc.strerror) from None
        return {
            "changed": False,
            "kind": kind,
            "files": [str(f) for f in files],
            "msg": _(
                "{count} document(s) for {clinics} facility(ies) in {folder}",
                count=len(files),
                clinics=len(docs),
                folder=dest,
            ),
        }
