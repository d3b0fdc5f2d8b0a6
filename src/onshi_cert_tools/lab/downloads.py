"""Simulate the certificate download site for the lab: a .p12 for every PC that needs a certificate."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from cryptography import x509

from onshi_cert.core.certinfo import describe_certificate, utcnow
from onshi_cert.core.policy import Expectations, judge, plan_host
from onshi_cert.core.trust import TrustAnchors, fingerprint
from onshi_cert_tools.lab.fleet import LabCA
from onshi_cert_tools.lab.server import Lab


def needs(host, ca: LabCA) -> list[str]:
    """Return the codes for which a lab PC has no valid certificate beyond 90 days (the policy's own answer)."""
    now = utcnow()
    expect = Expectations(tuple(host.facility_codes), TrustAnchors(frozenset({fingerprint(ca.factory.root)})))
    pc = []
    for stored in host.user_store(host.operator):
        cert = x509.load_der_x509_certificate(stored.der_bytes)
        info = describe_certificate(cert, has_key=stored.key_pem is not None)
        key_ok = stored.key_pem is not None and stored.usable
        pc.append(judge(info, cert, expect, source="pc", origin="My", pool=[ca.factory.root], key_ok=key_ok))
    plan = plan_host(expect, pc, ca_store=None, now=now)
    return sorted(
        code for code, c in plan.codes.items() if c.winner is None or c.winner.days_left(now) < expect.warn_days
    )


def issue(state_dir: Path, out_dir: Path, hosts: list[str] | None = None) -> dict[str, str]:
    """Write ``<host>/<code>.p12`` for each code a PC needs, and ``passwords.json``; return host -> last file.

    Each file gets a random 4-digit password, as an engineer would choose at download.
    """
    ca = LabCA.load_or_create(state_dir / "ca")
    out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    passwords_file = out_dir / "passwords.json"
    passwords = json.loads(passwords_file.read_text()) if passwords_file.exists() else {}
    written: dict[str, str] = {}
    for host in Lab.load_hosts(state_dir):
        if hosts is not None and host.name not in hosts:
            continue
        for code in needs(host, ca) if hosts is None else host.facility_codes:
            name = f"{host.name}/{code}.p12"
            password = f"{secrets.randbelow(10000):04d}"
            path = out_dir / name
            path.parent.mkdir(exist_ok=True, mode=0o700)
            path.write_bytes(ca.factory.leaf(code).p12(password))
            path.chmod(0o600)
            passwords[name] = password
            written[host.name] = name
    passwords_file.write_text(json.dumps(passwords, indent=2, sort_keys=True), encoding="utf-8")
    passwords_file.chmod(0o600)
    return written
