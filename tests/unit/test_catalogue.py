"""The message catalogue: every message people read is in it, in Japanese, with a stable error code."""

from __future__ import annotations

import ast
import gettext
import io
import re
import string
from pathlib import Path

import pytest

from onshi_cert import i18n
from onshi_cert.core import messages
from onshi_cert.core.errors import BadPasswordError, Message, OnshiCertError
from onshi_cert.core.renewal import FEE_YEN, POSTAGE_YEN
from onshi_cert_tools import catalogue

ROOT = Path(__file__).resolve().parents[2]
# Where people read what the code says: the collection and the commands that engineers run.
SOURCES = sorted(
    [p for p in (ROOT / "plugins").rglob("*.py") if "modules" not in p.parts and "doc_fragments" not in p.parts]
    + [ROOT / "src/onshi_cert_tools" / name for name in ("cli.py", "intake.py", "ledger.py")]
)


def fields(text: str) -> set[str]:
    """Return the ``{fields}`` (with conversions) of a format string."""
    return {f"{name}!{conv}" if conv else name for _lit, name, _spec, conv in string.Formatter().parse(text) if name}


def test_every_marked_message_is_in_the_catalogue_with_japanese() -> None:
    """Babel's extraction of the source equals the committed .po, and every entry has Japanese, not fuzzy."""
    extracted = {m.id for m in catalogue.extract() if m.id}
    committed = {m.id: m for m in catalogue.read() if m.id}
    assert extracted - committed.keys() == set(), "new messages: run scripts/i18n.sh and write their Japanese"
    assert committed.keys() - extracted == set(), "messages no longer used: run scripts/i18n.sh"
    untranslated = [key for key, m in committed.items() if not m.string or m.fuzzy]
    assert untranslated == []
    wrong_fields = [key for key, m in committed.items() if fields(key) != fields(m.string)]
    assert wrong_fields == []


def test_the_compiled_catalogue_is_the_po_file() -> None:
    """The .mo the collection ships says exactly what the .po says (scripts/i18n.sh compiled it)."""
    shipped = gettext.GNUTranslations(io.BytesIO(catalogue.MO.read_bytes()))
    compiled = gettext.GNUTranslations(io.BytesIO(catalogue.render_mo(catalogue.read())))
    assert shipped._catalog == compiled._catalog
    assert len(shipped._catalog) > 300


def test_the_error_docs_list_every_code() -> None:
    """docs/errors.md is generated from the catalogue and lists each code in both languages."""
    text = catalogue.ERRORS_DOC.read_text(encoding="utf-8")
    assert text == catalogue.errors_markdown(), "run scripts/i18n.sh"
    for code in messages.ALL:
        assert f"| `{code}` |" in text


def test_error_codes_are_stable_unique_and_well_formed() -> None:
    """One code per error; a code is ONSHI-E and three digits; no two errors share a code."""
    found = [v for v in vars(messages).values() if isinstance(v, Message)] + list(messages.REFUSED.values())
    codes = [m.code for m in found]
    assert len(codes) == len(set(codes)) == len(messages.ALL)
    assert all(re.fullmatch(r"ONSHI-E\d{3}", c) for c in codes)
    # The codes engineers already report keep their meaning.
    assert messages.P12_BAD_PASSWORD.code == "ONSHI-E012"
    assert messages.REFUSED["wrong_issuer"].code == "ONSHI-E040"
    assert messages.UNREACHABLE.code == "ONSHI-E093"


def test_costs_in_the_wording_follow_the_fee_table() -> None:
    """The fee and postage the messages quote are the renewal module's."""
    yen = f"{FEE_YEN:,} yen + {POSTAGE_YEN} yen postage"
    quoted = [m.id for m in catalogue.read() if m.id and "753" in m.id]
    assert quoted and all(yen in q or f"{POSTAGE_YEN} yen postage" in q for q in quoted)


def _is_marked(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """Return True when a string is a gettext id (inside _, N_, tr) or a docstring."""
    parent = parents.get(node)
    if isinstance(parent, ast.Call) and isinstance(parent.func, ast.Name) and parent.func.id in ("_", "N_", "tr"):
        return True
    return isinstance(parent, ast.Expr)


SENTENCE = re.compile(r"[A-Za-z]+ [a-z]+ [a-z]+")


def _sentences(path: Path) -> list[str]:
    """Return the unmarked English sentences ``path`` puts where people read them."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text, holder = node.value, node
            if isinstance(parents.get(node), ast.JoinedStr):
                holder = parents[node]
        elif isinstance(node, ast.JoinedStr):
            text = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
            holder = node
        else:
            continue
        comment = text.lstrip("-\n ").startswith("#") or "  # " in text  # comments of files we write (YAML)
        if not SENTENCE.search(text) or _is_marked(holder, parents) or text.startswith("# HELP ") or comment:
            continue
        # Not shown to people: ansible-doc text, argparse help, Prometheus metric help (for the exporter).
        parent = parents.get(holder)
        if isinstance(parent, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id in ("DOCUMENTATION", "EXAMPLES", "RETURN", "INSPECT_EPILOG")
            for t in parent.targets
        ):
            continue
        if isinstance(parent, ast.keyword) and parent.arg in ("help", "description", "epilog", "metavar"):
            continue
        if isinstance(parent, ast.Call) and getattr(parent.func, "attr", "") in ("add_parser", "add_argument"):
            continue
        found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {text[:70]!r}")
    return found


# Sentences deliberately not translated: internal errors a developer reads (wrapped in ONSHI-E900 when shown).
ALLOWED = (
    "agent/contract.py",
    "agent/payload.py",
    "core/_der.py",
    "core/pkcs12.py",  # DER details inside ONSHI-E010
    "requirements.py",
    "store/connect.py",  # what the database drivers say, matched to choose the coded error, never shown
    "plugin_utils/reach.py",  # what the connection libraries say, matched to name the cause, never shown
    "cli.py",  # argparse help (English, like ansible's own) and lab/developer commands
)


def test_no_english_sentence_reaches_people_outside_the_catalogue() -> None:
    """A sentence in the collection or the engineers' commands is a gettext id, a docstring or ansible-doc text."""
    found = [s for path in SOURCES if not str(path).endswith(ALLOWED) for s in _sentences(path)]
    assert found == []


def test_every_raised_error_comes_from_the_catalogue() -> None:
    """Each ``raise XError(...)`` of our hierarchy passes a catalogue Message (so it has a code), never text."""
    errors = {"OnshiCertError", "FacilityCodeError", "Pkcs12Error", "CorruptPkcs12Error", "BadPasswordError"}
    errors |= {"NoPrivateKeyError", "TrustError", "BackupError", "WorkflowError", "PreflightError", "InputTypeError"}
    errors |= {"IntakeError"}
    bad = []
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            call = node.exc if isinstance(node, ast.Raise) else node if isinstance(node, ast.Call) else None
            if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name) or call.func.id not in errors:
                continue
            first = call.args[0] if call.args else None
            if isinstance(first, ast.Constant | ast.JoinedStr) or first is None:
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert bad == []


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        (
            "ja",
            "[ONSHI-E012] パスワードが違うため、この PKCS#12 ファイルを開けません 対処: ダウンロード時に設定した4桁の"
            "パスワードを使ってください。分からない場合は電子証明書の再発行を申請してください",
        ),
        (
            "en",
            "[ONSHI-E012] the password does not open this PKCS#12 file Fix: use the 4-digit password chosen at "
            "download; if it is lost, apply for a new certificate",
        ),
    ],
)
def test_the_wording_of_an_error_in_each_language(lang: str, expected: str) -> None:
    """One table test for the wording: the same error, code first, message and fix in the chosen language."""
    before = i18n.current()
    try:
        i18n.use(lang)
        assert BadPasswordError(messages.P12_BAD_PASSWORD).describe() == expected
    finally:
        i18n.use(before)


def test_the_language_is_chosen_by_option_then_environment(monkeypatch) -> None:
    """An explicit choice wins; then ONSHI_CERT_LANG; then LANGUAGE, LC_ALL, LC_MESSAGES, LANG; else English."""
    for name in ("ONSHI_CERT_LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(name, raising=False)
    assert i18n.detect_lang() == "en"
    monkeypatch.setenv("LANG", "ja_JP.UTF-8")
    assert i18n.detect_lang() == "ja"
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    assert i18n.detect_lang() == "en"
    monkeypatch.setenv("LANGUAGE", "ja:en")
    assert i18n.detect_lang() == "ja"
    monkeypatch.setenv("ONSHI_CERT_LANG", "en")
    assert i18n.detect_lang() == "en" and i18n.detect_lang("ja") == "ja" and i18n.detect_lang("ja_JP") == "ja"
    assert i18n.detect_lang("fr") == "en"


def test_an_error_keeps_its_code_when_it_names_a_file() -> None:
    """Wrapping an error for the file it concerns keeps its code, message and fix."""
    from onshi_cert.core.install import PreflightError

    wrapped = PreflightError.wrap(OnshiCertError(messages.FILE_UNREADABLE, reason="No such file"), "a.p12")
    assert wrapped.code == "ONSHI-E016" and wrapped.file == "a.p12" and "No such file" in wrapped.text
    assert wrapped.to_dict()["error_code"] == "ONSHI-E016"
