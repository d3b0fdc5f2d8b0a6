# Documentation of the onshi_cert_report action plugin (plugins/action/onshi_cert_report.py).
from __future__ import annotations

DOCUMENTATION = r"""
module: onshi_cert_report
short_description: Write the fleet certificate audit report on the controller
description:
  - Adds what this play saw (each PC's C(onshi_cert) fact, or that it did not answer) to the fleet record (the
    store, see C(docs/store.md)), then draws the report of the whole fleet from the record - every PC of O(fleet)
    with its latest observation and its age, PCs never seen (C(unseen), 未確認) or not seen within O(stale_days)
    (C(outdated), 要確認), PCs of the record that left the inventory (C(departed)) and what changed on each PC
    since its previous observation (C(changes)). A C(--limit) run or an AWX slice adds its own PCs and still writes
    the whole fleet.
  - Writes, into I(dest), C(report.html) (Japanese), C(report.en.html) (English), C(renewals.csv)
    (UTF-8 with BOM for Excel), C(report.json), C(report.md) and C(onshi_cert.prom) (Prometheus textfile
    with the C(x509_cert_not_after) and C(x509_cert_expired) metrics).
  - Also writes, into C(notices/), a renewal notice (更新のご案内) per clinic of the renewal worklist - what to apply
    for, by when, and the cost - as printable A4 HTML in Japanese and English.
  - Every file is created readable by the controller user only (0600, in a 0700 folder).
  - PCs of the play without facts are recorded and reported as unreachable; their last answer's certificates stay
    in the report and in the Prometheus series (with C(onshi_cert_last_observed_timestamp_seconds)).
  - Runs on the controller only; use it with C(delegate_to=localhost) and C(run_once=true).
version_added: "0.1.0"
extends_documentation_fragment:
  - onshi.cert.onshi_cert.store
  - onshi.cert.onshi_cert.vendor
options:
  hosts:
    description: Every PC of the audit, reachable or not (usually C(ansible_play_hosts_all)).
    type: list
    elements: str
    required: true
  facts:
    description:
      - The C(onshi_cert) fact of each PC, keyed by host name; missing or empty means unreachable.
      - When not given, each PC's C(onshi_cert) variable (the fact M(onshi.cert.onshi_cert_info) set). This and the
        four options below are then read from each host's variables once per host, which is much cheaper on a large
        fleet than building the dictionaries with C(map('extract', hostvars, ...)).
    type: dict
  sites:
    description:
      - Each PC's groups (C(group_names)); the first group other than C(all), C(ungrouped) and C(oqs_pcs) is its site.
      - When not given, each PC's C(group_names).
    type: dict
  site_names:
    description:
      - Each PC's site (拠点) from the inventory (C(onshi_cert_site)), keyed by host name; where empty, the site is
        the first group of O(sites) instead.
      - When not given, each PC's C(onshi_cert_site) variable.
    type: dict
  facility_names:
    description:
      - Each PC's facility name (医療機関名, C(onshi_cert_facility_name)), keyed by host name.
      - When not given, each PC's C(onshi_cert_facility_name) variable.
    type: dict
  facility_codes:
    description:
      - Each PC's expected facility codes, keyed by host name.
      - When not given, each PC's C(onshi_cert_facility_codes) variable.
    type: dict
  dest:
    description:
      - Folder on the controller for the report files (created when missing).
      - C({date}) in it becomes today's date in O(timezone) (C(20261130)), so a controller running in UTC still
        names the folder by the Japanese date.
    type: path
    required: true
  fleet:
    description:
      - Every PC of the fleet (usually the inventory group C(oqs_pcs), whatever C(--limit) says); each appears in the
        report. The PCs of O(hosts) are added when missing.
      - Unset, the fleet is O(hosts) and the record's other PCs are listed as C(departed).
    type: list
    elements: str
  stale_days:
    description: A PC whose latest observation is older than this many days is reported C(outdated) (要確認).
    type: int
    default: 14
  timezone:
    description:
      - The IANA time zone the report's times and dates are shown in (Japan Standard Time by default); the data
        in C(report.json) stays in UTC.
    type: str
    default: Asia/Tokyo
  csv_encoding:
    description:
      - The encoding of C(renewals.csv) - C(utf-8) with a BOM (Excel 2016 and later), or C(cp932) (Shift_JIS, for
        older Excel and tools that read only that). C(renewals.xlsx) is written either way.
    type: str
    choices: [utf-8, cp932]
    default: utf-8
  notify:
    description:
      - Expiry alerts after the report is written - by mail (SMTP with STARTTLS) and/or webhooks (Microsoft Teams,
        Slack, generic JSON) - for each certificate reaching a threshold of the MPKI client tool (90, 60, 30, 15
        days, every day of the last week, expired), once per threshold. What was sent is kept in
        C(notify-state.json) in the parent folder of I(dest).
      - Keys - C(lang) (C(ja) or C(en), default C(ja)); C(proxy) (every connection's HTTP proxy, else
        C(HTTPS_PROXY)/C(HTTP_PROXY) and C(NO_PROXY)); C(report_url) (the Teams card's link to the report);
        C(smtp) with C(host), C(port) (587), C(starttls) (true),
        C(ssl) (SMTPS), C(user), C(password) (from vault) or C(password_env)/C(password_file), C(from), C(to)
        (a list), C(cafile); C(webhooks), a list of C(kind) (C(teams) - a Workflows webhook, sent an Adaptive
        Card; C(slack); C(json)) with C(url) or C(url_env).
      - In check mode nothing is sent; the result's C(alerts) says what would be.
    type: dict
attributes:
  check_mode:
    support: full
    description:
      - The report is an output on the controller, not managed state; it is written in check mode too and never
        reports a change. In check mode nothing is added to the fleet record; the play's answers stand in for it.
requirements:
  - "On the controller: the Python package cryptography >= 42 (the collection's requirements.txt)."
seealso:
  - module: onshi.cert.onshi_cert_info
author:
  - onshi-cert developers (@onshi-cert)
"""

EXAMPLES = r"""
- name: Record this play's PCs and write the whole fleet's report from the fleet record
  onshi.cert.onshi_cert_report:
    hosts: "{{ ansible_play_hosts_all }}"
    fleet: "{{ groups['oqs_pcs'] }}"
    data_dir: /srv/onshi-cert-data
    dest: /srv/onshi-cert-data/reports/{date}
  delegate_to: localhost
  run_once: true

- name: The same with the fleet record on PostgreSQL (AWX, several controllers)
  onshi.cert.onshi_cert_report:
    hosts: "{{ ansible_play_hosts_all }}"
    fleet: "{{ groups['oqs_pcs'] }}"
    store: postgresql://onshi@db.example.jp:5432/onshi_cert
    store_password: "{{ vault_onshi_cert_store_password }}"
    dest: /srv/onshi-cert-data/reports/{date}
  delegate_to: localhost
  run_once: true

- name: Write a report from facts gathered some other way (a saved JSON file)
  onshi.cert.onshi_cert_report:
    hosts: "{{ saved_facts.keys() | list }}"
    facts: "{{ saved_facts }}"
    data_dir: reports/from-file
    sites: {}
    site_names: {}
    facility_names: {}
    facility_codes: {}
    dest: reports/from-file
  delegate_to: localhost
  run_once: true
  vars:
    saved_facts: "{{ lookup('ansible.builtin.file', 'facts.json') | from_json }}"
"""

RETURN = r"""
error_fields:
  description: On failure, the values its message was filled with (only those it names), to say it in either language.
  returned: failure, when the message has fields
  type: dict
  sample: {"folder": "onshi-cert-data/audit/20261130", "reason": "Permission denied"}
alerts:
  description: The expiry alerts sent (or, in check mode, due) by I(notify), one per certificate and threshold.
  returned: when notify is set
  type: list
  elements: dict
  sample: [{"host": "pc-0002", "site": "札幌北", "facility_code": "0110113719", "stage": "30", "days": 28,
            "not_after": "2026-12-28T00:00:00+00:00", "thumbprint": "7347DBD1D58904054EB47A9246BBD2E11CC0463F"}]
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
msg:
  description: Where the report is and how many PCs need a person, in the reader's language (C(onshi_cert_lang)).
  returned: always
  type: str
  sample: "レポート: reports/20261130/report.html（要対応の端末 2 台）"
attention_hosts:
  description: The PCs whose status is not ok (they need a person), sorted.
  returned: always
  type: list
  elements: str
  sample: ["pc-0002", "pc-0007"]
files:
  description: The files written.
  returned: always
  type: list
  elements: str
  sample: ["reports/today/report.html", "reports/today/renewals.csv"]
report:
  description: The Japanese HTML report.
  returned: always
  type: str
  sample: reports/today/report.html
store:
  description: The fleet record written and read (its address without a password, or the SQLite file).
  returned: always
  type: str
  sample: /srv/onshi-cert-data/onshi-cert.db
summary:
  description:
    - Counts of the whole fleet's PCs, stages and problems; C(unseen) never observed, C(outdated) not observed
      within O(stale_days).
  returned: always
  type: dict
  sample: {"hosts": 13, "reachable": 12, "unreachable": 1, "unseen": 0, "outdated": 0, "needs_attention": 10,
           "stages": {"ok": 5, "90": 1, "60": 1, "30": 1, "15": 0, "7": 0, "expired": 1}, "problems": {"expired": 1}}
"""
