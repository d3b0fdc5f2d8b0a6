"""Open the fleet record: where it is (a SQLite file or PostgreSQL), its schema brought up to date, and every
failure of the database turned into one coded error that names the fix.

``onshi_cert_store`` unset: ``<data folder>/onshi-cert.db`` (SQLite, WAL, 0600; several runs and forks write in
turn, each write one ``BEGIN IMMEDIATE`` transaction). ``postgresql://user@host:5432/db``: PostgreSQL through
psycopg 3; the password comes from ``onshi_cert_store_password`` (vault) or libpq's own ``PGPASSWORD`` (an AWX
credential); an address holding a password is refused (ONSHI-E159): it would show in logs and job settings.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# Guarded: without SQLAlchemy the action plugins stop first and name it (requirements.py).
with contextlib.suppress(ImportError):
    from sqlalchemy import Connection, Engine, create_engine, event, select, text
    from sqlalchemy.engine import URL, make_url
    from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError, SQLAlchemyError
    from sqlalchemy.pool import NullPool

from ..core import messages
from ..core.errors import OnshiCertError
from ..core.paths import private_dir
from . import schema

FILE_NAME = "onshi-cert.db"
LOCK_SECONDS = 60
#: PostgreSQL advisory lock key of a migration: two runs never migrate one store at once.
_MIGRATION_LOCK = 0x0A5C_E87


def address(store: str | None, data_dir: str | Path | None) -> URL:
    """Return the SQLAlchemy address of ``store`` (an address or a file), else the SQLite file in ``data_dir``."""
    value = (store or "").strip()
    if not value:
        if not data_dir:
            raise OnshiCertError(messages.STORE_URL, store="")
        return URL.create("sqlite", database=str(Path(data_dir) / FILE_NAME))
    if "://" not in value:
        return URL.create("sqlite", database=value)
    try:
        url = make_url(value)
    except ArgumentError:
        raise OnshiCertError(messages.STORE_URL, store=_without_password(value)) from None
    if url.password is not None:
        raise OnshiCertError(messages.STORE_PASSWORD_IN_ADDRESS, store=url.render_as_string(hide_password=True))
    if url.drivername in ("postgresql", "postgres", "postgresql+psycopg"):
        return url.set(drivername="postgresql+psycopg")
    if url.drivername == "sqlite" and url.database:
        return url
    raise OnshiCertError(messages.STORE_URL, store=url.render_as_string(hide_password=True))


def _without_password(value: str) -> str:
    head, _at, tail = value.rpartition("@")
    return ("***@" + tail) if head else value


def shown(url: URL) -> str:
    """Return ``url`` as it may be shown: without its password (a SQLite file as its path)."""
    return url.database or "" if url.get_backend_name() == "sqlite" else url.render_as_string(hide_password=True)


def engine(url: URL, password: str | None = None) -> Engine:
    """Return an engine for ``url`` (no pool: each task opens, writes and closes), the SQLite file made private."""
    if url.get_backend_name() == "sqlite":
        path = Path(url.database or "")
        try:
            private_dir(path.parent)
            os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
        except OSError as exc:
            raise OnshiCertError(messages.STORE_UNREACHABLE, store=path, reason=exc.strerror) from None
        made = create_engine(url, poolclass=NullPool, connect_args={"timeout": LOCK_SECONDS})

        @event.listens_for(made, "connect")
        def _connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" below starts each transaction
            _wal(dbapi_connection)
            dbapi_connection.execute("PRAGMA synchronous=NORMAL")

        @event.listens_for(made, "begin")
        def _begin(connection: Connection) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")  # writers queue here, not halfway through a write

        return made
    if password:
        url = url.set(password=password)
    try:
        return create_engine(
            url, poolclass=NullPool, connect_args={"connect_timeout": 10, "application_name": "onshi-cert"}
        )
    except ImportError:
        raise OnshiCertError(messages.MISSING_PACKAGES, packages="psycopg[binary]>=3.1,<4") from None


def _wal(dbapi_connection: Any) -> None:
    """Put a new SQLite file in WAL mode (kept in the file). Switching needs the file to itself and SQLite does not
    wait for that as it waits for a lock: when several runs open a new record at once, try again until the lock
    time is up."""
    if str(dbapi_connection.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
        return
    deadline = time.monotonic() + LOCK_SECONDS
    while True:
        try:
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@contextlib.contextmanager
def errors(url: URL) -> Iterator[None]:
    """Turn a database failure inside the block into the coded error that says what to do (nothing was kept:
    every write is one transaction)."""
    try:
        yield
    except OnshiCertError:
        raise
    except DBAPIError as exc:
        raise coded(url, exc) from None
    except SQLAlchemyError as exc:
        raise OnshiCertError(messages.STORE_FAILED, store=shown(url), reason=str(exc).splitlines()[0]) from None


def coded(url: URL, exc: DBAPIError) -> OnshiCertError:
    """Return the coded error of a database failure ``exc``."""
    store = shown(url)
    original = exc.orig
    state = str(getattr(original, "sqlstate", "") or "")
    reason = str(original).strip().splitlines()[0] if str(original).strip() else type(original).__name__
    lowered = reason.lower()
    if state.startswith("28") or "password authentication failed" in lowered or "no password supplied" in lowered:
        return OnshiCertError(messages.STORE_AUTH, store=store)
    if state in ("53100", "53000") or "disk is full" in lowered or "no space left" in lowered:
        return OnshiCertError(messages.STORE_FULL, store=store, reason=reason)
    if state in ("55P03", "40P01") or "database is locked" in lowered or "lock timeout" in lowered:
        return OnshiCertError(messages.STORE_BUSY, store=store, seconds=LOCK_SECONDS)
    if isinstance(exc, OperationalError) and not state:
        return OnshiCertError(messages.STORE_UNREACHABLE, store=store, reason=reason)
    return OnshiCertError(messages.STORE_FAILED, store=store, reason=reason)


def version(connection: Connection) -> int:
    """Return the store's schema version (0: an empty store)."""
    if not connection.dialect.has_table(connection, schema.meta.name):
        return 0
    found = connection.execute(select(schema.meta.c.value).where(schema.meta.c.key == "schema_version")).scalar()
    return int(found or 0)


def migrate(made: Engine, url: URL) -> int:
    """Bring the store to :data:`schema.VERSION` in one transaction (one run at a time); return its version.

    A store newer than this code is refused before anything is written.
    """
    with errors(url), made.begin() as connection:
        if made.dialect.name == "postgresql":
            connection.execute(text(f"SET LOCAL lock_timeout = '{LOCK_SECONDS}s'"))
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        found = version(connection)
        if found > schema.VERSION:
            raise OnshiCertError(messages.STORE_NEWER, store=shown(url), found=found, known=schema.VERSION)
        if found == schema.VERSION:
            return found
        schema.metadata.create_all(connection, tables=[schema.meta])
        for number in range(found + 1, schema.VERSION + 1):
            schema.MIGRATIONS[number](connection)
        values = {"key": "schema_version", "value": str(schema.VERSION)}
        if found:
            connection.execute(schema.meta.update().where(schema.meta.c.key == "schema_version"), values)
        else:
            connection.execute(schema.meta.insert(), values)
        return schema.VERSION
