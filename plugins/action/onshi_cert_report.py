# onshi_cert_report: write the fleet audit report on the controller from every PC's onshi_cert facts.
from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from pathlib import Path

from ansible_collections.onshi.cert.plugins.plugin_utils.action_frame import OnshiAction
from ansible_collections.onshi.cert.plugins.plugin_utils.agent_session import HOST_VARIABLES, from_hostvars
from ansible_collections.onshi.cert.plugins.plugin_utils.core import messages
from ansible_collections.onshi.cert.plugins.plugin_utils.core.errors import OnshiCertError
from ansible_collections.onshi.cert.plugins.plugin_utils.i18n import say as _
from ansible_collections.onshi.cert.plugins.plugin_utils.report import HostEntry, build, notify, writer
from ansible_collections.onshi.cert.plugins.plugin_utils.report.aggregate import site_of
from ansible_collections.onshi.cert.plugins.plugin_utils.report.render import zone

SPEC = {
    "argument_spec": {
        "hosts": {"type": "list", "elements": "str", "required": True},
        "facts": {"type": "dict"},
        "sites": {"type": "dict"},
        "site_names": {"type": "dict"},
        "facility_names": {"type": "dict"},
        "facility_codes": {"type": "dict"},
        "dest": {"type": "path", "required": True},
        "timezone": {"type": "str", "default": "Asia/Tokyo"},
        "csv_encoding": {"type": "str", "choices": ["utf-8", "cp932"], "default": "utf-8"},
        "notify": {"type": "dict", "no_log": True},
    }
}


class ActionModule(OnshiAction):
    SPEC = SPEC

    def act(self, args, task_vars, host):
        args = from_hostvars(args, task_vars, {"facts": "onshi_cert", **HOST_VARIABLES})
        entries = []
        for name in args["hosts"]:
            facts = args["facts"].get(name) or None
            entries.append(
                HostEntry(
                    host=name,
                    site=str(args["site_names"].get(name) or site_of(args["sites"].get(name))),
                    facility_name=str(args["facility_names"].get(name) or ""),
                    facility_codes=list(args["facility_codes"].get(name) or []),
                    report=facts if facts and "certificates" in facts else None,
                    error=None if facts else _("the PC did not answer (unreachable, or the audit failed on it)"),
                )
            )
        data = build(entries, timezone=args["timezone"])
        tz = zone(args["timezone"])
        # {date} in dest is today's date where the readers are (JST by default), not the controller's.
        dest = Path(args["dest"].replace("{date}", dt.datetime.now(tz).strftime("%Y%m%d")))
        try:
            # The report, and 更新のご案内: a renewal notice per clinic of the worklist, for the engineer to hand over.
            files = writer.write(data, dest, csv_encoding=args["csv_encoding"], timezone=args["timezone"])
        except OSError as exc:
            raise OnshiCertError(messages.REPORT_WRITE, folder=dest, reason=exc.strerror) from None
        attention = sorted(h["host"] for rows in data["sites"].values() for h in rows if h["status"] != "ok")
        report = str(dest / "report.html")
        extra = {}
        if args.get("notify"):
            settings = notify.Settings.from_dict(args["notify"])
            alerts = notify.run(
                data | {"report_path": report},
                settings,
                dest.parent / notify.STATE_FILE,
                check=bool(self._task.check_mode),
            )
            extra["alerts"] = [{key: value for key, value in asdict(alert).items() if key != "key"} for alert in alerts]
        return extra | {
            "changed": False,
            "msg": _("report: {report} ({count} PC(s) need a person)", report=report, count=len(attention)),
            "files": [str(f) for f in files],
            "summary": data["summary"],
            "report": report,
            "attention_hosts": attention,
        }
