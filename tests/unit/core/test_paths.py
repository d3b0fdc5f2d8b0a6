"""Names from outside as file names (one rule: path_component), and the data folder's privacy."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from onshi_cert.core import paths
from onshi_cert.core.paths import MAX_COMPONENT, path_component

HOSTILE = [
    "..",
    ".",
    "../../outside",
    "受付/2F",
    "受付_2F",
    "a\\b",
    "a/b",
    "a%2Fb",
    "nul\x00x",
    "CON",
    "con.txt",
    "Lpt1",
    "COM9.p12",
    "trailing.",
    " space ",
    "\udcff\udcfenot-utf8",
    "x" * 300,
    "x" * 299 + "y",
    "~",
    "",
    "%",
]


@pytest.mark.parametrize("name", ["pc01", "sapporo-naika-pc01", "PC_01.clinic.local", "0110113719"])
def test_a_plain_name_is_its_own_file_name(name) -> None:
    """Names that are already safe ASCII stay as they are (backups written before keep their names)."""
    assert path_component(name) == name


@pytest.mark.parametrize("name", HOSTILE, ids=repr)
def test_a_hostile_name_stays_one_safe_component_in_its_folder(name, tmp_path) -> None:
    """No name leaves its folder, names a device, hides itself or is longer than file systems allow."""
    part = path_component(name)
    assert part and len(part) <= MAX_COMPONENT and part.isascii() and part.isprintable()
    assert not set(part) & set('/\\:*?"<>| \x00') and not part.startswith(".") and not part.endswith(".")
    assert part.split(".")[0].upper() not in {"CON", "PRN", "AUX", "NUL", "COM1", "COM9", "LPT1"}
    target = tmp_path / "folder" / part
    assert target.parent == tmp_path / "folder" and paths.inside(tmp_path / "folder", target)
    target.parent.mkdir(exist_ok=True)
    target.write_bytes(b"x")  # a real file system takes it
    assert [p.name for p in target.parent.iterdir()] == [part]
    target.unlink()


def test_no_two_names_share_a_file_name() -> None:
    """The rule is one-to-one: a slash and an underscore, a byte and its escape, a long name and its twin differ."""
    parts = [path_component(name) for name in HOSTILE]
    assert len(set(parts)) == len(HOSTILE)


def test_a_new_folder_is_private_and_an_open_one_is_warned_about_once(tmp_path) -> None:
    """Created 0700 (parents too, whatever the umask); an existing 0755 folder gets one warning, not one per call."""
    paths.take_warnings()
    old = os.umask(0o022)
    try:
        paths.private_dir(tmp_path / "data" / "backups" / "0110113719")
        paths.write_private(tmp_path / "data" / "reports" / "report.json", b"{}")
    finally:
        os.umask(old)
    for folder in ("data", "data/backups", "data/backups/0110113719", "data/reports"):
        assert stat.S_IMODE((tmp_path / folder).stat().st_mode) == 0o700, folder
    assert stat.S_IMODE((tmp_path / "data/reports/report.json").stat().st_mode) == 0o600
    assert paths.take_warnings() == []
    opened = tmp_path / "open"
    opened.mkdir()
    opened.chmod(0o755)
    for _ in range(3):
        paths.private_dir(opened)
    (warning,) = paths.take_warnings()
    assert str(opened) in warning and "755" in warning and "chmod -R go-rwx" in warning


def test_a_file_where_the_folder_should_be_is_the_disk_error(tmp_path) -> None:
    """As mkdir would say it: the caller names the file."""
    (tmp_path / "reports").write_text("not a folder")
    with pytest.raises(FileExistsError):
        paths.private_dir(Path(tmp_path / "reports"))
