"""Checkable habits: the core has no Ansible in it, plugins stay thin and leave crypto to the core."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UTILS = ROOT / "plugins" / "plugin_utils"
CORE = sorted((UTILS / "core").glob("*.py"))
PLUGINS = sorted((ROOT / "plugins" / "action").glob("*.py"))
#: What the collection may import besides the standard library: ansible-core, its own plugin_utils, and the
#: third-party packages of its requirements.txt (jinja2 and yaml come with ansible-core).
ALLOWED = {"ansible", "ansible_collections", "cryptography", "jinja2", "openpyxl", "yaml", "winrm"}


def imports(path: Path) -> set[str]:
    """Return the top-level names a module imports."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", CORE, ids=lambda p: p.name)
def test_core_imports_nothing_from_ansible(path: Path) -> None:
    """The core is pure Python: no Ansible."""
    assert "ansible" not in imports(path)


@pytest.mark.parametrize("path", PLUGINS, ids=lambda p: p.name)
def test_action_plugins_are_thin_and_leave_crypto_to_the_core(path: Path) -> None:
    """An action plugin is under 150 lines and imports nothing from cryptography."""
    assert "cryptography" not in imports(path)
    assert len(path.read_text().splitlines()) < 150


@pytest.mark.parametrize(
    "path", sorted(UTILS.rglob("*.py")) + PLUGINS + sorted((ROOT / "plugins" / "callback").glob("*.py")),
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_the_collection_stands_alone(path: Path) -> None:
    """Collection code imports only the standard library, ansible-core, its requirements and itself.

    Inside plugin_utils every import of its own code is relative (the same files are the ``onshi_cert`` package
    of the command-line tool); plugins import it by its collection name. Nothing imports the developers' kit.
    """
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            assert path.is_relative_to(UTILS), f"{path}: relative import outside plugin_utils"
            continue
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        for name in names:
            top = name.split(".")[0]
            assert top in ALLOWED or top in sys.stdlib_module_names, f"{path}: imports {name}"
            if top == "ansible_collections":
                assert name.startswith("ansible_collections.onshi.cert.plugins.plugin_utils"), f"{path}: {name}"
                assert not path.is_relative_to(UTILS), f"{path}: plugin_utils imports itself by collection name"


def test_requirements_declare_what_the_collection_imports() -> None:
    """requirements.txt (the collection's third-party packages) lists cryptography and pywinrm with ranges."""
    text = (ROOT / "requirements.txt").read_text()
    assert "cryptography>=" in text and "openpyxl>=" in text and "pywinrm>=" in text and "<" in text


def test_unit_tests_mirror_the_source_tree() -> None:
    """Each source package has a matching unit-test folder."""
    for package in ("core", "lab", "agent"):
        assert (ROOT / "tests" / "unit" / package).is_dir(), package


def test_no_data_default_lives_beside_the_playbooks_or_in_the_collection() -> None:
    """Role defaults never derive a data path from playbook_dir (inside an installed collection when run by FQCN)."""
    from pathlib import Path

    roles = Path(__file__).resolve().parents[2] / "roles"
    defaults = {p: p.read_text(encoding="utf-8") for p in roles.glob("*/defaults/main.yml")}
    assert len(defaults) == 7
    assert [str(p) for p, text in defaults.items() if "playbook_dir" in text] == []
    assert all("onshi_cert_data_dir" in text for text in defaults.values())
