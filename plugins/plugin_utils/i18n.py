"""Japanese and English wording for people-facing output (CLI and reports)."""

from __future__ import annotations

import locale
import os
import unicodedata

LANGS = ("ja", "en")

MESSAGES: dict[str, dict[str, str]] = {
    "file": {"ja": "ファイル", "en": "File"},
    "subject": {"ja": "サブジェクト", "en": "Subject"},
    "issuer": {"ja": "発行者", "en": "Issuer"},
    "facility_code": {"ja": "医療機関等コード", "en": "Facility code"},
    "valid_from": {"ja": "有効期間の開始", "en": "Valid from"},
    "valid_to": {"ja": "有効期限", "en": "Expires"},
    "days_remaining": {"ja": "残り日数", "en": "Days remaining"},
    "thumbprint": {"ja": "拇印 (SHA-1)", "en": "Thumbprint (SHA-1)"},
    "serial": {"ja": "シリアル番号", "en": "Serial"},
    "client_auth": {"ja": "クライアント認証", "en": "Client authentication"},
    "key": {"ja": "秘密鍵", "en": "Private key"},
    "chain": {"ja": "チェーン", "en": "Chain"},
    "encryption": {"ja": "暗号化方式", "en": "Encryption"},
    "min_build": {"ja": "インポート可能な最小Windowsビルド", "en": "Lowest Windows build that imports it"},
    "any_build": {"ja": "すべて", "en": "any"},
    "verdict": {"ja": "判定", "en": "Verdict"},
    "renewal": {"ja": "更新", "en": "Renewal"},
    "yes": {"ja": "あり", "en": "yes"},
    "no": {"ja": "なし", "en": "no"},
    "root": {"ja": "ルート", "en": "root"},
    "intermediate": {"ja": "中間", "en": "intermediate"},
    "verdict.ok": {"ja": "正常", "en": "OK"},
    "verdict.expiring": {"ja": "期限間近", "en": "expiring"},
    "verdict.expired": {"ja": "期限切れ", "en": "expired"},
    "verdict.not_yet_valid": {"ja": "有効期間前", "en": "not yet valid"},
    "verdict.wrong_facility": {"ja": "医療機関等コード不一致", "en": "wrong facility"},
    "verdict.wrong_issuer": {"ja": "発行者不一致", "en": "wrong issuer"},
    "verdict.no_key": {"ja": "秘密鍵なし", "en": "no private key"},
    "verdict.bad_code": {"ja": "医療機関等コード不正（チェックディジット誤り・複数）", "en": "no usable facility code"},
    "verdict.not_client_auth": {"ja": "クライアント認証用でない", "en": "not for client authentication"},
    "stage.ok": {"ja": "正常", "en": "OK"},
    "stage.90": {"ja": "90日前", "en": "90 days"},
    "stage.60": {"ja": "60日前", "en": "60 days"},
    "stage.30": {"ja": "30日前", "en": "30 days"},
    "stage.15": {"ja": "15日前", "en": "15 days"},
    "stage.7": {"ja": "7日前（毎日）", "en": "7 days (daily)"},
    "stage.expired": {"ja": "期限切れ", "en": "expired"},
    "stage.not_yet_valid": {"ja": "有効期間前", "en": "not yet valid"},
    "renewal.window": {
        "ja": "更新受付開始 {opens}、申請目安 {apply_by}、期限 {deadline}、費用 {cost}円",
        "en": "window opens {opens}, apply by {apply_by}, deadline {deadline}, cost {cost} yen",
    },
    "error": {"ja": "エラー", "en": "Error"},
    "fix": {"ja": "対処", "en": "Fix"},
}


def detect_lang(explicit: str | None = None) -> str:
    """Return ``explicit``, else ``ja`` when the locale or LANG is Japanese, else ``en``."""
    if explicit in LANGS:
        return explicit
    for value in (
        os.environ.get("LC_ALL"),
        os.environ.get("LC_MESSAGES"),
        os.environ.get("LANG"),
        locale.getlocale()[0],
    ):
        if value:
            return "ja" if value.lower().startswith("ja") else "en"
    return "en"


def t(key: str, lang: str, **values: object) -> str:
    """Return the message ``key`` in ``lang``, formatted with ``values``."""
    text = MESSAGES.get(key, {}).get(lang) or MESSAGES.get(key, {}).get("en") or key
    return text.format(**values) if values else text


def display_width(text: str) -> int:
    """Return how many terminal columns ``text`` takes (full-width characters count two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def pad(text: str, width: int) -> str:
    """Return ``text`` padded with spaces to ``width`` terminal columns."""
    return text + " " * max(0, width - display_width(text))
