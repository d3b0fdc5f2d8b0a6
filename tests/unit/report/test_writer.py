"""A large fleet's report is written by two processes: the same files as one process writes, errors raised as
they are, and a second process that dies leaves its share to the first."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from openpyxl import load_workbook

from onshi_cert.report import workdocs, writer
from onshi_cert.report.render import FILES

NOW = dt.datetime(2026, 11, 30, 1, 0, tzinfo=dt.UTC)


def tree(root: Path) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def sheet(path: Path) -> list[tuple]:
    return [tuple(cell.value for cell in row) for row in load_workbook(path).active.iter_rows()]


@pytest.fixture
def record_pids(monkeypatch, tmp_path) -> Path:
    """Make every writing of the notices leave the writer's process id in a file beside the test's folders."""
    pids = tmp_path / "pids"
    write = workdocs.write

    def recording(*args, **kwargs):
        with pids.open("a") as out:
            out.write(f"{os.getpid()}\n")
        return write(*args, **kwargs)

    monkeypatch.setattr(workdocs, "write", recording)
    return pids


def test_two_processes_write_what_one_writes(data, tmp_path, monkeypatch, record_pids) -> None:
    """From PARALLEL_FROM PCs on, another process writes the Excel worklist and the notices; every file is the one a
    single process writes (the workbook cell by cell: its own timestamps differ), in the same order."""
    monkeypatch.setattr(writer, "PARALLEL_FROM", 10_000)
    alone = writer.write(data, tmp_path / "one", timezone="Asia/Tokyo", now=NOW)
    assert record_pids.read_text().split() == [str(os.getpid())]
    record_pids.unlink()
    monkeypatch.setattr(writer, "PARALLEL_FROM", data["summary"]["hosts"])
    both = writer.write(data, tmp_path / "two", timezone="Asia/Tokyo", now=NOW)
    (pid,) = record_pids.read_text().split()
    assert pid != str(os.getpid())  # the notices were written by another process
    assert [p.relative_to(tmp_path / "two") for p in both] == [p.relative_to(tmp_path / "one") for p in alone]
    assert [p.name for p in both[: len(FILES)]] == list(FILES)
    assert any(p.parent.name == "notices" for p in both)
    one, two = tree(tmp_path / "one"), tree(tmp_path / "two")
    assert one.keys() == two.keys()
    assert {k: v for k, v in one.items() if not k.endswith(".xlsx")} == {
        k: v for k, v in two.items() if not k.endswith(".xlsx")
    }
    assert sheet(tmp_path / "one" / "renewals.xlsx") == sheet(tmp_path / "two" / "renewals.xlsx")


def test_a_second_process_that_dies_leaves_its_share_to_the_first(data, tmp_path, monkeypatch) -> None:
    """Killed or out of memory: the first process writes the worklist and the notices itself, whole."""
    monkeypatch.setattr(writer, "PARALLEL_FROM", 1)
    parent, write = os.getpid(), workdocs.write

    def dying(*args, **kwargs):
        if os.getpid() != parent:
            os._exit(9)
        return write(*args, **kwargs)

    monkeypatch.setattr(workdocs, "write", dying)
    files = writer.write(data, tmp_path, now=NOW)
    assert {p.name for p in files} >= set(FILES)
    notices = [p for p in files if p.parent.name == "notices"]
    assert notices and all(p.read_text(encoding="utf-8").rstrip().endswith("</html>") for p in notices)
    assert sheet(tmp_path / "renewals.xlsx")[1:]


def test_a_disk_error_in_the_second_process_is_raised_as_it_is(data, tmp_path, monkeypatch) -> None:
    """The notices' folder cannot be made (a file has its name): the error is the disk's, for the action to name."""
    monkeypatch.setattr(writer, "PARALLEL_FROM", 1)
    (tmp_path / "notices").write_text("not a folder")
    with pytest.raises(FileExistsError):
        writer.write(data, tmp_path, now=NOW)


def test_a_small_fleet_or_one_core_is_written_by_one_process(monkeypatch) -> None:
    """Below PARALLEL_FROM PCs, or with one core, no second process is started."""
    assert writer._second_process(writer.PARALLEL_FROM - 1) is None
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert writer._second_process(writer.PARALLEL_FROM) is None


def test_without_semaphores_for_a_pool_one_process_writes_everything(data, tmp_path, monkeypatch, record_pids) -> None:
    """A container without /dev/shm cannot make the pool's queue: the report is written as before, by the task."""
    monkeypatch.setattr(writer, "PARALLEL_FROM", 1)

    def no_semaphores(*args, **kwargs):
        raise OSError(38, "Function not implemented")

    monkeypatch.setattr(writer, "ProcessPoolExecutor", no_semaphores)
    files = writer.write(data, tmp_path / "report", now=NOW)
    assert record_pids.read_text().split() == [str(os.getpid())]
    assert [p.name for p in files[: len(FILES)]] == list(FILES)
