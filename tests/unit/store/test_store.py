"""The fleet record on both backends: rows only added, the latest per PC, concurrent writers, and each failure a
coded error with nothing half-written (a real SQLite file and a real PostgreSQL server, no mock database)."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import sqlite3
import uuid
from pathlib import Path

import pytest
from sqlalchemy import event, text

from onshi_cert.core.errors import OnshiCertError
from onshi_cert.core.paths import job_folder, outside_job_folder
from onshi_cert.store import Pc, Run, Store, connect, schema

NOW = dt.datetime(2026, 6, 1, 3, 0, tzinfo=dt.UTC)
RUN = Run("run-1", job="42", playbook="Audit", engineer="yamada")


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request, tmp_path) -> tuple[str, str | None]:
    """A fresh store on each backend: (onshi_cert_store, password)."""
    if request.param == "sqlite":
        return str(tmp_path / "data" / "onshi-cert.db"), None
    server = request.getfixturevalue("postgres")
    return server.createdb(f"t_{uuid.uuid4().hex[:12]}"), server.password


def report(thumb: str = "AA", not_after: str = (NOW + dt.timedelta(days=365)).isoformat(), problems=()) -> dict:
    born = (NOW - dt.timedelta(days=800)).isoformat()
    cert = {"thumbprint": thumb, "not_after": not_after, "not_before": born, "ours": True,
            "facility_code": "0110113719", "subject_cn": "0110113719-01", "issuer_cn": "CA", "stage": "ok",
            "days_remaining": 365}  # fmt: skip
    return {"certificates": [cert], "problems": list(problems), "plan": {"keep": {"0110113719": thumb}}}


def test_rows_are_only_added_and_the_latest_answer_is_kept(target) -> None:
    """A PC that stops answering keeps its last answer; the answer before it and the reachability before the
    latest observation are read back for what changed."""
    store_name, password = target
    pc = Pc("pc01", "札幌", "札幌内科", ("0110113719",))
    with Store.open(store_name, None, password) as store:
        assert store.version == schema.VERSION
        store.observe(RUN, [(pc, report("AA"), "")], NOW)
        store.observe(RUN, [(pc, report("BB"), "")], NOW + dt.timedelta(days=7))
        store.observe(RUN, [(pc, None, "no answer")], NOW + dt.timedelta(days=14))
        seen = store.latest()["pc01"]
        assert seen.latest["reachable"] is False and seen.latest["error"] == "no answer"
        assert seen.answer["report"]["certificates"][0]["thumbprint"] == "BB"
        assert seen.previous["report"]["certificates"][0]["thumbprint"] == "AA"
        assert seen.was_reachable is True
        assert seen.latest["observed_at"] == NOW + dt.timedelta(days=14)  # UTC in, UTC out, on both backends
        assert seen.latest["site"] == "札幌" and seen.latest["facility_codes"] == ["0110113719"]
        assert seen.latest["engineer"] == "yamada" and seen.latest["job"] == "42"
        store.act(RUN, [(pc, {"changed": True, "installed": ["BB"]})], NOW, check_mode=False)
        assert [a["result"]["installed"] for a in store.actions(NOW, NOW + dt.timedelta(days=1))] == [["BB"]]
        assert store.counts() == {"observations": 3, "actions": 1, "pcs": 1}
    with Store.open(store_name, None, password) as again:  # opened again: no second migration, nothing lost
        assert again.counts()["observations"] == 3


def _write_many(store_name: str, password: str | None, worker: int) -> None:
    with Store.open(store_name, None, password) as store:
        for n in range(25):
            store.observe(Run(f"r{worker}"), [(Pc(f"pc{worker:02d}-{n:02d}"), report(), "")], NOW)


def test_concurrent_runs_write_in_turn_and_nothing_is_lost(target) -> None:
    """Eight processes (forks of one run, or several runs) migrate and write one store at once: every row lands."""
    store_name, password = target
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_write_many, args=(store_name, password, w)) for w in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    with Store.open(store_name, None, password) as store:
        assert store.counts() == {"observations": 200, "actions": 0, "pcs": 200}


def test_a_store_newer_than_the_code_is_refused(target) -> None:
    store_name, password = target
    with Store.open(store_name, None, password) as store, store.engine.begin() as connection:
        connection.execute(text("UPDATE onshi_meta SET value = '99' WHERE key = 'schema_version'"))
    with pytest.raises(OnshiCertError) as caught:
        Store.open(store_name, None, password)
    assert caught.value.code == "ONSHI-E152" and "99" in caught.value.text


def test_a_full_disk_keeps_nothing_of_the_write(tmp_path) -> None:
    """SQLite's 'database or disk is full' (here: a page limit) is ONSHI-E153, and the batch is not half-written."""
    store = Store.open(None, tmp_path)
    store.observe(RUN, [(Pc("pc00"), report(), "")], NOW)
    event.listen(store.engine, "connect", lambda dbapi, _record: dbapi.execute("PRAGMA max_page_count = 12"))
    big = report() | {"padding": "x" * 200_000}
    with pytest.raises(OnshiCertError) as caught:
        store.observe(RUN, [(Pc(f"pc{n:02d}"), big, "") for n in range(1, 6)], NOW)
    assert caught.value.code == "ONSHI-E153"
    store.close()
    with Store.open(None, tmp_path) as again:
        assert again.counts()["observations"] == 1


def test_a_store_locked_by_another_run_is_a_coded_error(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(connect, "LOCK_SECONDS", 0.2)
    with Store.open(None, tmp_path):
        pass
    holder = sqlite3.connect(tmp_path / "onshi-cert.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(OnshiCertError) as caught, Store.open(None, tmp_path) as store:
            store.observe(RUN, [(Pc("pc01"), report(), "")], NOW)
        assert caught.value.code == "ONSHI-E154"
    finally:
        holder.execute("ROLLBACK")
        holder.close()


@pytest.mark.parametrize("value", ["mysql://u@h/db", "sqlite://", "postgresql+asyncpg://u@h/db", "ftp://x"])
def test_an_address_of_no_store_is_refused_without_its_password(value) -> None:
    with pytest.raises(OnshiCertError) as caught:
        Store.open(value, None)
    assert caught.value.code == "ONSHI-E155"


def test_postgresql_unreachable_and_wrong_password_are_told_apart(postgres) -> None:
    with pytest.raises(OnshiCertError) as caught:
        Store.open(postgres.url, None, "wrong-password")
    assert caught.value.code == "ONSHI-E151" and "wrong-password" not in caught.value.describe()
    closed = postgres.url.replace(f":{postgres.port}/", ":1/")
    with pytest.raises(OnshiCertError) as caught:
        Store.open(closed, None, postgres.password)
    assert caught.value.code == "ONSHI-E150"


def test_a_password_in_the_address_is_refused_without_showing_it(postgres) -> None:
    """An address holding a password would show in logs, job settings and command lines: refused, never shown."""
    with_password = postgres.url.replace("onshi@", f"onshi:{postgres.password}@")
    with pytest.raises(OnshiCertError) as caught:
        Store.open(with_password, None)
    assert caught.value.code == "ONSHI-E159" and postgres.password not in caught.value.describe()


def test_the_sqlite_file_is_private(tmp_path) -> None:
    with Store.open(None, tmp_path / "data") as store:
        store.observe(RUN, [(Pc("pc01"), report(), "")], NOW)
    assert (tmp_path / "data").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "data" / "onshi-cert.db").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("environ", "folder"),
    [
        ({"AWX_ISOLATED_DATA_DIR": "/runner/artifacts/533"}, "/runner"),
        ({"AWX_ISOLATED_DATA_DIR": "/tmp/awx_533_x1/artifacts/533"}, "/tmp/awx_533_x1"),
        ({"AWX_PRIVATE_DATA_DIR": "/tmp/awx_7_abc"}, "/tmp/awx_7_abc"),
        ({}, None),
    ],
)
def test_the_job_folder_of_awx_and_ansible_runner_is_found(environ, folder) -> None:
    assert job_folder(environ) == (Path(folder) if folder else None)


def test_a_data_folder_inside_the_job_folder_is_refused() -> None:
    environ = {"AWX_ISOLATED_DATA_DIR": "/runner/artifacts/533"}
    with pytest.raises(OnshiCertError) as caught:
        outside_job_folder("/runner/project/inventories/onshi-cert-data", environ)
    assert caught.value.code == "ONSHI-E156"
    assert outside_job_folder("/srv/onshi-cert-data", environ) == Path("/srv/onshi-cert-data")
    assert outside_job_folder("/runner-data/x", environ) == Path("/runner-data/x")
