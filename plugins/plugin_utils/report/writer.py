"""Write the fleet report's files and its renewal notices (更新のご案内)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from . import workdocs
from .render import write_all


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
    report = write_all(data, dest, csv_encoding)
    return report + workdocs.write(workdocs.notices(data), dest / "notices", timezone=timezone, now=now)
