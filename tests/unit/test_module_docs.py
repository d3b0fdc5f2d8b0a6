"""One spec per module: the documentation stubs say exactly what the action plugins accept."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MODULES = [
    "onshi_cert_info",
    "onshi_cert",
    "onshi_cert_backup",
    "onshi_cert_report",
    "onshi_cert_workdocs",
    "onshi_cert_store",
]


def _doc(path: Path, name: str) -> dict:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == name:
            return yaml.safe_load(node.value.value)
    raise AssertionError(f"{path} has no {name}")


def _documented_options(module: str) -> dict:
    doc = _doc(ROOT / "plugins" / "modules" / f"{module}.py", "DOCUMENTATION")
    options = dict(doc.get("options") or {})
    fragments = doc.get("extends_documentation_fragment") or []
    if "onshi.cert.onshi_cert" in fragments:
        options = {**_doc(ROOT / "plugins" / "doc_fragments" / "onshi_cert.py", "DOCUMENTATION")["options"], **options}
    for name in ("store", "vendor"):
        if f"onshi.cert.onshi_cert.{name}" in fragments:
            fragment = _doc(ROOT / "plugins" / "doc_fragments" / "onshi_cert.py", name.upper())
            options = {**fragment["options"], **options}
    return options


def _spec(module: str) -> dict:
    """Import the action plugin as Ansible does: through the collection loader, by its collection name."""
    from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder

    if not any(type(finder).__name__ == "_AnsibleCollectionFinder" for finder in sys.meta_path):
        _AnsibleCollectionFinder(paths=[str(ROOT / ".collections")])._install()
    plugin = importlib.import_module(f"ansible_collections.onshi.cert.plugins.action.{module}")
    return plugin.SPEC["argument_spec"]


@pytest.mark.parametrize("module", MODULES)
def test_documented_options_match_the_plugin_spec(module: str) -> None:
    """Every option is documented with the plugin's type, default, choices, elements and required flag."""
    documented = _documented_options(module)
    spec = _spec(module)
    assert sorted(documented) == sorted(spec)
    for name, option in spec.items():
        doc = documented[name]
        assert doc["type"] == option["type"], name
        assert doc.get("required", False) == option.get("required", False), name
        assert doc.get("default") == option.get("default"), name
        assert doc.get("choices") == option.get("choices"), name
        assert doc.get("elements") == option.get("elements"), name
        assert doc.get("description"), name


@pytest.mark.parametrize("module", [*MODULES, "onshi_cert_agent"])
def test_every_return_value_is_documented_fully(module: str) -> None:
    """Each return value has a description, returned, type and a sample (or documented contents)."""
    documentation = _doc(ROOT / "plugins" / "modules" / f"{module}.py", "DOCUMENTATION")
    if "onshi.cert.onshi_cert" in (documentation.get("extends_documentation_fragment") or []):
        fragment = _doc(ROOT / "plugins" / "doc_fragments" / "onshi_cert.py", "DOCUMENTATION")
        documentation["requirements"] = documentation.get("requirements", []) + fragment["requirements"]
    if "onshi.cert.onshi_cert.store" in (documentation.get("extends_documentation_fragment") or []):
        fragment = _doc(ROOT / "plugins" / "doc_fragments" / "onshi_cert.py", "STORE")
        documentation["requirements"] = documentation.get("requirements", []) + fragment["requirements"]
    assert documentation["requirements"] and documentation["seealso"], "requirements and seealso, as ansible.windows"
    returns = _doc(ROOT / "plugins" / "modules" / f"{module}.py", "RETURN")
    examples = _doc(ROOT / "plugins" / "modules" / f"{module}.py", "EXAMPLES")
    assert examples
    from ansible.playbook.task import Task

    for task in examples:  # every example works as written: modules by their FQCN
        assert all("." in key for key in task if key not in Task.fattributes), task
    assert any(key.startswith("onshi.cert.") for task in examples for key in task)

    def check(values: dict) -> None:
        for name, value in values.items():
            assert {"description", "returned", "type"} <= set(value), name
            assert "sample" in value or "contains" in value, name
            check(value.get("contains") or {})

    check(returns)


def test_secrets_are_no_log() -> None:
    """Every password option is no_log."""
    for module in MODULES:
        for name, option in _spec(module).items():
            if "password" in name:
                assert option.get("no_log") is True, (module, name)


@pytest.mark.parametrize("module", [*MODULES, "onshi_cert_agent"])
def test_ansible_doc_renders(module: str) -> None:
    """ansible-doc renders each module from the checkout without errors."""
    doc = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-doc"), f"onshi.cert.{module}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert doc.returncode == 0, doc.stderr
    assert "[ERROR]" not in doc.stderr and "[WARNING]" not in doc.stderr
    assert f"MODULE onshi.cert.{module}" in doc.stdout.replace("\x1b[1m", "").replace("\x1b[0m", "")
