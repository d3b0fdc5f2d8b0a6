"""Build the Galaxy collection ``onshi.cert`` from the checkout's layout (the checkout keeps working as is)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
FQCN = "onshi.cert"
LAYOUT = {
    "library": "plugins/modules",
    "action_plugins": "plugins/action",
    "doc_fragments": "plugins/doc_fragments",
    "callback_plugins": "plugins/callback",
    "roles": "roles",
    "playbooks": "playbooks",
}
RUNTIME = {"requires_ansible": ">=2.19.0"}


def stage(root: Path, target: Path) -> Path:
    """Copy the checkout into collection layout under ``target``; return the collection folder."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for source, dest in LAYOUT.items():
        shutil.copytree(
            root / source,
            target / dest,
            symlinks=False,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".gitkeep"),
        )
    for doc in (target / "plugins" / "modules").glob("*.py"):
        text = doc.read_text(encoding="utf-8")
        text = re.sub(r"(extends_documentation_fragment:\n  - )onshi_cert\b", rf"\1{FQCN}.onshi_cert", text)
        text = re.sub(r"M\((onshi_cert\w*)\)", rf"M({FQCN}.\1)", text)
        doc.write_text(text, encoding="utf-8")
    sanity = target / "tests" / "sanity"
    sanity.mkdir(parents=True)
    ignores = [
        f"{path.relative_to(target)} validate-modules:missing-gplv3-license # the collection is Apache-2.0 licensed"
        for path in sorted((target / "plugins").rglob("*"))
        if path.suffix in (".py", ".ps1") and path.parent.name in ("modules", "callback")
    ]
    ignores.append(
        "plugins/modules/onshi_cert_agent.ps1 validate-modules:missing-module-utils-import-csharp-requirements "
        "# by design: no module utils (each C# util is recompiled on the PC at every run)"
    )
    for version in ("2.19", "2.20"):
        (sanity / f"ignore-{version}.txt").write_text("\n".join(ignores) + "\n", encoding="utf-8")
    (target / "meta").mkdir()
    (target / "meta" / "runtime.yml").write_text(yaml.safe_dump(RUNTIME), encoding="utf-8")
    shutil.copy(root / "galaxy.yml", target / "galaxy.yml")
    shutil.copy(root / "README.md", target / "README.md")
    (target / "docs").mkdir()
    shutil.copy(root / "docs" / "report-screenshot.png", target / "docs" / "report-screenshot.png")
    return target


def build(out: Path, root: Path = ROOT) -> Path:
    """Stage and build the collection tarball into ``out``; return its path."""
    staged = stage(root, out / "staging" / "ansible_collections" / "onshi" / "cert")
    galaxy = Path(sys.executable).parent / "ansible-galaxy"
    subprocess.run(
        [str(galaxy), "collection", "build", str(staged), "--output-path", str(out), "--force"],
        check=True,
        capture_output=True,
        text=True,
    )
    version = yaml.safe_load((root / "galaxy.yml").read_text())["version"]
    return out / f"onshi-cert-{version}.tar.gz"
