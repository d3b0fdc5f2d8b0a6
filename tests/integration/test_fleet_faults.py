"""A lab fleet with faults of every kind (unreachable, cut mid-run, wrong password): each failed PC is reported
with its reason, the rest complete, and a second run fixes what it can. (Scale is measured by bench/fleet.py.)"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import yaml

from onshi_cert.core.facility import luhn_check_digit
from onshi_cert_tools.lab import downloads
from onshi_cert_tools.lab.runtime import up
from tests.integration.helpers import run_playbook

pytestmark = pytest.mark.integration
SIZE = 24  # 7 of them faulty; scale itself is measured by bench/fleet.py
USERS = {
    "Administrator": {"password": "Lab-Admin-2026!", "admin": True},
    "OQSComApp": {"password": "Lab-Oqs-2026!", "admin": False},
}


def code(index: int) -> str:
    nine = f"{1 + index % 47:02d}1{index % 100:02d}{index:04d}"
    return nine + str(luhn_check_digit(nine))


def test_fleet_with_faults(tmp_path: Path) -> None:
    """Transient faults (cuts, unreachable PCs) heal on the second run; bad input stays failed, with its reason."""
    rng = random.Random(20261124)
    hosts = [
        {
            "name": f"pc{i:03d}",
            "site": f"site{i // 20:02d}",
            "facility_codes": [code(i)],
            "certs": [{"code": code(i), "days_left": 30}],
        }
        for i in range(SIZE)
    ]
    fleet = tmp_path / "fleet.yml"
    fleet.write_text(
        yaml.safe_dump(
            {
                "defaults": {"users": USERS, "face_auth_version": "2.1.3"},
                "network": {"base_address": "127.0.100.1"},
                "hosts": hosts,
            }
        )
    )
    client = up(tmp_path / "lab", fleet, fresh=True)
    try:
        downloads.issue(client.state_dir, client.state_dir / "certs")
        faulty = rng.sample([h["name"] for h in hosts], 7)
        unreachable, cut, wrong_password = faulty[:2], faulty[2:5], faulty[5:]
        for name in unreachable:
            client.set_reachable(name, False)
        for name in cut:
            client.set_faults(
                name, [{"execution": rng.randint(1, 2), "step": rng.choice([None, 0, 1])}]
            )  # provision: 2 executions
        passwords_file = client.state_dir / "certs" / "passwords.json"
        passwords = json.loads(passwords_file.read_text())
        for name in wrong_password:
            key = next(k for k in passwords if k.startswith(f"{name}/"))
            passwords[key] = "9999" if passwords[key] != "9999" else "8888"
        passwords_file.write_text(json.dumps(passwords))

        first = run_playbook("playbooks/provision.yml", client.inventory, extra_args=["--forks", "50"])
        failed = {h for h, c in first.recap.items() if c["failures"] or c["unreachable"]}
        assert failed == set(faulty)
        recap = first.stdout.split("ONSHI-CERT RECAP")[1]
        for name in unreachable:
            assert f"{name}" in recap and "UNREACHABLE" in recap
        for name in wrong_password:
            line = next(line for line in recap.splitlines() if line.startswith(name))
            assert "password does not open" in line, line
        assert len([h for h, c in first.recap.items() if c["changed"]]) >= SIZE - len(faulty)

        for name in unreachable:
            client.set_reachable(name, True)
        second = run_playbook("playbooks/provision.yml", client.inventory, extra_args=["--forks", "50"])
        still = {h for h, c in second.recap.items() if c["failures"] or c["unreachable"]}
        assert still == set(wrong_password)
        assert set(unreachable) <= {h for h, c in second.recap.items() if c["changed"]}
        for name in [*unreachable, *cut]:
            rows = client.host(name)["summary"]["stores"]["CurrentUser[OQSComApp]\\My"]
            assert len(rows) == 1 and rows[0]["not_after"] > "2029", (name, rows)
    finally:
        client.shutdown()
