"""Render the fleet report: report.html (Japanese), report.en.html, renewals.csv, report.json, report.md, .prom."""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2

from ..core import messages
from ..core.errors import OnshiCertError
from ..core.paths import private_dir, write_private
from ..i18n import LABELS, N_, tr
from .aggregate import STAGES

TEXT: dict[str, str] = {
    **{key: value for key, value in LABELS.items() if key.startswith("stage.")},
    "title": N_("Certificate audit report"),
    "generated": N_("Generated"),
    "hosts": N_("PCs"),
    "attention": N_("need attention"),
    "unreachable": N_("unreachable"),
    "by_stage": N_("By expiry stage"),
    "timeline": N_("Expiries over the next 15 months"),
    "problems": N_("PCs that need attention"),
    "no_problems": N_("No PC needs attention."),
    "cost": N_("Renewal cost forecast"),
    "cost_worklist": N_("now (the worklist's sum)"),
    "cost_each": N_("Cost"),
    "cost_3_6": N_("in 3-6 months"),
    "cost_6_12": N_("in 6-12 months"),
    "cost_total": N_("12 months in all"),
    "cost_note": N_(
        "1,500 yen each; re-issues of expired certificates include 753 yen postage. The periods do not overlap."
    ),
    "site": N_("Site"),
    "facility_name": N_("Facility"),
    "total": N_("Total"),
    "host": N_("PC"),
    "code": N_("Facility code"),
    "subject": N_("Certificate"),
    "expires": N_("Expires"),
    "days_left": N_("Days left"),
    "stage": N_("Stage"),
    "status": N_("Status"),
    "what": N_("What"),
    "renewals": N_("Renewal worklist"),
    "apply_by": N_("Apply by"),
    "face_auth": N_("Face-auth library"),
    "sort_hint": N_("Click a heading to sort"),
    "status.ok": N_("OK"),
    "status.unreachable": N_("unreachable"),
    "status.expired": N_("expired"),
    "status.missing": N_("no certificate"),
    "status.wrong_facility": N_("other facility's certificate"),
    "status.wrong_issuer": N_("wrong issuer"),
    "status.no_key": N_("no private key"),
    "status.newer_unusable": N_("newer certificate unusable"),
    "status.expiring": N_("expiring"),
    "status.duplicate": N_("same certificate on two PCs"),
    "status.no_backup": N_("no backup"),
    "status.backup_outdated": N_("backup older than certificate"),
    "status.not_exportable": N_("key not exportable"),
    "status.face_auth_old": N_("face-auth library too old"),
    "status.ca_not_trusted": N_("CA not trusted"),
    "status.stale": N_("stale certificates"),
    "status.disagreement": N_("inventory and PC disagree"),
    "status.bad_code": N_("certificate with an unusable facility code"),
    "status.unseen": N_("never audited"),
    "status.outdated": N_("not audited lately"),
    "last_seen": N_("Last seen"),
    "days_ago": N_("{days} day(s) ago"),
    "today": N_("today"),
    "unseen": N_("never audited"),
    "outdated": N_("not audited lately"),
    "changes": N_("Changes since each PC's previous audit"),
    "no_changes": N_("Nothing changed since the previous audits."),
    "change": N_("Change"),
    "change.attention": N_("newly needs attention"),
    "change.resolved": N_("resolved"),
    "change.renewed": N_("renewed"),
    "change.unreachable": N_("newly unreachable"),
    "departed": N_("PCs no longer in the inventory"),
    "departed_note": N_(
        "These PCs are in the fleet record but not in the inventory: their records are kept. Remove a PC's records "
        "only with onshi-cert store prune."
    ),
    "reason.renew": N_("renew"),
    "reason.expired": N_("reissue (expired)"),
    "reason.missing": N_("new certificate"),
}


# How the report says each problem, from its fields (the problem's own message is the fallback).
PROBLEM_TEXT = {
    "unreachable": N_("The PC did not answer (check its power, network and WinRM settings)"),
    "unseen": N_("Never audited: run the audit for this PC (it is in the inventory, not yet in the fleet record)"),
    "outdated": N_("The latest audit of this PC is {days} day(s) old: audit it again"),
    "expired": N_("The certificate for {facility_code} has expired (apply for re-issue)"),
    "missing": N_("No usable certificate for {facility_code}"),
    "wrong_facility": N_("A certificate of another facility code is on the PC ({thumbprint})"),
    "wrong_issuer": N_("A certificate from another issuer is on the PC ({thumbprint})"),
    "no_key": N_("The certificate for {facility_code} has no private key"),
    "newer_unusable": N_(
        "A newer certificate for {facility_code} cannot be used ({thumbprint}): Windows may offer it instead of the "
        "working one"
    ),
    "expiring": N_("The certificate for {facility_code} expires in {days} days"),
    "duplicate": N_("The same certificate is on another PC too ({thumbprint})"),
    "no_backup": N_("No backup ({thumbprint})"),
    "backup_outdated": N_("The backup of {facility_code} is of an older certificate"),
    "not_exportable": N_("The private key cannot be exported, so no backup is possible ({thumbprint})"),
    "face_auth_old": N_("Face-authentication library {version} is older than {minimum} (update it before renewing)"),
    "ca_not_trusted": N_("The root CA is not in the Trusted Root Certification Authorities"),
    "stale": N_("{count} stale certificate(s)"),
    "disagreement": N_("The inventory's facility code and the PC's certificate do not match (nothing is removed)"),
    "bad_code": N_("A certificate whose facility code cannot be read ({thumbprint})"),
}


def problem_text(problem: dict[str, Any], lang: str) -> str:
    """Return a problem's message in ``lang`` (the Japanese wording when its details are known)."""
    template = PROBLEM_TEXT.get(problem["code"])
    if template is not None:
        try:
            return tr(lang, template, **{**problem, "version": problem.get("version") or tr(lang, N_("none"))})
        except KeyError:
            pass
    return str(problem["message"])


def texts(lang: str) -> dict[str, str]:
    """Return every text of the report in ``lang``; the link to the other language names it in itself."""
    return {key: tr(lang, msgid) for key, msgid in TEXT.items()} | {
        "other_lang": "English" if lang == "ja" else "日本語"
    }


DEFAULT_TIMEZONE = "Asia/Tokyo"
WEEKDAYS_JA = "月火水木金土日"


def zone(name: str | None = None) -> dt.tzinfo:
    """Return the time zone people read times in (Japan's by default); without the tz database, JST by hand."""
    name = name or DEFAULT_TIMEZONE
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        if name == DEFAULT_TIMEZONE:
            return dt.timezone(dt.timedelta(hours=9), "JST")
        raise OnshiCertError(messages.BAD_TIMEZONE, name=name) from None


def local(value: str, tz: dt.tzinfo | None = None) -> dt.datetime:
    """Return an ISO timestamp in the readers' time zone."""
    when = dt.datetime.fromisoformat(value)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(tz or zone())


def fmt_date(value: str | None, lang: str, tz: dt.tzinfo | None = None, *, weekday: bool = True) -> str:
    """Format an ISO timestamp as a local date: 2027年1月8日 (金) or 2027-01-08 (Fri); no weekday in data files."""
    if not value:
        return "-"
    when = local(value, tz)
    if lang == "ja":
        text = f"{when.year}年{when.month}月{when.day}日"
        return f"{text} ({WEEKDAYS_JA[when.weekday()]})" if weekday else text
    return when.strftime("%Y-%m-%d (%a)" if weekday else "%Y-%m-%d")


def fmt_time(value: str, tz: dt.tzinfo | None = None) -> str:
    """Format an ISO timestamp as a local time with its zone: 09:00 JST."""
    return local(value, tz).strftime("%H:%M %Z")


def fmt_yen(value: int, lang: str) -> str:
    """Format an amount: 1,500円 or 1,500 yen."""
    return tr(lang, N_("{amount} yen"), amount=f"{value:,}")


@functools.cache
def environment() -> jinja2.Environment:
    """Return the one Jinja environment of the report templates (each template is compiled once per process)."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),  # the same in the collection and the CLI
        # Certificate text is hostile input: every HTML template (named *.html.j2) is autoescaped.
        autoescape=jinja2.select_autoescape(["html", "html.j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
        auto_reload=False,
    )


def timeline_svg(timeline: list[dict[str, Any]], lang: str) -> str:
    """Return an inline SVG bar chart of expiries per month."""
    width, height, left, bottom = 720, 200, 30, 30
    peak = max([t["count"] for t in timeline] + [1])
    column = (width - left) / len(timeline)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{tr(lang, TEXT["timeline"])}" class="timeline">'
    ]
    for index, item in enumerate(timeline):
        h = (height - bottom - 20) * item["count"] / peak
        x = left + index * column
        y = height - bottom - h
        colour = "#c0392b" if index < 3 else "#e67e22" if index < 6 else "#2e86c1"
        parts.append(
            f'<rect x="{x + 4:.1f}" y="{y:.1f}" width="{column - 8:.1f}" height="{h:.1f}" fill="{colour}">'
            f"<title>{item['month']}: {item['count']}</title></rect>"
        )
        if item["count"]:
            parts.append(
                f'<text x="{x + column / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle" font-size="12">'
                f"{item['count']}</text>"
            )
        year, month = item["month"].split("-")
        label = f"{int(month)}月" if lang == "ja" else dt.date(2000, int(month), 1).strftime("%b")
        parts.append(
            f'<text x="{x + column / 2:.1f}" y="{height - bottom + 16}" text-anchor="middle" '
            f'font-size="11">{label}</text>'
        )
        if month == "01" or index == 0:
            parts.append(
                f'<text x="{x + column / 2:.1f}" y="{height - 2}" text-anchor="middle" font-size="10" '
                f'fill="#666">{year}</text>'
            )
    parts.append(f'<line x1="{left}" y1="{height - bottom}" x2="{width}" y2="{height - bottom}" stroke="#999"/>')
    parts.append("</svg>")
    return "".join(parts)


def html(data: dict[str, Any], lang: str) -> str:
    """Render the self-contained HTML report in ``lang``."""
    template = environment().get_template("report.html.j2")
    tz = zone(data.get("timezone"))
    return template.render(
        data=data,
        t=texts(lang),
        lang=lang,
        stages=STAGES,
        svg=timeline_svg(data["timeline"], lang),
        date=lambda v: fmt_date(v, lang, tz),
        time=lambda v: fmt_time(v, tz),
        yen=lambda v: fmt_yen(v, lang),
        count=lambda n: tr(lang, N_("{count} certificate(s)"), count=n),
        problem=lambda p: problem_text(p, lang),
        kept=lambda host: [c for c in host["certificates"] if c.get("kept")],  # Jinja's selectattr: 5x the time
        other=("report.en.html" if lang == "ja" else "report.html"),
    )


def markdown(data: dict[str, Any]) -> str:
    """Render the Markdown report (bilingual headings)."""
    tz = zone(data.get("timezone"))
    return (
        environment()
        .get_template("report.md.j2")
        .render(
            data=data,
            ja=texts("ja"),
            en=texts("en"),
            stages=STAGES,
            date=lambda v: fmt_date(v, "en", tz),
            time=lambda v: fmt_time(v, tz),
        )
    )


WORKLIST_HEADINGS = [
    "医療機関等コード",
    "医療機関名",
    "端末(証明書CN)",
    "ホスト",
    "拠点",
    "有効期限",
    "申請目安",
    "区分",
    "費用(円)",
]
#: A cell starting with one of these runs as a formula in Excel (CSV injection); such text gets a leading '.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def worklist_rows(data: dict[str, Any]) -> list[list[Any]]:
    """Return the renewal worklist rows (codes and certificate text as text, dates in the readers' zone)."""
    tz = zone(data.get("timezone"))
    return [
        [
            str(row["facility_code"]),
            row.get("facility_name", ""),
            row["terminal"],
            row["host"],
            row["site"],
            fmt_date(row["not_after"], "en", tz, weekday=False) if row["not_after"] else "",
            fmt_date(row["apply_by"], "en", tz, weekday=False) if row["apply_by"] else "",
            tr("ja", TEXT[f"reason.{row['reason']}"]),
            row["cost_yen"],
        ]
        for row in data["renewals"]
    ]


def _inert(value: Any) -> Any:
    """Return certificate or inventory text so that a spreadsheet shows it and never runs it."""
    return f"'{value}" if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def renewals_csv(data: dict[str, Any], encoding: str = "utf-8") -> bytes:
    """Return the renewal worklist as CSV: UTF-8 with a BOM (Excel reads the Japanese headings), or CP932.

    Text that would start a formula is prefixed with '. Excel reads a bare 0110113719 as a number and drops the
    0, so a facility code (10 digits, validated) is written ="0110113719": Excel shows the text 0110113719 with its
    zero, and the cell holds nothing but those digits. Other tools read renewals.xlsx (codes as text cells).
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_NONNUMERIC)
    writer.writerow(WORKLIST_HEADINGS)
    for row in worklist_rows(data):
        code = row[0]
        cells = [_inert(cell) for cell in row]
        if isinstance(code, str) and len(code) == 10 and code.isascii() and code.isdigit():
            cells[0] = f'="{code}"'
        writer.writerow(cells)
    if encoding.lower().replace("_", "-") in ("cp932", "shift-jis", "sjis"):
        return out.getvalue().encode("cp932", errors="replace")
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def renewals_xlsx(data: dict[str, Any]) -> bytes:
    """Return the renewal worklist as an Excel workbook whose codes are text cells (their leading 0 stays)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = "更新作業リスト"
    sheet.append(WORKLIST_HEADINGS)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for number, row in enumerate(worklist_rows(data), start=2):
        sheet.append([_inert(cell) for cell in row])
        # code, name, terminal, host, site: text, never numbers. (sheet[number] would measure the whole sheet's
        # width at every row: quadratic in the fleet, half a second at 1,000 PCs.)
        for column in range(1, 6):
            cell = sheet.cell(row=number, column=column)
            cell.data_type = "s"
            cell.number_format = "@"
    for column, width in zip("ABCDEFGHI", (16, 24, 22, 22, 14, 12, 12, 10, 10), strict=True):
        sheet.column_dimensions[column].width = width
    sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _label(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


def prometheus(data: dict[str, Any]) -> str:
    """Return a node_exporter textfile with the metric names existing certificate exporters use."""
    generated = dt.datetime.fromisoformat(data["generated_at"]).timestamp()
    lines = [
        "# HELP x509_cert_not_after Certificate expiry as a Unix timestamp.",
        "# TYPE x509_cert_not_after gauge",
    ]
    expired_lines = ["# HELP x509_cert_expired 1 when the certificate has expired.", "# TYPE x509_cert_expired gauge"]
    for rows in data["sites"].values():
        for host in rows:
            for cert in host["certificates"]:
                # One series per certificate (thumbprint), and whether the policy keeps it: a PC holding an old
                # and a renewed certificate of one CN must not collapse into one series (false expiry alerts).
                labels = (
                    f'subject_CN="{_label(cert["subject_cn"])}",issuer_CN="{_label(cert["issuer_cn"])}",'
                    f'host="{_label(host["host"])}",facility_code="{_label(cert["facility_code"] or "")}",'
                    f'site="{_label(host["site"])}",thumbprint="{_label(cert["thumbprint"])}",'
                    f'kept="{"true" if cert.get("kept") else "false"}"'
                )
                not_after = dt.datetime.fromisoformat(cert["not_after"]).timestamp()
                lines.append(f"x509_cert_not_after{{{labels}}} {not_after:.0f}")
                expired_lines.append(f"x509_cert_expired{{{labels}}} {1 if not_after <= generated else 0}")
    up = [
        "# HELP onshi_cert_host_up 1 when the PC's latest observation is an answer.",
        "# TYPE onshi_cert_host_up gauge",
    ]
    problems = ["# HELP onshi_cert_problem 1 for each problem found on a PC.", "# TYPE onshi_cert_problem gauge"]
    observed = [
        "# HELP onshi_cert_last_observed_timestamp_seconds When the PC was last observed (the fleet record).",
        "# TYPE onshi_cert_last_observed_timestamp_seconds gauge",
    ]
    for rows in data["sites"].values():
        for host in rows:
            where = f'host="{_label(host["host"])}",site="{_label(host["site"])}"'
            answered = not any(p["code"] in ("unreachable", "unseen") for p in host["problems"])
            up.append(f"onshi_cert_host_up{{{where}}} {1 if answered else 0}")
            if host.get("observed_at"):
                stamp_of = dt.datetime.fromisoformat(host["observed_at"]).timestamp()
                observed.append(f"onshi_cert_last_observed_timestamp_seconds{{{where}}} {stamp_of:.0f}")
            for code in sorted({p["code"] for p in host["problems"]}):
                problems.append(
                    f'onshi_cert_problem{{host="{_label(host["host"])}",site="{_label(host["site"])}",code="{code}"}} 1'
                )
    stamp = [
        "# HELP onshi_cert_report_timestamp When the audit ran.",
        "# TYPE onshi_cert_report_timestamp gauge",
        f"onshi_cert_report_timestamp {generated:.0f}",
    ]
    return "\n".join(lines + expired_lines + up + observed + problems + stamp) + "\n"


def _write(path: Path, data: bytes) -> None:
    write_private(path, data, sync=False)  # a report is drawn again by the next run


#: The report's files, each with what renders it from the report's data and the CSV encoding.
FILES: dict[str, Any] = {
    "report.html": lambda data, encoding: html(data, "ja").encode(),
    "report.en.html": lambda data, encoding: html(data, "en").encode(),
    "renewals.csv": renewals_csv,
    "renewals.xlsx": lambda data, encoding: renewals_xlsx(data),
    # One line: Python's JSON encoder is C only without indent (a 10,000-PC report: 0.5 s instead of 6 s).
    "report.json": lambda data, encoding: (json.dumps(data, ensure_ascii=False) + "\n").encode(),
    "report.md": lambda data, encoding: markdown(data).encode(),
    "onshi_cert.prom": lambda data, encoding: prometheus(data).encode(),
}


def write_all(
    data: dict[str, Any], dest: Path, csv_encoding: str = "utf-8", names: tuple[str, ...] | None = None
) -> list[Path]:
    """Write every report file (or those of ``names``) into ``dest`` (renewals.csv in ``csv_encoding``: utf-8 or
    cp932); return their paths."""
    private_dir(dest)
    written = []
    for name, render in FILES.items():
        if names is None or name in names:
            _write(dest / name, render(data, csv_encoding))
            written.append(dest / name)
    return written
