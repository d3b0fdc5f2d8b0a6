# Documentation of the onshi_cert_info action plugin (plugins/action/onshi_cert_info.py).
from __future__ import annotations

DOCUMENTATION = r"""
module: onshi_cert_info
short_description: Read and judge the client certificates of an Online Eligibility Confirmation PC
description:
  - Reads, in one agent execution, the certificates of the operating user's C(CurrentUser\My), the
    trusted root stores and the host facts (OS build, PowerShell version, user, logon type, DPAPI,
    face-authentication library version).
  - Judges every certificate on the controller (facility code, issuer, validity, days left, warning
    stage 90/60/30/15/7-daily/expired, key present, usable and exportable).
  - Computes which certificate is kept per facility code and which are stale, and lists the PC's
    problems most urgent first, in the shape the fleet audit report uses.
version_added: "0.1.0"
options:
  backup_dir:
    description:
      - Folder on the controller holding the backups written by M(onshi.cert.onshi_cert_backup).
      - When set, a kept certificate without a backup is reported as a problem.
    type: path
  backup_password:
    description:
      - The backups' password. When set, a backup counts only if it opens with it (after a password
        change, old backups no longer count).
    type: str
  face_auth_path:
    description:
      - Path on the PC of the face-authentication library's version file (unconfirmed location).
    type: str
    default: 'C:\Program Files\OQS-Auth\Version.info'
  face_auth_minimum:
    description:
      - Lowest face-authentication library version that allows renewing with the MPKI client tool.
    type: str
    default: 2.1.0
  expiry_only:
    description:
      - Judge expiry, issuer and facility code only, not the private keys.
      - For audits without C(become) - connect as the operating user itself (C(ansible_user) =
        C(OQSComApp), a member of Remote Management Users). Its network logon can read the store
        but cannot open keys (no DPAPI), so key facts are left out, and the payload drops from about
        294 KB to about 90 KB per PC (no become wrapper).
    type: bool
    default: false
  facts_only:
    description:
      - Return the report only as the host's fact C(onshi_cert), not also as the result's C(onshi_cert).
      - Ansible copies, cleans and hands each task result to every callback on the controller; over a large fleet,
        a result that carries the report once costs about half of that. The role C(onshi.cert.onshi_cert_audit)
        sets it, since its report reads the fact. Leave it off to use C(register).
    type: bool
    default: false
extends_documentation_fragment:
  - onshi.cert.onshi_cert
attributes:
  check_mode:
    support: full
    description: The module never changes the PC; check mode runs it unchanged.
notes:
  - Read-only; always one agent execution per host.
  - Expiry-only audits (no C(become)) read the connecting user's store, not the operator's. Use
    C(become) so the operator's C(CurrentUser\My) is read.
seealso:
  - module: onshi.cert.onshi_cert
  - module: onshi.cert.onshi_cert_report
author:
  - onshi-cert developers (@onshi-cert)
"""

EXAMPLES = r"""
- name: Read the certificates of the operating user
  onshi.cert.onshi_cert_info:
    facility_codes: "{{ onshi_cert_facility_codes }}"
  become: true
  become_method: runas
  become_user: "{{ onshi_cert_operator_user }}"
  register: certs

- name: Show what needs doing
  ansible.builtin.debug:
    var: certs.onshi_cert.problems

- name: Read a large fleet for a report that reads the fact (the report once per result)
  onshi.cert.onshi_cert_info:
    facility_codes: "{{ onshi_cert_facility_codes }}"
    facts_only: true
  become: true
  become_method: runas
  become_user: "{{ onshi_cert_operator_user }}"

- name: Show each PC's state from its fact
  ansible.builtin.debug:
    var: onshi_cert.status
"""

RETURN = r"""
error_fields:
  description: On failure, the values its message was filled with (only those it names), to say it in either language.
  returned: failure, when the message has fields
  type: dict
  sample: {"user": "PC1\\uketsuke", "logon": "Network"}
error_code:
  description: On failure, the error's stable code (see C(docs/errors.md)); C(msg) shows it in brackets after the host.
  returned: failure
  type: str
  sample: ONSHI-E012
fix:
  description: On failure, what to do about it, in the reader's language.
  returned: failure
  type: str
  sample: use the 4-digit password chosen at download; if it is lost, apply for a new certificate
ansible_facts:
  description:
    - The cacheable facts C(onshi_cert) (the report below) and C(onshi_cert_summary) - flat values for AWX's host
      page and smart inventories, for example C(ansible_facts__onshi_cert_summary__within_60_days=true) selects the
      PCs whose kept certificate expires within 60 days (C(docs/awx.md)).
  returned: always
  type: dict
  contains:
    onshi_cert_summary:
      description:
        - C(status) (C(ok) or the first problem that needs a person), C(attention), C(days_left) (of the kept
          certificate expiring first; null without one), C(expires), C(kept_certificates), C(checked_at) (UTC), and
          C(within_7_days) ... C(within_90_days).
      returned: always
      type: dict
      sample: {"status": "expiring", "attention": true, "days_left": 41, "expires": "2027-01-17T00:00:00+00:00",
               "kept_certificates": 1, "checked_at": "2026-12-07T01:00:00+00:00", "within_7_days": false,
               "within_15_days": false, "within_30_days": false, "within_60_days": true, "within_90_days": true}
onshi_cert:
  description: The PC's certificate health (also set as the fact C(onshi_cert)).
  returned: unless I(facts_only) is set (the fact is set always)
  type: dict
  contains:
    host:
      description: Host facts read by the agent.
      returned: always
      type: dict
      sample: {"computer_name": "CLINIC-PC01", "os_build": 19045, "os_version": "10.0.19045.0",
               "ps_version": "5.1.19045.1", "user": "CLINIC-PC01\\OQSComApp", "is_admin": false,
               "logon_type": "interactive", "dpapi": true}
    certificates:
      description:
        - Every certificate of C(CurrentUser\My) with its facts and verdict.
        - C(verdict) is one of C(ok), C(expiring), C(expired), C(not_yet_valid), C(wrong_facility),
          C(wrong_issuer), C(no_key), C(not_client_auth); C(stage) is C(ok), C(90), C(60), C(30),
          C(15), C(7), C(expired) or C(not_yet_valid).
      returned: always
      type: list
      elements: dict
      sample: [{"thumbprint": "7347DBD1D58904054EB47A9246BBD2E11CC0463F", "facility_code": "3410712362",
                "issuer_cn": "Online Billing NW Common Root CA", "not_after": "2030-01-25T00:00:00+00:00",
                "days_remaining": 1157, "stage": "ok", "verdict": "ok", "ours": true, "has_key": true,
                "key_usable": true, "key_exportable": true}]
    plan:
      description: The certificate kept per facility code, the stale ones with their reason, codes
        without a usable certificate, and certificates of other issuers (never touched).
      returned: always
      type: dict
      sample: {"keep": {"3410712362": "7347DBD1D58904054EB47A9246BBD2E11CC0463F"}, "stale": {},
               "missing": [], "foreign": []}
    ca_trusted:
      description: Whether the issuing CA is in a trusted root store and verifies our certificates.
      returned: always
      type: bool
      sample: true
    face_auth:
      description:
        - The face-authentication library version and whether it allows renewal.
        - When it does not, C(message) says so with its error code (C(ONSHI-E057)) and the fix, in the reader's
          language.
      returned: always
      type: dict
      sample: {"path": "C:\\Program Files\\OQS-Auth\\Version.info", "found": true, "version": "2.1.3",
               "minimum": "2.1.0", "ok": true}
    problems:
      description: The PC's problems, most urgent first, each with a code and a message.
      returned: always
      type: list
      elements: dict
      sample: [{"code": "expiring", "message": "the certificate for 3410712362 expires in 45 days",
                "facility_code": "3410712362", "stage": "60"}]
    attention:
      description: Whether the PC needs a person (a problem other than stale certificates or an old face-auth library).
      returned: always
      type: bool
      sample: true
    attention_message:
      description: When I(attention), one line for people with the error code C(ONSHI-E058), every urgent problem and
        the fix, in the reader's language (C(onshi_cert_lang) or the controller's locale); else empty.
      returned: always
      type: str
      sample: "[ONSHI-E058] the PC needs a person: the certificate for 3410712362 has expired Fix: see the audit
        report (report.html) for each fix"
    status:
      description: The most urgent problem code, or C(ok).
      returned: always
      type: str
      sample: expiring
    checked_at:
      description: When the controller judged the certificates (UTC).
      returned: always
      type: str
      sample: "2026-11-24T12:00:00+00:00"
    executions:
      description: Agent executions used on the PC (always 1).
      returned: always
      type: int
      sample: 1
"""
