"""Backups kept in the PostgreSQL record: added once, fetched PFX first, a damaged or strange row never written."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

import pytest
from sqlalchemy import update

from onshi_cert.store import Store, backups, connect, schema


@pytest.fixture
def store(postgres):
    with Store.open(postgres.createdb(f"b_{uuid.uuid4().hex[:12]}"), None, postgres.password) as opened:
        yield opened


def _backup(folder, code="0110113719", stem="pc01_ABCD_12345678"):
    pfx = folder / code / f"{stem}.pfx"
    pfx.parent.mkdir(parents=True, exist_ok=True)
    pfx.write_bytes(b"pfx-bytes")
    pfx.with_suffix(".json").write_text('{"pfx": "' + pfx.name + '"}')
    return pfx


def test_a_backup_is_kept_once_and_fetched_where_it_is_missing(store, tmp_path) -> None:
    pfx = _backup(tmp_path / "a")
    assert backups.shared(store)
    assert backups.keep(store, [pfx]) == 2
    assert backups.keep(store, [pfx]) == 0, "a second slice keeping the same file adds nothing"
    node = tmp_path / "b"
    assert backups.fetch(store, node) == 2
    assert (node / "0110113719" / pfx.name).read_bytes() == b"pfx-bytes"
    assert (node / "0110113719").stat().st_mode & 0o777 == 0o700
    assert (node / "0110113719" / pfx.name).stat().st_mode & 0o777 == 0o600
    assert backups.fetch(store, node) == 0, "what the folder has is left as it is"


def test_a_damaged_or_strange_row_is_never_written(store, tmp_path) -> None:
    backups.keep(store, [_backup(tmp_path / "a")])
    with store.engine.begin() as connection:
        connection.execute(update(schema.backup_files).values(data=b"altered"))
        connection.execute(
            schema.backup_files.insert(),
            {"name": "../../etc/x.pfx", "sha256": hashlib.sha256(b"x").hexdigest(), "data": b"x",
             "added_at": dt.datetime.now(dt.UTC)},
        )  # fmt: skip
    node = tmp_path / "b"
    assert backups.fetch(store, node) == 0
    assert not list(tmp_path.glob("**/x.pfx"))


def test_a_version_1_store_is_migrated_to_keep_backups(postgres) -> None:
    """A record made by the first release (observations and actions) gains backup_files, nothing else changes."""
    name = postgres.createdb(f"m_{uuid.uuid4().hex[:12]}")
    url = connect.address(name, None)
    engine = connect.engine(url, postgres.password)
    with engine.begin() as connection:
        schema.metadata.create_all(connection, tables=[schema.meta])
        schema.MIGRATIONS[1](connection)
        connection.execute(schema.meta.insert(), {"key": "schema_version", "value": "1"})
    engine.dispose()
    with Store.open(name, None, postgres.password) as store:
        assert store.version == 2
        with store.engine.connect() as connection:
            assert store.engine.dialect.has_table(connection, "backup_files")
