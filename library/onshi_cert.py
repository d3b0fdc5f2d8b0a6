# Documentation of the onshi_cert action plugin (action_plugins/onshi_cert.py).
from __future__ import annotations

DOCUMENTATION = r"""
module: onshi_cert
short_description: Install or remove the client certificate of an Online Eligibility Confirmation PC
description:
  - With I(state=present), checks the downloaded C(.p12) on the controller first (password, damage,
    private key, issuer, facility code, validity, client authentication) and refuses a bad file
    before the PC is touched.
  - Then imports the certificate with an exportable, persisted user key into the operating user's
    C(CurrentUser\My) (never strong key protection), adds its root CA to I(ca_store) and any
    intermediate to C(CurrentUser\CA), verifies the key is present, usable and exportable, and only
    then removes the stale certificates (expired, superseded, other facility), each backed up first.
  - The C(.p12) travels in memory, re-encrypted with a one-time password in the encryption the PC's
    Windows build imports (3DES before Windows 10 1709); nothing is written on the PC and nothing
    appears on a command line.
  - With I(state=absent), removes the selected certificates of the issuing CA, backed up first, and
    refuses to remove the last usable certificate of an expected facility code unless I(force=true).
version_added: "0.1.0"
options:
  state:
    description:
      - C(present) installs I(path); C(absent) removes the certificates the selectors choose.
    type: str
    choices: [present, absent]
    default: present
  path:
    description:
      - The C(.p12) file on the controller, as saved by the certificate download site.
      - Required with I(state=present) unless I(restore_from) is given.
    type: path
  password:
    description:
      - The password of I(path) (the 4 digits chosen at download). Keep it in Ansible Vault.
      - Required with I(path).
    type: str
  remove_stale:
    description:
      - With I(state=present), remove stale certificates once the new one is verified.
    type: bool
    default: true
  backup_stale:
    description:
      - Back up every certificate with an exportable key before removing it.
      - Certificates whose key cannot be exported are removed with a warning when stale.
    type: bool
    default: true
  backup_dir:
    description:
      - Folder on the controller for backups, as C(<backup_dir>/<facility_code>/<host>_<thumbprint>.pfx)
        with a JSON sidecar. Required when something with an exportable key will be removed.
    type: path
  backup_password:
    description:
      - Password protecting the backups. Keep it in Ansible Vault.
    type: str
  ca_store:
    description:
      - Where the root CA from the C(.p12) goes. C(LocalMachine\Root) has no security prompt but needs
        an administrator (the connecting user is used when the operating user is not one).
      - C(CurrentUser\Root) raises a security prompt that a remote session cannot answer, so it fails
        unless the CA is already there. C(none) adds no CA.
    type: str
    choices: ['LocalMachine\Root', 'CurrentUser\Root', none]
    default: 'LocalMachine\Root'
  thumbprints:
    description:
      - With I(state=absent), remove only these thumbprints.
    type: list
    elements: str
    default: []
  facility_code:
    description:
      - With I(state=absent), remove only certificates for this facility code.
    type: str
  expired_only:
    description:
      - With I(state=absent), remove only expired certificates.
    type: bool
    default: false
  stale_only:
    description:
      - With I(state=absent), remove only stale certificates (expired, superseded, other facility).
    type: bool
    default: false
  force:
    description:
      - With I(state=absent), allow removing the last usable certificate of an expected facility code.
    type: bool
    default: false
  backup_new:
    description:
      - With I(state=present), also back up the installed certificate, built from the C(.p12) on the
        controller (the same key; nothing is exported from the PC), unless a verified backup exists.
      - Provisioning then needs one execution when nothing changes and two when something does.
    type: bool
    default: false
  restore_from:
    description:
      - With I(state=present), install the newest verified backup of this old PC (its inventory name)
        or of this facility code from I(backup_dir), opened with I(backup_password), instead of I(path).
      - An expired newest backup is refused; the fix is to apply for a new certificate.
    type: str
extends_documentation_fragment:
  - onshi_cert
attributes:
  check_mode:
    support: full
    description: Reads the PC (one execution) and reports the plan, the C(--diff) and C(changed); changes nothing.
  diff_mode:
    support: full
    description: Shows C(CurrentUser\My) before and after, one line per certificate.
notes:
  - Executions per host - nothing to do 1; a change 2; plus 1 when the root CA must be added to
    C(LocalMachine\Root) by the connecting administrator because the operating user is not one.
  - Order is import, verify, back up, and only then remove. If the run is interrupted at any point,
    re-running converges.
author:
  - onshi-cert developers (@onshi-cert)
"""

EXAMPLES = r"""
- name: Install the downloaded certificate of this PC
  onshi_cert:
    path: "certs/{{ inventory_hostname }}.p12"
    password: "{{ onshi_cert_p12_passwords[inventory_hostname] }}"
    facility_codes: "{{ onshi_cert_facility_codes }}"
    backup_dir: backups
    backup_password: "{{ onshi_cert_backup_password }}"
  become: true
  become_method: runas
  become_user: "{{ onshi_cert_operator_user }}"

- name: Remove only stale certificates
  onshi_cert:
    state: absent
    stale_only: true
    facility_codes: "{{ onshi_cert_facility_codes }}"
    backup_dir: backups
    backup_password: "{{ onshi_cert_backup_password }}"
  become: true
"""

RETURN = r"""
thumbprint:
  description: Thumbprint of the installed certificate.
  returned: state=present
  type: str
  sample: 1834C457FAC1E5B35DC43BAF692C18D0B48B652C
facility_code:
  description: Facility code of the installed certificate.
  returned: state=present
  type: str
  sample: "0441234564"
not_after:
  description: Expiry of the installed certificate (UTC).
  returned: state=present
  type: str
  sample: "2030-01-25T20:59:12+00:00"
imported:
  description: Whether the certificate was (or in check mode would be) imported.
  returned: state=present
  type: bool
  sample: true
removed:
  description: Certificates removed (or to be removed in check mode), with the reason.
  returned: always
  type: list
  elements: dict
  sample: [{"thumbprint": "4142C9F726C020637518240B66212116B286726D", "reason": "superseded by 1834C457FAC1E5B35DC43BAF692C18D0B48B652C"}]
kept:
  description: Selected certificates that were kept, with the reason (the last usable one of a code).
  returned: always
  type: list
  elements: dict
  sample: []
ca_added:
  description: CA certificates added, with their store.
  returned: always
  type: list
  elements: dict
  sample: [{"store": "LocalMachine\\Root", "subject": "CN=Online Billing NW Common Root CA,C=JP"}]
backups:
  description: Backups written (C(new=true)) or found verified before a removal.
  returned: always
  type: list
  elements: dict
  sample: [{"path": "backups/1310512346/tokyo-pc02_4142C9F7.pfx", "thumbprint": "4142C9F726C020637518240B66212116B286726D", "new": true}]
certificates:
  description: C(CurrentUser\My) after the change, one line per certificate.
  returned: always
  type: list
  elements: str
  sample: ["1834C457FAC1E5B35DC43BAF692C18D0B48B652C 0441234564 until 2030-01-25 key=yes issuer=Online Billing NW Common Root CA"]
warnings:
  description: Things the engineer should know (legacy check digit, a stale certificate that could not be backed up).
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
