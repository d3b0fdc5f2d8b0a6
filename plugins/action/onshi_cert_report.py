# onshi_cert_report: add what the play saw to the fleet record, then write the whole fleet's report from it.
from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from pathlib import Path

from ansible_collections.onshi.cert.plugins.plugin_utils.action_frame import OnshiAction
from ansible_collections.onshi.cert.plugins.plugin_utils.agent_session import HOST_VARIABLES, from_hostvars
from ansible_collections.onshi.cert.plugins.plugin_utils.core import messages
from ansible_collections.onshi.cert.plugins.plugin_utils.core.certinfo import utcnow
from ansible_collections.onshi.cert.plugins.plugin_utils.core.errors import OnshiCertError
from ansible_collections.onshi.cert.plugins.plugin_utils.i18n import say as _
from ansible_collections.onshi.cert.plugins.plugin_utils.report import build, fleet, notify, workdocs, writer
from ansible_collections.onshi.cert.plugins.plugin_utils.report.aggregate import site_of
from ansible_collections.onshi.cert.plugins.plugin_utils.report.render import zone
from ansible_collections.onshi.cert.plugins.plugin_utils.store import Pc, Run, Seen, Store

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
        "fleet": {"type": "list", "elements": "str"},
        "data_dir": {"type": "path"},
        "store": {"type": "str", "no_log": False},
        "store_password": {"type": "str", "no_log": True},
        "stale_days": {"type": "int", "default": fleet.STALE_DAYS},
        "vendor": {"type": "dict", "default": {}},
    }
}


SPEC_RULES = {"required_one_of": [["data_dir", "store"]]}


class ActionModule(OnshiAction):
    SPEC = SPEC
    SPEC_RULES = SPEC_RULES

    def act(self, args, task_vars, host):
        played = list(args["hosts"])
        whole = list(dict.fromkeys((args.get("fleet") or []) + played))  # the inventory's PCs, the play's first
        args = from_hostvars(args, task_vars, {"facts": "onshi_cert"})
        args = from_hostvars(args | {"hosts": whole}, task_vars, HOST_VARIABLES)
        pcs = {
            name: Pc(
                name,
                str(args["site_names"].get(name) or site_of(args["sites"].get(name))),
                str(args["facility_names"].get(name) or ""),
                tuple(str(c) for c in args["facility_codes"].get(name) or ()),
            )
            for name in whole
        }
        tz = zone(args["timezone"])
        # {date} in dest is today's date where the readers are (JST by default), not the controller's.
        dest = Path(args["dest"].replace("{date}", dt.datetime.now(tz).strftime("%Y%m%d")))
        now = utcnow()
        seen = []
        for name in played:
            facts = args["facts"].get(name) or None
            answered = bool(facts and "certificates" in facts)
            why = "" if answered else _("the PC did not answer (unreachable, or the audit failed on it)")
            seen.append((pcs[name], facts if answered else None, why))
        # What this run saw is added to the fleet record; the report is drawn from the whole record.
        with Store.open(args.get("store"), args.get("data_dir"), args.get("store_password")) as store:
            if not self._task.check_mode:
                store.observe(Run.from_vars(task_vars), seen, now)
            record = store.latest()
        if self._task.check_mode:  # nothing written: this run's answers stand in for the record's
            for pc, facts, why in seen:
                row = {"observed_at": now, "reachable": facts is not None, "report": facts, "error": why}
                before = record.get(pc.host)
                answer = row if facts is not None else (before.answer if before else None)
                record[pc.host] = Seen(row, answer, before.answer if before and facts is not None else None)
        members = [pcs[name] for name in whole]
        data = build(
            fleet.entries(members, record, now), now=now, timezone=args["timezone"], stale_days=args["stale_days"]
        )
        data["departed"] = fleet.departed(members, record)
        data["changes"] = fleet.changes(members, record)
        data["run"] = {"hosts": len(played), "fleet": len(members), "store": store.shown}
        data["vendor"] = workdocs.vendor_of(args["vendor"])
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
            "store": store.shown,
            "report": report,
            "attention_hosts": attention,
        }
