"""The fleet record: add what a run saw and did on its PCs, read back the whole fleet.

A run only adds rows (``observe``, ``act``), each batch in one transaction: a partial run (``--limit``, an AWX
slice, one engineer's site) adds its own PCs and never touches another's. Every fleet output reads
:meth:`Store.latest` (each PC's latest observation, its latest answer and the answer before, for what changed)
and :meth:`Store.actions` (every action of a period, for the work documents). Nothing here deletes a row.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import hashlib
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Guarded: without SQLAlchemy the action plugins stop first and name it (requirements.py).
with contextlib.suppress(ImportError):
    from sqlalchemy import func, select
    from sqlalchemy.engine import URL

from . import connect, schema


def _start_ticks(pid: int) -> str:
    """Return when process ``pid`` started, in clock ticks since boot (/proc/<pid>/stat field 22), or ''."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def run_id(pid: int | None = None) -> str:
    """Return the id of this run: one ansible-playbook process (an action plugin's worker is its child), on this
    controller, since that process started (a reused process id is another run)."""
    pid = os.getppid() if pid is None else pid
    return hashlib.sha256(f"{socket.gethostname()}:{pid}:{_start_ticks(pid)}".encode()).hexdigest()[:16]


def run_started(pid: int | None = None) -> dt.datetime | None:
    """Return when this run (the ansible-playbook process) started, in UTC: the work documents' 開始時刻; None
    where /proc does not tell (the documents then start at the first record)."""
    ticks = _start_ticks(os.getppid() if pid is None else pid)
    try:
        lines = Path("/proc/stat").read_text().splitlines()
        boot = next(int(line.split()[1]) for line in lines if line.startswith("btime "))
        seconds = boot + int(ticks) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, StopIteration):
        return None
    return dt.datetime.fromtimestamp(int(seconds), dt.UTC)


@dataclass(frozen=True)
class Run:
    """Who and what writes: the run, the AWX job, the play and the engineer."""

    run: str
    job: str = ""
    playbook: str = ""
    engineer: str = ""

    @classmethod
    def from_vars(cls, task_vars: dict[str, Any]) -> Run:
        """Return the run of an action plugin from its task's variables (AWX's job and user when AWX runs it)."""
        engineer = (
            task_vars.get("onshi_cert_engineer")
            or task_vars.get("awx_user_name")
            or task_vars.get("tower_user_name")
            or os.environ.get("ONSHI_CERT_ENGINEER")
            or _login()
        )
        return cls(
            run=run_id(),
            job=str(task_vars.get("awx_job_id") or task_vars.get("tower_job_id") or ""),
            playbook=str(task_vars.get("ansible_play_name") or ""),
            engineer=str(engineer),
        )


def _login() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return ""


@dataclass(frozen=True)
class Pc:
    """Where a PC is, as the inventory says when the row is written."""

    host: str
    site: str = ""
    facility_name: str = ""
    facility_codes: tuple[str, ...] = ()


@dataclass
class Seen:
    """One PC in the record: its latest observation, its latest answer, the answer before that one, and whether
    the observation before the latest was an answer (None: the latest is the only one)."""

    latest: dict[str, Any]
    answer: dict[str, Any] | None = None
    previous: dict[str, Any] | None = None
    was_reachable: bool | None = None


def _brief(row: dict[str, Any]) -> dict[str, Any]:
    """Return the answer before the latest with only what "what changed" compares: its problems and its kept
    certificates (a 10,000-PC fleet holds one of these per PC beside the full latest answer)."""
    report = row["report"] or {}
    keep = (report.get("plan") or {}).get("keep") or {}
    kept = set(keep.values())
    return row | {
        "report": {
            "problems": [{"code": p["code"]} for p in report.get("problems") or []],
            "plan": {"keep": keep},
            "certificates": [
                {"thumbprint": c["thumbprint"], "not_after": c["not_after"]}
                for c in report.get("certificates") or []
                if c["thumbprint"] in kept
            ],
        }
    }


def utc(value: dt.datetime) -> dt.datetime:
    """Return ``value`` in UTC (SQLite gives back the stored UTC time without its zone)."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Store:
    """The fleet record behind one interface, SQLite or PostgreSQL (see :mod:`.connect`)."""

    def __init__(self, url: URL, password: str | None = None):
        self.url = url
        self.engine = connect.engine(url, password)
        self.version = connect.migrate(self.engine, url)

    @classmethod
    def open(cls, store: str | None, data_dir: str | Path | None, password: str | None = None) -> Store:
        """Open ``store`` (``onshi_cert_store``), else the SQLite file in ``data_dir``; migrate it."""
        return cls(connect.address(store, data_dir), password)

    @property
    def shown(self) -> str:
        """The store as it may be shown (no password)."""
        return connect.shown(self.url)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def _common(run: Run, pc: Pc) -> dict[str, Any]:
        return {
            "host": pc.host,
            "run": run.run,
            "job": run.job,
            "playbook": run.playbook,
            "engineer": run.engineer,
            "site": pc.site,
            "facility_name": pc.facility_name,
            "facility_codes": list(pc.facility_codes),
        }

    def observe(self, run: Run, seen: list[tuple[Pc, dict[str, Any] | None, str]], at: dt.datetime) -> int:
        """Add one observation per PC: ``(pc, its onshi_cert fact or None, why there is none)``; return the count."""
        return self.observe_all([(run, seen, at)])

    def observe_all(self, batches: list[tuple[Run, list[tuple[Pc, dict[str, Any] | None, str]], dt.datetime]],
                    note: tuple[str, str] | None = None) -> int:  # fmt: skip
        """Add several runs' observations (and the note ``(key, value)``) in one transaction: all or nothing."""
        rows = [
            self._common(run, pc)
            | {"observed_at": at, "reachable": report is not None, "report": report, "error": error}
            for run, seen, at in batches
            for pc, report, error in seen
        ]
        with connect.errors(self.url), self.engine.begin() as connection:
            if rows:
                connection.execute(schema.observations.insert(), rows)
            if note is not None:
                connection.execute(schema.meta.insert(), {"key": note[0], "value": note[1]})
        return len(rows)

    def act(self, run: Run, done: list[tuple[Pc, dict[str, Any] | None]], at: dt.datetime, check_mode: bool) -> int:
        """Add one action per PC: ``(pc, what its onshi_cert task returned, None when it did not run)``."""
        rows = [self._common(run, pc) | {"at": at, "check_mode": check_mode, "result": result} for pc, result in done]
        with connect.errors(self.url), self.engine.begin() as connection:
            if rows:
                connection.execute(schema.actions.insert(), rows)
        return len(rows)

    def latest(self) -> dict[str, Seen]:
        """Return every PC of the record with its latest observation, latest answer and the answer before."""
        o = schema.observations
        ranked = select(
            o.c.host,
            o.c.id,
            o.c.reachable,
            func.row_number().over(partition_by=(o.c.host, o.c.reachable), order_by=o.c.id.desc()).label("n"),
        ).subquery()
        with connect.errors(self.url), self.engine.begin() as connection:
            picks = connection.execute(select(ranked.c.host, ranked.c.id, ranked.c.reachable).where(ranked.c.n <= 2))
            by_host: dict[str, list[tuple[int, bool]]] = {}
            for host, row_id, reachable in picks:
                by_host.setdefault(host, []).append((row_id, bool(reachable)))
            wanted, before = set(), set()
            for ids in by_host.values():
                answers = sorted((i for i, ok in ids if ok), reverse=True)
                wanted |= {max(i for i, _ok in ids), *answers[:1]}
                before |= set(answers[1:2])
            rows: dict[int, dict[str, Any]] = {}
            chosen = sorted(wanted | before)
            for start in range(0, len(chosen), 5000):
                for row in connection.execute(select(o).where(o.c.id.in_(chosen[start : start + 5000]))).mappings():
                    found = dict(row) | {"observed_at": utc(row["observed_at"])}
                    rows[row["id"]] = _brief(found) if row["id"] in before and row["id"] not in wanted else found
        result = {}
        for host, ids in by_host.items():
            answers = sorted((i for i, ok in ids if ok), reverse=True)
            ordered = sorted(ids, reverse=True)  # the latest two of each kind hold the latest two of all
            result[host] = Seen(
                latest=rows[ordered[0][0]],
                answer=rows[answers[0]] if answers else None,
                previous=rows[answers[1]] if len(answers) > 1 else None,
                was_reachable=ordered[1][1] if len(ordered) > 1 else None,
            )
        return result

    def known(self, hosts: list[str] | None = None) -> dict[str, list[str]]:
        """Return, per PC, the thumbprints of its certificates of ours (trusted) in its latest answer: what the next
        read names, so that the agent opens those keys in its first execution."""
        o = schema.observations
        picked = (
            select(o.c.host, func.max(o.c.id).label("id")).where(o.c.reachable.is_(True)).group_by(o.c.host).subquery()
        )
        wanted = None if hosts is None else set(hosts)  # filtered here: a fleet has more PCs than bind parameters
        found: dict[str, list[str]] = {}
        with connect.errors(self.url), self.engine.begin() as connection:
            for host, report in connection.execute(select(o.c.host, o.c.report).join(picked, o.c.id == picked.c.id)):
                if wanted is not None and host not in wanted:
                    continue
                rows = (report or {}).get("certificates") or []
                found[host] = sorted({str(c["thumbprint"]) for c in rows if c.get("trusted") and c.get("thumbprint")})
        return found

    def actions(self, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
        """Return every action from ``start`` (included) to ``end`` (excluded), oldest first."""
        a = schema.actions
        query = select(a).where(a.c.at >= start, a.c.at < end).order_by(a.c.id)
        with connect.errors(self.url), self.engine.begin() as connection:
            return [dict(row) | {"at": utc(row["at"])} for row in connection.execute(query).mappings()]

    def counts(self) -> dict[str, int]:
        """Return how many observations, actions and PCs the record holds."""
        o, a = schema.observations, schema.actions
        with connect.errors(self.url), self.engine.begin() as connection:
            return {
                "observations": connection.execute(select(func.count()).select_from(o)).scalar_one(),
                "actions": connection.execute(select(func.count()).select_from(a)).scalar_one(),
                "pcs": connection.execute(select(func.count(func.distinct(o.c.host)))).scalar_one(),
            }

    def prune(self, before: dt.datetime, *, actions: bool = False, check: bool = False) -> dict[str, int]:
        """Delete observations older than ``before`` (and, with ``actions``, actions), never a PC's latest
        observation or latest answer; with ``check`` delete nothing. Return how many rows go (or would go).

        The one way rows leave the record: an explicit retention command (onshi-cert store prune), never a run.
        """
        o, a = schema.observations, schema.actions
        keep = {r["id"] for seen in self.latest().values() for r in (seen.latest, seen.answer) if r is not None}
        with connect.errors(self.url), self.engine.begin() as connection:
            old = [
                i for i in connection.execute(select(o.c.id).where(o.c.observed_at < before)).scalars() if i not in keep
            ]
            old_actions = list(connection.execute(select(a.c.id).where(a.c.at < before)).scalars()) if actions else []
            if not check:
                for start in range(0, len(old), 5000):
                    connection.execute(o.delete().where(o.c.id.in_(old[start : start + 5000])))
                for start in range(0, len(old_actions), 5000):
                    connection.execute(a.delete().where(a.c.id.in_(old_actions[start : start + 5000])))
        return {"observations": len(old), "actions": len(old_actions)}

    def note(self, key: str, value: str | None = None) -> str | None:
        """Return the store's note ``key`` (such as a data folder already imported); with ``value``, set it once."""
        m = schema.meta
        with connect.errors(self.url), self.engine.begin() as connection:
            found = connection.execute(select(m.c.value).where(m.c.key == key)).scalar()
            if value is not None and found is None:
                connection.execute(m.insert(), {"key": key, "value": value})
            return found
