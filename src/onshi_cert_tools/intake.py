"""Certificate intake: from a folder of downloaded .p12 files to a ready provisioning plan.

Each file is opened with its password (from a vaulted or plain CSV/YAML keyed by file name or Request
ID) and judged with the core; good files are assigned to the inventory's PCs that expect their facility
code and need a certificate (never two files to one PC, never one file to two PCs), copied to
``<out>/certs/<host>.p12``, and their passwords written to an ansible-vault encrypted vars file.
"""

from __future__ import annotations

import csv
import filecmp
import io
import json
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from onshi_cert import options
from onshi_cert.core import messages
from onshi_cert.core.certinfo import CertificateInfo
from onshi_cert.core.errors import OnshiCertError
from onshi_cert.core.install import preflight
from onshi_cert.core.paths import path_component, private_dir, take_warnings
from onshi_cert.core.policy import Expectations
from onshi_cert.core.trust import TrustAnchors
from onshi_cert.i18n import N_, display_width, pad, tr
from onshi_cert.i18n import say as _

NEEDS = {"missing", "expired", "expiring", "no_key"}  # problems that a new certificate for their code fixes


class IntakeError(OnshiCertError):
    """Intake cannot start (unreadable inventory, passwords or vault password)."""


@dataclass
class Decision:
    """What intake decided for one downloaded file."""

    file: str
    status: str  # assigned, done, rejected, spare
    host: str | None = None
    facility_code: str | None = None
    thumbprint: str | None = None
    not_after: str | None = None
    reason: str = ""


@dataclass
class Plan:
    """The whole intake: decisions per file and the PCs left without a file."""

    decisions: list[Decision] = field(default_factory=list)
    unserved: dict[str, list[str]] = field(default_factory=dict)  # facility code -> hosts still needing one

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-friendly data."""
        return {"files": [d.__dict__ for d in self.decisions], "pcs_without_file": self.unserved}


def vault_secret(vault_password_file: str | None) -> Any:
    """Return the vault secret from --vault-password-file or ANSIBLE_VAULT_PASSWORD_FILE, or None."""
    from ansible.parsing.vault import VaultSecret

    path = vault_password_file or os.environ.get("ANSIBLE_VAULT_PASSWORD_FILE")
    if not path:
        return None
    try:
        return VaultSecret(Path(path).read_bytes().strip())
    except OSError as exc:
        raise IntakeError(messages.VAULT_FILE, path=path, reason=exc.strerror) from exc


#: First cells that mark a heading row in a passwords CSV (as Excel users write it, in English or Japanese).
CSV_HEADINGS = {"file", "filename", "file name", "request id", "ファイル", "ファイル名", "証明書ファイル", "申請id"}


def decode_text(data: bytes, path: Path) -> str:
    """Return a text file's content read as UTF-8 (with or without BOM) or CP932 (Excel's Japanese CSV)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp932")
    except UnicodeDecodeError:
        raise IntakeError(messages.TEXT_ENCODING, path=path) from None


def read_passwords(path: Path, secret: Any) -> dict[str, Any]:
    """Read passwords keyed by file name or Request ID from CSV (``file,password``) or YAML, vaulted or not.

    YAML values are kept as YAML typed them: an unquoted ``0042`` is the number 34, which :func:`plan` refuses for
    that file with the same message and fix as provisioning (quote it), never tried as a password."""
    from ansible.parsing.vault import VaultLib, is_encrypted

    data = path.read_bytes()
    if is_encrypted(data):
        if secret is None:
            raise IntakeError(messages.VAULT_NEEDED, path=path)
        data = VaultLib([("default", secret)]).decrypt(data)
    text = decode_text(data, path)
    if path.suffix.lower() == ".csv":
        rows = [r for r in csv.reader(io.StringIO(text)) if len(r) >= 2 and r[0].strip()]
        if rows and rows[0][0].strip().lower() in CSV_HEADINGS:
            rows = rows[1:]
        return {r[0].strip(): r[1].strip() for r in rows}
    loaded = yaml.safe_load(text) or {}
    if isinstance(loaded, dict) and "onshi_cert_p12_passwords" in loaded:
        loaded = loaded["onshi_cert_p12_passwords"]
    if not isinstance(loaded, dict):
        raise IntakeError(messages.PASSWORDS_SHAPE, path=path)
    return {str(k): v for k, v in loaded.items() if v is not None}


def inventory_hosts(inventory: str) -> dict[str, list[str]]:
    """Return each inventory host's expected facility codes (hosts without any are left out)."""
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.vars.manager import VariableManager

    loader = DataLoader()
    manager = InventoryManager(loader=loader, sources=[inventory])
    variables = VariableManager(loader=loader, inventory=manager)
    hosts = {}
    for host in manager.get_hosts():
        codes = variables.get_vars(host=host).get("onshi_cert_facility_codes") or []
        if codes:
            hosts[str(host.name)[:]] = [str(c)[:] for c in codes]  # plain str, not Ansible's tagged strings
    if not hosts:
        raise IntakeError(messages.NO_CODES_IN_INVENTORY, inventory=inventory)
    return hosts


def audit_state(report: Path | None) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Return, from a report.json, which codes each host needs and which thumbprints each host holds."""
    needs: dict[str, set[str]] = {}
    holds: dict[str, set[str]] = {}
    if report is None:
        return needs, holds
    try:
        data = json.loads(report.read_text(encoding="utf-8"))
        sites = data["sites"].values()
    except (OSError, ValueError, KeyError, AttributeError) as exc:
        raise IntakeError(messages.INTAKE_REPORT, path=report, detail=exc) from None
    for rows in sites:
        for host in rows:
            holds[host["host"]] = {c["thumbprint"] for c in host["certificates"]}
            needs[host["host"]] = {
                p["facility_code"] for p in host["problems"] if p["code"] in NEEDS and p.get("facility_code")
            }
    return needs, holds


def _judge(path: Path, key: str, value: Any, anchors: TrustAnchors) -> tuple[CertificateInfo | None, str]:
    """Judge a downloaded file exactly as provisioning would (typed password, the policy's preflight), before any PC;
    ``value`` is the password found under ``key`` (None: none)."""
    if value is None:
        return None, _("no password for this file in the passwords file")
    try:
        password = options.text_entry("onshi_cert_p12_passwords", key, value)
        judged = preflight(path.read_bytes(), password, Expectations((), anchors), origin=path.name)
    except OnshiCertError as exc:
        return None, exc.describe()
    return judged.info, ""


def inventory_anchors(inventory: str) -> TrustAnchors:
    """Return the pinned roots the inventory gives its PCs (onshi_cert_trust_anchors, templated)."""
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.plugins.loader import init_plugin_loader
    from ansible.template import Templar
    from ansible.vars.manager import VariableManager

    init_plugin_loader()
    loader = DataLoader()
    manager = InventoryManager(loader=loader, sources=[inventory])
    variables = VariableManager(loader=loader, inventory=manager)
    pins: set[str] = set()
    values: list[str] = []
    for host in manager.get_hosts():
        host_vars = variables.get_vars(host=host)
        raw = host_vars.get("onshi_cert_trust_anchors")
        if raw is None:
            continue
        for value in Templar(loader=loader, variables=host_vars).template(raw) or []:
            if str(value) not in pins:
                pins.add(str(value))
                values.append(str(value)[:])
    if not values:
        raise IntakeError(messages.NO_ANCHORS_IN_INVENTORY, inventory=inventory)
    return TrustAnchors.from_config(values)


def plan(
    download_dir: Path,
    hosts: dict[str, list[str]],
    passwords: dict[str, Any],
    audit: Path | None = None,
    anchors: TrustAnchors | None = None,
) -> Plan:
    """Decide, for every .p12/.pfx in ``download_dir``, which PC gets it or why it is rejected."""
    needs, holds = audit_state(audit)
    result = Plan()
    usable: list[tuple[Path, CertificateInfo]] = []
    seen: dict[str, str] = {}
    for path in sorted(p for p in download_dir.iterdir() if p.suffix.lower() in (".p12", ".pfx")):
        key = path.name if path.name in passwords else path.stem
        info, reason = _judge(path, key, passwords.get(key), anchors or TrustAnchors())
        if info is None:
            result.decisions.append(Decision(path.name, "rejected", reason=reason))
            continue
        if info.thumbprint in seen:
            result.decisions.append(
                Decision(
                    path.name,
                    "rejected",
                    facility_code=info.facility_code,
                    thumbprint=info.thumbprint,
                    reason=_("duplicate of {file}", file=seen[info.thumbprint]),
                )
            )
            continue
        seen[info.thumbprint] = path.name
        usable.append((path, info))
    by_code: dict[str, list[str]] = {}
    for host, codes in sorted(hosts.items()):
        for code in codes:
            if audit is None or code in needs.get(host, set()):
                by_code.setdefault(code, []).append(host)
    served: set[tuple[str, str]] = set()
    for path, info in sorted(usable, key=lambda u: (u[1].facility_code or "", -u[1].not_after.timestamp())):
        code = info.facility_code or ""
        done = next((h for h, held in holds.items() if info.thumbprint in held), None)
        base = {"facility_code": code, "thumbprint": info.thumbprint, "not_after": info.not_after.isoformat()}
        if done:
            result.decisions.append(Decision(path.name, "done", host=done, reason=_("already installed"), **base))
            continue
        expecting = [h for h, codes in hosts.items() if code in codes]
        if not expecting:
            result.decisions.append(
                Decision(path.name, "rejected", reason=_("no PC in the inventory expects {code}", code=code), **base)
            )
            continue
        free = [h for h in by_code.get(code, []) if (h, code) not in served]
        if not free:
            result.decisions.append(
                Decision(path.name, "spare", reason=_("more files than PCs needing {code}", code=code), **base)
            )
            continue
        served.add((free[0], code))
        result.decisions.append(Decision(path.name, "assigned", host=free[0], **base))
    for code, waiting in by_code.items():
        left = [
            h
            for h in waiting
            if (h, code) not in served
            and not any(d.host == h and d.facility_code == code and d.status == "done" for d in result.decisions)
        ]
        if left:
            result.unserved[code] = left
    return result


def write(result: Plan, download_dir: Path, passwords: dict[str, str], out: Path, secret: Any) -> list[str]:
    """Copy assigned files to ``out/certs/<host>/<code>.p12`` and write their passwords vaulted; return what changed.

    One file per PC and code: a two-code PC gets two files, never one over the other.
    """
    from ansible.parsing.vault import VaultLib, is_encrypted

    if secret is None:
        raise IntakeError(messages.NO_VAULT_PASSWORD)
    certs = out / "certs"
    private_dir(certs)
    changed = []
    vault = VaultLib([("default", secret)])
    vault_file = out / "vault-p12.yml"
    mapping: dict[str, str] = {}
    if vault_file.exists() and is_encrypted(vault_file.read_bytes()):
        mapping = yaml.safe_load(vault.decrypt(vault_file.read_bytes())).get("onshi_cert_p12_passwords", {}) or {}
    before = dict(mapping)
    for decision in result.decisions:
        if decision.status != "assigned" or decision.host is None:
            continue
        source = download_dir / decision.file
        name = f"{decision.host}/{decision.facility_code}.p12"  # the vault key, as find_p12_files names it
        target = certs / path_component(decision.host) / f"{path_component(decision.facility_code)}.p12"
        private_dir(target.parent)
        if not (target.exists() and filecmp.cmp(source, target, shallow=False)):
            shutil.copyfile(source, target)
            target.chmod(0o600)
            changed.append(str(target))
        mapping[name] = str(passwords.get(decision.file, passwords.get(source.stem, "")))[:]
    for warning in take_warnings():  # certs/ or a PC's folder in it open to other users
        print(warning, file=sys.stderr)
    if mapping != before or not vault_file.exists():
        text = yaml.safe_dump({"onshi_cert_p12_passwords": mapping}, sort_keys=True)
        vault_file.write_bytes(vault.encrypt(text.encode()))
        vault_file.chmod(0o600)
        changed.append(str(vault_file))
    return changed


HEADINGS = (N_("file"), N_("status"), N_("PC"), N_("facility code"), N_("expires"), N_("reason"))
STATUSES = {
    "assigned": N_("assigned"),
    "done": N_("done"),
    "rejected": N_("rejected"),
    "spare": N_("spare"),
}


def table(result: Plan, lang: str = "en") -> str:
    """Return a readable table of what went where and what was rejected and why."""
    heads = tuple(tr(lang, h) for h in HEADINGS)
    rows = [heads] + [
        (
            d.file,
            tr(lang, STATUSES.get(d.status, d.status)),
            d.host or "-",
            d.facility_code or "-",
            (d.not_after or "-")[:10],
            d.reason or "-",
        )
        for d in result.decisions
    ]
    widths = [max(display_width(str(r[i])) for r in rows) for i in range(5)]
    lines = ["  ".join(pad(str(r[i]), widths[i]) for i in range(5)) + "  " + str(r[5]) for r in rows]
    for code, hosts in sorted(result.unserved.items()):
        message = tr(
            lang,
            N_("{code}: {count} PC(s) still need a file: {hosts}"),
            code=code,
            count=len(hosts),
            hosts=", ".join(hosts),
        )
        lines.append(f"! {message}")
    return "\n".join(lines)
