# Documentation of the onshi_cert_store action plugin (plugins/action/onshi_cert_store.py).
from __future__ import annotations

DOCUMENTATION = r"""
module: onshi_cert_store
short_description: Open the fleet record before a job touches any PC
description:
  - Opens the fleet record (the store, C(docs/store.md)) - the SQLite file C(onshi-cert.db) in O(data_dir), or the
    PostgreSQL database of O(store) - and brings its schema up to date (versioned migrations, one run at a time).
  - Every job of the collection runs it first, once, on the controller, so that a store that cannot be reached
    (ONSHI-E150), wrong credentials (ONSHI-E151), a schema newer than this code (ONSHI-E152), a full disk (ONSHI-E153),
    a store locked by another run (ONSHI-E154) or a bad address (ONSHI-E155) stops the job before any PC is changed.
  - A data folder inside an AWX or ansible-runner job folder is refused (ONSHI-E156).
  - With a PostgreSQL record, which also keeps every backup (PFX and manifest), the backups O(backup_dir) lacks are
    written into it first, so a job on another execution node (an AWX slice) restores and checks them by the same
    rules as any backup.
  - Runs on the controller only; use it with C(delegate_to=localhost) and C(run_once=true).
version_added: "0.1.0"
extends_documentation_fragment:
  - onshi.cert.onshi_cert.store
options:
  backup_dir:
    description:
      - The backup folder of this controller or execution node; with a PostgreSQL record, the backups it lacks are
        written into it (0600 files in 0700 folders). Ignored with the SQLite record.
    type: path
attributes:
  check_mode:
    support: full
    description: Opening and migrating the record is the same in check mode; no PC is read or changed.
  diff_mode:
    support: none
    description: Nothing on the PCs changes; there is no diff.
seealso:
  - module: onshi.cert.onshi_cert_report
  - module: onshi.cert.onshi_cert_workdocs
author:
  - onshi-cert developers (@onshi-cert)
"""

EXAMPLES = r"""
- name: Open the fleet record on PostgreSQL before any PC is touched
  onshi.cert.onshi_cert_store:
    store: postgresql://onshi@db.example.jp:5432/onshi_cert
    store_password: "{{ vault_onshi_cert_store_password }}"
  delegate_to: localhost
  run_once: true

- name: Open the SQLite record of the data folder
  onshi.cert.onshi_cert_store:
    data_dir: /srv/onshi-cert-data
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
error_fields:
  description: On failure, the values its message was filled with (only those it names), to say it in either language.
  returned: failure, when the message has fields
  type: dict
  sample: {"store": "postgresql://onshi@db.example.jp:5432/onshi"}
store:
  description: The fleet record (its address without a password, or the SQLite file).
  returned: success
  type: str
  sample: /srv/onshi-cert-data/onshi-cert.db
backups_fetched:
  description: How many backup files (PFX and manifests) were written into O(backup_dir) from the record.
  returned: success
  type: int
  sample: 0
known:
  description:
    - Per PC of the play, the thumbprints of its certificates of ours in its latest answer. Each role registers
      this result as C(__<role>_store); the PC modules of that role read their PC's entry from it (their
      C(known) option), so that the agent opens those keys in its first read.
  returned: success
  type: dict
  sample: {"sapporo-naika-pc01": ["6F1C2D0E9A7B3C4D5E6F708192A3B4C5D6E7F809"]}
version:
  description: The record's schema version after migration.
  returned: success
  type: int
  sample: 2
msg:
  description: Where the record is and its schema version, in the reader's language.
  returned: success
  type: str
  sample: "端末記録 /srv/onshi-cert-data/onshi-cert.db: スキーマ版 1"
error_code:
  description: On failure, the error's stable code (see C(docs/errors.md)).
  returned: failure
  type: str
  sample: ONSHI-E150
fix:
  description: On failure, what to do about it, in the reader's language.
  returned: failure
  type: str
  sample: wait for the other run to end, then run again
"""
