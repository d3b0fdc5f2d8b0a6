"""Integration fixtures: one lab (the sample fleet) for the session, hosts reset per test."""

from __future__ import annotations

import copy
import os
import random
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from onshi_cert_tools.lab.fleet import LabCA
from onshi_cert_tools.lab.runtime import SAMPLE_FLEET, LabClient, up
from tests.integration import helpers


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabClient]:
    """Start the lab with the sample fleet; stop it at the end of the session."""
    state_dir = tmp_path_factory.mktemp("lab")
    base = f"127.{random.randint(30, 250)}.{random.randint(0, 250)}.1"  # apart from a lab a developer runs
    client = up(state_dir, SAMPLE_FLEET, fresh=True, base_address=base)
    client.initial = {name: copy.deepcopy(client.host(name)["state"]) for name in client.status()["hosts"]}  # type: ignore[attr-defined]
    yield client
    client.shutdown()


def reset(lab: LabClient) -> LabClient:
    """Put the sample fleet back as it started, with no faults, latency or counters, and no data folders."""
    for name, state in lab.initial.items():  # type: ignore[attr-defined]
        lab.put_host(name, state)
        lab.clear_faults(name)
        lab.set_reachable(name, True)
    lab.set_latency(0)
    lab.reset()
    for folder in ("certs", "backups", "reports", "onshi-cert-data"):  # onshi-cert-data: the fleet record
        shutil.rmtree(lab.state_dir / folder, ignore_errors=True)
    return lab


@pytest.fixture
def reset_lab(lab: LabClient) -> Iterator[LabClient]:
    """Give the test the sample fleet as it started, with no faults, latency or counters."""
    yield reset(lab)


@pytest.fixture(scope="session")
def lab_ca(lab: LabClient) -> LabCA:
    """Return the lab's CA, to issue .p12 files the way the download site would."""
    return LabCA.load_or_create(lab.state_dir / "ca")


@pytest.fixture
def p12(lab_ca: LabCA, tmp_path: Path):
    """Return a function writing a .p12 for ``code`` (password 1234 unless given) and returning its path."""

    def make(code: str, name: str | None = None, password: str = "1234", **kwargs) -> Path:
        path = tmp_path / (name or f"{code}.p12")
        path.write_bytes(lab_ca.factory.leaf(code, **kwargs).p12(password))
        return path

    return make


def my_store(lab: LabClient, host: str, user: str = "OQSComApp") -> list[dict]:
    """Return the rows of a user's CurrentUser\\My on a lab host."""
    return lab.host(host)["summary"]["stores"].get(f"CurrentUser[{user}]\\My", [])


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run each test that takes ``release`` once per ansible-core release named by ONSHI_MATRIX_BINS
    (bin folders of virtualenvs, see scripts/matrix.sh), or once with this virtualenv's."""
    if "release" in metafunc.fixturenames:
        bins = [b for b in os.environ.get("ONSHI_MATRIX_BINS", "").split(os.pathsep) if b]
        ids = [Path(b).parent.name for b in bins] or ["this-venv"]
        metafunc.parametrize("release", bins or [""], ids=ids, indirect=True)


@pytest.fixture
def release(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run this test's playbooks with the given release's ansible-playbook (the lab knows its payload)."""
    if request.param:
        monkeypatch.setattr(helpers, "BIN", Path(request.param))
    return request.param


def blank_my_store(lab: LabClient, host: str) -> None:
    """Make ``host`` a blank replacement PC under the same name: no CurrentUser store left."""
    blank = lab.host(host)["state"]
    blank["stores"] = {key: value for key, value in blank["stores"].items() if not key.startswith("CurrentUser")}
    lab.put_host(host, blank)
