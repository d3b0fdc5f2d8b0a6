"""Day 0 on the lab: a PC whose HTTPS listener has its own certificate, pinned in the inventory by the fingerprint
day0.ps1 prints. The controller refuses any other certificate before it sends anything; the agent's behaviour cases
run over that validated listener with pywinrm, as the Windows workflow runs them on a real PC."""

from __future__ import annotations

from pathlib import Path

import yaml

from onshi_cert_tools import realpc
from onshi_cert_tools.lab.listener import listener_fingerprint, listener_tls
from onshi_cert_tools.lab.windows import WindowsHost
from tests.integration.helpers import run_playbook

PINNED = "kyoto-clinic-pc01"  # the sample fleet's PC with an HTTPS listener
ADMIN, ADMIN_PASSWORD = "Administrator", "Lab-Admin-2026!"
OPERATOR, OPERATOR_PASSWORD = "OQSComApp", "Lab-Oqs-2026!"


def listener_of(lab) -> tuple[WindowsHost, str]:
    """Return the pinned PC and the PEM path of its listener certificate."""
    host = WindowsHost.from_dict(lab.host(PINNED)["state"])
    cert, _key = listener_tls(lab.state_dir, host)
    return host, str(cert)


def test_the_inventory_pins_the_listener_and_a_pinned_pc_runs(reset_lab) -> None:
    """The lab's inventory holds the PC's fingerprint (as fleet import writes it from the ledger) and the audit runs."""
    inventory = yaml.safe_load(reset_lab.inventory.read_text())
    groups = inventory["all"]["children"]["oqs_pcs"]["children"].values()
    hostvars = next(g["hosts"][PINNED] for g in groups if PINNED in g.get("hosts", {}))
    _host, cert = listener_of(reset_lab)
    assert hostvars["onshi_cert_listener_fingerprint"] == listener_fingerprint(Path(cert))
    run = run_playbook("playbooks/audit.yml", reset_lab.inventory, limit=PINNED)
    assert run.last(PINNED, "Read and judge this PC")["status"] == "ok"


def test_another_listener_certificate_is_refused_before_anything_is_sent(reset_lab, tmp_path) -> None:
    """A fingerprint that does not match: ONSHI-E094 with the fix, and the PC ran nothing (no password went to it)."""
    overlay = tmp_path / "overlay.yml"
    overlay.write_text(yaml.safe_dump({"oqs_pcs": {"hosts": {PINNED: {"onshi_cert_listener_fingerprint": "AB" * 32}}}}))
    run = run_playbook("playbooks/audit.yml", reset_lab.inventory, limit=PINNED, extra_args=["-i", str(overlay)])
    failed = [r for r in run.results if r["host"] == PINNED and r["status"] == "failed"]
    assert failed and failed[0]["result"]["error_code"] == "ONSHI-E094"
    assert "リスナー指紋" in failed[0]["result"]["fix"] or "listener pin" in failed[0]["result"]["fix"]
    assert reset_lab.records(PINNED)["executions"] == 0


def test_the_behaviour_cases_over_the_validated_listener(reset_lab, tmp_path) -> None:
    """The one case list, sent with pywinrm over HTTPS validated against the PC's own certificate (day 0)."""
    host, cert = listener_of(reset_lab)
    endpoint = f"https://{host.address}:{host.https_port}/wsman"
    runner = realpc.winrm_runner(endpoint, ADMIN, ADMIN_PASSWORD, listener_cert=Path(cert))
    made, problems = realpc.run(tmp_path / "cases", OPERATOR, OPERATOR_PASSWORD, runner)
    assert len(made) == len(realpc.cases(OPERATOR)) and problems == []
    assert not list((tmp_path / "cases").glob("[0-9][0-9].json"))  # the payloads held the operator's password
