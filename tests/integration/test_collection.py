"""The collection is the product: built from the checkout (whose root is the collection), installed into a bare
virtualenv that has only what the collection declares, and run by FQCN from an unrelated folder against the lab;
ansible-test sanity on the installed copy; the execution environment's build context."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from onshi_cert_tools.collection import build, install
from onshi_cert_tools.lab import downloads
from tests.integration.conftest import my_store

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
#: Made by scripts/bootstrap.sh: ansible-core, pywinrm and the collection's requirements.txt, nothing else.
ALONE = ROOT / ".venv" / "collection-only" / "bin"


@pytest.fixture(scope="module")
def tarball(tmp_path_factory) -> Path:
    return build(tmp_path_factory.mktemp("dist"))


def test_collection_has_every_part_and_nothing_of_the_kit(tarball) -> None:
    """Modules with their docs and the agent, action plugins, the core in plugin_utils, roles, playbooks, the recap
    callback, meta; none of the lab, the command-line tool, the developers' tests or user data."""
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
        "plugins/plugin_utils/core/policy.py",
        "plugins/plugin_utils/report/templates/report.html.j2",
        "roles/onshi_cert_install/tasks/main.yml",
        "playbooks/audit.yml",
        "meta/runtime.yml",
        "meta/execution-environment.yml",
        "requirements.txt",
        "tests/sanity/ignore-2.19.txt",
        "tests/unit/plugins/action/test_specs.py",
        "tests/unit/requirements.txt",
    ):
        assert member in names, member
    kit = ("src/", "inventories/", "bench/", "tests/integration/", "tests/unit/lab/", "tests/unit/core/", "molecule/")
    for prefix in (*kit, "tests/unit/test_", "tests/conftest.py", ".lab/", "awx/", "scripts/"):
        assert not [n for n in names if n.startswith(prefix)], prefix
    assert not [n for n in names if n.endswith((".p12", ".pfx")) or "/backups/" in n]


def test_the_tarball_is_lean_and_its_documents_point_only_inside_it(tarball) -> None:
    """Under 300 KB, no pictures or spreadsheets, no kit helper (the payload builder), and every relative link of
    every Markdown file in it (README, docs, guides) names a file that is in it too; galaxy.yml names no made-up
    repository."""
    assert tarball.stat().st_size < 300 * 1024
    with tarfile.open(tarball) as archive:
        names = set(archive.getnames())
        documents = {n: archive.extractfile(n).read().decode("utf-8") for n in names if n.endswith(".md")}
    assert not [n for n in names if n.endswith((".png", ".jpg", ".xlsx"))]
    assert "plugins/plugin_utils/agent/payload.py" not in names
    broken = []
    for name, text in documents.items():
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if re.match(r"[a-z]+://", target):
                continue
            resolved = os.path.normpath(os.path.join(os.path.dirname(name), target)).rstrip("/")
            if resolved not in names and not any(n.startswith(resolved + "/") for n in names):
                broken.append((name, target))
    assert broken == []
    assert "example.invalid" not in (ROOT / "galaxy.yml").read_text(encoding="utf-8")


def test_runs_alone_by_fqcn_from_an_unrelated_folder(reset_lab, tarball, tmp_path) -> None:
    """In a virtualenv with only ansible-core, pywinrm and requirements.txt, from a folder with no ansible.cfg:
    onshi.cert.provision, .backup, .replace_pc and .audit work against the lab by FQCN, with the recap."""
    assert (ALONE / "ansible-playbook").exists(), "run scripts/bootstrap.sh: it makes .venv/collection-only"
    bare = subprocess.run([str(ALONE / "python"), "-c", "import onshi_cert"], capture_output=True, check=False)
    assert bare.returncode != 0, "the bare virtualenv must not have the developers' onshi_cert package"
    lab = reset_lab
    downloads.issue(lab.state_dir, lab.state_dir / "certs", ["sendai-yakkyoku-pc01"])
    collections = tmp_path / "collections"
    install(tarball, collections)
    work = tmp_path / "work"
    work.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("ANSIBLE_", "PYTHON", "VIRTUAL_ENV"))}
    env |= {
        "PATH": f"{ALONE}:/usr/bin:/bin",
        "ANSIBLE_COLLECTIONS_PATH": str(collections),
        "ANSIBLE_CALLBACKS_ENABLED": "onshi.cert.onshi_cert_recap",
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_FORCE_COLOR": "0",
    }

    def play(name: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(ALONE / "ansible-playbook"), f"onshi.cert.{name}", "-i", str(lab.inventory), *args],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )

    provision = play("provision", "--limit", "sendai-yakkyoku-pc01")
    assert provision.returncode == 0, provision.stdout[-3000:] + provision.stderr[-2000:]
    assert "ONSHI-CERT RECAP" in provision.stdout
    installed = my_store(lab, "sendai-yakkyoku-pc01")
    assert len(installed) == 1 and installed[0]["has_key"]

    backup = play("backup", "--limit", "sendai-yakkyoku-pc01")
    assert backup.returncode == 0, backup.stdout[-3000:]
    assert list((lab.state_dir / "backups").rglob("sendai-yakkyoku-pc01_*.pfx"))

    blank = lab.host("sendai-yakkyoku-pc01")["state"]
    blank["stores"] = {key: value for key, value in blank["stores"].items() if not key.startswith("CurrentUser")}
    lab.put_host("sendai-yakkyoku-pc01", blank)
    replace = play(
        "replace_pc", "--limit", "sendai-yakkyoku-pc01", "-e", "onshi_cert_restore_from=sendai-yakkyoku-pc01"
    )
    assert replace.returncode == 0, replace.stdout[-3000:]
    assert [r["thumbprint"] for r in my_store(lab, "sendai-yakkyoku-pc01")] == [installed[0]["thumbprint"]]

    audit = play("audit")
    assert audit.returncode == 4, audit.stdout[-3000:]  # 4: the one unreachable PC of the fleet
    assert "ONSHI-CERT RECAP" in audit.stdout
    report_file = lab.state_dir / "reports" / "latest" / "report.json"
    assert report_file.is_file(), audit.stdout[audit.stdout.find("Write the fleet report") :][:3000]
    report = json.loads(report_file.read_text())
    assert report["summary"]["hosts"] == 13 and report["summary"]["reachable"] == 12
    assert not list(collections.rglob("*.pfx")) and not list(collections.rglob("report.json"))


def test_installs_from_git(tmp_path) -> None:
    """ansible-galaxy collection install git+file://<checkout> gives the same collection (build_ignore applies)."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, capture_output=True)
    for path in ["plugins", "roles", "playbooks", "meta", "galaxy.yml", "requirements.txt"]:
        source = ROOT / path
        if source.is_dir():
            shutil.copytree(source, clone / path, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, clone / path)  # the working tree as it is now, committed or not
    subprocess.run(["git", "add", "-A"], cwd=clone, check=True, capture_output=True)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "now", "--allow-empty"],
        cwd=clone,
        check=True,
        capture_output=True,
    )
    collections = tmp_path / "collections"
    proc = subprocess.run(
        [str(BIN / "ansible-galaxy"), "collection", "install", f"git+file://{clone}", "-p", str(collections)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    installed = collections / "ansible_collections" / "onshi" / "cert"
    assert (installed / "plugins" / "plugin_utils" / "core" / "policy.py").is_file()
    assert not (installed / "src").exists() and not (installed / "inventories").exists()
    assert not (installed / "tests" / "integration").exists()


def test_execution_environment_context(tmp_path) -> None:
    """ansible-builder makes a build context in which every file a stage copies or installs is there for it, the
    final stage gets the installed collection, and the collection's requirements reach the final image."""
    dist = ROOT / "dist"
    tarball = build(dist)
    definition = yaml.safe_load((ROOT / "ee" / "execution-environment.yml").read_text())
    assert not definition["images"]["base_image"]["name"].endswith(":latest")
    context = tmp_path / "context"
    proc = subprocess.run(
        [
            str(BIN / "ansible-builder"),
            "create",
            "-f",
            str(ROOT / "ee" / "execution-environment.yml"),
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
    stages = re.split(r"^FROM ", (context / "Containerfile").read_text(), flags=re.M)[1:]
    by_name = {stage.split()[2]: stage for stage in stages}
    for stage in stages:  # every COPY from the context names something that is there
        for source in re.findall(r"^COPY (?!--from)(\S+)", stage, flags=re.M):
            assert (context / source).exists(), source
    galaxy = by_name["galaxy"]
    assert "COPY _build /build" in galaxy
    requirements = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    for entry in requirements["collections"]:  # each file the galaxy stage installs is inside /build there
        assert entry["name"].startswith("/build/")
        assert (context / "_build" / entry["name"].removeprefix("/build/")).is_file(), entry["name"]
        assert Path(entry["name"]).name == tarball.name, "ee/ names the tarball of galaxy.yml's version"
    assert "COPY --from=galaxy /usr/share/ansible /usr/share/ansible" in by_name["final"]

    collections = tmp_path / "collections"
    install(tarball, collections)
    introspect = subprocess.run(
        [sys.executable, str(context / "_build" / "scripts" / "introspect.py"), "introspect", str(collections)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert introspect.returncode == 0, introspect.stderr
    assert "cryptography" in introspect.stdout and "pywinrm" in introspect.stdout, introspect.stdout


def test_execution_environment_image(reset_lab, tmp_path) -> None:
    """Where a container engine can build, build the image and run onshi.cert.audit inside it against the lab."""
    engine = shutil.which("podman") or shutil.which("docker")
    usable = engine and subprocess.run([engine, "info"], capture_output=True, check=False).returncode == 0
    if not usable:
        why = f"{engine} cannot reach its daemon" if engine else "there is no podman or docker"
        pytest.skip(f"{why} on this machine: the image is built and run by .github/workflows/ee.yml")
    base = yaml.safe_load((ROOT / "ee" / "execution-environment.yml").read_text())["images"]["base_image"]["name"]
    have = subprocess.run([engine, "image", "inspect", base], capture_output=True, check=False).returncode == 0
    if not have:
        try:
            pulled = subprocess.run([engine, "pull", base], capture_output=True, check=False, timeout=300)
        except subprocess.TimeoutExpired:
            pulled = None
        if pulled is None or pulled.returncode != 0:
            pytest.skip(f"the base image {base} is not here and its registry cannot be reached from this machine")
    build(ROOT / "dist")
    proc = subprocess.run(
        [
            str(BIN / "ansible-builder"),
            "build",
            "-f",
            str(ROOT / "ee" / "execution-environment.yml"),
            "-c",
            str(tmp_path / "context"),
            "-t",
            "onshi-cert-ee:test",
            "--container-runtime",
            Path(engine).name,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lab = reset_lab
    run = subprocess.run(
        [
            engine,
            "run",
            "--rm",
            "--network",
            "host",
            "-v",
            f"{lab.state_dir}:{lab.state_dir}",
            "-e",
            "ANSIBLE_CALLBACKS_ENABLED=onshi.cert.onshi_cert_recap",
            "-e",
            "ANSIBLE_HOST_KEY_CHECKING=False",
            "onshi-cert-ee:test",
            "ansible-playbook",
            "onshi.cert.audit",
            "-i",
            str(lab.inventory),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert run.returncode == 4, run.stdout[-3000:] + run.stderr[-2000:]  # 4: the fleet's one unreachable PC
    assert "ONSHI-CERT RECAP" in run.stdout
    assert lab.records("sapporo-naika-pc01")["executions"] == 1


#: A few of the tests `ansible-test sanity` runs (all of them run; these must be among them).
SANITY_TESTS = ["validate-modules", "ansible-doc", "action-plugin-docs", "import", "pylint", "yamllint", "pep8"]


@pytest.mark.lint
def test_ansible_test_sanity(tarball, tmp_path) -> None:
    """The full ansible-test sanity passes on the installed collection (every test that applies to it).

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
    proc = ansible_test(tarball, tmp_path, "sanity")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    for test in SANITY_TESTS:
        assert f'Running sanity test "{test}"' in output


def test_ansible_test_units(tarball, tmp_path) -> None:
    """ansible-test units runs the collection's own plugin unit tests (tests/unit/plugins) on the installed copy."""
    proc = ansible_test(tarball, tmp_path, "units")
    assert not (tmp_path / "ansible_collections/onshi/cert/tests/unit/lab").exists(), "the kit's tests are not shipped"
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    passed = re.search(r"(\d+) passed", output)
    assert passed and int(passed.group(1)) >= 10, output[-2000:]


def ansible_test(tarball: Path, folder: Path, command: str) -> subprocess.CompletedProcess:
    """Install the collection under ``folder`` (in a git repository, as ansible-test wants) and run
    `ansible-test <command> --local --python 3.11` in it."""
    installed = install(tarball, folder)
    for git in (["init", "-q"], ["add", "-A"]):
        subprocess.run(["git", *git], cwd=installed, check=True, capture_output=True)
    return subprocess.run(
        [str(BIN / "ansible-test"), command, "--local", "--python", "3.11"],
        cwd=installed,
        env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )


def test_a_fleet_repository_installs_the_collection_as_awx_syncs_it(tarball, tmp_path) -> None:
    """The fleet repository's collections/requirements.yml installs onshi.cert from the tarball beside it, as AWX's
    project sync runs it (ansible-galaxy collection install -r, from the repository's root); Galaxy is not asked."""
    fleet = tmp_path / "fleet"
    shutil.copytree(ROOT / "awx" / "fleet-repository", fleet)
    shutil.copy(tarball, fleet / "collections" / tarball.name)
    proc = subprocess.run(
        [str(BIN / "ansible-galaxy"), "collection", "install", "-r", "collections/requirements.yml", "-p",
         str(tmp_path / "installed"), "--offline"],
        cwd=fleet, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    installed = tmp_path / "installed" / "ansible_collections" / "onshi" / "cert"
    manifest = json.loads((installed / "MANIFEST.json").read_text(encoding="utf-8"))
    assert manifest["collection_info"]["version"] == tarball.name.removesuffix(".tar.gz").rsplit("-", 1)[1]
