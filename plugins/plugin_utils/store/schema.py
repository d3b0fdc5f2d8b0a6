"""The fleet record's tables and their versioned migrations: one schema for SQLite and PostgreSQL.

Rows are only ever added: ``observations`` (what a job saw on a PC: its onshi_cert fact, or that it did not
answer) and ``actions`` (what a job did or planned on a PC: the onshi_cert task's result), each with the run that
wrote it (run, job, playbook, engineer) and its time in UTC. ``onshi_meta`` holds the schema version.

``backup_files`` (version 2) holds, with a PostgreSQL store, every backup's PFX and manifest as the files they are in
the backup folder (``<facility code>/<name>``), so a job on another node restores them (:mod:`.backups`).

A migration is a numbered function, applied once, in order, in the same transaction as the version it sets; a
store whose version is newer than :data:`VERSION` is refused (the code is older than the store).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

try:
    from sqlalchemy import (
        JSON,
        BigInteger,
        Boolean,
        Column,
        Connection,
        DateTime,
        Index,
        Integer,
        LargeBinary,
        MetaData,
        String,
        Table,
        Text,
    )
except ImportError:  # the action plugins stop first and say what to install (requirements.py)
    HAS_SQLALCHEMY = False
else:
    HAS_SQLALCHEMY = True

VERSION = 2


def _run_columns() -> list[Column]:
    """Who and what wrote a row: the run (one ansible-playbook process), the AWX job, the playbook, the engineer."""
    return [
        Column("run", String(64), nullable=False),
        Column("job", String(64), nullable=False, default=""),
        Column("playbook", String(255), nullable=False, default=""),
        Column("engineer", String(255), nullable=False, default=""),
        Column("site", String(255), nullable=False, default=""),
        Column("facility_name", String(255), nullable=False, default=""),
        Column("facility_codes", JSON, nullable=False),
    ]


def _v1(conn: Connection) -> None:
    metadata.create_all(conn, tables=[observations, actions])


def _v2(conn: Connection) -> None:
    metadata.create_all(conn, tables=[backup_files])


if HAS_SQLALCHEMY:
    metadata = MetaData()
    #: An id that is 64-bit on PostgreSQL and SQLite's rowid on SQLite (autoincrement on both).
    _ID = BigInteger().with_variant(Integer(), "sqlite")

    meta = Table(
        "onshi_meta",
        metadata,
        Column("key", String(64), primary_key=True),
        Column("value", Text, nullable=False),
    )

    observations = Table(
        "observations",
        metadata,
        Column("id", _ID, primary_key=True, autoincrement=True),
        Column("host", String(255), nullable=False),
        Column("observed_at", DateTime(timezone=True), nullable=False),
        *_run_columns(),
        Column("reachable", Boolean, nullable=False),
        Column("report", JSON),  # the onshi_cert fact (onshi_cert_info), None when the PC did not answer
        Column("error", Text, nullable=False, default=""),
        Index("ix_observations_host_reachable_id", "host", "reachable", "id"),  # each PC's latest: an index scan
    )

    actions = Table(
        "actions",
        metadata,
        Column("id", _ID, primary_key=True, autoincrement=True),
        Column("host", String(255), nullable=False),
        Column("at", DateTime(timezone=True), nullable=False),
        *_run_columns(),
        Column("check_mode", Boolean, nullable=False),
        Column("result", JSON),  # what the onshi_cert task returned, None when it did not run on the PC
        Index("ix_actions_at", "at"),
        Index("ix_actions_host_id", "host", "id"),
    )

    backup_files = Table(
        "backup_files",
        metadata,
        Column("id", _ID, primary_key=True, autoincrement=True),
        Column("name", String(400), nullable=False, unique=True),  # <facility code>/<file name>, as in the folder
        Column("sha256", String(64), nullable=False),
        Column("data", LargeBinary, nullable=False),
        Column("added_at", DateTime(timezone=True), nullable=False),
    )


#: version -> the migration that makes it from the version before.
MIGRATIONS: dict[int, Callable[[Any], None]] = {1: _v1, 2: _v2}
