"""One PC's certificate health, computed from what the agent read: the shape the audit report uses."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from onshi_cert.core import backup as backups
from onshi_cert.core.certinfo import is_issued_by, utcnow
from onshi_cert.core.hoststate import HostFacts, InstalledCert, describe_installed
from onshi_cert.core.policy import Expectations, Stage, Verdict, assess, plan_store

# Problem codes, most urgent first; the report and the recap use these.
PROBLEMS = (
    "unreachable",
    "expired",
    "missing",
    "wrong_facility",
    "wrong_issuer",
    "no_key",
    "expiring",
    "duplicate",
    "no_backup",
    "backup_outdated",
    "not_exportable",
    "face_auth_old",
    "ca_not_trusted",
    "stale",
)


def _problem(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"code": code, "message": message, **extra}


def host_report(
    facts: HostFacts,
    installed: list[InstalledCert],
    roots: list[InstalledCert],
    expect: Expectations,
    *,
    face_auth_path: str,
    face_auth_minimum: str = "2.1.0",
    backup_dir: Path | None = None,
    host: str | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Return the PC's certificates with verdicts, the keep/stale plan, and its problems."""
    now = now or utcnow()
    rows = describe_installed(installed, expect, now)
    plan = plan_store([i.info for i in installed], expect, now)
    face = facts.face_auth(face_auth_path, face_auth_minimum)
    ours = [i for i in installed if i.info.issuer_cn == expect.issuer_cn]
    trusted_roots = [r for r in roots if r.info.self_signed and r.info.subject_cn == expect.issuer_cn]
    ca_trusted = bool(trusted_roots) and all(any(is_issued_by(i.cert, r.cert) for r in trusted_roots) for i in ours)
    problems: list[dict[str, Any]] = []
    for code in plan.missing:
        expired = [i for i in ours if code in i.info.facility_codes and now >= i.info.not_after]
        if expired:
            problems.append(_problem("expired", f"the certificate for {code} has expired", facility_code=code))
        else:
            problems.append(_problem("missing", f"no usable certificate for {code}", facility_code=code))
    for row, item in zip(rows, installed, strict=True):
        assessment = assess(item.info, expect, now)
        if item.info.issuer_cn != expect.issuer_cn:
            if set(item.info.facility_codes) & set(expect.facility_codes):
                problems.append(
                    _problem(
                        "wrong_issuer",
                        f"{item.thumbprint} claims {row['facility_code']} but is issued by {item.info.issuer_cn!r}",
                        thumbprint=item.thumbprint,
                    )
                )
            continue
        if Verdict.WRONG_FACILITY in assessment.findings and assessment.stage != Stage.EXPIRED:
            problems.append(
                _problem(
                    "wrong_facility",
                    f"{item.thumbprint} belongs to another facility "
                    f"({', '.join(item.info.facility_codes) or 'no code'})",
                    thumbprint=item.thumbprint,
                )
            )
    for code, thumb in plan.keep.items():
        kept = next(i for i in installed if i.thumbprint == thumb)
        stage = assess(kept.info, expect, now).stage
        if stage not in (Stage.OK, Stage.EXPIRED, Stage.NOT_YET_VALID):
            problems.append(
                _problem(
                    "expiring",
                    f"the certificate for {code} expires in {kept.info.days_remaining(now)} days",
                    facility_code=code,
                    stage=stage.value,
                    days=kept.info.days_remaining(now),
                )
            )
        if kept.info.key_exportable is False:
            problems.append(
                _problem(
                    "not_exportable", f"the key of {thumb} is not exportable: no backup possible", thumbprint=thumb
                )
            )
        elif backup_dir is not None:
            found = backups.find(backup_dir, thumb)
            if found is None:
                older = backups.latest_for(backup_dir, host=host, facility_code=code)
                if older:
                    problems.append(
                        _problem(
                            "backup_outdated",
                            f"the newest backup for {code} is of an older certificate",
                            facility_code=code,
                        )
                    )
                else:
                    problems.append(_problem("no_backup", f"no backup of {thumb}", thumbprint=thumb))
    for code in plan.missing:
        no_key = [i for i in ours if code in i.info.facility_codes and i.info.has_key is False]
        if no_key:
            problems.append(_problem("no_key", f"a certificate for {code} has no private key", facility_code=code))
    if ours and not ca_trusted:
        problems.append(_problem("ca_not_trusted", f"{expect.issuer_cn} is not in the trusted root stores"))
    if not face["ok"]:
        problems.append(
            _problem(
                "face_auth_old",
                f"face-authentication library {face['version'] or 'not found'} "
                f"is below {face_auth_minimum}: renewing with the MPKI tool needs it",
                version=face["version"],
                minimum=face_auth_minimum,
            )
        )
    if plan.stale:
        problems.append(
            _problem(
                "stale",
                f"{len(plan.stale)} stale certificate(s) to remove",
                thumbprints=sorted(plan.stale),
                count=len(plan.stale),
            )
        )
    problems.sort(key=lambda p: PROBLEMS.index(p["code"]))
    urgent = [p["code"] for p in problems if p["code"] not in ("stale", "face_auth_old")]
    return {
        "host": facts.to_dict(),
        "certificates": rows,
        "plan": {"keep": plan.keep, "stale": plan.stale, "missing": plan.missing, "foreign": plan.foreign},
        "ca_trusted": ca_trusted,
        "face_auth": face,
        "problems": problems,
        "status": urgent[0] if urgent else "ok",
        "checked_at": now.isoformat(),
    }
