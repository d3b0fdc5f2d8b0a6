"""The documents a vendor hands a clinic: 作業計画書 (plan), 作業報告書 (report), 更新のご案内 (renewal notice).

One document per clinic (its PCs grouped by ``onshi_cert_facility_name``, else by facility code), printable
A4 HTML in Japanese (and English), from what the ``onshi_cert`` task returned for each PC: a check-mode run
gives the plan (what will be installed, removed and why, trusted, backed up; expected downtime none), a real
run the report (before and after, backups and where they are, what failed and what to do, a sign-off box).
The renewal notice comes from the audit's worklist. Certificate and inventory text is escaped (autoescape).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath
from typing import Any

from ..core import messages
from ..core.paths import path_component, private_dir, write_private
from ..i18n import N_, tr
from ..i18n import say as _
from .render import environment, fmt_date, fmt_time, fmt_yen, problem_text, zone

KINDS = ("plan", "report", "notice")
TEXT = {
    "plan": N_("Work plan: client certificates of the Online Eligibility Confirmation PCs"),
    "report": N_("Work report: client certificates of the Online Eligibility Confirmation PCs"),
    "notice": N_("Certificate renewal notice"),
    "clinic": N_("Facility"),
    "codes": N_("Facility code"),
    "site": N_("Site"),
    "date": N_("Date"),
    "pc": N_("PC"),
    "status": N_("Status"),
    "downtime": N_("Expected downtime: none (the certificate in use stays until the new one is verified)"),
    "before": N_("Before"),
    "after": N_("After"),
    "thumbprint": N_("Thumbprint (SHA-1)"),
    "expires": N_("Expires"),
    "failed": N_("What failed and what to do"),
    "nothing": N_("Nothing to change"),
    "work": N_("Work"),
    "work_time": N_("Work time"),
    "work.provision": N_("Setting up the client certificates (new certificate, removing old ones, backup)"),
    "work.renew": N_("Renewing the client certificates (new certificate, removing expired ones, backup)"),
    "work.cleanup": N_("Removing old client certificates (after a backup)"),
    "work.replace_pc": N_("Restoring the client certificates onto the replacement PC from their backups"),
    "work.backup": N_("Backing up the client certificates"),
    "work.other": N_("Work on the client certificates"),
    "certificate": N_("Certificate"),
    "client_cert": N_("Client certificate for Online Eligibility Confirmation"),
    "will_install": N_("A new client certificate for {code} (valid until {date}) will be set up"),
    "did_install": N_("Set up a new client certificate for {code} (valid until {date})"),
    "did_restore": N_("Restored the client certificate for {code} (valid until {date}) from its backup"),
    "will_remove": N_("The old client certificate for {code} (valid until {date}) will be removed"),
    "did_remove": N_("Removed the old client certificate for {code} (valid until {date})"),
    "why.expired": N_("expired"),
    "why.superseded": N_("replaced by a newer certificate"),
    "why.retired": N_("of a facility code no longer used"),
    "why.selected": N_("no longer needed"),
    "did_trust": N_("Added the issuing certificate authority to the trusted certificate authorities"),
    "will_backup": N_("{count} backup(s) of the certificates will be made"),
    "did_backup": N_("Made {count} backup(s) of the certificates"),
    "check": N_("Check"),
    "check_ok": N_("confirmed usable (its private key was used and its certificate chain verified)"),
    "next_renewal": N_("Next renewal: expires on"),
    "remarks": N_("Remarks"),
    "attention": N_("What needs attention"),
    "todo": N_("What to do"),
    "appendix": N_("Appendix: technical identifiers"),
    "file": N_("File"),
    "status.attention": N_("needs attention"),
    "signoff": N_("Sign-off"),
    "engineer": N_("Engineer"),
    "clinic_sign": N_("Confirmed by the facility"),
    "pc_copy": N_("Copy on the PC (USB)"),
    "apply_for": N_("What to apply for"),
    "apply_by": N_("Apply by"),
    "deadline": N_("Expires"),
    "cost": N_("Cost"),
    "total": N_("Total"),
    "notice_intro": N_(
        "The client certificates of the Online Eligibility Confirmation PCs below must be renewed or re-issued. "
        "Please apply for each PC by the date shown; once the new certificate arrives, we set it up."
    ),
    "notice_how": N_("How to apply"),
    "notice_portal": N_(
        "Apply on the portal site for medical institutions (医療機関等向け総合ポータルサイト), under "
        "電子証明書発行申請: one application per PC (for the next PC, 「続けてもう1枚申請」)."
    ),
    "notice_fee": N_("The fee is 1,500 yen (tax included) per certificate."),
    "notice_mail": N_(
        "About a week later the certificate issuance notice (電子証明書発行通知書) arrives by registered mail "
        "(簡易書留). Please keep it and hand it to us: its IDs are needed to download the new certificate."
    ),
    "notice_status": N_("The state of an application can be looked up on the portal (電子証明書申請状況照会)."),
    "notice_lapse": N_(
        "If a certificate expires, eligibility checks and online claims stop until a new certificate is issued and "
        "set up (some days), and each re-issue costs 753 yen postage on top of the fee."
    ),
    "to": N_("To"),
    "vendor": N_("Contractor"),
    "contact": N_("Contact"),
    "status.changed": N_("done"),
    "status.planned": N_("planned"),
    "status.ok": N_("checked only, no change"),
    "at": N_("Time"),
    "by": N_("Engineer"),
    "revision": N_("Revision"),
    "status.failed": N_("failed"),
    "status.unreachable": N_("not reached"),
    "reason.renew": N_("renewal"),
    "reason.expired": N_("re-issue (expired)"),
    "reason.missing": N_("new certificate"),
    "yes": N_("yes"),
}


@dataclass
class PcEntry:
    """One PC of the run: where it is and what its onshi_cert task returned (None: the task did not run)."""

    host: str
    site: str = ""
    facility_name: str = ""
    facility_codes: list[str] = field(default_factory=list)
    result: dict[str, Any] | None = None
    at: str = ""  # when the fleet record got this result (UTC, ISO 8601); '' for a plan
    engineer: str = ""
    started: str = ""  # when the job that did it began (UTC, ISO 8601); '' when not known
    remarks: str = ""  # the engineer's 特記事項 for this PC (onshi_cert_remarks)
    job: str = ""  # the job of the record (provision, renew, ...); '' for this run's


def _status(result: dict[str, Any] | None) -> str:
    if not result:
        return "unreachable"
    if result.get("unreachable"):
        return "unreachable"
    if result.get("failed"):
        return "failed"
    if result.get("changed"):
        return "planned" if result.get("planned") else "changed"
    return "ok"


def _pc(entry: PcEntry) -> dict[str, Any]:
    """One PC of a document, in words: what was (or will be) done, before and after, what it needs, and the
    technical identifiers (thumbprints, file names without their folders) apart for the appendix."""
    result = entry.result or {}
    status = _status(entry.result)
    attention = [dict(a) for a in result.get("attention") or [] if isinstance(a, dict)]
    if status in ("changed", "ok", "planned") and (attention or result.get("attention_needed")):
        status = "attention"  # a PC that needs a person is never 変更不要 or 済み
    installed, removed = result.get("installed") or [], result.get("removed") or []
    backups, restored = [b for b in result.get("backups") or [] if b.get("new")], result.get("restored") or []
    after = result.get("after") or []
    technical = [
        {"thumbprint": str(i.get("thumbprint") or ""), "file": PureWindowsPath(str(i.get("from") or "")).name}
        for i in installed
    ]
    technical += [{"thumbprint": str(i.get("thumbprint") or ""), "file": ""} for i in removed]
    technical += [
        {"thumbprint": str(b.get("thumbprint") or ""), "file": Path(str(b.get("path") or "")).name} for b in backups
    ]
    technical += [
        {"thumbprint": str(r.get("thumbprint") or ""), "file": Path(str(r.get("file") or "")).name} for r in restored
    ]
    return {
        "host": entry.host,
        "at": entry.at,
        "engineer": entry.engineer,
        "status": status,
        "installed": installed,
        "removed": removed,
        "ca_added": result.get("ca_added") or [],
        "backups": backups,
        "restored": restored,
        "before": result.get("before") or [],
        "after": after,
        "attention": attention,
        "verified": status in ("changed", "attention") and bool(installed or restored) and bool(after),
        "next_deadline": min((str(a.get("not_after")) for a in after if a.get("not_after")), default=None),
        "technical": [t for t in technical if t["thumbprint"] or t["file"]],
        "error": _error(result, status) if status in ("failed", "unreachable") else None,
    }


def _error(result: dict[str, Any], status: str) -> dict[str, str]:
    """What failed, in the reader's words: a coded error's own message and fix, never exception text."""
    code = str(result.get("error_code") or "")
    if status == "unreachable" or not code:
        known = messages.UNREACHABLE if status == "unreachable" else messages.TASK_FAILED
        return {"code": known.code, "message": _(known.text, detail="").rstrip(": "), "fix": _(known.fix)}
    text = str(result.get("msg") or "")
    text = text.split(f"[{code}]", 1)[-1].strip()  # without the host and the code in front
    fix = str(result.get("fix") or "")
    for marker in (tr("ja", "Fix: {fix}", fix=fix), tr("en", "Fix: {fix}", fix=fix)):  # the run's, either one
        text = text.replace(marker, "").strip()
    fields = result.get("error_fields")
    return {"code": code, "message": text, "fix": fix} | ({"fields": fields} if isinstance(fields, dict) else {})


def remark_text(value: Any) -> str:
    """Return a PC's ``onshi_cert_remarks`` as one text: a list is one line per item; nothing is ''."""
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return "\n".join(str(v).strip() for v in value if v is not None and str(v).strip())
    return str(value).strip()


def clinic_key(entry: PcEntry) -> str:
    """Return what groups PCs into one clinic's document: its name, else its facility codes."""
    return entry.facility_name or ",".join(sorted(entry.facility_codes)) or entry.host


def build(
    entries: list[PcEntry],
    kind: str,
    pc_copy_dir: str = "",
    vendor: dict[str, Any] | None = None,
    job: str = "other",
) -> list[dict[str, Any]]:
    """Return one document per clinic (sorted by site and name) of ``kind`` plan or report; ``vendor``: the
    contractor's name, contact and engineer (``onshi_cert_vendor``)."""
    clinics: dict[str, list[PcEntry]] = {}
    for entry in entries:
        clinics.setdefault(clinic_key(entry), []).append(entry)
    docs = []
    for key, members in clinics.items():
        codes = sorted({c for m in members for c in m.facility_codes})
        docs.append(
            {
                "kind": kind,
                "clinic": members[0].facility_name or key,
                "codes": codes,
                "site": members[0].site,
                "pcs": [_pc(m) for m in sorted(members, key=lambda m: (m.host, m.at))],
                "pc_copy_dir": pc_copy_dir,
                "vendor": dict(vendor or {}),
                "jobs": _jobs(members, job),
                "times": _first_and_last(members) if kind == "report" else [],
                "remarks": list(dict.fromkeys(m.remarks for m in members if m.remarks)),  # each said once
            }
        )
    return sorted(docs, key=lambda d: (d["site"], d["clinic"]))


def _jobs(members: list[PcEntry], job: str) -> list[str]:
    """Return the jobs of a document's records, in the order they were done (this run's ``job`` for a record that
    does not say): the 作業内容 of a day's report names each."""
    jobs = dict.fromkeys(m.job or job for m in sorted(members, key=lambda m: m.at))  # a document has a member
    return [j if f"work.{j}" in TEXT else "other" for j in jobs]


def _failure(error: dict[str, Any], lang: str) -> dict[str, Any]:
    """Return a failure in the document's language: a catalogue message is said again in ``lang`` with the values
    the run filled it with (``fields``); a text the catalogue did not make keeps the run's words."""
    known = messages.ALL.get(error.get("code", ""))
    if known is None:
        return error
    fields = error.get("fields") or {}
    said = error | {"message": _again(known.text, str(error.get("message") or ""), fields, lang)}
    return said | ({"fix": _again(known.fix, str(error.get("fix") or ""), fields, lang)} if known.fix else {})


def _again(msgid: str, said: str, fields: dict[str, Any], lang: str) -> str:
    """Return ``msgid`` in ``lang`` when ``said`` is ``msgid`` in either language filled with ``fields``: a text
    the run made otherwise (a fix given in its place, a value missing) is kept as it was said."""
    try:
        if not said or any(said == tr(other, msgid, **fields) for other in ("ja", "en")):
            return tr(lang, msgid, **fields)
    except (KeyError, IndexError, ValueError, AttributeError):
        pass  # the fields do not fill this text: keep the run's words
    return said


def vendor_of(settings: dict[str, Any]) -> dict[str, str]:
    """Return the contractor of ``onshi_cert_vendor`` as the documents show it: name, contact, engineer (set ones)."""
    return {key: str(value) for key, value in settings.items() if key in ("name", "contact", "engineer") and value}


def _first_and_last(members: list[PcEntry]) -> list[str]:
    """Return the document's 作業時刻: the start of the first job (else its first record) and the last record,
    one time when they are one."""
    times = sorted({t for m in members for t in (m.started, m.at) if t}, key=dt.datetime.fromisoformat)
    return [times[0], times[-1]] if len(times) > 1 else times


def notices(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Return one renewal notice per clinic from an audit's worklist (report.json's renewals)."""
    clinics: dict[str, list[dict[str, Any]]] = {}
    for row in data.get("renewals") or []:
        clinics.setdefault(row.get("facility_name") or row.get("facility_code") or row["host"], []).append(row)
    return [
        {
            "kind": "notice",
            "clinic": key,
            "codes": sorted({r["facility_code"] for r in rows if r.get("facility_code")}),
            "site": rows[0].get("site", ""),
            "rows": sorted(rows, key=lambda r: (r.get("apply_by") or r.get("deadline") or "", r["host"])),
            "total": sum(int(r.get("cost_yen") or 0) for r in rows),
            "vendor": dict(data.get("vendor") or {}),
        }
        for key, rows in sorted(clinics.items())
    ]


@functools.cache
def _texts(lang: str) -> dict[str, str]:
    """The documents' words in ``lang``, looked up once per language (a worklist has a document per clinic)."""
    return {key: tr(lang, msgid) for key, msgid in TEXT.items()}


def render(
    doc: dict[str, Any],
    lang: str,
    *,
    generated_at: str,
    timezone: str | None = None,
    digest: str = "",
    revision: int = 1,
) -> str:
    """Return one document as a self-contained A4 HTML page in ``lang`` (its content digest and revision in it)."""
    tz = zone(timezone)
    return (
        environment()
        .get_template("workdoc.html.j2")
        .render(
            doc=doc,
            lang=lang,
            t=_texts(lang),
            generated=f"{fmt_date(generated_at, lang, tz)} {fmt_time(generated_at, tz)}",
            # what needs a person, in the document's language whatever the run's was: by its code and fields
            said=lambda item: problem_text({"message": "", **item}, lang) or str(item.get("message") or ""),
            fix=lambda item: tr(lang, str(item.get("fix") or "")) if item.get("fix") else "",
            failure=lambda error: _failure(error, lang),
            time=lambda value: fmt_time(value, tz) if value else "",
            digest=digest,
            revision=revision,
            date=lambda value: fmt_date(value, lang, tz, weekday=False) if value else "-",
            yen=lambda value: fmt_yen(int(value), lang),
        )
    )


def file_name(doc: dict[str, Any], lang: str, number: int = 1) -> str:
    """Return ``<first code or clinic>_<kind>.<lang>.html`` (ASCII, safe on a Windows share), with ``-<number>``
    after the code or clinic for the second and later documents of a run that would have the same name."""
    stem = path_component(doc["codes"][0]) if doc["codes"] else re.sub(r"[^A-Za-z0-9_-]", "_", doc["clinic"])[:40]
    stem = stem or "clinic"
    return f"{stem}{f'-{number}' if number > 1 else ''}_{doc['kind']}.{lang}.html"


def pdf_renderer() -> str | None:
    """Return a headless Chromium/Chrome on PATH, the PDF renderer used when asked for, or None."""
    return next(
        (path for name in ("chromium", "chromium-browser", "google-chrome") if (path := shutil.which(name))), None
    )


def to_pdf(html_file: Path, renderer: str) -> Path:
    """Print ``html_file`` to A4 PDF beside it with a headless browser; return the PDF's path."""
    pdf = html_file.with_suffix(".pdf")
    subprocess.run(
        [renderer, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
         f"--print-to-pdf={pdf}", html_file.resolve().as_uri()],
        capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    return pdf


def write(
    docs: list[dict[str, Any]],
    dest: Path,
    *,
    langs: tuple[str, ...] = ("ja", "en"),
    pdf: bool = False,
    timezone: str | None = None,
    now: dt.datetime | None = None,
) -> list[Path]:
    """Write every document in every language (and, with ``pdf``, a PDF of the Japanese one); return the files.

    A document is never written over: when its content differs from the latest revision in ``dest``, it is written
    as the next revision (``<stem>.r2.ja.html``, ...) beside the earlier ones; when it is the same, nothing is
    written again. The content's digest is kept in the page (``onshi-cert-digest``).
    """
    private_dir(dest)
    generated_at = (now or dt.datetime.now(dt.UTC)).isoformat()
    renderer = pdf_renderer() if pdf else None
    written = []
    # Two clinics can share a file name (one facility code under two spellings of the clinic's name, or two
    # Japanese names without a code): each gets its own file, never one written over the other.
    taken: set[str] = set()
    for doc in docs:
        number = 1
        while (first := file_name(doc, langs[0], number)) in taken:
            number += 1
        taken.add(first)
        digest = hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:32]
        revision = _revision(dest, first, digest)
        if revision is None:
            continue  # the latest revision already says exactly this
        for lang in langs:
            path = dest / revised(file_name(doc, lang, number), revision)
            page = render(doc, lang, generated_at=generated_at, timezone=timezone, digest=digest, revision=revision)
            write_private(path, page.encode(), sync=False)
            written.append(path)
            if renderer and lang == langs[0]:
                made = to_pdf(path, renderer)
                if made.exists():
                    written.append(made)
    return written


def revised(name: str, revision: int) -> str:
    """Return ``name`` of revision ``revision``: ``<stem>.r<revision>.<lang>.html`` from the second on."""
    if revision == 1:
        return name
    stem, lang, suffix = name.rsplit(".", 2)
    return f"{stem}.r{revision}.{lang}.{suffix}"


_DIGEST = re.compile(r'<meta name="onshi-cert-digest" content="([0-9a-f]+)">')


def _revision(dest: Path, first: str, digest: str) -> int | None:
    """Return the revision to write a document with ``digest`` as, or None when the latest one holds it."""
    latest = 0
    while (dest / revised(first, latest + 1)).exists():
        latest += 1
    if latest == 0:
        return 1
    found = _DIGEST.search((dest / revised(first, latest)).read_text(encoding="utf-8", errors="replace"))
    return None if found and found.group(1) == digest else latest + 1
