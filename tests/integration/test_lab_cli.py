"""The lab's commands: up (background), status, issue, down; state persists on disk between runs."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from winrm.protocol import Protocol

from onshi_cert_tools import payload
from onshi_cert_tools.lab.runtime import LabClient

pytestmark = pytest.mark.integration
CLI = str(Path(sys.executable).parent / "onshi-cert")
FLEET = {
    "hosts": [
        {
            "name": "cli-pc01",
            "facility_codes": ["0110113719"],
            "certs": [{"code": "0110113719", "days_left": 100}, {"code": "0110113719", "days_left": -5}],
        },
        {"name": "cli-pc02", "facility_codes": ["0441234564"]},
    ]
}


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, "lab", *args], capture_output=True, text=True, check=False, timeout=120)


def test_lab_commands_and_persistence(tmp_path: Path) -> None:
    """up prints where it listens and writes an inventory; a change survives down/up; --fresh rebuilds."""
    fleet = tmp_path / "fleet.yml"
    fleet.write_text(yaml.safe_dump(FLEET))
    state = str(tmp_path / "state")
    common = ["--state-dir", state]
    up = cli("up", "--fleet", str(fleet), "--base-address", "127.0.110.1", *common)
    try:
        assert up.returncode == 0, up.stderr
        assert "lab up: 2 PCs, control API http://127.0.0.1:" in up.stdout
        inventory = yaml.safe_load((tmp_path / "state" / "inventory.yml").read_text())
        assert "cli-pc01" in yaml.safe_dump(inventory)
        status = cli("status", *common)
        assert "cli-pc01" in status.stdout and "127.0.110.1:5985" in status.stdout and " up " in status.stdout
        issued = cli("issue", *common)
        assert "cli-pc02:" in issued.stdout and "cli-pc01:" not in issued.stdout  # pc01 is valid for 100 days

        client = LabClient.find(tmp_path / "state")
        expired = next(
            r["thumbprint"]
            for r in client.host("cli-pc01")["summary"]["stores"]["CurrentUser[OQSComApp]\\My"]
            if dt.datetime.fromisoformat(r["not_after"]) < dt.datetime.now(dt.UTC)  # the one expired 5 days ago
        )
        proto = Protocol(
            "http://127.0.110.1:5985/wsman", transport="ntlm", username="Administrator", password="Lab-Admin-2026!"
        )
        answer = payload.run(
            proto,
            {
                "contract": 1,
                "steps": [{"op": "remove_cert", "args": {"store": "CurrentUser\\My", "thumbprint": expired}}],
            },
            become_user="OQSComApp",
            become_password="Lab-Oqs-2026!",
        )
        assert answer["changed"] is True
        assert cli("down", *common).stdout.strip() == "lab down"
        assert cli("status", *common).returncode == 1

        assert cli("up", "--fleet", str(fleet), "--base-address", "127.0.110.1", *common).returncode == 0
        rows = LabClient.find(tmp_path / "state").host("cli-pc01")["summary"]["stores"]["CurrentUser[OQSComApp]\\My"]
        assert len(rows) == 1  # the removal persisted on disk
        assert cli("up", "--fresh", "--fleet", str(fleet), "--base-address", "127.0.110.1", *common).returncode == 0
        rows = LabClient.find(tmp_path / "state").host("cli-pc01")["summary"]["stores"]["CurrentUser[OQSComApp]\\My"]
        assert len(rows) == 2  # --fresh rebuilt it from the fleet file
    finally:
        cli("down", *common)
