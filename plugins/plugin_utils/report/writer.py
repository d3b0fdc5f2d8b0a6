"""Write the fleet report's files and its renewal notices (更新のご案内), a large fleet's with two processes."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from . import workdocs
from .render import FILES, write_all

#: From this many PCs on, on a controller with two or more cores, the Excel worklist and the renewal notices are
#: written by a second (forked) process while this one writes the other files. At 1,000 PCs they are about half
#: of the report's 1.3 s of rendering and writing, a step nothing else runs beside (every PC's task has ended).
PARALLEL_FROM = 200
#: The report files the second process writes, beside the notices.
SECOND = ("renewals.xlsx",)


def write(
    data: dict[str, Any],
    dest: Path,
    *,
    csv_encoding: str = "utf-8",
    timezone: str | None = None,
    now: dt.datetime | None = None,
) -> list[Path]:
    """Write every report file into ``dest`` and one renewal notice per clinic of the worklist into
    ``dest/notices`` (dated ``now``, by default when they are written); return the files' paths (the report's in
    :data:`FILES` order, then the notices)."""
    first = tuple(name for name in FILES if name not in SECOND)
    pool = _second_process(int(data.get("summary", {}).get("hosts") or 0))
    if pool is None:
        return _in_order(write_all(data, dest, csv_encoding, first), *_second(data, dest, timezone, now))
    with pool:
        try:
            later = pool.submit(_second, data, dest, timezone, now)
        except (BrokenProcessPool, OSError):
            later = None  # the second process could not be started: this one writes everything
        report = write_all(data, dest, csv_encoding, first)
        try:
            second = later.result() if later is not None else None
        except BrokenProcessPool:
            second = None  # it died (not an error of the disk, which it raises as this one would)
    if second is None:
        second = _second(data, dest, timezone, now)  # what it had written is written again, whole
    return _in_order(report, *second)


def _second_process(hosts: int) -> ProcessPoolExecutor | None:
    """A pool of one forked process for a fleet this large on a controller with two or more cores, else None."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if hosts < PARALLEL_FROM or cores < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return None
    try:
        return ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("fork"))
    except (OSError, ImportError, NotImplementedError):
        return None  # no semaphores here (a container without /dev/shm, say): one process writes it all


def _second(
    data: dict[str, Any], dest: Path, timezone: str | None, now: dt.datetime | None
) -> tuple[list[Path], list[Path]]:
    """Write what the second process writes: the Excel worklist, and the notices; return both lists of paths."""
    notices = workdocs.write(workdocs.notices(data), dest / "notices", timezone=timezone, now=now)
    return write_all(data, dest, names=SECOND), notices


def _in_order(report: list[Path], second: list[Path], notices: list[Path]) -> list[Path]:
    """The report's files in :data:`FILES` order, then the notices as written."""
    order = list(FILES)
    return sorted(report + second, key=lambda path: order.index(path.name)) + notices
