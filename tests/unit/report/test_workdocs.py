"""Each clinic's work plan, work report and renewal notice: grouped by clinic, complete, escaped, printable."""

from __future__ import annotations

import datetime as dt
import re

from onshi_cert.report import workdocs

THUMB_OLD, THUMB_NEW = "A" * 40, "B" * 40
APPLIED = {
    "changed": True,
    "planned": False,
    "installed": [{"thumbprint": THUMB_NEW, "facility_code": "0110113719", "from": "certs/pc1.p12",
                   "not_after": "2031-11-24T00:00:00+00:00"}],
    "removed": [{"thumbprint": THUMB_OLD, "facility_code": "0110113719", "reason": "superseded",
                 "detail": f"superseded by {THUMB_NEW} (until 2031-11-24)", "backup": "export", "backup_note": ""}],
    "backups": [{"path": "/data/backups/0110113719/pc1_AAAA.pfx", "facility_code": "0110113719",
                 "not_after": "2026-12-20T00:00:00+00:00", "new": True}],
    "ca_added": [{"store": "LocalMachine\\Root", "subject": "CN=Online Billing NW Common Root CA,C=JP"}],
    "before": [{"thumbprint": THUMB_OLD, "facility_code": "0110113719", "not_after": "2026-12-20T00:00:00+00:00",
                "has_key": True}],
    "after": [{"thumbprint": THUMB_NEW, "facility_code": "0110113719", "not_after": "2031-11-24T00:00:00+00:00",
               "has_key": True}],
}  # fmt: skip
FAILED = {"failed": True, "msg": "pc2: [ONSHI-E012] the password does not open this PKCS#12 file", "fix": "use the"
          " 4-digit password chosen at download; if it is lost, apply for a new certificate",
          "error_code": "ONSHI-E012"}  # fmt: skip
NOW = dt.datetime(2026, 11, 30, 1, 0, tzinfo=dt.UTC)


def at(minutes: int) -> str:
    """Return the moment ``minutes`` after NOW, as the fleet record gives it (UTC, ISO 8601)."""
    return (NOW + dt.timedelta(minutes=minutes)).isoformat()


def entries() -> list[workdocs.PcEntry]:
    clinic = "札幌内科<script>alert(1)</script>"
    return [
        workdocs.PcEntry("pc1", "札幌北", clinic, ["0110113719"], APPLIED),
        workdocs.PcEntry("pc2", "札幌北", clinic, ["0110113719"], FAILED),
        workdocs.PcEntry("pc3", "東京", "東京クリニック", ["1310512346"], None),
    ]


def test_one_report_per_clinic_with_before_after_backups_failures_and_sign_off(tmp_path) -> None:
    """A clinic's two PCs share one report: what was done, before and after, the backup's place and the USB copy,
    what failed with its code and fix, a sign-off box; hostile names are escaped; an unreached PC says so."""
    docs = workdocs.build(entries(), "report", pc_copy_dir="E:\\onshi-cert")
    assert [(d["clinic"], [p["host"] for p in d["pcs"]]) for d in docs] == [
        ("札幌内科<script>alert(1)</script>", ["pc1", "pc2"]),
        ("東京クリニック", ["pc3"]),
    ]
    files = workdocs.write(docs, tmp_path, now=NOW)
    assert sorted(f.name for f in files) == sorted(
        ["0110113719_report.ja.html", "0110113719_report.en.html", "1310512346_report.ja.html",
         "1310512346_report.en.html"]
    )  # fmt: skip
    ja = (tmp_path / "0110113719_report.ja.html").read_text(encoding="utf-8")
    assert "作業報告書" in ja and "2026年11月30日 (月) 10:00 JST" in ja
    assert "<script>alert(1)" not in ja and "札幌内科&lt;script&gt;" in ja
    body, appendix = ja.split("付録: 技術情報")
    assert THUMB_OLD not in body and THUMB_NEW not in body, "thumbprints only in the appendix"
    assert THUMB_OLD in appendix and THUMB_NEW in appendix and "pc1_AAAA.pfx" in appendix and "pc1.p12" in appendix
    assert "/data/backups" not in ja and "certs/" not in ja, "never a controller path"
    assert "作業前" in ja and "作業後" in ja and "オンライン資格確認用 電子証明書" in ja
    assert "医療機関等コード 0110113719 の新しい電子証明書（有効期限 2031年11月24日" in body
    assert "古い電子証明書" in body and "新しい証明書に置き換え" in body and "superseded" not in ja
    assert "動作確認: 正常に使用できることを確認しました" in body and "次回の更新期限: 2031年11月24日" in body
    assert "バックアップを 1 件作成しました" in body and "E:\\onshi-cert" in body
    # the run was in English; the Japanese report says the coded failure in Japanese
    assert "[ONSHI-E012] パスワードが違うため" in ja and "4桁のパスワード" in ja and "失敗" in ja
    assert "does not open" not in ja and "4-digit password" in (tmp_path / "0110113719_report.en.html").read_text()
    assert "作業担当者" in ja and "医療機関 確認欄" in ja and "size: A4" in ja
    tokyo = (tmp_path / "1310512346_report.ja.html").read_text(encoding="utf-8")
    assert "接続不可" in tokyo and "[ONSHI-E093]" in tokyo and "winrm quickconfig" in tokyo
    en = (tmp_path / "0110113719_report.en.html").read_text(encoding="utf-8")
    assert "Work report" in en and "Confirmed by the facility" in en


def test_a_plan_says_what_will_happen_and_the_downtime(tmp_path) -> None:
    """A check-mode result gives the plan in the report's layout: planned, the job and the downtime in words, the
    remarks and the sign boxes (the clinic confirms the plan)."""
    would_back_up = [{"path": "/data/backups/0110113719/pc1_BBBB.pfx", "facility_code": "0110113719", "new": True}]
    planned = dict(APPLIED, planned=True, backups=would_back_up)  # a planned backup may not say its expiry
    entry = workdocs.PcEntry("pc1", "札幌北", "札幌内科", ["0110113719"], planned)
    docs = workdocs.build([entry], "plan", job="renew")
    workdocs.write(docs, tmp_path, langs=("ja",), now=NOW)
    text = (tmp_path / "0110113719_plan.ja.html").read_text(encoding="utf-8")
    assert "作業計画書" in text and "予定" in text and "想定停止時間: なし" in text
    assert "作業内容: 電子証明書の更新" in text, "the plan says the job in words, as the report does"
    assert "新しい電子証明書（有効期限 2031年11月24日）を設定します" in text and "削除します" in text
    assert "新しい証明書に置き換え" in text and "superseded" not in text
    assert "特記事項" in text and "作業担当者" in text and "医療機関 確認欄" in text
    assert "pc1_BBBB.pfx" in text.split("付録: 技術情報")[1] and "/data/backups" not in text


def test_the_renewal_notice_lists_what_to_apply_for_by_when_and_the_cost(tmp_path) -> None:
    """更新のご案内 per clinic from the worklist: the kind, the apply-by date, the cost and the total."""
    data = {
        "renewals": [
            {"facility_code": "0110113719", "facility_name": "札幌内科", "host": "pc1", "site": "札幌北",
             "not_after": "2027-01-14T00:00:00+00:00", "apply_by": "2026-12-14T00:00:00+00:00",
             "deadline": "2027-01-14T00:00:00+00:00", "reason": "renew", "cost_yen": 1500},
            {"facility_code": "0110113719", "facility_name": "札幌内科", "host": "pc2", "site": "札幌北",
             "not_after": None, "apply_by": None, "deadline": None, "reason": "expired", "cost_yen": 2253},
        ],
        "vendor": {"name": "北海道メディカルシステム株式会社", "contact": "011-000-0000", "engineer": "山田"},
    }  # fmt: skip
    (doc,) = workdocs.notices(data)
    workdocs.write([doc], tmp_path, langs=("ja", "en"), now=NOW)
    text = (tmp_path / "0110113719_notice.ja.html").read_text(encoding="utf-8")
    assert "電子証明書 更新のご案内" in text and "2026年12月14日" in text and "再発行（期限切れ）" in text
    assert "3,753円" in text
    # addressed to the clinic, from the vendor, and what the clinic does, in the manual's words
    assert "札幌内科 御中" in text and "作業会社: 北海道メディカルシステム株式会社" in text and "011-000-0000" in text
    for words in (
        "医療機関等向け総合ポータルサイト",
        "続けてもう1枚申請",
        "1,500 円（税込）",
        "電子証明書発行通知書",
        "簡易書留",
        "電子証明書申請状況照会",
        "753 円",
        "オンライン資格確認とオンライン請求ができません",
    ):
        assert words in text, words
    assert "山田" not in text, "a notice is the vendor's, not one engineer's"
    english = (tmp_path / "0110113719_notice.en.html").read_text(encoding="utf-8")
    assert "To: 札幌内科" in english and "registered mail" in english


def test_two_clinics_with_one_file_name_each_keep_their_own_file(tmp_path) -> None:
    """One facility code under two spellings of the clinic's name, and two Japanese names without a code (both
    "____" in ASCII): every clinic's notice is written to a file of its own, none over another."""
    row = {"facility_code": "0110113719", "host": "pc1", "site": "札幌北", "not_after": None, "apply_by": None,
           "deadline": None, "reason": "expired", "cost_yen": 2253}  # fmt: skip
    data = {
        "renewals": [
            dict(row, facility_name="札幌内科"),
            dict(row, facility_name="札幌内科医院", host="pc2"),
            dict(row, facility_code=None, facility_name="東京歯科", host="pc3"),
            dict(row, facility_code=None, facility_name="大阪眼科", host="pc4"),
            dict(row, facility_code=None, facility_name="____-2", host="pc5"),  # the name another one was given
        ]
    }
    files = workdocs.write(workdocs.notices(data), tmp_path, now=NOW)
    assert len(files) == len(set(files)) == 10 == len(list(tmp_path.iterdir()))
    texts = [path.read_text(encoding="utf-8") for path in files if path.name.endswith(".ja.html")]
    for clinic in ("札幌内科", "札幌内科医院", "東京歯科", "大阪眼科", "____-2"):
        assert sum(f"{clinic}<" in text or f"{clinic} " in text for text in texts) >= 1, clinic
    assert sorted(path.name for path in files if path.name.endswith(".ja.html")) == [
        "0110113719-2_notice.ja.html",
        "0110113719_notice.ja.html",
        "____-2_notice.ja.html",
        "____-3_notice.ja.html",
        "_____notice.ja.html",
    ]


def test_a_pdf_is_printed_when_a_browser_is_installed(tmp_path) -> None:
    """With pdf, the Japanese document is also printed to an A4 PDF by the headless Chromium the tests install:
    one page for the clinic's three PCs (two done, one failed), the contractor, the work time, the remarks and
    the appendix included."""
    assert workdocs.pdf_renderer(), "scripts/system-deps.sh installs chromium"
    vendor = {"name": "北海道メディカルシステム株式会社", "contact": "011-000-0000", "engineer": "山田"}
    kept = {"at": at(20), "started": at(0), "remarks": "昼休みに作業"}
    third = workdocs.PcEntry("pc3", "札幌北", entries()[0].facility_name, ["0110113719"], APPLIED, **kept)
    docs = workdocs.build([*entries()[:2], third], "report", vendor=vendor, job="provision")
    files = workdocs.write(docs, tmp_path, langs=("ja",), pdf=True, now=NOW)
    pdf = tmp_path / "0110113719_report.ja.pdf"
    assert pdf in files and pdf.read_bytes().startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page(?!s)", pdf.read_bytes())) == 1, "one A4 page per clinic"


def test_a_pc_that_needs_a_person_is_never_done_or_unchanged(tmp_path) -> None:
    """A PC with another clinic's or a look-alike CA's certificate: 要対応 with each reason and what to do, never
    済み or 確認のみ・変更なし; a failure without our code never shows its exception text."""
    needs = {
        "changed": False,
        "attention_needed": True,
        "attention": [
            {"code": "wrong_issuer", "message": "偽の発行元の証明書 CCCC があります", "fix": "販売店に連絡してください"}
        ],
    }
    crashed = {"failed": True, "msg": "Traceback (most recent call last): KeyError: 'x'"}
    docs = workdocs.build([workdocs.PcEntry("pc1", "s", "c", ["0110113719"], needs),
                          workdocs.PcEntry("pc2", "s", "c", ["0110113719"], crashed)], "report")  # fmt: skip
    workdocs.write(docs, tmp_path, langs=("ja",), now=NOW)
    text = (tmp_path / "0110113719_report.ja.html").read_text(encoding="utf-8")
    assert "要対応" in text and "偽の発行元の証明書" in text and "販売店に連絡してください" in text
    assert "確認のみ・変更なし" not in text and "済み" not in text
    assert "Traceback" not in text and "KeyError" not in text and "[ONSHI-E059]" in text


def test_a_failure_with_fields_is_said_in_each_documents_language(tmp_path) -> None:
    """A run in English failed with a message that has fields (ONSHI-E052: the user and the logon): the Japanese
    report says it in Japanese with the same values, from the fields the failure carries; a fix the run gave in
    its own words (not the catalogue's) is kept as it was said."""
    from onshi_cert import i18n
    from onshi_cert.core import messages
    from onshi_cert.core.errors import OnshiCertError

    i18n.use("en")
    try:
        exc = OnshiCertError(messages.NO_DPAPI, user="PC1\\uketsuke", logon="Network")
        other = OnshiCertError(messages.NO_DPAPI, fix="call the vendor", user="PC2\\jimu", logon="Batch")
    finally:
        i18n.use(None)
    results = [
        {
            "failed": True,
            "msg": f"pc{n}: {e.describe()}",
            "fix": e.fix,
            "error_code": e.code,
            "error_fields": e.fields(),
        }
        for n, e in ((1, exc), (2, other))
    ]
    assert exc.fields() == {"user": "PC1\\uketsuke", "logon": "Network"}
    docs = workdocs.build([workdocs.PcEntry(f"pc{n}", "s", "c", ["0110113719"], r) for n, r in ((1, results[0]),
                                                                                               (2, results[1]))],
                          "report")  # fmt: skip
    workdocs.write(docs, tmp_path, now=NOW)
    ja = (tmp_path / "0110113719_report.ja.html").read_text(encoding="utf-8")
    en = (tmp_path / "0110113719_report.en.html").read_text(encoding="utf-8")
    assert "PC1\\uketsuke" in ja and "DPAPI" in ja and "has no DPAPI" not in ja.split("PC2")[0]
    assert "become_method" in ja and "run the task with become" not in ja
    assert "call the vendor" in ja, "a fix given in the run's own words is kept"
    assert "has no DPAPI" in en and "PC1\\uketsuke" in en


def test_the_work_time_runs_from_the_jobs_start_and_remarks_are_said_once(tmp_path) -> None:
    """作業時刻: from the start of the first job (its ansible-playbook process) to the last record, not the time the
    documents were drawn; the 特記事項 of a clinic's PCs are shown once each, escaped, and a report has the box
    even with none."""
    remark = "受付の PC は昼休みに作業<b>"
    first, second = (
        workdocs.PcEntry(host, "s", "c", ["0110113719"], APPLIED, at=at(begun + 20), started=at(begun), remarks=remark)
        for host, begun in (("pc1", 0), ("pc2", 105))
    )
    docs = workdocs.build([first, second], "report")  # fmt: skip
    assert docs[0]["times"] == [at(0), at(125)]
    assert docs[0]["remarks"] == ["受付の PC は昼休みに作業<b>"]
    workdocs.write(docs, tmp_path, langs=("ja",), now=NOW)
    ja = (tmp_path / "0110113719_report.ja.html").read_text(encoding="utf-8")
    assert "10:00" in ja and "12:05" in ja and ja.count("昼休みに作業&lt;b&gt;") == 1 and "<b>" not in ja
    assert (
        workdocs.remark_text(["一行目", None, " ", "二行目"]) == "一行目\n二行目" and workdocs.remark_text(None) == ""
    )
    plain = workdocs.build([workdocs.PcEntry("pc3", "s", "d", ["1310512346"], APPLIED)], "report")
    workdocs.write(plain, tmp_path, langs=("ja",), now=NOW)
    assert "特記事項" in (tmp_path / "1310512346_report.ja.html").read_text(encoding="utf-8")


def test_a_days_report_names_each_job_and_leaves_out_an_empty_appendix(tmp_path) -> None:
    """A day's report drawn from a provisioning and a later backup names both jobs in the order done, whatever
    this run's job; the end time leaves out a date that is the start's; a document with no identifier to list
    has no appendix."""
    needs = {"changed": False, "attention_needed": True, "attention": [{"code": "not_exportable", "message": "m"}]}
    done = [
        workdocs.PcEntry("pc1", "s", "c", ["0110113719"], needs, at=at(50), job="backup"),
        workdocs.PcEntry("pc1", "s", "c", ["0110113719"], needs, at=at(20), started=at(0), job="provision"),
    ]
    (doc,) = workdocs.build(done, "report", job="other")
    assert doc["jobs"] == ["provision", "backup"]
    assert workdocs.build([*done[:1], workdocs.PcEntry("pc2", "s", "c", [], needs, at=at(60))], "report",
                          job="renew")[0]["jobs"] == ["backup", "renew"]  # fmt: skip
    workdocs.write([doc], tmp_path, langs=("ja",), now=NOW)
    ja = (tmp_path / "0110113719_report.ja.html").read_text(encoding="utf-8")
    assert "作業内容: 電子証明書の設定" in ja and "、電子証明書のバックアップ" in ja
    assert "2026年11月30日 10:00 JST – 10:50 JST" in ja
    assert "付録: 技術情報" not in ja
