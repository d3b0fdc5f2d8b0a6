"""Contract targets: the lab always; a real Windows host when ONSHI_WINDOWS_HOST and friends are set."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.integration.conftest import lab, reset_lab  # noqa: F401 - the lab fixtures, shared
from tests.integration.helpers import run_playbook

HERE = Path(__file__).resolve().parent
WINDOWS_VARS = ("ONSHI_WINDOWS_HOST", "ONSHI_WINDOWS_USER", "ONSHI_WINDOWS_PASSWORD")


@dataclass
class Target:
    """A host the agent runs on, with the inventory that reaches it."""

    name: str
    host: str
    inventory: Path
    operator: str

    def run(self, steps: list[dict], *, check: bool = False, use_become: bool = True) -> dict:
        """Run the agent with ``steps``; return its answer (the module result)."""
        run = run_playbook(
            HERE / "agent.yml",
            self.inventory,
            check=check,
            extra_vars={"target": self.host, "use_become": use_become, "request": {"contract": 1, "steps": steps}},
        )
        record = run.last(self.host, "Run the agent request")
        result = record["result"]
        result["failed"] = record["status"] == "failed"  # the task's own verdict (errors are ignored there)
        return result

    def run_all(self, requests: list[dict], *, use_become: bool = True) -> list[dict]:
        """Run the agent once per request, in order, in one playbook run; return each answer."""
        run = run_playbook(
            HERE / "agent.yml",
            self.inventory,
            extra_vars={"target": self.host, "use_become": use_become, "requests": requests},
        )
        items = run.last(self.host, "Run the agent requests in order (one each, all of them whatever each answers)")[
            "result"
        ]["results"]
        return [item | {"failed": bool(item.get("failed"))} for item in items]


def windows_inventory(tmp: Path) -> Path:
    """Write an inventory for the real Windows host described by ONSHI_WINDOWS_* variables."""
    env = os.environ
    scheme = env.get("ONSHI_WINDOWS_SCHEME", "https")
    host = {
        "ansible_host": env["ONSHI_WINDOWS_HOST"],
        "ansible_connection": "winrm",
        "ansible_port": int(env.get("ONSHI_WINDOWS_PORT", "5986" if scheme == "https" else "5985")),
        "ansible_winrm_scheme": scheme,
        "ansible_winrm_transport": env.get("ONSHI_WINDOWS_TRANSPORT", "ntlm"),
        "ansible_winrm_server_cert_validation": "validate"
        if env.get("ONSHI_WINDOWS_VALIDATE_CERTS") == "true"
        else "ignore",
        "ansible_user": env["ONSHI_WINDOWS_USER"],
        "ansible_password": env["ONSHI_WINDOWS_PASSWORD"],
        "ansible_become_method": "runas",
        "ansible_become_user": env.get("ONSHI_WINDOWS_OPERATOR", env["ONSHI_WINDOWS_USER"]),
        "ansible_become_password": env.get("ONSHI_WINDOWS_OPERATOR_PASSWORD", env["ONSHI_WINDOWS_PASSWORD"]),
    }
    path = tmp / "windows.yml"
    path.write_text(yaml.safe_dump({"all": {"hosts": {"windows": host}}}))
    path.chmod(0o600)
    return path


@pytest.fixture(params=["lab", "windows"])
def target(request, tmp_path_factory) -> Target:
    """Yield each contract target; the real Windows one only when its variables are set."""
    if request.param == "lab":
        client = request.getfixturevalue("reset_lab")
        return Target("lab", "sapporo-naika-pc01", client.inventory, "OQSComApp")
    missing = [v for v in WINDOWS_VARS if not os.environ.get(v)]
    if missing:
        pytest.skip(f"no real Windows host: set {', '.join(missing)} to run the contract against one")
    inventory = windows_inventory(tmp_path_factory.mktemp("windows"))
    operator = os.environ.get("ONSHI_WINDOWS_OPERATOR", os.environ["ONSHI_WINDOWS_USER"])
    return Target("windows", "windows", inventory, operator)
