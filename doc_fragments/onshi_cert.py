# The options every onshi-cert module shares.
from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  facility_codes:
    description:
      - The 10-digit facility codes (医療機関等コード) this PC must hold a certificate for.
      - Usually set once per host in the inventory as C(onshi_cert_facility_codes).
      - Each code is validated (prefecture, fee table, check digit) before anything else happens.
    type: list
    elements: str
    default: []
  issuer_cn:
    description:
      - Common name of the CA that issues the certificates this toolkit manages.
      - Certificates of other issuers are reported but never removed.
    type: str
    default: Online Billing NW Common Root CA
  code_attributes:
    description:
      - Subject attributes that may hold the facility code (for example C(CN) or C(serialNumber)).
      - Empty means every attribute of the subject is searched.
    type: list
    elements: str
    default: []
  code_pattern:
    description:
      - Regular expression matching the facility code in a subject attribute; its first group, or the
        whole match, is the code.
    type: str
    default: '(?<!\d)\d{10}(?!\d)'
  face_auth_path:
    description:
      - Path on the PC of the face-authentication library's version file.
    type: str
    default: 'C:\Program Files\OQS-Auth\Version.info'
  face_auth_minimum:
    description:
      - Lowest face-authentication library version that allows renewing with the MPKI client tool.
    type: str
    default: 2.1.0
notes:
  - The module runs on the controller as an action plugin and drives the PC through one small
    PowerShell agent (C(onshi_cert_agent)) over the task's own connection, so inventory WinRM
    settings and C(become) apply.
  - C(CurrentUser) is whoever runs the agent. Set C(become=true), C(become_method=runas) and
    C(become_user) to the operating user (commonly C(OQSComApp)) with its password; a plain
    WinRM network logon cannot persist user keys (no DPAPI) and is refused with that fix.
"""
