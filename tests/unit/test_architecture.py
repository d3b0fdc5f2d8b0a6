"""Checkable habits: the core has no Ansible in it, plugins stay thin and leave crypto to the core."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = sorted((ROOT / "src" / "onshi_cert" / "core").glob("*.py"))
PLUGINS = sorted((ROOT / "action_plugins").glob("*.py"))


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


def test_unit_tests_mirror_the_source_tree() -> None:
    """Each source package has a matching unit-test folder."""
    for package in ("core", "lab", "agent"):
        assert (ROOT / "tests" / "unit" / package).is_dir(), package


def test_no_data_default_lives_beside_the_playbooks_or_in_the_collection() -> None:
    """Role defaults never derive a data path from playbook_dir (inside an installed collection when run by FQCN)."""
    from pathlib import Path

    roles = Path(__file__).resolve().parents[2] / "roles"
    defaults = {p: p.read_text(encoding="utf-8") for p in roles.glob("*/defaults/main.yml")}
    assert len(defaults) == 6
    assert [str(p) for p, text in defaults.items() if "playbook_dir" in text] == []
    assert all("onshi_cert_data_dir" in text for text in defaults.values())
