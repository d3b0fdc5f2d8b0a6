"""The mixed fleet the report tests (and the alert tests) judge."""

from __future__ import annotations

import pytest

from onshi_cert.core.audit import host_report
from onshi_cert.core.certinfo import describe_certificate
from onshi_cert.core.hoststate import HostFacts, InstalledCert
from onshi_cert.core.policy import Expectations
from onshi_cert.core.trust import TrustAnchors, fingerprint
from onshi_cert.report import HostEntry, build

FACE = "C:\\Program Files\\OQS-Auth\\Version.info"


def facts(version: str | None = "2.1.3") -> HostFacts:
    return HostFacts(
        "PC",
        19045,
        "10.0.19045.0",
        "5.1",
        "PC\\OQSComApp",
        False,
        "interactive",
        True,
        {FACE: f"Version={version}" if version else None},
    )


def installed(issued, **changes) -> InstalledCert:
    info = describe_certificate(issued.cert, has_key=True)
    info.key_usable, info.key_exportable = True, True
    for name, value in changes.items():
        setattr(info, name, value)
    return InstalledCert(info, issued.cert)


@pytest.fixture(scope="module")
def fleet(factory, now):
    """Return HostEntry objects for a mixed fleet, judged at ``now``."""
    root = InstalledCert(describe_certificate(factory.root), factory.root)
    shared = factory.leaf("0110113719", days_left=500)

    def entry(host, site, codes, certs, version="2.1.3"):
        expect = Expectations(tuple(codes), TrustAnchors(frozenset({fingerprint(factory.root)})))
        report = host_report(facts(version), certs, [root], expect, face_auth_path=FACE, now=now)
        return HostEntry(host, site, list(codes), report)

    return [
        entry("ok-pc", "sapporo", ["0110113719"], [installed(factory.leaf("0110113719", days_left=700))]),
        entry("soon-pc", "sapporo", ["0110113719"], [installed(factory.leaf("0110113719", days_left=20))], "2.0.5"),
        entry("dead-pc", "tokyo", ["1310512346"], [installed(factory.leaf("1310512346", days_left=-5))]),
        entry("empty-pc", "tokyo", ["1310512346"], []),
        entry("twin-a", "osaka", ["0110113719"], [installed(shared)]),
        entry("twin-b", "osaka", ["0110113719"], [installed(shared)]),
        entry("other-pc", "osaka", ["2740155557"], [installed(factory.leaf("0110113719", days_left=300))]),
        entry("half-pc", "chiba", ["1210444442", "1230444448"], [installed(factory.leaf("1210444442", days_left=200))]),
        HostEntry("off-pc", "okinawa", ["4760177776"], None, "unreachable"),
    ]


@pytest.fixture(scope="module")
def data(fleet, now):
    return build(fleet, now)
