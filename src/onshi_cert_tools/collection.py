"""Build the Galaxy collection ``onshi.cert``: the checkout's root is the collection, so this is
``ansible-galaxy collection build`` of that folder (galaxy.yml's build_ignore leaves the developers' kit out)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

import onshi_cert

FQCN = "onshi.cert"
#: The collection's root: onshi_cert is its plugins/plugin_utils (see pyproject.toml).
ROOT = Path(onshi_cert.__file__).resolve().parents[2]


class CollectionError(RuntimeError):
    """The collection cannot be built here."""


def build(out: Path, root: Path = ROOT) -> Path:
    """Build the collection tarball into ``out``; return its path."""
    if not (root / "galaxy.yml").is_file():
        raise CollectionError(
            f"{root} has no galaxy.yml: build the collection from a checkout of onshi-cert "
            "(scripts/bootstrap.sh installs the command from it)"
        )
    out.mkdir(parents=True, exist_ok=True)
    galaxy = Path(sys.executable).parent / "ansible-galaxy"
    proc = subprocess.run(
        [str(galaxy), "collection", "build", str(root), "--output-path", str(out), "--force"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise CollectionError(f"ansible-galaxy collection build failed: {proc.stderr.strip() or proc.stdout.strip()}")
    version = yaml.safe_load((root / "galaxy.yml").read_text(encoding="utf-8"))["version"]
    return out / f"onshi-cert-{version}.tar.gz"


def install(tarball: Path, collections: Path) -> Path:
    """Install the tarball under ``collections`` (a collections path); return the installed collection's folder."""
    galaxy = Path(sys.executable).parent / "ansible-galaxy"
    subprocess.run(
        [str(galaxy), "collection", "install", str(tarball), "-p", str(collections), "--force"],
        check=True,
        capture_output=True,
        text=True,
    )
    return collections / "ansible_collections" / "onshi" / "cert"
