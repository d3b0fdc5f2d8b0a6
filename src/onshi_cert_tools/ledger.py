"""Fleet import: the vendor's ledger (端末台帳, .xlsx or .csv) becomes the Ansible inventory and a vaulted secrets file.

Every row is checked before anything is written: a bad row is reported with its spreadsheet row number and
the reason, and nothing is written unless every row is good (or ``--skip-bad-rows``). A re-import merges into
what is there: hosts missing from the ledger and secrets left blank in it are kept, and said so.

Written (under ``--out``, e.g. ``inventories/<fleet>``):

- ``hosts.yml``: one group per site (``oqs_pcs`` > site), per host ``ansible_host`` (and ``ansible_port`` and
  ``ansible_winrm_scheme`` when given), ``onshi_cert_facility_codes`` (quoted strings), ``onshi_cert_site``,
  ``onshi_cert_facility_name``, and the credentials as references into the vault;
- ``group_vars/all/vault.yml``: ``vault_onshi_cert_hosts`` (per host: administrator, its password, the
  operating user's password), encrypted with ansible-vault;
- ``group_vars/all/main.yml`` once (never overwritten): the WinRM, become and trust-anchor settings.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from onshi_cert.core import messages
from onshi_cert.core.errors import FacilityCodeError, OnshiCertError
from onshi_cert.core.facility import parse_facility_code
from onshi_cert.i18n import N_, tr
from onshi_cert.i18n import say as _
from onshi_cert.listener import normalize, pretty
from onshi_cert_tools.ledger_sheet import HEADINGS, LABELS, Cells, LedgerError, find_columns, read_cells
from onshi_cert_tools.yamltext import Quoted

__all__ = ["HEADINGS", "Cells", "Ledger", "LedgerError", "Row", "find_columns", "parse", "read_cells"]

DEFAULT_OPERATOR = "OQSComApp"
SECRETS = ("admin_user", "admin_password", "operator_password")
HOSTNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
SPLIT_CODES = re.compile(r"[\s,、/;・]+")
#: A row that closes a list on paper (以上 / 計 3 台 / 合計 / Total), skipped with a note when it holds no PC.
FOOTER = re.compile(r"^(以上|計|合計|小計|総計|total)|計\s*\d+\s*台|以上$", re.IGNORECASE)


@dataclass
class Row:
    """One good row of the ledger."""

    number: int
    host: str
    address: str
    codes: list[str]
    facility_name: str = ""
    site: str = ""
    port: int | None = None
    scheme: str = ""
    secrets: dict[str, str] = field(default_factory=dict)
    operator_user: str = ""
    listener_fingerprint: str = ""  # what day0.ps1 printed: 64 hex digits, AA:BB:...


@dataclass
class Ledger:
    """What the ledger says: good rows and, per bad row, its number and why."""

    rows: list[Row] = field(default_factory=list)
    bad: list[tuple[int, str]] = field(default_factory=list)
    notes: list[tuple[int, str]] = field(default_factory=list)  # rows left out on purpose (hidden, footer)


def _codes(value: Any) -> tuple[list[str], str]:
    """Return the facility codes of a cell, or why they are not usable."""
    if isinstance(value, bool):
        return [], _("not a facility code: {value}", value=value)
    if isinstance(value, int | float):
        digits = str(int(value))
        if len(digits) == 9:
            return [], _(
                "facility code {value} is a number that lost its leading 0 (0{value}?): format the column as "
                "text in Excel and type the 10 digits again",
                value=digits,
            )
        value = digits
    text = unicodedata.normalize("NFKC", str(value or "")).strip()
    if not text:
        return [], _("no facility code")
    codes = []
    for part in SPLIT_CODES.split(text):
        if not part:
            continue
        if part.isdigit() and len(part) == 9:
            return [], _(
                "facility code {value} has 9 digits: it probably lost its leading 0 (0{value}?) in Excel; format "
                "the column as text and type the 10 digits again",
                value=part,
            )
        try:
            codes.append(parse_facility_code(part, allow_legacy=False).code)
        except FacilityCodeError as exc:
            return [], exc.text
    return codes, ""


def parse(cells: Cells | list[tuple[int, list[Any]]], path: Path, extra: dict[str, str] | None = None) -> Ledger:
    """Check every row of the ledger; return the good rows, the bad ones with their reasons, and the rows left out
    on purpose (hidden in Excel, a footer such as 以上 計3台) with a note each."""
    found = cells if isinstance(cells, Cells) else Cells(list(cells))
    cells = found.rows
    heading, columns = find_columns(cells, path, extra)
    ledger = Ledger(notes=list(found.notes))
    seen_hosts: dict[str, int] = {}
    seen_addresses: dict[tuple[str, int | None], int] = {}
    clinic_of_code: dict[str, tuple[str, int]] = {}

    def cell(row: list[Any], name: str) -> Any:
        index = columns.get(name)
        return row[index] if index is not None and index < len(row) else None

    def text(row: list[Any], name: str) -> str:
        value = cell(row, name)
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # Excel stores 1234 typed in a cell as 1234.0
        return "" if value is None else unicodedata.normalize("NFKC", str(value)).strip()

    def raw(row: list[Any], name: str) -> str:
        value = cell(row, name)  # secrets exactly as typed (no normalisation), numbers without '.0'
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return "" if value is None else str(value).strip()

    for number, row in cells:
        if number <= heading or not any(str(c or "").strip() for c in row):
            continue
        reasons: list[str] = []
        host, address = text(row, "host"), text(row, "address")
        words = " ".join(unicodedata.normalize("NFKC", str(c)).strip() for c in row if str(c or "").strip())
        if not host and not address and FOOTER.search(words):
            ledger.notes.append((number, _("a footer row ({text}): skipped", text=words[:40])))
            continue
        if TEMPLATE_SECRET in row:  # the template's example row, or a row copied from it and never filled in
            ledger.bad.append((number, _("the template's example row: delete it, or write a real PC over it")))
            continue
        for name in ("host", "address", "facility_code"):
            where = found.merged.get((number, columns.get(name, -1)))
            if where and not text(row, name):
                reasons.append(
                    _(
                        "{what} is in the merged cells {cells}: unmerge them and fill each row",
                        what=_(LABELS[name]),
                        cells=where,
                    )
                )
        if reasons:
            ledger.bad.append((number, "; ".join(reasons)))
            continue
        if not host:
            reasons.append(_("no PC name"))
        elif not HOSTNAME.match(host):
            reasons.append(_("PC name {host!r} is not usable as an inventory name (letters, digits, . _ -)", host=host))
        elif host.lower() in seen_hosts:
            reasons.append(_("PC name {host} is also on row {other}", host=host, other=seen_hosts[host.lower()]))
        if not address:
            reasons.append(_("no IP address"))
        port_text = text(row, "port")
        port = None
        if port_text:
            if port_text.isdigit() and 0 < int(port_text) < 65536:
                port = int(port_text)
            else:
                reasons.append(_("port {port!r} is not a number from 1 to 65535", port=port_text))
        if address and (address.lower(), port) in seen_addresses:
            other = seen_addresses[(address.lower(), port)]
            reasons.append(_("IP address {address} is also on row {other}", address=address, other=other))
        codes, why = _codes(cell(row, "facility_code"))
        if why:
            reasons.append(why)
        name = text(row, "facility_name")
        for code in codes:
            if code in clinic_of_code and name and clinic_of_code[code][0] and clinic_of_code[code][0] != name:
                other_name, other_row = clinic_of_code[code]
                reasons.append(
                    _(
                        "facility code {code} is on two clinics: {name} here, {other} on row {row}",
                        code=code,
                        name=name,
                        other=other_name,
                        row=other_row,
                    )
                )
        scheme = text(row, "scheme").lower()
        if scheme and scheme not in ("http", "https"):
            reasons.append(_("scheme {scheme!r} is not http or https", scheme=scheme))
        fingerprint = text(row, "listener_fingerprint")
        if fingerprint:
            try:
                fingerprint = pretty(normalize(fingerprint, host))
            except OnshiCertError as exc:
                reasons.append(exc.text)
            if scheme == "http":
                reasons.append(_("a listener fingerprint needs HTTPS, not scheme http"))
        if host:
            seen_hosts.setdefault(host.lower(), number)
        if address:
            seen_addresses.setdefault((address.lower(), port), number)
        if reasons:
            ledger.bad.append((number, "; ".join(reasons)))
            continue
        for code in codes:
            clinic_of_code.setdefault(code, (name, number))
        secrets = {key: raw(row, key) for key in SECRETS if raw(row, key)}
        ledger.rows.append(
            Row(
                number,
                host,
                address,
                codes,
                name,
                text(row, "site"),
                port,
                scheme,
                secrets,
                text(row, "operator_user"),
                fingerprint,
            )
        )
    return ledger


# --- the inventory ------------------------------------------------------------------------------------------


def group_name(site: str) -> str:
    """Return the inventory group of a site: its name with anything but letters, digits and _ made _."""
    name = re.sub(r"\W", "_", unicodedata.normalize("NFKC", site)).strip("_") or "default"
    return f"site_{name}" if name[0].isdigit() else name


def host_vars(row: Row, default_operator: str) -> dict[str, Any]:
    """Return the inventory variables of one ledger row."""
    values: dict[str, Any] = {"ansible_host": row.address}
    if row.port:
        values["ansible_port"] = row.port
    scheme = row.scheme or ("https" if row.port == 5986 or row.listener_fingerprint else "")
    if scheme:
        values["ansible_winrm_scheme"] = scheme
    if row.listener_fingerprint:  # day 0 done: HTTPS on 5986 unless the ledger says otherwise, this certificate only
        values.setdefault("ansible_port", 5986)
        values["onshi_cert_listener_fingerprint"] = row.listener_fingerprint
    values["onshi_cert_facility_codes"] = [Quoted(c) for c in row.codes]
    if row.site:
        values["onshi_cert_site"] = row.site
    if row.facility_name:
        values["onshi_cert_facility_name"] = row.facility_name
    if row.operator_user and row.operator_user != default_operator:
        values["onshi_cert_operator_user"] = row.operator_user
    return values


CREDENTIAL_VARS = {
    "admin_user": "ansible_user",
    "admin_password": "ansible_password",
    "operator_password": "ansible_become_password",
}


def credential_refs(secrets: Iterable[str]) -> dict[str, str]:
    """Return the host variables that read a host's credentials from the vault."""
    return {
        CREDENTIAL_VARS[key]: f"{{{{ vault_onshi_cert_hosts[inventory_hostname].{key} }}}}"
        for key in SECRETS
        if key in secrets
    }


def load_existing(out: Path, secret: Any) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, str]]]:
    """Return the hosts (name -> variables, with their site group) and vaulted secrets already under ``out``."""
    hosts: dict[str, dict[str, Any]] = {}
    inventory = out / "hosts.yml"
    if inventory.exists():
        try:
            data = yaml.safe_load(inventory.read_text(encoding="utf-8")) or {}
            groups = data["all"]["children"]["oqs_pcs"]["children"]
        except (yaml.YAMLError, KeyError, TypeError) as exc:
            raise LedgerError(messages.INVENTORY_NOT_OURS, path=inventory, detail=exc) from None
        for group, body in (groups or {}).items():
            for name, values in ((body or {}).get("hosts") or {}).items():
                hosts[name] = {"group": group, "vars": values or {}}
    vault_file = out / "group_vars" / "all" / "vault.yml"
    stored: dict[str, dict[str, str]] = {}
    if vault_file.exists():
        from ansible.parsing.vault import AnsibleVaultError, VaultLib

        if secret is None:
            raise LedgerError(messages.VAULT_NEEDED, path=vault_file)
        try:
            plain = VaultLib([("default", secret)]).decrypt(vault_file.read_bytes())
        except AnsibleVaultError as exc:
            raise LedgerError(messages.LEDGER_VAULT, path=vault_file, detail=exc) from None
        stored = (yaml.safe_load(plain) or {}).get("vault_onshi_cert_hosts") or {}
    return hosts, stored


@dataclass
class Merge:
    """What an import changes: hosts added, changed (with what), kept (not in the ledger), secrets updated."""

    hosts: dict[str, dict[str, Any]]
    secrets: dict[str, dict[str, str]]
    added: list[str] = field(default_factory=list)
    changed: dict[str, list[str]] = field(default_factory=dict)
    kept: list[str] = field(default_factory=list)
    secrets_changed: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """Return True when the import changes nothing."""
        return not (self.added or self.changed or self.secrets_changed)


def merge(ledger: Ledger, hosts: dict[str, dict[str, Any]], stored: dict[str, dict[str, str]]) -> Merge:
    """Return the merged inventory and secrets; nothing already there is dropped silently."""
    result = Merge({name: dict(entry) for name, entry in hosts.items()}, {k: dict(v) for k, v in stored.items()})
    in_ledger = set()
    for row in ledger.rows:
        in_ledger.add(row.host)
        secrets = {**result.secrets.get(row.host, {}), **row.secrets}
        values = host_vars(row, DEFAULT_OPERATOR) | credential_refs(secrets)
        entry = {"group": group_name(row.site) if row.site else "default", "vars": values}
        before = hosts.get(row.host)
        if before is None:
            result.added.append(row.host)
        else:
            differences = sorted(
                key for key in set(before["vars"]) | set(values) if str(before["vars"].get(key)) != str(values.get(key))
            )
            if before["group"] != entry["group"]:
                differences.insert(0, "group")
            if differences:
                result.changed[row.host] = differences
        if secrets != stored.get(row.host, {}) and row.host in stored:
            result.secrets_changed.append(row.host)
        if secrets:
            result.secrets[row.host] = secrets
        result.hosts[row.host] = entry
    result.kept = sorted(set(hosts) - in_ledger)
    return result


GROUP_VARS = """\
---
# Written once by 'onshi-cert fleet import' (never overwritten): the settings every PC of this fleet shares.
# Per-PC credentials are in vault.yml beside this file (ansible-vault edit group_vars/all/vault.yml).
ansible_connection: winrm
ansible_winrm_transport: ntlm
ansible_winrm_scheme: http
# day0.ps1 makes each PC's HTTPS listener certificate itself (self-signed: no CA vouches for it). Each is pinned by
# its fingerprint instead (onshi_cert_listener_fingerprint, from the ledger's リスナー指紋 column) and checked before
# any request goes out; hence no CA check here. A PC without a recorded fingerprint is not checked (ONSHI-E098).
ansible_winrm_server_cert_validation: ignore
# The same PCs over PSRP (AWX often uses it; the controller needs pypsrp): set ansible_connection: psrp.
ansible_psrp_auth: ntlm
ansible_psrp_cert_validation: ignore
ansible_become_method: runas
onshi_cert_operator_user: {operator}
ansible_become_user: "{{{{ onshi_cert_operator_user }}}}"
# The genuine root CA (onshi-cert pin FILE prints it from the CA certificate of the official site).
onshi_cert_trust_anchors: {anchors}
"""


def render_inventory(hosts: dict[str, dict[str, Any]]) -> str:
    """Return hosts.yml: oqs_pcs > one group per site > hosts, sorted."""
    groups: dict[str, dict[str, Any]] = {}
    for name in sorted(hosts):
        entry = hosts[name]
        groups.setdefault(entry["group"], {"hosts": {}})["hosts"][name] = _quoted(entry["vars"])
    data = {"all": {"children": {"oqs_pcs": {"children": dict(sorted(groups.items()))}}}}
    header = (
        "---\n# Written by 'onshi-cert fleet import' from the ledger; re-import to update (hosts are never dropped).\n"
    )
    return header + yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=120)


def _quoted(values: dict[str, Any]) -> dict[str, Any]:
    codes = values.get("onshi_cert_facility_codes")
    if isinstance(codes, list):
        values = {**values, "onshi_cert_facility_codes": [Quoted(c) for c in codes]}
    return values


def write(out: Path, result: Merge, secret: Any, anchors: list[str]) -> list[str]:
    """Write hosts.yml, the vaulted secrets and (once) group_vars/all/main.yml; return what was written."""
    from ansible.parsing.vault import VaultLib

    written = []
    out.mkdir(parents=True, exist_ok=True)
    (out / "hosts.yml").write_text(render_inventory(result.hosts), encoding="utf-8")
    written.append(str(out / "hosts.yml"))
    group_vars = out / "group_vars" / "all"
    group_vars.mkdir(parents=True, exist_ok=True)
    if result.secrets:
        if secret is None:
            raise LedgerError(messages.NO_VAULT_PASSWORD)
        plain = yaml.safe_dump({"vault_onshi_cert_hosts": result.secrets}, allow_unicode=True, sort_keys=True)
        vault_file = group_vars / "vault.yml"
        vault_file.write_bytes(VaultLib([("default", secret)]).encrypt(plain.encode()))
        vault_file.chmod(0o600)
        written.append(str(vault_file))
    main = group_vars / "main.yml"
    if not main.exists():
        listed = "[" + ", ".join(f'"{a}"' for a in anchors) + "]" if anchors else "[]  # set it before any run"
        main.write_text(GROUP_VARS.format(operator=DEFAULT_OPERATOR, anchors=listed), encoding="utf-8")
        written.append(str(main))
    return written


def summary(ledger: Ledger, result: Merge | None, lang: str) -> list[str]:
    """Return the lines an engineer reads: bad rows first, then what the import adds, changes and keeps."""
    lines = [tr(lang, N_("row {row}: {reason}"), row=number, reason=reason) for number, reason in ledger.bad]
    lines += [tr(lang, N_("row {row}: {reason}"), row=number, reason=note) for number, note in ledger.notes]
    if result is None:
        return lines
    lines += [tr(lang, N_("add {host}"), host=h) for h in result.added]
    lines += [tr(lang, N_("change {host}: {what}"), host=h, what=", ".join(w)) for h, w in result.changed.items()]
    lines += [tr(lang, N_("keep {host} (not in the ledger: never dropped)"), host=h) for h in result.kept]
    lines += [tr(lang, N_("new credentials for {host}"), host=h) for h in result.secrets_changed]
    return lines


TEMPLATE_HEADINGS = (
    "拠点",
    "医療機関名",
    "医療機関等コード",
    "端末名",
    "IP",
    "ポート",
    "管理者",
    "管理者パスワード",
    "運用ユーザー",
    "運用ユーザーパスワード",
)
TEMPLATE_SECRET = "(パスワード)"  # the template's placeholder: a row holding it was never filled in
TEMPLATE_EXAMPLE = (
    "札幌北",
    "札幌内科クリニック",
    "0110113719",
    "sapporo-naika-pc01",
    "192.0.2.11",
    "5985",
    "Administrator",
    TEMPLATE_SECRET,
    "OQSComApp",
    TEMPLATE_SECRET,
)


def template(path: Path) -> None:
    """Write the template ledger (端末台帳): the headings the import reads, one example row, text columns."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = "端末台帳"
    sheet.append(TEMPLATE_HEADINGS)
    sheet.append(TEMPLATE_EXAMPLE)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for column, width in zip("ABCDEFGHIJ", (12, 24, 16, 22, 16, 8, 14, 18, 14, 20), strict=True):
        sheet.column_dimensions[column].width = width
        for cell in sheet[column][1:]:
            cell.number_format = "@"  # text: a code keeps its leading 0, a password stays as typed
    for row in range(3, 503):
        for column in "ABCDEFGHIJ":
            sheet[f"{column}{row}"].number_format = "@"
    sheet.freeze_panes = "A2"
    book.save(path)
