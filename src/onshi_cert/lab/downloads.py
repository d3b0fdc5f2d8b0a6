"""Simulate the certificate download site for the lab: a .p12 for every PC that needs a certificate."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from cryptography import x509

from onshi_cert.core.certinfo import describe_certificate, utcnow
from onshi_cert.core.policy import Expectations, Stage, assess, plan_store
from onshi_cert.lab.fleet import LabCA
from onshi_cert.lab.server import Lab


def needs(host) -> list[str]:
    """Return the facility codes for which a lab PC has no usable certificate valid beyond 90 days."""
    now = utcnow()
    expect = Expectations(tuple(host.facility_codes))
    infos = []
    for stored in host.user_store(host.operator):
        info = describe_certificate(
            x509.load_der_x509_certificate(stored.der_bytes), has_key=stored.key_pem is not None
        )
        info.key_usable = stored.key_pem is not None and stored.usable
        infos.append(info)
    plan = plan_store(infos, expect, now)
    wanted = list(plan.missing)
    for code, thumb in plan.keep.items():
        kept = next(i for i in infos if i.thumbprint == thumb)
        if assess(kept, expect, now).stage is not Stage.OK:
            wanted.append(code)
    return sorted(wanted)


def issue(state_dir: Path, out_dir: Path, hosts: list[str] | None = None) -> dict[str, str]:
    """Write ``<host>.p12`` for each PC that needs one, and ``passwords.json``; return host -> file name.

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
        for index, code in enumerate(needs(host) if hosts is None else host.facility_codes):
            name = f"{host.name}.p12" if index == 0 else f"{code}.p12"
            password = f"{secrets.randbelow(10000):04d}"
            path = out_dir / name
            path.write_bytes(ca.factory.leaf(code).p12(password))
            path.chmod(0o600)
            passwords[host.name if index == 0 else name] = password
            written[host.name] = name
    passwords_file.write_text(json.dumps(passwords, indent=2, sort_keys=True), encoding="utf-8")
    passwords_file.chmod(0o600)
    return written
