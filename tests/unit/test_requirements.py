"""The collection names what it lacks: requirements.missing() and requirements.txt agree."""

from __future__ import annotations

from pathlib import Path

from onshi_cert import requirements

ROOT = Path(__file__).resolve().parents[2]


def test_requirements_txt_lists_every_guarded_package() -> None:
    text = (ROOT / "requirements.txt").read_text()
    for requirement in requirements.PACKAGES.values():
        assert requirement in text


def test_a_missing_package_is_named_with_its_range(monkeypatch) -> None:
    assert requirements.missing() == []
    monkeypatch.setitem(requirements.PACKAGES, "onshi_not_installed_anywhere", "onshi-not-installed>=1,<2")
    assert requirements.missing() == ["onshi-not-installed>=1,<2"]
