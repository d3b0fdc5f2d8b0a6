# The options every onshi-cert module shares.
from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
requirements:
  - "On the controller: the Python package cryptography >= 42 (the collection's requirements.txt)."
  - "On the PC: Windows PowerShell 5.1 (Windows 10/11, Server 2016 or later), reached with the winrm or psrp
    connection."
options:
  facility_codes:
    description:
      - The 10-digit facility codes (医療機関等コード) this PC must hold a certificate for, as quoted strings.
      - Usually set once per host in the inventory as C(onshi_cert_facility_codes).
      - Each code is validated (prefecture, fee table, check digit) before anything else happens; a code
        written without quotes (read by YAML as a number) is refused with the fix.
    type: list
    elements: str
    default: []
  trust_anchors:
    description:
      - The pinned root CA - SHA-256 fingerprints (64 hex digits, colons allowed) of the genuine root
        certificate or of its public key, or the root certificate itself as PEM text.
      - A certificate is genuine only through a signature chain to one of these, checked on the
        controller; the issuer's name proves nothing. Without a trust anchor every module refuses to run.
      - Usually set once for the fleet as C(onshi_cert_trust_anchors); C(onshi-cert pin FILE) prints it
        from the CA certificate of the official site or of a known-good PC.
    type: list
    elements: str
    default: []
  retire_codes:
    description:
      - Old facility codes (for example after a code change) whose still-valid certificates may be removed,
        after a verified backup, once every code in I(facility_codes) has its own valid certificate.
      - Valid certificates of any other code are never removed; the PC is reported as needing a person.
    type: list
    elements: str
    default: []
  code_field:
    description:
      - The subject field that carries the facility code - C(CN) (what the Personal tab shows as Issued
        To, the field the manual checks), C(OU), C(serialNumber) or a dotted OID.
      - A subject whose field holds a code with a wrong check digit, two different codes, or whose other
        fields hold a different valid-looking code, has no usable code and is never taken as this PC's.
    type: str
    default: CN
  code_pattern:
    description:
      - Regular expression matching the facility code in I(code_field); its first group, or the whole
        match, is the code.
    type: str
    default: '(?<!\d)\d{10}(?!\d)'
  known:
    description:
      - Thumbprints of this PC's certificates of ours as last seen, whose keys the agent may open in its first
        read. When not given inside a role of this collection, the PC's entry of the C(known) result of
        M(onshi.cert.onshi_cert_store), which the role's first task registers as C(__<role>_store), is used (the
        fleet record's latest answer of each PC). The C(onshi_cert) fact of an earlier run is used as well.
      - The agent opens (test signature, export) only keys the controller names; a certificate of ours it did not
        name costs one more execution on the PC. A name is never trust - each certificate is judged again.
    type: list
    elements: str
    default: []
notes:
  - Messages (errors, fixes, warnings, reasons) are in Japanese or English - the host variable
    C(onshi_cert_lang) (C(ja) or C(en)), else the controller's C(ONSHI_CERT_LANG), else its locale
    (C(LANGUAGE), C(LC_ALL), C(LC_MESSAGES), C(LANG)). Every error starts with a stable code such as
    C([ONSHI-E012]), also returned as C(error_code) with C(fix); C(docs/errors.md) lists them all.
  - The module runs on the controller as an action plugin and drives the PC through one small
    PowerShell agent (C(onshi_cert_agent)) over the task's own connection, so inventory WinRM
    settings and C(become) apply.
  - C(CurrentUser) is whoever runs the agent. Set C(become=true), C(become_method=runas) and
    C(become_user) to the operating user (commonly C(OQSComApp)) with its password; a plain
    WinRM network logon cannot persist user keys (no DPAPI) and is refused with that fix.
  - What is kept, installed and removed is decided in one place on the controller - the safety rules
    are in C(docs/safety.md) - the newest valid certificate of each code wins, nothing valid and
    newer is removed, and nothing is removed without a verified backup or the stated reason that
    its key cannot be exported.
"""

    # The fleet record's options (onshi_cert_store, onshi_cert_report, onshi_cert_workdocs).
    STORE = r"""
requirements:
  - "On the controller: SQLAlchemy >= 2.0, and psycopg 3 for a PostgreSQL record (the collection's requirements.txt)."
options:
  data_dir:
    description:
      - The data folder; the fleet record is the SQLite file C(onshi-cert.db) in it unless O(store) is set.
      - One of O(data_dir) and O(store) is required. A folder inside an AWX or ansible-runner job folder is refused
        (ONSHI-E156).
    type: path
  store:
    description:
      - The fleet record - C(postgresql://user@host:5432/database) (PostgreSQL, for AWX, several controllers or
        engineers), C(sqlite:////path/file.db) or a file path. Unset, C(onshi-cert.db) in O(data_dir).
      - An address holding a password is refused (ONSHI-E159); use O(store_password) or the C(PGPASSWORD) of an
        AWX credential.
    type: str
  store_password:
    description: The database user's password (from vault or an AWX credential); never shown.
    type: str
notes:
  - The fleet record (C(docs/store.md)) only ever gains rows; a failure to reach it is a coded error
    (ONSHI-E150 to ONSHI-E159) with the fix.
"""

    # The contractor on the documents handed to clinics (onshi_cert_report, onshi_cert_workdocs).
    VENDOR = r"""
options:
  vendor:
    description:
      - The contractor on the documents handed to clinics - C(name) (作業会社), C(contact) (連絡先), and C(engineer)
        (作業者; in the work documents, default the run's engineer - C(onshi_cert_engineer), AWX's launching user,
        else the controller login). The renewal notices are signed with C(name) and C(contact).
    type: dict
    default: {}
"""
