"""Fleet files: describe a simulated fleet in YAML, build each PC's initial state, write the inventory.

A fleet file has ``defaults`` (applied to every host) and ``hosts``. Each host may list certificates
already installed, in the operator's ``CurrentUser\\My`` unless ``store``/``user`` say otherwise::

    hosts:
      - name: sapporo-pc01
        site: sapporo-clinic
        facility_codes: ["0110113719"]
        certs:
          - {code: "0110113719", days_left: 400}
          - {code: "0110113719", days_left: -20}               # expired
          - {code: "0110113719", key: false}                    # no private key
          - {code: "0110113719", exportable: false}             # non-exportable key
          - {code: "0110113719", issuer: lookalike}             # look-alike CA name
          - {code: "0110113719", issuer: forged}                # the genuine CA's name, another key
          - {code: "0110113719", cn: "3410712362-01", ou: "0110113719"}   # hostile subject
          - {code: "0110113719", not_before_days: 3}            # not yet valid
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from onshi_cert.core.certinfo import utcnow
from onshi_cert.core.hoststate import FACE_AUTH_PATH
from onshi_cert_tools.factory import LOOKALIKE_ISSUER_CN, CertificateFactory
from onshi_cert_tools.lab.listener import listener_fingerprint, listener_name, listener_tls
from onshi_cert_tools.lab.windows import StoredCert, User, WindowsHost
from onshi_cert_tools.yamltext import Quoted

DEFAULT_USERS = {
    "Administrator": {"password": "Lab-Admin-2026!", "admin": True},
    "OQSComApp": {"password": "Lab-Oqs-2026!", "admin": False},
}

DEFAULT_BASE_ADDRESS = "127.0.10.1"


class FleetError(ValueError):
    """The fleet file is not valid; the message names the host and the field."""


@dataclass
class LabCA:
    """The lab's own 'Online Billing NW Common Root CA' (key kept in the lab's state folder)."""

    factory: CertificateFactory
    lookalike: CertificateFactory
    forged: CertificateFactory  # the genuine CA's very name, another key: trusted by name it would pass

    @classmethod
    def load_or_create(cls, folder: Path, now: dt.datetime | None = None) -> LabCA:
        """Load the CA from ``folder`` or create it there (the key file is 0600)."""
        folder.mkdir(parents=True, exist_ok=True)
        cert_file, key_file = folder / "ca.pem", folder / "ca-key.pem"
        factory = CertificateFactory(key_pool=8, now=now, root_key=_load_key(key_file), root=_load_cert(cert_file))
        if not key_file.exists():
            key_file.write_bytes(
                factory.root_key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                )
            )
            key_file.chmod(0o600)
            cert_file.write_bytes(factory.root.public_bytes(serialization.Encoding.PEM))
        lookalike = CertificateFactory(LOOKALIKE_ISSUER_CN, key_pool=1, now=now, root_key=factory._pool[0])
        forged = CertificateFactory(key_pool=1, now=now, root_key=factory._pool[1])
        return cls(factory, lookalike, forged)


def _load_key(path: Path) -> Any:
    return serialization.load_pem_private_key(path.read_bytes(), None) if path.exists() else None


def _load_cert(path: Path) -> x509.Certificate | None:
    return x509.load_pem_x509_certificate(path.read_bytes()) if path.exists() else None


def _der64(cert: x509.Certificate) -> str:
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def _key_pem(key: Any) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def load_fleet(path: Path) -> dict[str, Any]:
    """Read a fleet file; raise FleetError when it is not one."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise FleetError(f"cannot read fleet file {path}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("hosts"), list) or not data["hosts"]:
        raise FleetError(f"fleet file {path} needs a non-empty 'hosts' list")
    return data


def _issue(ca: LabCA, spec: dict[str, Any], host: str, now: dt.datetime) -> StoredCert:
    code = str(spec.get("code", ""))
    if not code:
        raise FleetError(f"host {host}: every certificate needs a 'code'")
    factory = {"lookalike": ca.lookalike, "forged": ca.forged}.get(str(spec.get("issuer")), ca.factory)
    kwargs: dict[str, Any] = {"terminal": str(spec.get("terminal", "01")), "cn": spec.get("cn"), "ou": spec.get("ou")}
    if "not_before_days" in spec:
        kwargs["not_before"] = now + dt.timedelta(days=float(spec["not_before_days"]))
        kwargs["not_after"] = kwargs["not_before"] + dt.timedelta(days=1186)
    else:
        kwargs["days_left"] = float(spec.get("days_left", 800))
    issued = factory.leaf(code, client_auth=bool(spec.get("client_auth", True)), **kwargs)
    has_key = bool(spec.get("key", True))
    return StoredCert(
        der=_der64(issued.cert),
        key_pem=_key_pem(issued.key) if has_key else None,
        exportable=bool(spec.get("exportable", True)),
        friendly_name=str(spec.get("friendly_name", "")),
    )


def build_hosts(fleet: dict[str, Any], ca: LabCA, now: dt.datetime | None = None) -> list[WindowsHost]:
    """Build every host's initial state from the fleet description."""
    now = now or utcnow()
    defaults = dict(fleet.get("defaults") or {})
    base = ipaddress.IPv4Address(str((fleet.get("network") or {}).get("base_address", DEFAULT_BASE_ADDRESS)))
    if not base.is_loopback:
        raise FleetError(f"lab addresses must be loopback (127.0.0.0/8), not {base}")
    hosts: list[WindowsHost] = []
    seen: set[str] = set()
    for index, raw in enumerate(fleet["hosts"]):
        spec = {**defaults, **(raw or {})}
        name = str(spec.get("name") or "")
        if not name or name in seen:
            raise FleetError(f"host #{index + 1}: missing or duplicate 'name' {name!r}")
        seen.add(name)
        users = {n: User(n, **u) for n, u in (spec.get("users") or DEFAULT_USERS).items()}
        operator = str(spec.get("operator", "OQSComApp"))
        host = WindowsHost(
            name=name,
            address=str(spec.get("address") or base + index),
            http_port=int(spec.get("http_port", 5985)),
            https_port=int(spec.get("https_port", 5986)),
            https=bool(spec.get("https", False)),
            allow_unencrypted=bool(spec.get("allow_unencrypted", False)),
            basic_auth=bool(spec.get("basic_auth", False)),
            winrm_enabled=bool(spec.get("winrm", True)),
            os_build=int(spec.get("os_build", 19045)),
            language=str(spec.get("language", "en-US")),
            language_mode=str(spec.get("language_mode", "FullLanguage")),
            site=str(spec.get("site", "default")),
            facility_name=str(spec.get("facility_name") or ""),
            operator=operator,
            facility_codes=[str(c) for c in spec.get("facility_codes") or []],
            users=users,
            readonly_dirs=[str(d) for d in spec.get("readonly_dirs") or []],
        )
        # Every Windows has it; the agent's contract cases read it.
        host.files["C:\\Windows\\win.ini"] = base64.b64encode(b"; for 16-bit app support\r\n").decode()
        if spec.get("root_trusted", True):
            host.stores["LocalMachine\\Root"] = [StoredCert(der=_der64(ca.factory.root))]
        for cert_spec in spec.get("certs") or []:
            user = str(cert_spec.get("user", operator))
            store = str(cert_spec.get("store", "My"))
            host.user_store(user, store).append(_issue(ca, cert_spec, name, now))
        version = spec.get("face_auth_version")
        if version is not None:
            content = f"Version={version}\r\n".encode()
            host.files[str(spec.get("face_auth_path", FACE_AUTH_PATH))] = base64.b64encode(content).decode()
        for path in spec.get("folders") or []:
            host.files[str(path).rstrip("\\") + "\\.keep"] = ""
        hosts.append(host)
    return hosts


LAB_BACKUP_PASSWORD = "Lab-Backup-2026!"


def inventory(hosts: list[WindowsHost], fleet: dict[str, Any], state: Path | str) -> dict[str, Any]:
    """Return an Ansible inventory for the lab fleet: one group per site, WinRM and become settings.

    ``state`` is the lab's state folder, where downloads, backups and reports live: a path (the inventory
    then holds plain paths and the root CA's PEM text, nothing a worker must template), or a Jinja
    expression naming it (``inventory_dir ~ '/../../.lab'``, for the committed inventory that must not
    depend on where the checkout is).
    """
    admin = next(
        (n for n, u in (fleet.get("defaults", {}).get("users") or DEFAULT_USERS).items() if u.get("admin")),
        "Administrator",
    )
    users = fleet.get("defaults", {}).get("users") or DEFAULT_USERS
    operator = str(fleet.get("defaults", {}).get("operator", "OQSComApp"))
    expr = repr(str(state)) if isinstance(state, Path) else state

    def folder(name: str) -> str:
        return str(state / name) if isinstance(state, Path) else f"{{{{ {expr} ~ '/{name}' }}}}"

    sites: dict[str, dict[str, Any]] = {}
    for host in hosts:
        hostvars: dict[str, Any] = {
            "ansible_host": host.address,
            "onshi_cert_facility_codes": [Quoted(c) for c in host.facility_codes],
        }
        if host.https:
            # Day 0 done: HTTPS only, and the controller refuses any listener certificate but the one recorded.
            hostvars |= {"ansible_port": host.https_port, "ansible_winrm_scheme": "https"}
            if isinstance(state, Path):
                cert, _key = listener_tls(state, host)
                hostvars["onshi_cert_listener_fingerprint"] = listener_fingerprint(cert)
            else:  # the committed inventory: the lab writes the fingerprint beside the certificate
                stem = listener_name(host)
                hostvars["onshi_cert_listener_fingerprint"] = (
                    f"{{{{ lookup('ansible.builtin.file', {expr} ~ '/{stem}.sha256') }}}}"
                )
        else:
            hostvars["ansible_port"] = host.http_port
        if host.operator != operator:
            hostvars["onshi_cert_operator_user"] = host.operator
        if host.facility_name:
            hostvars["onshi_cert_facility_name"] = host.facility_name
        group = host.site.replace("-", "_")
        sites.setdefault(group, {"hosts": {}})["hosts"][host.name] = hostvars
    return {
        "all": {
            "vars": {
                "ansible_connection": "winrm",
                "ansible_winrm_transport": "ntlm",
                "ansible_winrm_scheme": "http",
                "ansible_winrm_server_cert_validation": "ignore",
                "ansible_winrm_connection_timeout": 30,
                # No proxy (pywinrm's proxy=None): without it pywinrm takes HTTP(S)_PROXY from the environment and
                # requests looks the environment through at every request, 17 times per PC and task.
                "ansible_winrm_proxy": None,
                # The same PCs over PSRP: set ansible_connection: psrp (the port says http or https).
                "ansible_psrp_auth": "ntlm",
                "ansible_psrp_cert_validation": "ignore",
                "ansible_psrp_connection_timeout": 30,
                "ansible_user": admin,
                "ansible_password": users[admin]["password"],
                "onshi_cert_operator_user": operator,
                "ansible_become_method": "runas",
                "ansible_become_user": "{{ onshi_cert_operator_user }}",
                "ansible_become_password": users.get(operator, {}).get("password", ""),
                "onshi_cert_lab": True,
                "onshi_cert_p12_dir": folder("certs"),
                "onshi_cert_p12_passwords": (
                    f"{{{{ lookup('ansible.builtin.file', {expr} ~ '/certs/passwords.json', errors='ignore')"
                    " | default('{}', true) | from_json }}"
                ),
                "onshi_cert_backup_dir": folder("backups"),
                # The lab's own root CA, pinned by its certificate (a real fleet pins the genuine root's
                # SHA-256 fingerprint: onshi-cert pin FILE).
                "onshi_cert_trust_anchors": [
                    (state / "ca" / "ca.pem").read_text(encoding="ascii")
                    if isinstance(state, Path)
                    else f"{{{{ lookup('ansible.builtin.file', {expr} ~ '/ca/ca.pem') }}}}"
                ],
                "onshi_cert_backup_password": LAB_BACKUP_PASSWORD,
                "onshi_cert_audit_report_dir": folder("reports/latest"),
            },
            "children": {"oqs_pcs": {"children": sites}},
        }
    }
