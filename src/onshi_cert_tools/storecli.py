"""``onshi-cert store``: check the fleet record, take over an existing data folder, and the one retention command.

``check`` says the schema version, what the record holds and, with a backup folder, whether every PC's backup
opens with today's password; each finding with what to do. ``import`` takes over a data folder written before the
record existed: every audit's report.json becomes observations at its time, once (a second import of the same
folder adds nothing); the files themselves stay where they are. ``prune`` is the only way rows leave the record.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from onshi_cert.core import messages
from onshi_cert.core.errors import OnshiCertError
from onshi_cert.i18n import say as _
from onshi_cert.store import Pc, Run, Store


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``onshi-cert store check|import|prune``."""
    store = sub.add_parser("store", help="the fleet record: check it, import an old data folder, prune it")
    store_sub = store.add_subparsers(dest="store_command", required=True)
    check = store_sub.add_parser("check", help="schema version, what the record holds, backups readable")
    check.add_argument("--backup-dir", type=Path, help="also check that each PC's backups open (onshi_cert_backup_dir)")
    check.add_argument("--password-file", help="file holding the backup password")
    check.add_argument("--password-env", default="ONSHI_CERT_BACKUP_PASSWORD", help="variable with the backup password")
    imp = store_sub.add_parser("import", help="take over an existing data folder's reports (once; files stay)")
    imp.add_argument("folder", type=Path, help="the old data folder (onshi_cert_data_dir)")
    prune = store_sub.add_parser("prune", help="delete observations older than a date (each PC's latest kept)")
    prune.add_argument("--before", required=True, type=dt.date.fromisoformat, help="YYYY-MM-DD (UTC)")
    prune.add_argument("--actions", action="store_true", help="also delete actions (work records) before the date")
    prune.add_argument("--check", action="store_true", help="say what would be deleted, delete nothing")
    for command in (check, imp, prune):
        command.add_argument("--store", help="onshi_cert_store (postgresql://user@host/db); default: --data-dir")
        command.add_argument("--data-dir", type=Path, help="the data folder holding onshi-cert.db")
        command.add_argument("--store-password-env", default="PGPASSWORD", help="variable with the database password")
        command.add_argument("--json", action="store_true", help="print JSON")
        command.add_argument("--lang", choices=("ja", "en"))
        command.set_defaults(func=cmd_store)


def add_export_parser(backups_sub: argparse._SubParsersAction) -> None:
    """Add ``onshi-cert backups export --to DIR``: the backups a PostgreSQL record keeps, as the usual files."""
    export = backups_sub.add_parser("export", help="write the backups the PostgreSQL record keeps into a folder")
    export.add_argument("--to", type=Path, required=True, help="the folder to write them into (on-site work)")
    export.add_argument("--store", required=True, help="onshi_cert_store (postgresql://user@host/db)")
    export.add_argument("--store-password-env", default="PGPASSWORD", help="variable with the database password")
    export.add_argument("--lang", choices=("ja", "en"))
    export.set_defaults(func=cmd_backups_export)


def cmd_backups_export(args: argparse.Namespace) -> int:
    """Write every backup the record keeps into ``--to`` (files it already has are left as they are)."""
    from onshi_cert.store import backups

    try:
        with Store.open(args.store, None, os.environ.get(args.store_password_env)) as store:
            written = backups.export(store, args.to)
    except OnshiCertError as exc:
        print(f"backups: {exc.describe()}", file=sys.stderr)
        return 2
    print(_("{count} file(s) written into {folder}", count=written, folder=args.to))
    return 0


def cmd_store(args: argparse.Namespace) -> int:
    """Run ``onshi-cert store <command>``; 0 when all is well, 1 when something needs fixing, 2 on an error."""
    if not args.store and not args.data_dir:
        print(_("store: give --store or --data-dir"), file=sys.stderr)
        return 2
    try:
        with Store.open(args.store, args.data_dir, os.environ.get(args.store_password_env)) as store:
            found = COMMANDS[args.store_command](store, args)
    except OnshiCertError as exc:
        print(f"store: {exc.describe()}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(found, ensure_ascii=False, indent=2, default=str))
    else:
        for line in found.pop("lines"):
            print(line)
    return 1 if found.get("problems") else 0


def check(store: Store, args: argparse.Namespace) -> dict[str, Any]:
    """Return the store's version and counts, and each backup problem with its fix."""
    from onshi_cert.core import retention
    from onshi_cert.core.backup import BackupIndex
    from onshi_cert_tools.cli import read_password

    counts = store.counts()
    lines = [
        _("fleet record {store}: schema version {version}", store=store.shown, version=store.version),
        _("{pcs} PC(s), {observations} observation(s), {actions} action(s)", **counts),
    ]
    problems = []
    if args.backup_dir:
        # Every code a PC of the record holds (its latest answer's kept certificates) needs a backup that opens.
        expected = {
            (host, code)
            for host, seen in store.latest().items()
            if seen.answer is not None
            for code in (seen.answer["report"].get("plan") or {}).get("keep") or {}
        }
        password = read_password(args)
        held = {
            (h.host, h.facility_code): h.current is not None
            for h in retention.holdings(BackupIndex.scan(args.backup_dir), password)
        }
        for host, code in sorted(expected | set(held)):
            if not held.get((host, code)):
                problems.append({"host": host, "facility_code": code})
                lines.append(
                    _(
                        "{host} {code}: no backup opens with today's password: run backup.yml for this PC",
                        host=host,
                        code=code,
                    )
                )
        if not problems:
            lines.append(_("every PC's backup opens with today's password"))
    return {"store": store.shown, "version": store.version, **counts, "problems": problems, "lines": lines}


def import_folder(store: Store, args: argparse.Namespace) -> dict[str, Any]:
    """Add every report.json of an old data folder as observations at its time, once per folder."""
    folder = args.folder.resolve()
    if not folder.is_dir():
        raise OnshiCertError(messages.STORE_IMPORT, folder=folder)
    key = "import:" + hashlib.sha256(str(folder).encode()).hexdigest()[:32]
    if store.note(key):
        return {"imported": 0, "lines": [_("{folder} was already imported: nothing added", folder=folder)]}
    reports = sorted(folder.glob("reports/*/report.json"))
    batches = []
    for path in reports:  # every report is read before anything is written
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            at = dt.datetime.fromisoformat(data["generated_at"])
            seen = [_observation(row) for rows in data["sites"].values() for row in rows]
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            raise OnshiCertError(messages.INTAKE_REPORT, path=path, detail=exc) from None
        run = Run(run="import:" + path.parent.name, playbook="import " + str(path.relative_to(folder)))
        batches.append((run, seen, at))
    added = store.observe_all(batches, note=(key, dt.datetime.now(dt.UTC).isoformat()))
    line = _(
        "{count} observation(s) from {reports} report(s) of {folder}", count=added, reports=len(reports), folder=folder
    )
    return {"imported": added, "reports": len(reports), "lines": [line]}


def _observation(row: dict[str, Any]) -> tuple[Pc, dict[str, Any] | None, str]:
    """Return an observation from a report.json row (its certificates and problems, as the audit saw them)."""
    pc = Pc(row["host"], row.get("site", ""), row.get("facility_name", ""), tuple(row.get("facility_codes") or ()))
    if row["status"] == "unreachable" and not row.get("certificates"):
        return pc, None, next((p["message"] for p in row["problems"] if p["code"] == "unreachable"), "")
    certificates = [{k: v for k, v in c.items() if k != "kept"} for c in row.get("certificates") or []]
    keep = {c["facility_code"]: c["thumbprint"] for c in row.get("certificates") or [] if c.get("kept")}
    report = {
        "certificates": certificates,
        "problems": [p for p in row.get("problems") or [] if p["code"] not in ("duplicate", "unreachable")],
        "plan": {"keep": keep},
        "face_auth": row.get("face_auth"),
        "host": {"os_build": row.get("os_build")},
    }
    return pc, report, ""


def prune(store: Store, args: argparse.Namespace) -> dict[str, Any]:
    """Delete (or with --check count) the rows older than --before, each PC's latest kept."""
    before = dt.datetime.combine(args.before, dt.time(), dt.UTC)
    gone = store.prune(before, actions=args.actions, check=args.check)
    line = _("{observations} observation(s) and {actions} action(s) before {date}", **gone, date=args.before)
    suffix = " " + (_("(check: nothing deleted)") if args.check else _("deleted"))
    return gone | {"lines": [line + suffix]}


COMMANDS = {"check": check, "import": import_folder, "prune": prune}
