"""The report is written by one process: every report file in FILES order, then the notices; a disk error is raised
as it is, for the action to name."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest

from onshi_cert.report import writer
from onshi_cert.report.render import FILES

NOW = dt.datetime(2026, 11, 30, 1, 0, tzinfo=dt.UTC)


def test_every_report_file_then_the_notices(data, tmp_path) -> None:
    """The report's files come first, in FILES order, then one notice per clinic and language; all private."""
    written = writer.write(data, tmp_path, timezone="Asia/Tokyo", now=NOW)
    assert [p.name for p in written[: len(FILES)]] == list(FILES)
    notices = written[len(FILES) :]
    assert notices and all(p.parent == tmp_path / "notices" for p in notices)
    assert all(stat.S_IMODE(Path(p).stat().st_mode) == 0o600 for p in written)


def test_a_disk_error_is_raised_as_it_is(data, tmp_path) -> None:
    """The notices' folder cannot be made (a file has its name): the error is the disk's, for the action to name."""
    (tmp_path / "notices").write_text("not a folder")
    with pytest.raises(FileExistsError):
        writer.write(data, tmp_path, now=NOW)
