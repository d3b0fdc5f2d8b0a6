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
ALLOWED = {"ansible", "ansible_collections", "cryptography", "jinja2", "openpyxl", "sqlalchemy", "yaml", "winrm"}


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
    "path",
    sorted(UTILS.rglob("*.py")) + PLUGINS + sorted((ROOT / "plugins" / "callback").glob("*.py")),
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
    """requirements.txt (the collection's third-party packages, and so the execution environment's) lists
    cryptography, openpyxl, pywinrm and pypsrp (the psrp connection docs/awx.md recommends) with ranges."""
    text = (ROOT / "requirements.txt").read_text()
    assert "pypsrp>=" in text and "SQLAlchemy>=" in text and "psycopg[binary]>=" in text
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


def _module_of(path: Path) -> str:
    parts = list(path.relative_to(UTILS).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_utils(path: Path) -> set[str]:
    """Return the plugin_utils modules ``path`` imports (relative imports inside plugin_utils, collection names in
    the plugins), each with the packages on the way."""
    found: set[str] = set()
    base = _module_of(path).split(".") if path.is_relative_to(UTILS) else []
    if path.is_relative_to(UTILS) and path.name != "__init__.py":
        base = base[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            anchor = base[: len(base) - (node.level - 1)] if node.level > 1 else base
            target = [*anchor, *(node.module.split(".") if node.module else [])]
        elif node.module and node.module.startswith("ansible_collections.onshi.cert.plugins.plugin_utils"):
            target = node.module.split(".")[5:]
        else:
            continue
        names = [".".join(target)] + [".".join([*target, a.name]) for a in node.names]
        for name in names:
            parts = name.split(".")
            found |= {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
    return found


def test_everything_in_plugin_utils_is_used_by_a_plugin() -> None:
    """Every module of the controller library is reached from an action or callback plugin: the kit's helpers
    (the lab's payload builder, the real-Windows kit) live in src/, outside the collection."""
    files = {_module_of(p): p for p in UTILS.rglob("*.py")}
    reached: set[str] = set()
    todo = [p for p in PLUGINS + sorted((ROOT / "plugins" / "callback").glob("*.py"))]
    while todo:
        for name in _imported_utils(todo.pop()):
            if name in files and name not in reached:
                reached.add(name)
                todo.append(files[name])
    unused = sorted(name for name in files if name and name not in reached)
    assert unused == []


@pytest.mark.parametrize("path", sorted(UTILS.rglob("*.py")), ids=lambda p: str(p.relative_to(UTILS)))
def test_each_room_fits_in_one_sitting(path: Path) -> None:
    """No controller-library file but the message catalogue is over 500 lines."""
    if path.name != "messages.py":
        assert len(path.read_text().splitlines()) <= 500


#: What touches the process itself (its children, signals, threads, memory, collector): never in the core.
PROCESS_MODULES = {"subprocess", "multiprocessing", "concurrent", "signal", "threading", "gc", "resource", "atexit"}


@pytest.mark.parametrize("path", CORE, ids=lambda p: p.name)
def test_the_core_touches_nothing_of_the_process(path: Path) -> None:
    """The core decides and reads files; it starts no process or thread and changes nothing of the interpreter."""
    assert imports(path) & PROCESS_MODULES == set()


def test_the_readme_is_a_front_door_and_every_guide_is_registered() -> None:
    """README.md stays a front door (at most 250 lines); docs/docsite/extra-docs.yml lists every page of docs/guide/
    the collection ships, and nothing that is not there."""
    import yaml

    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 250
    extra = yaml.safe_load((ROOT / "docs" / "docsite" / "extra-docs.yml").read_text(encoding="utf-8"))
    listed = [entry for section in extra["sections"] for entry in section["toctree"]]
    assert all((ROOT / "docs" / f"{entry}.md").is_file() for entry in listed), listed
    ignored = set(yaml.safe_load((ROOT / "galaxy.yml").read_text(encoding="utf-8"))["build_ignore"])
    guides = {f"guide/{p.stem}" for p in (ROOT / "docs" / "guide").glob("*.md")}
    assert {g for g in guides if f"docs/{g}.md" not in ignored} <= set(listed)
    assert not [e for e in listed if f"docs/{e}.md" in ignored]  # nothing the tarball leaves out
