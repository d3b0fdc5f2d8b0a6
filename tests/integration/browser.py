"""Headless Chromium for looking at the report as a person would."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def chromium() -> str:
    """Return the Chromium binary; in CI its absence is a failure, elsewhere a visible skip."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: scripts/system-deps.sh should have installed it")
        pytest.skip("chromium is not installed (run scripts/system-deps.sh as root)")
    return binary


def screenshot(page: Path, png: Path, profile: Path, size: str = "1200,2000") -> Image.Image:
    """Open ``page`` in headless Chromium and return its screenshot."""
    subprocess.run(
        [
            chromium(),
            *FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={size}",
            f"--screenshot={png}",
            page.resolve().as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return Image.open(png).convert("RGB")


def is_blank(image: Image.Image) -> bool:
    """Return True when the picture is (nearly) one colour."""
    colours = image.getcolors(maxcolors=1_000_000) or []
    return len(colours) < 50
