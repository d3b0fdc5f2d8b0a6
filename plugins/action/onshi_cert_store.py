# onshi_cert_store: open the fleet record (migrating it) before a job touches any PC; say where it is.
from __future__ import annotations

from pathlib import Path

from ansible_collections.onshi.cert.plugins.plugin_utils.action_frame import OnshiAction
from ansible_collections.onshi.cert.plugins.plugin_utils.i18n import say as _
from ansible_collections.onshi.cert.plugins.plugin_utils.store import Store, backups

SPEC = {
    "argument_spec": {
        "data_dir": {"type": "path"},
        "store": {"type": "str", "no_log": False},
        "store_password": {"type": "str", "no_log": True},
        "backup_dir": {"type": "path"},
    }
}
SPEC_RULES = {"required_one_of": [["data_dir", "store"]]}


class ActionModule(OnshiAction):
    SPEC = SPEC
    SPEC_RULES = SPEC_RULES
    ROLE_VARIABLES = False

    def act(self, args, task_vars, host):
        # Reachable, the right credentials, a schema this code knows, migrated under a lock: or a coded error now,
        # before any PC is changed (the job's later tasks write to the record).
        with Store.open(args.get("store"), args.get("data_dir"), args.get("store_password")) as store:
            # A PostgreSQL record also holds every backup: this node's backup folder gets the ones it lacks.
            fetched = (
                backups.fetch(store, Path(args["backup_dir"]))
                if args.get("backup_dir") and backups.shared(store)
                else 0
            )
            hosts = task_vars.get("ansible_play_hosts_all")
            return {
                "changed": False,
                "store": store.shown,
                "version": store.version,
                "backups_fetched": fetched,
                # per PC of the play, its certificates of ours at its latest answer: named in the first read
                "known": store.known(list(hosts) if isinstance(hosts, list) else None),
                "msg": _("fleet record {store}: schema version {version}", store=store.shown, version=store.version),
            }
