# onshi_cert_preflight: documentation of the action plugin of the same name (it runs on the controller).
from __future__ import annotations

DOCUMENTATION = r"""
module: onshi_cert_preflight
short_description: Check an Online Eligibility Confirmation PC before any certificate work
description:
  - Checks, in order, and stops at the first check the next ones depend on - the PC's name resolves (DNS), its
    WinRM port answers, its HTTPS certificate is trusted (HTTPS with validation), WinRM accepts the inventory's
    user, that user is an administrator over the network (a local administrator filtered by UAC remote
    restrictions is told apart, with the C(LocalAccountTokenFilterPolicy) fix), C(become) to the operating user
    works with DPAPI and a real (not temporary) profile, the PC's clock is within I(max_clock_skew) of the
    controller's, the system drive has I(min_free_mb) free, Windows is recent enough, and the face-authentication
    library allows renewal.
  - Every failed check has its error code (C(ONSHI-E130) and on), the reason and the exact fix, in Japanese or
    English (C(onshi_cert_lang)). Changes nothing on the PC; the task fails when a check fails.
version_added: 0.1.0
options:
  face_auth_path:
    description: The face-authentication library's version file on the PC.
    type: str
    default: C:\Program Files\OQS-Auth\Version.info
  face_auth_minimum:
    description: The lowest face-authentication library version that allows renewal.
    type: str
    default: 2.1.0
  max_clock_skew:
    description: The largest difference, in seconds, between the PC's clock and the controller's.
    type: int
    default: 300
  min_free_mb:
    description: The free space, in MB, the PC's system drive must have.
    type: int
    default: 200
attributes:
  check_mode:
    support: full
    description: Reads only; the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes, there is no diff.
notes:
  - Runs the onshi-cert agent twice at most - as the connecting user (its rights), then as the C(become) user.
requirements:
  - "On the controller: the Python packages of the collection's requirements.txt."
  - "On the PC: Windows PowerShell 5.1, reached with the winrm or psrp connection."
seealso:
  - module: onshi.cert.onshi_cert_info
author:
  - onshi-cert developers (@onshi-cert)
"""

EXAMPLES = r"""
- name: Check every PC before the job (playbooks/preflight.yml does this)
  onshi.cert.onshi_cert_preflight:

- name: Allow a larger clock difference on PCs without time synchronisation
  onshi.cert.onshi_cert_preflight:
    max_clock_skew: 600
"""

RETURN = r"""
checks:
  description: Each check that ran, in order - its name (C(dns), C(port), C(tls), C(winrm_login), C(admin),
    C(become), C(dpapi), C(profile), C(clock), C(disk), C(windows), C(face_auth), C(transport)), whether it passed,
    what it found, and for a failure its C(error_code), C(message) and C(fix).
  returned: always
  type: list
  elements: dict
  sample: [{"check": "dns", "ok": true, "detail": "192.0.2.11"},
           {"check": "admin", "ok": false, "error_code": "ONSHI-E134", "message": "...", "fix": "..."}]
msg:
  description: Every failed check (code, reason, fix), or that every check passed.
  returned: always
  type: str
  sample: "pc01: every pre-flight check passed"
"""
