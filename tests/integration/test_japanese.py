"""A Japanese engineer's shell (a real ja_JP.UTF-8 locale): plays, errors, diffs and the recap speak Japanese."""

from __future__ import annotations

import re

import pytest

from onshi_cert_tools.lab import downloads
from tests.integration.helpers import run_playbook

pytestmark = pytest.mark.integration


def recap_of(run) -> str:
    assert "ONSHI-CERT 作業結果" in run.stdout, run.stdout[-3000:]
    return run.stdout.split("ONSHI-CERT 作業結果")[1]


def test_a_check_run_in_japanese_plans_in_the_manuals_words(reset_lab, ja_locale) -> None:
    """--check --diff under ja_JP.UTF-8: 予定 in the recap, one diff block per store with Japanese reasons."""
    lab = reset_lab
    downloads.issue(lab.state_dir, lab.state_dir / "certs")
    before = lab.host("tokyo-clinic-pc01")["state"]
    run = run_playbook(
        "playbooks/provision.yml", lab.inventory, check=True, diff=True, limit="tokyo-clinic-pc01", env=ja_locale
    )
    assert run.rc == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert lab.host("tokyo-clinic-pc01")["state"] == before
    line = next(x for x in recap_of(run).splitlines() if x.startswith("tokyo-clinic-pc01"))
    assert "予定" in line and "インストール予定" in line, line
    assert "CurrentUser(OQSComApp)\\My" in run.stdout and "からインストール" in run.stdout
    assert "有効期限" in run.stdout


def test_a_failing_audit_in_japanese_names_the_code_and_the_fix(reset_lab, ja_locale) -> None:
    """An audit that fails the PCs needing a person says so in Japanese, with ONSHI-E058 and the report's place."""
    lab = reset_lab
    run = run_playbook(
        "playbooks/audit.yml",
        lab.inventory,
        limit="fukuoka-shika-pc01",
        extra_vars={"onshi_cert_audit_fail_on_attention": True},
        env=ja_locale,
    )
    assert run.rc != 0
    flat = " ".join(run.stdout.split())  # the YAML callback wraps long messages
    # the report is the whole fleet's: the other PCs, never audited in this fresh record, are 未確認 (要対応)
    assert "レポート: " in flat and re.search(r"要対応の端末 1[0-3] 台", flat)
    line = next(x for x in recap_of(run).splitlines() if x.startswith("fukuoka-shika-pc01"))
    assert "失敗" in line and "[ONSHI-E058] 要対応の端末です" in line and "固定したルートにつながりません" in line
    failure = next(r for r in run.results if r["host"] == "fukuoka-shika-pc01" and r["status"] == "failed")
    assert "対処: それぞれの対処は監査レポート" in failure["result"]["msg"]


def test_onshi_cert_lang_chooses_english_in_a_japanese_shell(reset_lab, ja_locale) -> None:
    """onshi_cert_lang: en (an inventory or -e variable) gives English messages whatever the locale."""
    lab = reset_lab
    run = run_playbook(
        "playbooks/audit.yml",
        lab.inventory,
        limit="fukuoka-shika-pc01",
        extra_vars={"onshi_cert_audit_fail_on_attention": True, "onshi_cert_lang": "en"},
        env=ja_locale,
    )
    failure = next(r for r in run.results if r["host"] == "fukuoka-shika-pc01" and r["status"] == "failed")
    assert "[ONSHI-E058] the PC needs a person" in failure["result"]["msg"]
    assert "Fix: see the audit report" in failure["result"]["msg"]
