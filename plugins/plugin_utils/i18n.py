"""Every message a person reads, in Japanese or English, through the standard gettext machinery.

The English text is the message id; the Japanese lives in ``locale/ja/LC_MESSAGES/onshi_cert.po`` (compiled to
``.mo`` beside it). ``scripts/i18n.sh`` extracts the ids with Babel and compiles the catalogue; the tests fail
when a message shown to people is missing from it or has no Japanese.

The language is chosen once per process (an action plugin's worker, the recap, the CLI): an explicit
``onshi_cert_lang`` / ``--lang``, else ``ONSHI_CERT_LANG``, else the locale (``LANGUAGE``, ``LC_ALL``,
``LC_MESSAGES``, ``LANG``), else English. Messages are rendered in it when they are made (``say``, imported as
``_``); reports written in both languages render their own texts with ``tr``.
"""

from __future__ import annotations

import gettext
import os
import unicodedata
from functools import cache
from pathlib import Path

DOMAIN = "onshi_cert"
LOCALE_DIR = Path(__file__).parent / "locale"
LANGS = ("ja", "en")

_current: list[str] = []


def N_(text: str) -> str:
    """Mark ``text`` as a message id to translate later (Babel extracts it)."""
    return text


@cache
def catalogue(lang: str) -> gettext.NullTranslations:
    """Return the translations of ``lang`` (English is the message ids themselves)."""
    if lang == "en":
        return gettext.NullTranslations()
    return gettext.translation(DOMAIN, localedir=str(LOCALE_DIR), languages=[lang], fallback=True)


def detect_lang(explicit: str | None = None) -> str:
    """Return ``explicit`` when it names a language we speak, else the locale's language (ja or en)."""
    if explicit:
        value = str(explicit).strip().lower()[:2]
        if value in LANGS:
            return value
    for name in ("ONSHI_CERT_LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(name)
        if value:
            # LANGUAGE is a preference list (ja:en); the first entry decides. C/POSIX mean English.
            return "ja" if value.split(":")[0].lower().startswith("ja") else "en"
    return "en"


def use(lang: str | None) -> str:
    """Set the language of this process's messages (``None``: from the locale); return it."""
    chosen = detect_lang(lang)
    _current[:] = [chosen]
    return chosen


def current() -> str:
    """Return the language messages are rendered in now."""
    return _current[0] if _current else detect_lang()


def tr(lang: str, msgid: str, /, **values: object) -> str:
    """Return ``msgid`` in ``lang``, its ``{fields}`` filled with ``values``."""
    text = catalogue(lang).gettext(msgid)
    return text.format(**values) if values else text


def say(msgid: str, /, **values: object) -> str:
    """Return ``msgid`` in the current language, its ``{fields}`` filled with ``values``.

    Callers import it as ``_`` (``from .i18n import say as _``), the name Babel extracts.
    """
    return tr(current(), msgid, **values)


def join(items: list[str]) -> str:
    """Return ``items`` as one list in the current language (、 in Japanese)."""
    return ("、" if current() == "ja" else ", ").join(items)


LABELS: dict[str, str] = {
    "file": N_("File"),
    "subject": N_("Subject"),
    "issuer": N_("Issuer"),
    "facility_code": N_("Facility code"),
    "valid_from": N_("Valid from"),
    "valid_to": N_("Expires"),
    "days_remaining": N_("Days remaining"),
    "thumbprint": N_("Thumbprint (SHA-1)"),
    "serial": N_("Serial"),
    "client_auth": N_("Client authentication"),
    "key": N_("Private key"),
    "chain": N_("Chain"),
    "encryption": N_("Encryption"),
    "min_build": N_("Lowest Windows build that imports it"),
    "any_build": N_("any"),
    "verdict": N_("Verdict"),
    "stage": N_("MPKI client tool warning"),
    "renewal": N_("Renewal"),
    "yes": N_("yes"),
    "no": N_("no"),
    "root": N_("root"),
    "intermediate": N_("intermediate"),
    "verdict.ok": N_("OK"),
    "verdict.expiring": N_("expiring"),
    "verdict.expired": N_("expired"),
    "verdict.not_yet_valid": N_("not yet valid"),
    "verdict.wrong_facility": N_("wrong facility"),
    "verdict.wrong_issuer": N_("wrong issuer"),
    "verdict.no_key": N_("no private key"),
    "verdict.bad_code": N_("no usable facility code"),
    "verdict.not_client_auth": N_("not for client authentication"),
    "stage.ok": N_("OK"),
    "stage.90": N_("90 days"),
    "stage.60": N_("60 days"),
    "stage.30": N_("30 days"),
    "stage.15": N_("15 days"),
    "stage.7": N_("7 days (daily)"),
    "stage.expired": N_("expired"),
    "stage.not_yet_valid": N_("not yet valid"),
    "renewal.window": N_("window opens {opens}, apply by {apply_by}, deadline {deadline}, cost {cost} yen"),
    "error": N_("Error"),
    "fix": N_("Fix"),
}


def t(key: str, lang: str, **values: object) -> str:
    """Return the label ``key`` in ``lang``, formatted with ``values``."""
    return tr(lang, LABELS.get(key, key), **values)


def display_width(text: str) -> int:
    """Return how many terminal columns ``text`` takes (full-width characters count two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def pad(text: str, width: int) -> str:
    """Return ``text`` padded with spaces to ``width`` terminal columns."""
    return text + " " * max(0, width - display_width(text))
