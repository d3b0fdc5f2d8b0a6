"""The Galaxy collection: built, installed into a temporary collections path, the audit run by FQCN against the
lab with nothing from the checkout on Ansible's paths; and the execution environment's build context."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from onshi_cert.collection import build

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def tarball(tmp_path_factory) -> Path:
    return build(tmp_path_factory.mktemp("dist"))


def test_collection_has_every_part(tarball) -> None:
    """Modules with their docs and the agent, action plugins, roles, playbooks, the recap callback, runtime."""
    with tarfile.open(tarball) as archive:
        names = set(archive.getnames())
    for member in (
        "plugins/modules/onshi_cert_agent.ps1",
        "plugins/modules/onshi_cert.py",
        "plugins/action/onshi_cert.py",
        "plugins/action/onshi_cert_info.py",
        "plugins/action/onshi_cert_backup.py",
        "plugins/action/onshi_cert_report.py",
        "plugins/doc_fragments/onshi_cert.py",
        "plugins/callback/onshi_cert_recap.py",
        "roles/onshi_cert_install/tasks/main.yml",
        "playbooks/audit.yml",
        "meta/runtime.yml",
    ):
        assert member in names, member


def test_audit_by_fqcn_from_an_installed_collection(reset_lab, tarball, tmp_path) -> None:
    """ansible-playbook onshi.cert.audit works with only the installed collection."""
    collections = tmp_path / "collections"
    subprocess.run(
        [str(BIN / "ansible-galaxy"), "collection", "install", str(tarball), "-p", str(collections)],
        check=True,
        capture_output=True,
    )
    config = tmp_path / "ansible.cfg"
    config.write_text("[defaults]\nhost_key_checking = False\ncallbacks_enabled = onshi.cert.onshi_cert_recap\n")
    env = {
        **os.environ,
        "PATH": f"{BIN}:{os.environ['PATH']}",
        "ANSIBLE_CONFIG": str(config),
        "ANSIBLE_COLLECTIONS_PATH": str(collections),
    }
    report = tmp_path / "report"
    run = subprocess.run(
        [
            str(BIN / "ansible-playbook"),
            "onshi.cert.audit",
            "-i",
            str(reset_lab.inventory),
            "-e",
            f"onshi_cert_audit_report_dir={report}",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 4, run.stdout[-3000:]  # 4: the one unreachable PC of the fleet
    assert "ONSHI-CERT RECAP" in run.stdout
    data = json.loads((report / "report.json").read_text())
    assert data["summary"]["hosts"] == 13 and data["summary"]["reachable"] == 12
    assert reset_lab.records("sapporo-naika-pc01")["executions"] == 1


def test_execution_environment_context(tmp_path) -> None:
    """With the collection and the wheel in dist/, ansible-builder create makes a complete build context."""
    dist = ROOT / "dist"
    build(dist)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)],
        check=True,
        capture_output=True,
    )
    context = tmp_path / "context"
    proc = subprocess.run(
        [
            str(BIN / "ansible-builder"),
            "create",
            "-f",
            str(ROOT / "execution-environment.yml"),
            "-c",
            str(context),
            "--output-filename",
            "Containerfile",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    containerfile = (context / "Containerfile").read_text()
    assert "pip install --no-cache-dir /build/dist/onshi_cert-" in containerfile
    assert "ansible-galaxy collection install /build/dist/onshi-cert-" in containerfile
    copied = {p.name for p in (context / "_build" / "dist").iterdir()}
    assert any(n.startswith("onshi-cert-") and n.endswith(".tar.gz") for n in copied)
    assert any(n.startswith("onshi_cert-") and n.endswith(".whl") for n in copied)
    assert "pywinrm" in (context / "_build" / "requirements.txt").read_text()


SANITY_TESTS = ["validate-modules", "ansible-doc", "action-plugin-docs", "yamllint", "compile", "pep8", "ignores"]


def test_ansible_test_sanity(tmp_path) -> None:
    """ansible-test sanity passes for the collection (the tests that apply to it).

    ansible-test bootstraps pip in its venvs with a script from a host this machine cannot reach; the
    documented workaround is a script in its cache, so the test puts an equivalent there that installs
    with the pip wheel from PyPI.
    """
    import ansible_test._internal.python_requirements as requirements

    version = "24.2"
    assert f"pip='{version}'" in Path(requirements.__file__).read_text(), "ansible-test changed its pip version"
    cache = Path.home() / ".ansible" / "test" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(cache), f"pip=={version}"],
        check=True,
        capture_output=True,
    )
    (cache / f"get_pip_{version.replace('.', '_')}.py").write_text(
        (Path(__file__).parent / "data" / "get_pip_shim.py").read_text()
    )
    staged = stage_for_sanity(tmp_path)
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}
    proc = subprocess.run(
        [
            str(BIN / "ansible-test"),
            "sanity",
            "--local",
            "--python",
            "3.11",
            *[arg for test in SANITY_TESTS for arg in ("--test", test)],
        ],
        cwd=staged,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    for test in SANITY_TESTS:
        assert f'Running sanity test "{test}"' in output


def stage_for_sanity(tmp_path: Path) -> Path:
    """Stage the collection as ansible_collections/onshi/cert inside a git repository, as ansible-test wants."""
    from onshi_cert.collection import stage

    staged = stage(ROOT, tmp_path / "ansible_collections" / "onshi" / "cert")
    for command in (["init", "-q"], ["add", "-A"]):
        subprocess.run(["git", *command], cwd=staged, check=True, capture_output=True)
    return staged
