# onshi_cert_workdocs: documentation of the action plugin of the same name (it runs on the controller).
from __future__ import annotations

DOCUMENTATION = r"""
module: onshi_cert_workdocs
short_description: Record each PC's result and write each clinic's work plan (作業計画書) or work report (作業報告書)
description:
  - After a real run, first adds what each PC's C(onshi.cert.onshi_cert) task returned (or that it did not run) to
    the fleet record (the store, C(docs/store.md)), with the run, the AWX job, the play, the engineer and the time.
  - Groups the PCs of the play by clinic (C(onshi_cert_facility_name), else their facility codes) and writes, per
    clinic, a printable A4 HTML document in Japanese and English from what each PC's C(onshi.cert.onshi_cert) task
    returned.
  - In check mode (or with I(kind=plan)) a work plan - the job in words, what will be installed, removed and why,
    trusted, backed up; expected downtime none; the remarks and the sign boxes, as in the report. After a real run
    (I(kind=report)) a work report - what was done per PC, the certificates before and after with their expiry,
    the backups and where they are (and the copy on the PC), what failed with its error code and fix, the remarks
    and sign boxes for the engineer and the clinic.
  - A work report is drawn from every record of the clinic for the day (or the last O(days) days) - other runs,
    other PCs, other engineers - so a second run the same day adds its PCs (a re-run, 確認のみ・変更なし) and never
    erases an earlier change. A document whose content changed is written as the next revision
    (C(<name>.r2.ja.html), ...) beside the earlier ones; one whose content is the same is not written again.
  - Times are in I(timezone) (Japan by default). Certificate and inventory text is escaped.
version_added: 0.1.0
extends_documentation_fragment:
  - onshi.cert.onshi_cert.store
  - onshi.cert.onshi_cert.vendor
options:
  hosts:
    description: The play's hosts (C(ansible_play_hosts_all)).
    type: list
    elements: str
    required: true
  results:
    description:
      - Host name to the registered result of its C(onshi.cert.onshi_cert) task (empty when it did not run).
      - One of O(results) and O(result_var) is required.
    type: dict
  result_var:
    description:
      - The name of the variable each PC registered its C(onshi.cert.onshi_cert) result in; O(results) is then read
        from each host's variables. This and the four options below, when not given, are read once per host, which
        is much cheaper on a large fleet than building the dictionaries with C(map('extract', hostvars, ...)).
    type: str
  sites:
    description:
      - Host name to its inventory groups (the fallback site is the first group that is not fleet-wide).
      - When not given, each PC's C(group_names).
    type: dict
  site_names:
    description:
      - Host name to C(onshi_cert_site).
      - When not given, each PC's C(onshi_cert_site) variable.
    type: dict
  facility_names:
    description:
      - Host name to C(onshi_cert_facility_name) (医療機関名), which groups the PCs of one clinic.
      - When not given, each PC's C(onshi_cert_facility_name) variable.
    type: dict
  facility_codes:
    description:
      - Host name to its facility codes.
      - When not given, each PC's C(onshi_cert_facility_codes) variable.
    type: dict
  remarks:
    description:
      - Host name to its 特記事項 (remarks), free text the engineer writes for the clinic (a list is one line per
        item); the texts of a clinic's PCs are shown once each in the document's 特記事項 box. Kept in the fleet
        record with the PC's result, so a later report of the day still shows them. Escaped, never run as a
        template twice.
      - When not given, each PC's C(onshi_cert_remarks) variable (inventory, or C(-e) for every PC of the run).
    type: dict
  dest:
    description:
      - The folder for the documents; C({date}) becomes today's date in I(timezone).
      - Empty - no document; the fleet record is still written.
    type: path
    default: ""
  job:
    description: The job the documents are of; its 作業内容 is said in words (C(provision) - 電子証明書の設定, ...).
    type: str
    choices: [provision, renew, cleanup, replace_pc, backup, other]
    default: other
  days:
    description: The period of a work report - the last N days in I(timezone), today included.
    type: int
    default: 1
  kind:
    description: C(plan), C(report), or C(auto) - a plan in check mode, a report otherwise.
    type: str
    choices: [auto, plan, report]
    default: auto
  langs:
    description: The languages written, the first also as PDF when I(pdf) is set.
    type: list
    elements: str
    choices: [ja, en]
    default: [ja, en]
  pdf:
    description: Also print each document to A4 PDF with a headless Chromium or Chrome found on the controller's PATH
      (skipped when none is installed).
    type: bool
    default: false
  timezone:
    description: The IANA time zone of the documents' dates.
    type: str
    default: Asia/Tokyo
  pc_copy_dir:
    description: The folder on the PC that holds the second copy of each backup (listed in the report).
    type: str
    default: ""
attributes:
  check_mode:
    support: full
    description:
      - The documents are output on the controller; in check mode the work plan is written and nothing is added to
        the fleet record.
  diff_mode:
    support: none
    description: Nothing on the PCs changes; there is no diff.
requirements:
  - "On the controller: the Python packages of the collection's requirements.txt."
seealso:
  - module: onshi.cert.onshi_cert
  - module: onshi.cert.onshi_cert_report
author:
  - onshi-cert developers (@onshi-cert)
"""

EXAMPLES = r"""
- name: Provision, keeping what each PC's task returned
  onshi.cert.onshi_cert:
    p12_dir: certs
    passwords: "{{ onshi_cert_p12_passwords }}"
  register: provisioned

- name: Write each clinic's work plan (--check) or work report
  onshi.cert.onshi_cert_workdocs:
    hosts: "{{ ansible_play_hosts_all }}"
    result_var: provisioned
    data_dir: /srv/onshi-cert-data
    dest: /srv/onshi-cert-data/work/{date}
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
error_fields:
  description: On failure, the values its message was filled with (only those it names), to say it in either language.
  returned: failure, when the message has fields
  type: dict
  sample: {"folder": "onshi-cert-data/work/20261130", "reason": "Permission denied"}
kind:
  description: The documents written - C(plan) or C(report).
  returned: success
  type: str
  sample: plan
files:
  description:
    - The files written, C(<facility code>_<kind>.<lang>.html) (and C(.pdf)); a later revision of the day
      C(<facility code>_<kind>.r2.<lang>.html). Empty when every document is already written as it is.
  returned: success
  type: list
  elements: str
  sample: ["work/20261130/0110113719_plan.ja.html", "work/20261130/0110113719_plan.en.html"]
msg:
  description: How many documents for how many clinics, and where, in the reader's language.
  returned: success
  type: str
  sample: "4 document(s) for 2 facility(ies) in work/20261130"
store:
  description: The fleet record written and read (its address without a password, or the SQLite file).
  returned: success
  type: str
  sample: /srv/onshi-cert-data/onshi-cert.db
error_code:
  description: On failure, the error's stable code (see C(docs/errors.md)); C(msg) shows it in brackets after the host.
  returned: failure
  type: str
  sample: ONSHI-E100
fix:
  description: On failure, what to do about it, in the reader's language.
  returned: failure
  type: str
  sample: choose a writable onshi_cert_audit_report_dir
"""
