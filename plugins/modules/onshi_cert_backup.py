# Documentation of the onshi_cert_backup action plugin (plugins/action/onshi_cert_backup.py).
from __future__ import annotations

DOCUMENTATION = r"""
module: onshi_cert_backup
short_description: Keep verified PFX backups of an Online Eligibility Confirmation PC's certificates
description:
  - Exports the certificate kept for each facility code with its private key, in the same execution
    that reads the store, and brings the bytes to the controller in memory.
  - Re-opens them on the controller, adds the full chain, re-encrypts them with I(backup_password)
    (AES-256 where the PC's Windows build can import it, else 3DES so the backup restores there),
    re-opens the result (password works, key matches, chain complete, thumbprint equals the source)
    and writes it atomically as C(<backup_dir>/<facility_code>/<host>_<thumbprint>.pfx) (mode 0600)
    with a JSON sidecar (sha256, algorithm, not_after, source host).
  - No new export when a verified backup of that thumbprint already exists.
  - A backup restores a replaced PC for free; an expired backup is useless, so renewals are backed up again.
version_added: "0.1.0"
options:
  backup_dir:
    description:
      - Folder on the controller that holds the backups.
    type: path
    required: true
  backup_password:
    description:
      - Password protecting the backups. Keep it in Ansible Vault.
    type: str
    required: true
  pc_copy_dir:
    description:
      - Also write each new backup into this folder on the PC (for example a USB drive, C(E:\onshi-cert)).
      - The folder must exist; the controller copy is written first either way.
    type: str
  keep:
    description:
      - After the backup, keep the newest I(keep) backups of this PC per facility code and remove older ones
        (C(0) keeps every backup).
      - A backup beyond them is removed only when a verified backup of the same certificate, or of a newer valid
        certificate of the same code, stays; the only verified backup of a valid certificate is never removed.
        A backup that does not open with I(backup_password) is never removed.
    type: int
    default: 0
  prune_expired:
    description:
      - Also remove this PC's expired backups (an expired certificate cannot be restored, only re-issued).
    type: bool
    default: false
extends_documentation_fragment:
  - onshi.cert.onshi_cert
attributes:
  check_mode:
    support: full
    description: Reads the PC and reports which backups would be written; exports and writes nothing.
notes:
  - Executions per host - 1; plus 1 when I(pc_copy_dir) is set and a new backup was written.
  - A key that is not exportable (renewed in place with the MPKI client tool) cannot be backed up; the task does
    not fail, it reports C(not_exportable) in RV(attention) with the fix. An export that fails for another
    reason fails the task after the other facility codes were backed up.
seealso:
  - module: onshi.cert.onshi_cert
  - module: onshi.cert.onshi_cert_info
author:
  - onshi-cert developers (@onshi-cert)
"""

EXAMPLES = r"""
- name: Back up each facility code's certificate
  onshi.cert.onshi_cert_backup:
    facility_codes: "{{ onshi_cert_facility_codes }}"
    backup_dir: backups
    backup_password: "{{ onshi_cert_backup_password }}"
  become: true
  become_method: runas
  become_user: "{{ onshi_cert_operator_user }}"
"""

RETURN = r"""
error_fields:
  description: On failure, the values its message was filled with (only those it names), to say it in either language.
  returned: failure, when the message has fields
  type: dict
  sample: {"path": "D:/onshi-cert-data/backups/0110113719", "reason": "No space left on device"}
pruned:
  description: The backups removed by I(keep) or I(prune_expired) (in check mode, those that would be), each with
    its reason.
  returned: when keep or prune_expired is set
  type: list
  elements: dict
  sample: [{"path": "backups/0110113719/pc01_7347DB..._1a2b3c4d.pfx", "thumbprint": "7347DBD1D58904054EB47A9246BBD2E11CC0463F",
            "reason": "an older copy: pc01_7347DB..._9f8e7d6c.pfx keeps this certificate"}]
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
backups:
  description: One entry per facility code's kept certificate; C(new) tells a backup written now from one found verified.
  returned: always
  type: list
  elements: dict
  sample: [{"facility_code": "0110113719", "thumbprint": "7347DBD1D58904054EB47A9246BBD2E11CC0463F",
            "path": "backups/0110113719/pc01_7347DBD1D58904054EB47A9246BBD2E11CC0463F.pfx",
            "not_after": "2029-10-24T00:00:00+00:00", "encryption": "aes256", "new": true}]
warnings:
  description: Facility codes without a usable certificate (nothing to back up), and kept certificates whose key is
    not exportable.
  returned: always
  type: list
  elements: str
  sample: []
attention:
  description: What needs a person on this PC, each with a stable C(code) (for example C(not_exportable),
    C(no_backup), C(expiring)), the message and the C(fix).
  returned: always
  type: list
  elements: dict
  sample: [{"code": "not_exportable", "facility_code": "2310322223", "thumbprint": "7347DBD1D58904054EB47A9246BBD2E11CC0463F",
            "message": "the key of 7347DB... (2310322223) is not exportable: no backup is possible",
            "fix": "keep the downloaded .p12 safe as the backup, or re-import it with an exportable key"}]
attention_needed:
  description: Whether the PC needs a person (any C(attention) entry).
  returned: always
  type: bool
  sample: false
host:
  description: Host facts read by the agent.
  returned: always
  type: dict
  sample: {"os_build": 19045, "user": "PC01\\OQSComApp"}
executions:
  description: Agent executions used on the PC.
  returned: always
  type: int
  sample: 1
"""
