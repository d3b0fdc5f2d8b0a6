"""Bad inventory and vault input through the playbooks: a clear error naming the host, what and the fix;
the PC is left exactly as it was. (The .p12, transport and module-argument cases live in test_cert,
test_info, test_backup, test_lab_wire and test_playbooks; docs/bad-inputs.md lists all of them.)

Every case has a PC of its own, a copy of the sample fleet's new PC (sendai-yakkyoku-pc01: no certificate
yet), with its own bad variable, file or vault entry, so that one playbook run tries them all at once: a
failing PC never stops the others, which is itself part of what is checked.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator

import pytest
import yaml

from onshi_cert_tools.lab.fleet import LabCA, load_fleet
from onshi_cert_tools.lab.runtime import SAMPLE_FLEET, LabClient, up
from tests.integration.helpers import PlaybookRun, run_playbook

pytestmark = pytest.mark.integration
TEMPLATE = "sendai-yakkyoku-pc01"
CODE = "0441234564"


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
        parts=[TEMPLATE, "check digit 5 is wrong", "onshi_cert_facility_codes"],
    ),
    "facility code not 10 digits": dict(
        edit=lambda v: v.update(onshi_cert_facility_codes=["44123456"]),
        p12=True,
        parts=[TEMPLATE, "must be 10 digits", "Fix:"],
    ),
    "download password missing from vault": dict(p12=True, stored=False, parts=[TEMPLATE, "no password for", "vault"]),
    "wrong download password (not 4 digits)": dict(
        p12=True, stored_password="12345", parts=[TEMPLATE, "password does not open", "Fix:"]
    ),
    ".p12 missing for a PC that needs one": dict(parts=[TEMPLATE, "needs a certificate", "no usable .p12", "Fix:"]),
    "download password written as a number (0644 read as octal)": dict(
        p12=True, stored_password=420, parts=[TEMPLATE, "is the number 420", "quote it", "'0644'"]
    ),
    "facility code written as a number": dict(
        edit=lambda v: v.update(onshi_cert_facility_codes=[441234564]), parts=[TEMPLATE, "is the number", "quote it"]
    ),
    "trust anchor missing": dict(
        edit=lambda v: v.update(onshi_cert_trust_anchors=[]), parts=[TEMPLATE, "no trust anchor", "onshi-cert pin"]
    ),
    "forged CA with the genuine name": dict(p12=True, issuer="forged", parts=[TEMPLATE, "no signature chain", "Fix:"]),
    "another facility's .p12 under this PC's name": dict(
        p12=True, code="0110113719", parts=[TEMPLATE, "is for 0110113719", "Fix:"]
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
        parts=[TEMPLATE, "no DPAPI", "ansible_become_password", "CredSSP"],
    ),
    "role variable of the wrong type": dict(
        edit=lambda v: v.update(onshi_cert_install_min_days_left="soon"),
        p12=True,
        parts=[TEMPLATE, "[ONSHI-E033]", "onshi.cert.onshi_cert_install", "onshi_cert_install_min_days_left", "int"],
    ),
    "backup password missing": dict(
        edit=lambda v: v.update(onshi_cert_backup_password=""),
        p12=True,
        playbook="playbooks/backup.yml",
        parts=[TEMPLATE, "[ONSHI-E036] onshi_cert_backup requires backup_dir, backup_password", "vault"],
    ),
}


#: case -> the PC that tries it (its name is in every message that names the host).
HOSTS = {case: f"bad-input-pc{index:02d}" for index, case in enumerate(CASES, 1)}


@pytest.fixture(scope="module")
def bad_lab(tmp_path_factory) -> Iterator[LabClient]:
    """Start a lab whose PCs are copies of the sample fleet's new PC, one per case."""
    folder = tmp_path_factory.mktemp("bad-inputs")
    fleet = load_fleet(SAMPLE_FLEET)
    template = next(h for h in fleet["hosts"] if h["name"] == TEMPLATE)
    fleet["hosts"] = [{**template, "name": name} for name in HOSTS.values()]
    fleet["network"] = {"base_address": f"127.{random.randint(30, 250)}.{random.randint(0, 250)}.1"}
    (folder / "fleet.yml").write_text(yaml.safe_dump(fleet, allow_unicode=True), encoding="utf-8")
    client = up(folder / "lab", folder / "fleet.yml", fresh=True)
    yield client
    client.shutdown()


@pytest.fixture(scope="module")
def outcome(bad_lab: LabClient, tmp_path_factory) -> tuple[dict[str, PlaybookRun], dict[str, dict]]:
    """Give each PC its case (.p12, vault entry, inventory edit) and run each playbook once over its PCs; return
    the run of each case and each PC's state before the run."""
    ca = LabCA.load_or_create(bad_lab.state_dir / "ca")
    certs = bad_lab.state_dir / "certs"
    certs.mkdir(exist_ok=True)
    passwords: dict[str, object] = {}
    for case, host in HOSTS.items():
        spec = CASES[case]
        if spec.get("p12"):
            issuer = getattr(ca, spec.get("issuer", "factory"))
            (certs / f"{host}.p12").write_bytes(issuer.leaf(spec.get("code", CODE)).p12("1234"))
            if spec.get("stored") is not False:
                passwords[host] = spec.get("stored_password") or "1234"
    (certs / "passwords.json").write_text(json.dumps(passwords))
    data = yaml.safe_load(bad_lab.inventory.read_text())
    for group in data["all"]["children"]["oqs_pcs"]["children"].values():
        for case, host in HOSTS.items():
            if host in group["hosts"]:
                CASES[case].get("edit", lambda v: None)(group["hosts"][host])
    inventory = tmp_path_factory.mktemp("inventory") / "inventory.yml"
    inventory.write_text(yaml.safe_dump(data))
    before = {host: bad_lab.host(host)["state"] for host in HOSTS.values()}
    by_playbook: dict[str, list[str]] = {}
    for case, spec in CASES.items():
        by_playbook.setdefault(spec.get("playbook", "playbooks/provision.yml"), []).append(case)
    runs = {}
    for playbook, cases in sorted(by_playbook.items()):
        run = run_playbook(playbook, inventory, limit=",".join(HOSTS[case] for case in cases))
        assert run.rc != 0
        runs |= dict.fromkeys(cases, run)
    return runs, before


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_bad_input_fails_clearly_and_changes_nothing(bad_lab, outcome, case: str) -> None:
    """Each bad input stops its PC with what is wrong and the fix, and leaves its state untouched."""
    runs, before = outcome
    host = HOSTS[case]
    result = runs[case].last(host)
    assert result["status"] in ("failed", "unreachable"), result
    message = result["result"]["msg"]
    for part in CASES[case]["parts"]:
        assert part.replace(TEMPLATE, host) in message, message
    assert bad_lab.host(host)["state"] == before[host]
