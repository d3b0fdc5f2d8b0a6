"""The audit's verdict for every PC of the sample fleet, in-process over the lab's model of the PC.

The same read and judgement ``onshi_cert_info`` makes (``workflow.audit``), without the wire: the wire
path (ansible-playbook -> winrm -> the lab) reads the whole fleet once in tests/integration/test_info.py.
"""

from __future__ import annotations

import pytest

from onshi_cert import options, workflow
from onshi_cert.core.policy import Expectations
from onshi_cert.core.trust import TrustAnchors, fingerprint
from onshi_cert.options import FACE_AUTH_MINIMUM, FACE_AUTH_PATH
from onshi_cert_tools.lab.fleet import LabCA, build_hosts, load_fleet
from onshi_cert_tools.lab.inprocess import LabRunner
from onshi_cert_tools.lab.runtime import SAMPLE_FLEET

#: host -> (status, problem codes most urgent first), as the sample fleet's comments describe each PC.
VERDICTS = {
    "sapporo-naika-pc01": ("ok", []),
    "sapporo-naika-pc02": ("expiring", ["expiring"]),
    "sapporo-shika-pc01": ("expired", ["expired", "stale"]),
    "sendai-yakkyoku-pc01": ("missing", ["missing", "face_auth_old"]),
    "tokyo-clinic-pc01": ("disagreement", ["disagreement", "missing", "wrong_facility"]),
    "tokyo-clinic-pc02": ("ok", ["stale"]),
    "chiba-hospital-pc01": ("ok", []),
    "nagoya-clinic-pc01": ("not_exportable", ["not_exportable"]),
    "osaka-yakkyoku-pc01": ("expiring", ["expiring"]),
    "hiroshima-clinic-pc01": ("expiring", ["expiring", "face_auth_old"]),
    "fukuoka-shika-pc01": ("wrong_issuer", ["wrong_issuer"]),
    "kyoto-clinic-pc01": ("no_key", ["no_key"]),
}


def pinned(ca: LabCA, facility_codes: tuple[str, ...]) -> Expectations:
    """Return the expectations of a PC with ``facility_codes``, the lab's root pinned by fingerprint."""
    return Expectations(facility_codes, TrustAnchors(frozenset({fingerprint(ca.factory.root)})))


def stores(pc) -> dict[str, list[str]]:
    """Return the PC's stores as store name -> thumbprints, to compare before and after."""
    return {name: [s.thumbprint for s in store] for name, store in pc.stores.items()}


@pytest.fixture(scope="module")
def sample_fleet(tmp_path_factory) -> tuple[LabCA, dict]:
    """Return the lab CA and the sample fleet's PCs with their facility codes (keys generated now)."""
    ca = LabCA.load_or_create(tmp_path_factory.mktemp("ca"))
    fleet = load_fleet(SAMPLE_FLEET)
    codes = {spec["name"]: tuple(spec["facility_codes"]) for spec in fleet["hosts"]}
    return ca, {pc.name: (pc, codes[pc.name]) for pc in build_hosts(fleet, ca)}


def test_every_reachable_pc_of_the_sample_fleet_has_a_case(sample_fleet) -> None:
    """A PC added to the sample fleet gets its verdict written here (okinawa is the unreachable one)."""
    assert set(sample_fleet[1]) - {"okinawa-houmon-pc01"} == set(VERDICTS)


@pytest.mark.parametrize(("host", "status", "codes"), [(h, s, c) for h, (s, c) in VERDICTS.items()])
def test_sample_fleet_verdicts(sample_fleet, host: str, status: str, codes: list[str]) -> None:
    """Each PC gets the status and problems its state calls for, and changes nothing. The agent opens only the keys
    the controller names: a first audit names none, so a PC holding a key of ours is read in two executions; an
    audit that knows the PC's certificates from its last report names them and reads in one."""
    ca, pcs = sample_fleet
    pc, facility_codes = pcs[host]
    before = stores(pc)

    def read(known: tuple[str, ...] = ()) -> tuple[dict, int]:
        runner = LabRunner(pc)
        report = workflow.audit(
            runner,
            pinned(ca, facility_codes),
            face_auth_path=FACE_AUTH_PATH,
            face_auth_minimum=FACE_AUTH_MINIMUM,
            host=host,
            known=known,
        )
        assert report["executions"] == runner.executions
        return report, runner.executions

    first, executions = read()
    assert first["status"] == status
    assert [p["code"] for p in first["problems"]] == codes
    ours = [c for c in first["certificates"] if c["trusted"] and c["has_key"]]
    assert executions == (2 if ours else 1)
    report, executions = read(options.known_thumbprints({"ansible_facts": {"onshi_cert": first}}))
    assert executions == 1
    assert report["status"] == status and report["certificates"] == first["certificates"]
    assert stores(pc) == before


def test_expiry_only_leaves_keys_out_of_the_verdict(sample_fleet) -> None:
    """A logon without DPAPI cannot open keys, so a valid certificate looks key-less; expiry-only leaves keys out."""
    ca, pcs = sample_fleet
    pc, facility_codes = pcs["sapporo-naika-pc02"]
    expect = pinned(ca, facility_codes)

    def read(expiry_only: bool) -> dict:
        return workflow.audit(
            LabRunner(pc, dpapi=False),
            expect,
            face_auth_path=FACE_AUTH_PATH,
            face_auth_minimum=FACE_AUTH_MINIMUM,
            expiry_only=expiry_only,
        )

    assert read(False)["status"] == "no_key"
    report = read(True)
    assert report["status"] == "expiring"
    assert [(c["key_usable"], c["key_exportable"]) for c in report["certificates"]] == [(None, None)]
