"""The fleet report from a mixed fleet: problems first, costs, timeline, worklist, every output format."""

from __future__ import annotations

import csv
import datetime as dt
import json

import pytest

from onshi_cert.core.audit import host_report
from onshi_cert.core.certinfo import describe_certificate
from onshi_cert.core.hoststate import InstalledCert
from onshi_cert.core.policy import Expectations
from onshi_cert.core.trust import TrustAnchors, fingerprint
from onshi_cert.report import HostEntry, build, write_all
from onshi_cert.report.render import fmt_date, fmt_yen, prometheus, renewals_csv
from tests.unit.report.conftest import FACE, facts, installed


def status(data) -> dict[str, str]:
    return {h["host"]: h["status"] for rows in data["sites"].values() for h in rows}


def test_each_pc_gets_its_status(data) -> None:
    """Unreachable, expired, missing, wrong facility, duplicate, expiring and ok are told apart."""
    assert status(data) == {
        "ok-pc": "ok",
        "soon-pc": "expiring",
        "dead-pc": "expired",
        "empty-pc": "missing",
        "twin-a": "duplicate",
        "twin-b": "duplicate",
        "other-pc": "missing",
        "half-pc": "missing",
        "off-pc": "unreachable",
    }
    half = next(h for h in data["problem_hosts"] if h["host"] == "half-pc")
    assert half["problems"][0] == {
        "code": "missing",
        "message": "no valid certificate for 1230444448",
        "fix": "put the downloaded .p12 for this code in the certs folder and provision",
        "facility_code": "1230444448",
    }


def test_problems_come_first_most_urgent_first(data) -> None:
    """The problem list holds every PC that needs something, the face-auth warning included."""
    hosts = [h["host"] for h in data["problem_hosts"]]
    assert "ok-pc" not in hosts and {"off-pc", "dead-pc", "soon-pc"} <= set(hosts)
    soon = next(h for h in data["problem_hosts"] if h["host"] == "soon-pc")
    assert [p["code"] for p in soon["problems"]] == ["expiring", "face_auth_old"]


def test_stage_counts_and_summary(data) -> None:
    """Kept certificates are counted by stage; the expired one counts as expired."""
    assert data["summary"]["stages"] == {"ok": 4, "90": 0, "60": 0, "30": 1, "15": 0, "7": 0, "expired": 1}
    assert data["summary"]["hosts"] == 9 and data["summary"]["unreachable"] == 1


def test_cost_forecast(data) -> None:
    """Labelled periods that do not overlap: now (exactly the worklist, re-issues with postage included), 3-6 and
    6-12 months; each site's and the fleet's total add up."""
    total = data["cost"]["total"]
    worklist_yen = sum(r["cost_yen"] for r in data["renewals"])
    assert total["worklist"] == {"count": len(data["renewals"]), "yen": worklist_yen}
    assert any(r["reason"] == "expired" and r["cost_yen"] == 2253 for r in data["renewals"])  # re-issue + postage
    assert total["total"]["yen"] == sum(total[k]["yen"] for k in ("worklist", "months_3_6", "months_6_12"))
    for key in ("worklist", "months_3_6", "months_6_12", "total"):
        assert total[key]["yen"] == sum(site[key]["yen"] for site in data["cost"]["by_site"].values()), key
    assert data["cost"]["by_site"]["tokyo"]["worklist"]["yen"] >= 2253


def test_timeline_covers_15_months(data, now) -> None:
    """The timeline has 15 months starting this month, with each kept expiry in its month."""
    assert len(data["timeline"]) == 15 and data["timeline"][0]["month"] == f"{now.year}-{now.month:02d}"
    soon = now + dt.timedelta(days=20)
    month = next(t for t in data["timeline"] if t["month"] == f"{soon.year}-{soon.month:02d}")
    assert month["count"] >= 1


def test_worklist_and_csv(data) -> None:
    """The renewal worklist has the expiring, expired and missing PCs; the CSV has a BOM for Excel."""
    reasons = {(r["host"], r["reason"]) for r in data["renewals"]}
    assert {("soon-pc", "renew"), ("dead-pc", "expired"), ("empty-pc", "missing")} <= reasons
    text = renewals_csv(data)
    assert text.startswith(b"\xef\xbb\xbf")
    lines = text.decode("utf-8-sig").splitlines()
    assert lines[0].startswith('"医療機関等コード",')
    assert any(
        line.startswith('"=""1310512346""","","","dead-pc","tokyo",') and "再発行（期限切れ）" in line for line in lines
    )
    assert renewals_csv(data, "cp932").decode("cp932") == text.decode("utf-8-sig")  # the older Excel's encoding


def test_worklist_keeps_codes_as_text_and_never_runs_formulas(data, tmp_path) -> None:
    """In renewals.xlsx every code is a text cell with its leading 0; certificate text that starts like a formula
    is shown, not run, in the workbook and the CSV."""
    import io

    from openpyxl import load_workbook

    from onshi_cert.report.render import renewals_xlsx

    hostile = dict(data, renewals=[dict(data["renewals"][0], facility_code="0110113719", terminal="=HYPERLINK(1)")])
    sheet = load_workbook(io.BytesIO(renewals_xlsx(hostile))).active
    code, terminal = sheet["A2"], sheet["C2"]
    assert (code.value, code.data_type, code.number_format) == ("0110113719", "s", "@")
    assert terminal.value == "'=HYPERLINK(1)" and terminal.data_type == "s"
    assert '"\'=HYPERLINK(1)"' in renewals_csv(hostile).decode("utf-8-sig")
    # In the CSV a code is ="0110113719" (Excel keeps its 0); only ten validated digits are ever written so.
    row = next(csv.reader(renewals_csv(hostile).decode("utf-8-sig").splitlines()[1:]))
    assert row[0] == '="0110113719"'
    odd = dict(data, renewals=[dict(data["renewals"][0], facility_code="=1+1")])
    assert next(csv.reader(renewals_csv(odd).decode("utf-8-sig").splitlines()[1:]))[0] == "'=1+1"


def test_prometheus_uses_the_exporter_metric_names(data) -> None:
    """x509_cert_not_after and x509_cert_expired carry subject_CN, issuer_CN, host, facility_code, site."""
    text = prometheus(data)
    assert "# TYPE x509_cert_not_after gauge" in text
    line = next(x for x in text.splitlines() if x.startswith("x509_cert_expired{") and 'host="dead-pc"' in x)
    assert line.startswith(
        'x509_cert_expired{subject_CN="1310512346-01",issuer_CN="Online Billing NW Common Root CA",'
        'host="dead-pc",facility_code="1310512346",site="tokyo",thumbprint="'
    )
    assert line.endswith('",kept="false"} 1')
    assert 'onshi_cert_host_up{host="off-pc",site="okinawa"} 0' in text


def test_write_all_outputs(data, tmp_path) -> None:
    """Every file is written; the HTML is self-contained, bilingual and has the inline chart."""
    written = {p.name for p in write_all(data, tmp_path)}
    assert written == {
        "report.html",
        "report.en.html",
        "renewals.csv",
        "renewals.xlsx",
        "report.json",
        "report.md",
        "onshi_cert.prom",
    }
    ja = (tmp_path / "report.html").read_text()
    en = (tmp_path / "report.en.html").read_text()
    for page in (ja, en):
        assert "<svg" in page and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert "<script src" not in page and "<link" not in page
    assert "電子証明書 監査レポート" in ja and "期限切れ" in ja and "2,253円" in ja
    assert "Certificate audit report" in en and "2,253 yen" in en
    assert json.loads((tmp_path / "report.json").read_text())["schema"] == "onshi-cert/report/v2"
    assert "| off-pc | okinawa |" in (tmp_path / "report.md").read_text()


@pytest.mark.parametrize(
    ("value", "lang", "text"),
    [
        ("2027-01-08T00:00:00+00:00", "ja", "2027年1月8日 (金)"),
        ("2027-01-08T00:00:00+00:00", "en", "2027-01-08 (Fri)"),
        ("2027-01-07T16:00:00+00:00", "ja", "2027年1月8日 (金)"),  # 01:00 JST: already the 8th in Japan
        ("2026-11-29T23:30:00+00:00", "ja", "2026年11月30日 (月)"),
        (None, "ja", "-"),
    ],
)
def test_dates_in_japanese_style_and_time(value, lang, text) -> None:
    """Dates read 2027年1月8日 (金) in the Japanese report, in Japan's time zone."""
    assert fmt_date(value, lang) == text


def test_times_are_japan_standard_time_unless_configured() -> None:
    from onshi_cert.report.render import fmt_time, zone

    assert fmt_time("2026-11-25T03:00:00+00:00") == "12:00 JST"
    assert fmt_time("2026-11-25T03:00:00+00:00", zone("UTC")) == "03:00 UTC"
    assert fmt_date("2026-11-25T03:00:00+00:00", "ja", weekday=False) == "2026年11月25日"
    with pytest.raises(Exception, match="unknown time zone"):
        zone("Mars/Olympus")


def test_amounts() -> None:
    """Amounts read 1,500円 and 1,500 yen."""
    assert (fmt_yen(1500, "ja"), fmt_yen(1500, "en")) == ("1,500円", "1,500 yen")


def test_japanese_report_speaks_japanese_about_problems(data, tmp_path) -> None:
    """The Japanese report words each problem in Japanese; the English one keeps the English message."""
    write_all(data, tmp_path)
    ja = (tmp_path / "report.html").read_text()
    en = (tmp_path / "report.en.html").read_text()
    assert "の電子証明書は期限切れです" in ja and "顔認証ライブラリ 2.0.5 は 2.1.0 未満です" in ja
    from onshi_cert.report.render import problem_text

    assert problem_text({"code": "face_auth_old", "message": "m", "version": None, "minimum": "2.1.0"}, "ja") == (
        "顔認証ライブラリ なし は 2.1.0 未満です（更新の前にアップデートが必要です）"
    )
    assert "has expired" in en and "has expired" not in ja


def test_report_command_renders_a_saved_report_json(data, tmp_path, capsys) -> None:
    """onshi-cert report rebuilds every file from a report.json."""
    from onshi_cert_tools.cli import main

    source = tmp_path / "saved.json"
    source.write_text(json.dumps(data, ensure_ascii=False))
    assert main(["report", str(source), "--out", str(tmp_path / "out")]) == 0
    assert "report.html" in capsys.readouterr().out
    assert (tmp_path / "out" / "renewals.csv").read_bytes().startswith(b"\xef\xbb\xbf")


def test_hostile_certificate_text_is_escaped_in_both_html_reports(factory, now, tmp_path) -> None:
    """A subject CN carrying markup is shown as text in report.html and report.en.html, never run."""
    hostile = "<script>alert(1)</script><img src=x onerror=alert(1)>"
    issued = factory.leaf("0110113719", cn=f"0110113719{hostile}", days_left=20)
    root = InstalledCert(describe_certificate(factory.root), factory.root)
    expect = Expectations(("0110113719",), TrustAnchors(frozenset({fingerprint(factory.root)})))
    report = host_report(facts(), [installed(issued)], [root], expect, face_auth_path=FACE, now=now)
    files = write_all(build([HostEntry("evil-pc", "site", ["0110113719"], report)], now), tmp_path)
    for name in ("report.html", "report.en.html"):
        page = (tmp_path / name).read_text(encoding="utf-8")
        assert "<script>alert" not in page and "<img src=x" not in page, name
        assert "&lt;script&gt;" in page, name
    assert files


def test_prometheus_series_are_unique_per_certificate(factory, now) -> None:
    """Two certificates of one CN on one PC are two series (thumbprint label), the kept one marked kept="true"."""
    old = factory.leaf("0110113719", terminal="01", days_left=20)
    new = factory.leaf("0110113719", terminal="01", days_left=1100)
    root = InstalledCert(describe_certificate(factory.root), factory.root)
    expect = Expectations(("0110113719",), TrustAnchors(frozenset({fingerprint(factory.root)})))
    report = host_report(facts(), [installed(old), installed(new)], [root], expect, face_auth_path=FACE, now=now)
    text = prometheus(build([HostEntry("pc", "site", ["0110113719"], report)], now))
    series = [line.rsplit(" ", 1)[0] for line in text.splitlines() if line.startswith("x509_cert_not_after{")]
    assert len(series) == 2 and len(set(series)) == 2
    kept = [s for s in series if 'kept="true"' in s]
    assert len(kept) == 1 and describe_certificate(new.cert).thumbprint in kept[0]


def test_the_textfile_parses_as_node_exporter_reads_it(data) -> None:
    """Parsed with the Prometheus text-format parser (what node_exporter's textfile collector uses): every family is
    typed, no series repeats a label set (node_exporter rejects the whole file then), hostile text stays inside
    its label."""
    from prometheus_client.parser import text_string_to_metric_families

    hostile = dict(data, sites={"tokyo": [dict(data["sites"]["tokyo"][0], host='evil"} 1\nx{a="')]})
    assert 'host="evil\\"} 1 x{a=\\""' in prometheus(hostile)  # escaped, one line
    for text in (prometheus(data), prometheus(hostile)):
        families = list(text_string_to_metric_families(text))
        assert {f.name for f in families} >= {"x509_cert_not_after", "x509_cert_expired", "onshi_cert_host_up"}
        for family in families:
            assert family.type in ("gauge", "counter"), family.name
            keys = [tuple(sorted(sample.labels.items())) for sample in family.samples]
            assert len(keys) == len(set(keys)), f"{family.name} repeats a label set"
