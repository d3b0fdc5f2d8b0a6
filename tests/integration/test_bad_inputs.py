"""Bad inventory and vault input through the playbooks: a clear error naming the host, what and the fix;
the PC is left exactly as it was. (The .p12, transport and module-argument cases live in test_cert,
test_info, test_backup, test_lab_wire and test_playbooks; docs/bad-inputs.md lists all of them.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.integration.helpers import run_playbook

pytestmark = pytest.mark.integration
HOST = "sendai-yakkyoku-pc01"
CODE = "0441234564"


def edited_inventory(lab, tmp_path: Path, edit) -> Path:
    """Return a copy of the lab inventory with ``edit(hostvars)`` applied to HOST's variables."""
    data = yaml.safe_load(lab.inventory.read_text())
    for group in data["all"]["children"]["oqs_pcs"]["children"].values():
        if HOST in group["hosts"]:
            edit(group["hosts"][HOST])
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def give_p12(
    lab, lab_ca, password: str = "1234", code: str = CODE, stored_password=None, issuer: str = "factory"
) -> None:
    certs = lab.state_dir / "certs"
    certs.mkdir(exist_ok=True)
    (certs / f"{HOST}.p12").write_bytes(getattr(lab_ca, issuer).leaf(code).p12(password))
    (certs / "passwords.json").write_text(json.dumps({HOST: stored_password or password}))


def failure(run, task_part: str | None = None) -> str:
    result = run.last(HOST, task_part)
    assert result["status"] in ("failed", "unreachable"), result
    return result["result"]["msg"]


CASES = {
    "facility codes missing": dict(
        edit=lambda v: v.pop("onshi_cert_facility_codes"), parts=["onshi_cert_facility_codes", "missing required"]
    ),
    "facility codes misspelt": dict(
        edit=lambda v: v.update(onshi_cert_facility_code=v.pop("onshi_cert_facility_codes")),
        parts=["onshi_cert_facility_codes", "missing required"],
    ),
    "facility code bad check digit": dict(
        edit=lambda v: v.update(onshi_cert_facility_codes=["0441234565"]),
        p12=True,
        parts=[HOST, "check digit 5 is wrong", "onshi_cert_facility_codes"],
    ),
    "facility code not 10 digits": dict(
        edit=lambda v: v.update(onshi_cert_facility_codes=["44123456"]),
        p12=True,
        parts=[HOST, "must be 10 digits", "Fix:"],
    ),
    "download password missing from vault": dict(p12=True, stored=False, parts=[HOST, "no password for", "vault"]),
    "wrong download password (not 4 digits)": dict(
        p12=True, stored_password="12345", parts=[HOST, "password does not open", "Fix:"]
    ),
    ".p12 missing for a PC that needs one": dict(parts=[HOST, "needs a certificate", "no usable .p12", "Fix:"]),
    "download password written as a number (0644 read as octal)": dict(
        p12=True, stored_password=420, parts=[HOST, "is the number 420", "quote it", "'0644'"]
    ),
    "facility code written as a number": dict(
        edit=lambda v: v.update(onshi_cert_facility_codes=[441234564]), parts=[HOST, "is the number", "quote it"]
    ),
    "trust anchor missing": dict(
        edit=lambda v: v.update(onshi_cert_trust_anchors=[]), parts=[HOST, "no trust anchor", "onshi-cert pin"]
    ),
    "forged CA with the genuine name": dict(p12=True, issuer="forged", parts=[HOST, "no signature chain", "Fix:"]),
    "another facility's .p12 under this PC's name": dict(
        p12=True, code="0110113719", parts=[HOST, "is for 0110113719", "Fix:"]
    ),
    "operating user does not exist": dict(
        edit=lambda v: v.update(ansible_become_user="NoSuchUser"),
        p12=True,
        parts=["Failed to become user NoSuchUser", "1326"],
    ),
    "wrong operating user password": dict(
        edit=lambda v: v.update(ansible_become_password="wrong"),
        p12=True,
        parts=["Failed to become user", "user name or password is incorrect"],
    ),
    "become without a password": dict(
        edit=lambda v: v.update(ansible_become_password=""),
        p12=True,
        parts=[HOST, "no DPAPI", "ansible_become_password", "CredSSP"],
    ),
    "role variable of the wrong type": dict(
        edit=lambda v: v.update(onshi_cert_install_min_days_left="soon"),
        p12=True,
        parts=[HOST, "[ONSHI-E033]", "onshi.cert.onshi_cert_install", "onshi_cert_install_min_days_left", "int"],
    ),
    "backup password missing": dict(
        edit=lambda v: v.update(onshi_cert_backup_password=""),
        p12=True,
        playbook="playbooks/backup.yml",
        parts=[HOST, "[ONSHI-E036] onshi_cert_backup requires backup_dir, backup_password", "vault"],
    ),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_bad_input_fails_clearly_and_changes_nothing(reset_lab, lab_ca, tmp_path, case: str) -> None:
    """Each bad input stops this PC with what is wrong and the fix, and leaves its state untouched."""
    spec = CASES[case]
    lab = reset_lab
    if spec.get("p12"):
        give_p12(
            lab,
            lab_ca,
            code=spec.get("code", CODE),
            stored_password=spec.get("stored_password"),
            issuer=spec.get("issuer", "factory"),
        )
        if spec.get("stored") is False:
            (lab.state_dir / "certs" / "passwords.json").write_text("{}")
    inventory = edited_inventory(lab, tmp_path, spec.get("edit", lambda v: None))
    before = lab.host(HOST)["state"]
    run = run_playbook(spec.get("playbook", "playbooks/provision.yml"), inventory, limit=HOST)
    assert run.rc != 0
    message = failure(run)
    for part in spec["parts"]:
        assert part in message, message
    assert lab.host(HOST)["state"] == before
