"""The changelog is antsibull-changelog's: its fragments lint clean and CHANGELOG.rst matches changelog.yaml."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_changelog_lints_and_is_current(tmp_path: Path) -> None:
    lint = subprocess.run([str(BIN / "antsibull-changelog"), "lint"], cwd=ROOT, capture_output=True, text=True)
    assert lint.returncode == 0 and not lint.stdout.strip(), lint.stdout + lint.stderr
    copy = tmp_path / "copy"
    for name in ("changelogs", "galaxy.yml", "CHANGELOG.rst"):
        source = ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, copy / name if source.is_dir() else copy)
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".collections")}
    generate = subprocess.run(
        [str(BIN / "antsibull-changelog"), "generate"], cwd=copy, env=env, capture_output=True, text=True
    )
    assert generate.returncode == 0, generate.stderr
    assert (copy / "CHANGELOG.rst").read_text() == (ROOT / "CHANGELOG.rst").read_text()


def test_license_is_apache_2() -> None:
    assert "Apache License" in (ROOT / "LICENSE").read_text() and "Version 2.0" in (ROOT / "LICENSE").read_text()
