# onshi_cert_workdocs: add each PC's result to the fleet record, then write each clinic's work plan (check mode)
# or work report for the day from every record of that clinic.
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from ansible_collections.onshi.cert.plugins.plugin_utils.action_frame import OnshiAction
from ansible_collections.onshi.cert.plugins.plugin_utils.agent_session import HOST_VARIABLES, from_hostvars
from ansible_collections.onshi.cert.plugins.plugin_utils.core import messages
from ansible_collections.onshi.cert.plugins.plugin_utils.core.certinfo import utcnow
from ansible_collections.onshi.cert.plugins.plugin_utils.core.errors import OnshiCertError
from ansible_collections.onshi.cert.plugins.plugin_utils.i18n import say as _
from ansible_collections.onshi.cert.plugins.plugin_utils.report import workdocs
from ansible_collections.onshi.cert.plugins.plugin_utils.report.aggregate import site_of
from ansible_collections.onshi.cert.plugins.plugin_utils.report.render import zone
from ansible_collections.onshi.cert.plugins.plugin_utils.store import Pc, Run, Store, backups
from ansible_collections.onshi.cert.plugins.plugin_utils.store.record import run_started

SPEC = {
    "argument_spec": {
        "hosts": {"type": "list", "elements": "str", "required": True},
        "results": {"type": "dict"},
        "result_var": {"type": "str"},
        "sites": {"type": "dict"},
        "site_names": {"type": "dict"},
        "facility_names": {"type": "dict"},
        "facility_codes": {"type": "dict"},
        "dest": {"type": "path", "default": ""},
        "kind": {"type": "str", "choices": ["auto", "plan", "report"], "default": "auto"},
        "langs": {"type": "list", "elements": "str", "choices": ["ja", "en"], "default": ["ja", "en"]},
        "pdf": {"type": "bool", "default": False},
        "timezone": {"type": "str", "default": "Asia/Tokyo"},
        "pc_copy_dir": {"type": "str", "default": ""},
        "days": {"type": "int", "default": 1},
        "data_dir": {"type": "path"},
        "store": {"type": "str", "no_log": False},
        "store_password": {"type": "str", "no_log": True},
        "vendor": {"type": "dict", "default": {}},
        "remarks": {"type": "dict"},
        "job": {
            "type": "str",
            "choices": ["provision", "renew", "cleanup", "replace_pc", "backup", "other"],
            "default": "other",
        },
    }
}
SPEC_RULES = {"required_one_of": [["results", "result_var"], ["data_dir", "store"]]}
#: What a result carries that the record does not need: the diff (shown when it is made) and Ansible's own keys.
NOT_KEPT = ("diff", "invocation", "warnings", "deprecations", "exception")


class ActionModule(OnshiAction):
    SPEC = SPEC
    SPEC_RULES = SPEC_RULES

    def act(self, args, task_vars, host):
        variables = HOST_VARIABLES | {"remarks": "onshi_cert_remarks"}
        variables |= {"results": args["result_var"]} if args.get("result_var") else {}
        args = from_hostvars(args, task_vars, variables)
        plan = self._task.check_mode if args["kind"] == "auto" else args["kind"] == "plan"
        entries = [
            workdocs.PcEntry(
                name,
                str(args["site_names"].get(name) or site_of(args["sites"].get(name))),
                str(args["facility_names"].get(name) or ""),
                [str(c) for c in args["facility_codes"].get(name) or []],
                args["results"].get(name) or None,
                remarks=workdocs.remark_text(args["remarks"].get(name)),
            )
            for name in args["hosts"]
        ]
        tz = zone(args["timezone"])
        now = utcnow()
        run = Run.from_vars(task_vars)
        store = Store.open(args.get("store"), args.get("data_dir"), args.get("store_password"))
        with store:
            if not self._task.check_mode:  # what was done is kept before any document is drawn from it
                started = run_started()  # the job's start: the 開始時刻 of the work report
                extra = {"job_started": started.isoformat() if started else None, "job": args["job"]}
                done = [(_pc(e), _kept(e.result, extra | {"remarks": e.remarks})) for e in entries]
                store.act(run, done, now, check_mode=False)
                if backups.shared(store):  # the backups this job wrote outlive it, reachable from every node
                    backups.keep(store, [b["path"] for e in entries for b in (e.result or {}).get("backups") or []
                                         if b.get("new") and b.get("path")])  # fmt: skip
            if not plan:
                # The report covers the clinics of this run, for the day (or the last `days` days) in the readers'
                # zone, from every record of those clinics: other runs, other PCs, other engineers.
                start = dt.datetime.combine(now.astimezone(tz).date(), dt.time(), tz) - dt.timedelta(
                    days=args["days"] - 1
                )
                clinics = {workdocs.clinic_key(e) for e in entries}
                entries = [
                    e
                    for e in map(_entry, store.actions(start, now + dt.timedelta(seconds=1)))
                    if workdocs.clinic_key(e) in clinics
                ]
        if not args["dest"]:
            return {"changed": False, "kind": "plan" if plan else "report", "files": [], "store": store.shown,
                    "msg": _("recorded in {store}", store=store.shown)}  # fmt: skip
        dest = Path(args["dest"].replace("{date}", now.astimezone(tz).strftime("%Y%m%d")))
        vendor = workdocs.vendor_of(args["vendor"])
        vendor.setdefault("engineer", run.engineer)
        docs = workdocs.build(entries, "plan" if plan else "report", args["pc_copy_dir"], vendor, args["job"])
        try:
            files = workdocs.write(docs, dest, langs=tuple(args["langs"]), pdf=args["pdf"], timezone=args["timezone"])
        except OSError as exc:
            raise OnshiCertError(messages.REPORT_WRITE, folder=dest, reason=exc.strerror) from None
        return {
            "changed": False,
            "kind": "plan" if plan else "report",
            "files": [str(f) for f in files],
            "store": store.shown,
            "msg": _(
                "{count} document(s) for {clinics} facility(ies) in {folder}",
                count=len(files),
                clinics=len(docs),
                folder=dest,
            ),
        }


def _pc(entry):
    return Pc(entry.host, entry.site, entry.facility_name, tuple(entry.facility_codes))


def _kept(result, extra=None):
    """Return what the record keeps of a result: plain JSON (Ansible's own objects, such as warnings, left out),
    with what the documents need of the job (``extra``, the set ones): ``job``, ``job_started`` (when it began,
    UTC, ISO 8601) and the PC's ``remarks`` (特記事項)."""
    if not result:
        return None
    kept = {k: v for k, v in result.items() if k not in NOT_KEPT and not k.startswith("_ansible")}
    kept |= {k: v for k, v in (extra or {}).items() if v}
    return json.loads(json.dumps(kept, default=str))


def _entry(row):
    kept = row["result"] or {}
    return workdocs.PcEntry(
        row["host"], row["site"], row["facility_name"], list(row["facility_codes"]), row["result"],
        at=row["at"].isoformat(), engineer=row["engineer"], started=str(kept.get("job_started") or ""),
        remarks=str(kept.get("remarks") or ""), job=str(kept.get("job") or ""),
    )  # fmt: skip
