"""Where the installed collection is: its root folder (galaxy.yml or MANIFEST.json, plugins/, roles/)."""

from __future__ import annotations

from pathlib import Path


def collection_root() -> Path:
    """Return the collection's root (the folder with galaxy.yml or MANIFEST.json, plugins/ and roles/)."""
    return Path(__file__).resolve().parents[2]
