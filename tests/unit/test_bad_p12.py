"""Every kind of bad .p12 is refused on the controller, naming the file and the fix, before the PC changes.

In-process over the lab's model of the PC, with the same offers and workflow the onshi_cert action runs;
three of these cross the real wire in tests/integration/test_cert.py (``WIRE_CASES``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from onshi_cert import workflow
from onshi_cert.core.errors import OnshiCertError
from onshi_cert.core.policy import Expectations
from onshi_cert.core.trust import TrustAnchors
from onshi_cert_tools.factory import corrupt
from onshi_cert_tools.lab.fleet import LabCA, build_hosts
from onshi_cert_tools.lab.inprocess import LabRunner
from tests.unit.test_audit_verdicts import stores

CODE = "0441234564"
#: A case makes (file, password) from (p12 maker, lab CA, folder); the failure must name each part.
Make = Callable[[Callable[..., Path], LabCA, Path], tuple[Path, str]]


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


BAD_P12: dict[str, tuple[Make, list[str]]] = {
    "wrong-password": (lambda p12, ca, t: (p12(CODE), "9999"), ["password does not open", "4-digit password"]),
    "empty-password": (lambda p12, ca, t: (p12(CODE), ""), ["password does not open"]),
    "corrupt": (
        lambda p12, ca, t: (_write(t, "broken.p12", corrupt(p12(CODE).read_bytes())), "1234"),
        ["integrity check fails", "download the .p12 again"],
    ),
    "truncated": (
        lambda p12, ca, t: (_write(t, "half.p12", p12(CODE).read_bytes()[:300]), "1234"),
        ["not a readable PKCS#12 file"],
    ),
    "no-key": (
        lambda p12, ca, t: (_write(t, "nokey.p12", ca.factory.leaf(CODE).p12("1234", include_key=False)), "1234"),
        ["holds no private key"],
    ),
    "key-mismatch": (
        lambda p12, ca, t: (_write(t, "mismatch.p12", ca.factory.mismatched_p12(ca.factory.leaf(CODE))), "1234"),
        ["matches its private key"],
    ),
    "wrong-facility": (
        lambda p12, ca, t: (p12("0110113719"), "1234"),
        [f"is for 0110113719, but this PC expects {CODE}"],
    ),
    "lookalike-issuer": (
        lambda p12, ca, t: (_write(t, "fake.p12", ca.lookalike.leaf(CODE).p12("1234")), "1234"),
        ["names 'Online Billing NW Common Root CA2' as issuer", "no signature chain"],
    ),
    "expired": (lambda p12, ca, t: (p12(CODE, days_left=-1), "1234"), ["expired on", "apply for a new"]),
    "not-yet-valid": (
        lambda p12, ca, t: (
            p12(
                CODE,
                not_before=ca.factory.now + dt.timedelta(days=30),
                not_after=ca.factory.now + dt.timedelta(days=900),
            ),
            "1234",
        ),
        ["valid only from"],
    ),
    "not-client-auth": (lambda p12, ca, t: (p12(CODE, client_auth=False), "1234"), ["not for client authentication"]),
    "missing-file": (lambda p12, ca, t: (t / "missing.p12", "1234"), ["cannot read the file"]),
}


@pytest.fixture(scope="module")
def ca(tmp_path_factory) -> LabCA:
    """Return a lab CA for this module (keys generated now)."""
    return LabCA.load_or_create(tmp_path_factory.mktemp("ca"))


@pytest.mark.parametrize("case", list(BAD_P12))
def test_a_bad_p12_is_refused_before_the_pc_changes(ca: LabCA, tmp_path: Path, case: str) -> None:
    """Refused with the file, each part of the reason and a fix; an expired or not-yet-valid file after one read
    (it is only 'outdated' when the PC holds a valid certificate of its code: this new PC holds none)."""
    make, parts = BAD_P12[case]

    def p12(code: str, **kwargs) -> Path:
        return _write(tmp_path, f"{code}.p12", ca.factory.leaf(code, **kwargs).p12("1234"))

    path, password = make(p12, ca, tmp_path)
    pc = build_hosts({"hosts": [{"name": "pc01", "facility_codes": [CODE]}]}, ca)[0]
    before = stores(pc)
    settings = workflow.Settings(
        # pinned as the lab's inventory pins it: the root's PEM, so a chain is judged without reading the PC
        expect=Expectations((CODE,), TrustAnchors.from_config(ca.factory.root.public_bytes(Encoding.PEM).decode())),
        backup_dir=tmp_path / "backups",
        backup_password="Backup-Secret-9",
    )
    runner = LabRunner(pc)
    with pytest.raises(OnshiCertError) as raised:
        workflow.converge(runner, settings, "pc01", offers=workflow.p12_offers([(path, password)], settings.expect))
    message = raised.value.describe()
    assert raised.value.file == str(path) or str(path) in message
    for part in parts:
        assert part in message, message
    assert "Fix:" in message
    validity = case in ("expired", "not-yet-valid")
    assert runner.executions == (1 if validity else 0)
    assert all(step.op in ("host_info", "list_certs") for request in runner.requests for step in request)
    assert stores(pc) == before
