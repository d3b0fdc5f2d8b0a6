# Documentation of the onshi_cert action plugin (plugins/action/onshi_cert.py).
from __future__ import annotations

DOCUMENTATION = r"""
module: onshi_cert
short_description: Give each facility code of an Online Eligibility Confirmation PC its newest valid certificate
description:
  - Decides on the controller, in one place, what the PC keeps - for each expected facility code the
    valid certificate (signature chain to a pinned root, code in the named subject field, client
    authentication, within its validity, usable key) that expires last, wherever it is - on the PC,
    in an offered C(.p12), or in a backup being restored.
  - With I(state=present), judges every offered file on the controller first (password, damage,
    private key, chain to a pinned root, facility code) and refuses a forged, foreign or wrong-code
    file before the PC is changed. A C(.p12) older than what the PC holds is not installed (reported
    as outdated).
  - Imports the winning certificate with an exportable, persisted user key into the operating
    user's C(CurrentUser\My) (never strong key protection), adds only the pinned root to I(ca_store)
    and only verified intermediates to C(CurrentUser\CA), verifies every kept key opens, and only then
    removes what is stale - expired certificates, and valid ones superseded by a newer valid one of
    the same code - each after a verified backup, or with the stated reason its key cannot be exported.
  - Valid certificates of other facility codes, forged or foreign certificates and certificates with
    an ambiguous code are never removed; the result says the PC needs a person.
  - The C(.p12) travels in memory, re-encrypted with a one-time password in the encryption the PC's
    Windows build imports (3DES before Windows 10 1709); nothing is written on the PC and nothing
    appears on a command line.
  - With I(state=absent), removes the stale certificates the selectors choose, with the same backups.
version_added: "0.1.0"
options:
  state:
    description:
      - C(present) brings the PC to the plan (install, trust, remove stale); C(absent) only removes stale
        certificates chosen by the selectors.
    type: str
    choices: [present, absent]
    default: present
  path:
    description:
      - One C(.p12) file on the controller, as saved by the certificate download site.
      - Mutually exclusive with I(p12_dir) and I(restore_from).
    type: path
  password:
    description:
      - The password of I(path) (the 4 digits chosen at download). Keep it in Ansible Vault.
    type: str
  p12_dir:
    description:
      - Folder on the controller whose files are offered to this PC - C(<p12_dir>/<host>/*.p12),
        C(<p12_dir>/<host>.p12) and C(<p12_dir>/<code>.p12) for each expected code.
      - Which code a file serves is read from the certificate inside it, so a PC with two codes gets one
        certificate per code; a file for another code stops the task.
    type: path
  passwords:
    description:
      - Download passwords of the files in I(p12_dir), keyed by C(<host>/<file>), file name, file name
        without C(.p12), or host name. Keep them in Ansible Vault, as quoted strings.
    type: dict
    default: {}
  remove_stale:
    description:
      - With I(state=present), remove stale certificates once the kept ones are verified.
    type: bool
    default: true
  backup_dir:
    description:
      - Folder on the controller for backups, as C(<backup_dir>/<facility_code>/<host>_<thumbprint>_<hash>.pfx)
        with a manifest written last (a backup exists whole or not at all).
      - Required when something with an exportable key will be removed, or with I(backup_new) or I(restore_from).
    type: path
  backup_password:
    description:
      - Password protecting the backups. Keep it in Ansible Vault. After a change, certificates are
        backed up again with the new password before anything is removed.
    type: str
  backup_new:
    description:
      - With I(state=present), also back up each certificate being installed, built from its file on
        the controller (the same key; nothing is exported from the PC), unless a verified backup exists.
    type: bool
    default: false
  ca_store:
    description:
      - Where the pinned root CA goes when missing. C(LocalMachine\Root) has no security prompt but needs
        an administrator (the connecting user is used when the operating user is not one).
      - C(CurrentUser\Root) raises a security prompt that a remote session cannot answer, so it fails
        unless the CA is already there. C(none) adds no root.
    type: str
    choices: ['LocalMachine\Root', 'CurrentUser\Root', none]
    default: 'LocalMachine\Root'
  min_days_left:
    description:
      - Fail, before changing anything, when a code's kept certificate expires within this many days
        (a renewal that did not happen is never reported as done). C(0) checks nothing.
    type: int
    default: 0
  restore_from:
    description:
      - With I(state=present), offer for each expected code the newest backup of this old PC (its
        inventory name) that opens with I(backup_password), chains to a pinned root and is still valid.
      - A facility code instead of a PC name is accepted only when its backups come from one PC;
        otherwise the candidate PCs are listed and nothing changes.
      - The result says which backup was used and why newer ones were passed over.
    type: str
  thumbprints:
    description:
      - With I(state=absent), consider only these thumbprints.
    type: list
    elements: str
    default: []
  facility_code:
    description:
      - With I(state=absent), consider only certificates for this facility code.
    type: str
  expired_only:
    description:
      - With I(state=absent), remove only expired certificates.
    type: bool
    default: false
  force:
    description:
      - With I(state=absent), also remove the valid certificates named in I(thumbprints), but only after
        a verified backup; a certificate whose key cannot be exported is never force-removed.
    type: bool
    default: false
extends_documentation_fragment:
  - onshi.cert.onshi_cert
attributes:
  check_mode:
    support: full
    description: Reads the PC (one execution) and reports the plan - what would be installed, trusted,
      removed (with the reason) and backed up - with C(planned=true); changes nothing.
  diff_mode:
    support: full
    description: One block per store touched, named with the user (C(CurrentUser(OQSComApp)\My),
      C(LocalMachine\Root), C(CurrentUser(OQSComApp)\CA)); each changed line carries its reason.
notes:
  - Executions per host - nothing to do 1; a change 2; plus 1 when the root CA must be added to
    C(LocalMachine\Root) by the connecting administrator because the operating user is not one.
  - Order is back up, import, verify, and only then remove. If the run is interrupted at any point,
    re-running converges.
  - Every facility code on its own - a file in I(p12_dir) that is forged, another clinic's, of a wrong code,
    expired or cannot be opened (wrong or missing password) holds the code it was for, or every code no
    usable file serves when its code cannot be read; nothing of a held code changes. The other codes are
    provisioned, then the task fails naming each file and its fix. When nothing could be changed at all, the
    task stops before the PC is touched.
  - With I(min_days_left), a code that was not renewed fails the task after the codes that were renewed are
    done.
  - The safety rules and what the engineer sees in each case are in C(docs/safety.md).
seealso:
  - module: onshi.cert.onshi_cert_info
  - module: onshi.cert.onshi_cert_backup
author:
  - onshi-cert developers (@onshi-cert)
"""

EXAMPLES = r"""
- name: Give the PC the certificates downloaded for it (one per facility code)
  onshi.cert.onshi_cert:
    p12_dir: certs
    passwords: "{{ onshi_cert_p12_passwords }}"
    facility_codes: "{{ onshi_cert_facility_codes }}"
    trust_anchors: "{{ onshi_cert_trust_anchors }}"
    backup_dir: backups
    backup_password: "{{ onshi_cert_backup_password }}"
    backup_new: true
  become: true
  become_method: runas
  become_user: "{{ onshi_cert_operator_user }}"

- name: Install one downloaded .p12
  onshi.cert.onshi_cert:
    path: certs/12345678.p12
    password: "{{ onshi_cert_p12_passwords['12345678.p12'] }}"
    facility_codes: ["3410712362"]
    trust_anchors: "{{ onshi_cert_trust_anchors }}"
    backup_dir: backups
    backup_password: "{{ onshi_cert_backup_password }}"
  become: true

- name: Restore a failed PC's certificates on its replacement
  onshi.cert.onshi_cert:
    restore_from: old-pc01
    backup_new: true
    facility_codes: "{{ onshi_cert_facility_codes }}"
    trust_anchors: "{{ onshi_cert_trust_anchors }}"
    backup_dir: backups
    backup_password: "{{ onshi_cert_backup_password }}"
  become: true

- name: Finish a renewal (fails when no certificate is valid for more than 90 days)
  onshi.cert.onshi_cert:
    p12_dir: certs
    passwords: "{{ onshi_cert_p12_passwords }}"
    min_days_left: 90
    facility_codes: "{{ onshi_cert_facility_codes }}"
    trust_anchors: "{{ onshi_cert_trust_anchors }}"
    backup_dir: backups
    backup_password: "{{ onshi_cert_backup_password }}"
  become: true

- name: Remove only stale certificates (expired or superseded), after backup
  onshi.cert.onshi_cert:
    state: absent
    facility_codes: "{{ onshi_cert_facility_codes }}"
    trust_anchors: "{{ onshi_cert_trust_anchors }}"
    backup_dir: backups
    backup_password: "{{ onshi_cert_backup_password }}"
  become: true
"""

RETURN = r"""
error_fields:
  description: On failure, the values its message was filled with (only those it names), to say it in either language.
  returned: failure, when the message has fields
  type: dict
  sample: {"path": "certs/pc1.p12"}
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
planned:
  description: True in check mode - every list below says what would happen, not what happened.
  returned: always
  type: bool
  sample: false
codes:
  description:
    - Per expected facility code, the certificate kept (C(keep), its C(source) pc, p12 or backup, and
      C(origin)), whether it is (or would be) installed, and the offered files not used with the reason.
    - C(held) lists the files that hold the code (nothing of it changes), and C(outcome) is what became of the
      code - C(blocked), C(missing), C(not_renewed), C(changed) or C(ok).
  returned: always
  type: dict
  sample: {"3410712362": {"keep": "1834C457FAC1E5B35DC43BAF692C18D0B48B652C", "source": "p12", "origin": "certs/pc01/3410712362.p12",
           "not_after": "2030-01-25T20:59:12+00:00", "install": true, "outdated": [], "held": [], "outcome": "changed"}}
restored:
  description:
    - With I(restore_from), per facility code the backup restored (C(file)) and every newer backup passed over,
      each with the reason (damaged, another password, expired, another clinic's). The recap and the work
      report show the same.
  returned: always
  type: list
  elements: dict
  sample: [{"facility_code": "0110113719", "file": "pc01_7347DB..._1a2b3c4d.pfx", "not_after": "2029-10-24T00:00:00+00:00",
            "passed_over": [{"file": "pc01_9A1F02..._5e6f7a8b.pfx",
                             "reason": "damaged: the .pfx is not the file that was written (a bit flip, a truncation or a copy error)"}]}]
outcome:
  description: The worst of the codes' C(outcome) - C(blocked), C(missing), C(not_renewed), C(changed), C(ok).
  returned: always
  type: str
  sample: changed
installed:
  description: Certificates imported (or to be imported in check mode).
  returned: always
  type: list
  elements: dict
  sample: [{"thumbprint": "1834C457FAC1E5B35DC43BAF692C18D0B48B652C", "facility_code": "3410712362", "from": "certs/pc01/3410712362.p12"}]
thumbprint:
  description: Thumbprint of the certificate kept, when the PC has one facility code.
  returned: always
  type: str
  sample: 1834C457FAC1E5B35DC43BAF692C18D0B48B652C
facility_code:
  description: The facility code, when the PC has one.
  returned: always
  type: str
  sample: "0441234564"
not_after:
  description: Expiry of the certificate kept (UTC), when the PC has one facility code.
  returned: always
  type: str
  sample: "2030-01-25T20:59:12+00:00"
imported:
  description: Whether anything was (or in check mode would be) imported.
  returned: always
  type: bool
  sample: true
removed:
  description:
    - Certificates removed (or to be removed in check mode) - C(reason) expired, superseded, retired or
      selected, a readable C(detail), and C(backup) verified (a backup exists), export (backed up now)
      or impossible (with C(backup_note) saying why).
  returned: always
  type: list
  elements: dict
  sample: [{"thumbprint": "4142C9F726C020637518240B66212116B286726D", "reason": "superseded", "backup": "export",
            "detail": "superseded by 1834C457FAC1E5B35DC43BAF692C18D0B48B652C (until 2030-01-25)"}]
kept:
  description: Stale-looking certificates that stay, with the reason (not selected, no backup possible, export failed).
  returned: always
  type: list
  elements: dict
  sample: []
ca_added:
  description: CA certificates added (only the pinned root and verified intermediates), with their store.
  returned: always
  type: list
  elements: dict
  sample: [{"store": "LocalMachine\\Root", "subject": "CN=Online Billing NW Common Root CA,C=JP"}]
missing:
  description: Expected facility codes with no valid certificate anywhere (the PC needs a new one).
  returned: always
  type: list
  elements: str
  sample: []
attention:
  description:
    - What needs a person, each with a stable C(code) (missing, expired, no_key, expiring, not_exportable,
      no_backup, wrong_issuer, bad_code, wrong_facility), a C(message) and a C(fix).
  returned: always
  type: list
  elements: dict
  sample: [{"code": "not_exportable", "message": "the key of 1834... (3410712362) is not exportable: no backup is possible",
            "fix": "keep the downloaded .p12 safe as the backup, or re-import it with an exportable key"}]
attention_needed:
  description: True when the PC needs a person (the recap shows 要対応/ATTENTION).
  returned: always
  type: bool
  sample: false
disagreement:
  description: True when the PC holds a valid certificate only for codes the inventory does not expect.
  returned: always
  type: bool
  sample: false
backups:
  description: Backups written (C(new=true)) or found verified before a removal.
  returned: always
  type: list
  elements: dict
  sample: [{"path": "backups/1310512346/tokyo-pc02_4142C9F7..._1a2b3c4d.pfx", "thumbprint": "4142C9F726C020637518240B66212116B286726D", "new": true}]
certificates:
  description: C(CurrentUser\My) after the change (before it, in check mode), one line per certificate.
  returned: always
  type: list
  elements: str
  sample: ["1834C457FAC1E5B35DC43BAF692C18D0B48B652C 0441234564 until 2030-01-25 key=yes issuer=Online Billing NW Common Root CA"]
before:
  description: C(CurrentUser\My) when the task started - each certificate's thumbprint, facility code, expiry and
    whether it has its private key (for the work report).
  returned: when state is present or absent and the PC was read
  type: list
  elements: dict
  sample: [{"thumbprint": "1834C457FAC1E5B35DC43BAF692C18D0B48B652C", "facility_code": "0441234564",
            "not_after": "2026-12-20T00:00:00+00:00", "has_key": true}]
after:
  description: C(CurrentUser\My) after the change, read back from the PC; in check mode, as the plan would leave it.
  returned: when state is present or absent and the PC was read
  type: list
  elements: dict
  sample: [{"thumbprint": "7347DBD1D58904054EB47A9246BBD2E11CC0463F", "facility_code": "0441234564",
            "not_after": "2031-01-25T00:00:00+00:00", "has_key": true}]
warnings:
  description: Things the engineer should know (outdated files, a file that expires soon, legacy check digit).
  returned: always
  type: list
  elements: str
  sample: []
host:
  description: Host facts read by the agent.
  returned: always
  type: dict
  sample: {"os_build": 19045, "user": "PC01\\OQSComApp", "logon_type": "interactive", "dpapi": true}
executions:
  description: Agent executions used on the PC.
  returned: always
  type: int
  sample: 2
"""
