"""Cut the connection at every point that leaves a distinct PC state; re-run; everything converges.

For each job a probe PC runs it once to learn its executions and steps; then one PC per cut point
runs it with that cut, all in one playbook run, and the job is run again. The cut points are: before
each execution (nothing done, nothing answered), and right after each step that changes the PC (the
change done, its answer lost). A cut before a read-only step leaves the same PC state as the cut
before it, so it is not repeated. The PC never loses a usable certificate it had, no backup is lost
or half-written, and the re-run converges.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from onshi_cert.agent.contract import MUTATING
from onshi_cert.core import backup as backups
from onshi_cert.core.pkcs12 import Encryption, load_pkcs12
from onshi_cert_tools.lab import downloads
from onshi_cert_tools.lab.fleet import LAB_BACKUP_PASSWORD, LabCA
from onshi_cert_tools.lab.runtime import LabClient, up
from tests.integration.helpers import run_playbook

pytestmark = pytest.mark.integration
USERS = {
    "Administrator": {"password": "Lab-Admin-2026!", "admin": True},
    "OQSComApp": {"password": "Lab-Oqs-2026!", "admin": False},
}


@dataclass
class Job:
    """A playbook and the PC state it starts from."""

    name: str
    playbook: str
    code: str
    certs: list[dict]
    p12: bool = False
    restore: bool = False


JOBS = [
    Job(
        "provision",
        "playbooks/provision.yml",
        "1310512346",
        [{"code": "1310512346", "days_left": 300}, {"code": "1310512346", "days_left": -30}],
        p12=True,
    ),
    Job("renew", "playbooks/renew.yml", "0110113719", [{"code": "0110113719", "days_left": 20}], p12=True),
    Job(
        "cleanup",
        "playbooks/cleanup.yml",
        "2310322223",
        [
            {"code": "2310322223", "days_left": 700},
            {"code": "2310322223", "days_left": 60},
            {"code": "2310322223", "days_left": -10},
        ],
    ),
    Job("replace_pc", "playbooks/replace_pc.yml", "0441234564", [], restore=True),
]


def fleet_file(folder: Path, hosts: dict[str, Job], base: str) -> Path:
    spec = {
        "defaults": {"users": USERS, "operator": "OQSComApp", "face_auth_version": "2.1.3"},
        "network": {"base_address": base},
        "hosts": [
            {"name": name, "site": job.name, "facility_codes": [job.code], "certs": job.certs}
            for name, job in hosts.items()
        ],
    }
    path = folder / "fleet.yml"
    path.write_text(yaml.safe_dump(spec))
    return path


def prepare(client: LabClient, hosts: dict[str, Job]) -> dict[str, str]:
    """Issue the .p12 files and old-PC backups the jobs start from; return host -> expected final thumbprint."""
    ca = LabCA.load_or_create(client.state_dir / "ca")
    downloads.issue(client.state_dir, client.state_dir / "certs", [h for h, j in hosts.items() if j.p12])
    expected: dict[str, str] = {}
    passwords = json.loads((client.state_dir / "certs" / "passwords.json").read_text())
    for host, job in hosts.items():
        if job.p12:
            name = f"{host}/{job.code}.p12"
            bundle = load_pkcs12((client.state_dir / "certs" / name).read_bytes(), passwords[name])
            expected[host] = bundle.describe().thumbprint
        if job.restore:
            data = ca.factory.leaf(job.code).p12(LAB_BACKUP_PASSWORD)
            bundle = load_pkcs12(data, LAB_BACKUP_PASSWORD)
            backups.write(client.state_dir / "backups", host, job.code, data, bundle, Encryption.AES256)
            expected[host] = bundle.describe().thumbprint
    return expected


def usable(client: LabClient, host: str) -> list[dict]:
    """Return the operator's certificates that are ours, unexpired and have a key."""
    rows = client.host(host)["summary"]["stores"].get("CurrentUser[OQSComApp]\\My", [])
    now = dt.datetime.now(dt.UTC)
    return [r for r in rows if r["ours"] and r["has_key"] and dt.datetime.fromisoformat(r["not_after"]) > now]


def check_backups(folder: Path) -> None:
    """Every backup is complete: its manifest names a PFX whose hash matches and that opens; nothing half-written."""
    assert not list(folder.rglob("*.partial")), "a half-written backup was left"
    manifests = list(folder.glob("*/*.json"))  # <code>/<name>.json
    assert manifests, "no backup was written"
    for manifest in manifests:
        meta = json.loads(manifest.read_text())
        pfx = manifest.with_name(meta["pfx"])
        assert hashlib.sha256(pfx.read_bytes()).hexdigest() == meta["sha256"], pfx
        load_pkcs12(pfx.read_bytes(), LAB_BACKUP_PASSWORD)


def status(run, host: str) -> str:
    counts = run.recap.get(host, {})
    return "unreachable" if counts.get("unreachable") else "failed" if counts.get("failures") else "ok"


@pytest.fixture(scope="module")
def cut_points(tmp_path_factory) -> dict[str, list[tuple[int, int | None, str]]]:
    """Run each job once on a probe PC; return its cut points (execution, step or None, label)."""
    folder = tmp_path_factory.mktemp("probe")
    probes = {f"{job.name.replace('_', '-')}-probe": job for job in JOBS}
    client = up(folder / "lab", fleet_file(folder, probes, "127.0.70.1"), fresh=True)
    try:
        prepare(client, probes)
        points: dict[str, list[tuple[int, int | None, str]]] = {}
        for host, job in probes.items():
            run = run_playbook(job.playbook, client.inventory, limit=host)
            assert run.rc == 0, run.stdout[-3000:]
            steps = client.records(host)["steps"]
            points[job.name] = [(i + 1, None, f"before execution {i + 1}") for i in range(len(steps))]
            for i, ops in enumerate(steps):
                for k, op in enumerate(ops):
                    if op in MUTATING:  # the change is done on the PC, its answer is lost
                        where = "its last step" if k + 1 == len(ops) else f"step {k + 1}"
                        points[job.name].append((i + 1, k + 1, f"execution {i + 1}, after {where} ({op})"))
            assert len(points[job.name]) > len(steps), f"{job.name} changed nothing on its probe PC"
        return points
    finally:
        client.shutdown()


def test_every_cut_point_converges(cut_points, tmp_path, capsys) -> None:
    """A cut anywhere loses nothing; the re-run converges and a further run changes nothing."""
    hosts: dict[str, Job] = {}
    faults: dict[str, tuple[int, int | None, str]] = {}
    for job in JOBS:
        for index, point in enumerate(cut_points[job.name]):
            name = f"{job.name.replace('_', '-')}-cut{index:02d}"
            hosts[name], faults[name] = job, point
    client = up(tmp_path / "lab", fleet_file(tmp_path, hosts, "127.0.80.1"), fresh=True)
    table = []
    try:
        expected = prepare(client, hosts)
        before = {h: {r["thumbprint"] for r in usable(client, h)} for h in hosts}
        for host, (execution, step, _) in faults.items():
            client.set_faults(host, [{"execution": execution, "step": step}])
        first = {}
        for job in JOBS:
            limit = ",".join(h for h, j in hosts.items() if j is job)
            first[job.name] = run_playbook(job.playbook, client.inventory, limit=limit)
        for host in hosts:
            if before[host]:
                assert usable(client, host), f"{host} lost its usable certificate at {faults[host][2]}"
        check_backups(client.state_dir / "backups")

        for host in hosts:
            client.clear_faults(host)
        for job in JOBS:
            limit = ",".join(h for h, j in hosts.items() if j is job)
            again = run_playbook(job.playbook, client.inventory, limit=limit)
            settled = run_playbook(job.playbook, client.inventory, limit=limit)
            for host in (h for h, j in hosts.items() if j is job):
                final = usable(client, host)
                want = expected.get(host) or max(before[host], default=None)
                converged = (
                    status(again, host) == "ok"
                    and len(final) == 1
                    and (want is None or final[0]["thumbprint"] == want or job.name == "cleanup")
                )
                steady = settled.recap[host]["changed"] == 0
                table.append(
                    (
                        job.name,
                        faults[host][2],
                        status(first[job.name], host),
                        status(again, host),
                        "converged" if converged and steady else "NOT CONVERGED",
                    )
                )
        check_backups(client.state_dir / "backups")
    finally:
        client.shutdown()
    with capsys.disabled():
        print("\n\njob         cut point                                         first run    re-run  outcome")
        for row in table:
            print(f"{row[0]:11} {row[1]:49} {row[2]:12} {row[3]:7} {row[4]}")
    assert all(row[4] == "converged" for row in table), [row for row in table if row[4] != "converged"]
    assert len(table) == sum(len(points) for points in cut_points.values()) >= 16
