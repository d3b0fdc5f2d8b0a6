"""Session-wide fixtures: one certificate factory (keys generated at test time, never committed)."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# The suite speaks English unless a test chooses Japanese (ONSHI_CERT_LANG=ja, or a real ja_JP.UTF-8 locale for
# the tests of the Japanese catalogue): the machine's own locale must not change what the assertions read.
os.environ["ONSHI_CERT_LANG"] = "en"

from onshi_cert_tools.factory import CertificateFactory

pytest_plugins = ["tests.receivers"]  # the SMTP and HTTP receivers of the alert tests


@pytest.fixture(scope="session")
def now() -> dt.datetime:
    """Return the fixed 'now' the factory issued its certificates at."""
    return dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="session")
def factory(now: dt.datetime) -> CertificateFactory:
    """Return a factory whose CA is named like the real 'Online Billing NW Common Root CA'."""
    return CertificateFactory(now=now, key_pool=4)


@pytest.fixture(scope="session")
def factory_with_intermediate(now: dt.datetime) -> CertificateFactory:
    """Return a factory that issues through an intermediate CA."""
    return CertificateFactory(now=now, intermediate=True, key_pool=2)


@pytest.fixture(scope="session")
def lookalike_factory(now: dt.datetime) -> CertificateFactory:
    """Return a factory whose CA has a name like the real one, but is not it."""
    from onshi_cert_tools.factory import LOOKALIKE_ISSUER_CN

    return CertificateFactory(LOOKALIKE_ISSUER_CN, now=now, key_pool=1)


JA_LOCALE = "ja_JP.UTF-8"


@pytest.fixture(scope="session")
def ja_locale() -> dict[str, str]:
    """Return the environment of a real ``ja_JP.UTF-8`` locale, as a Japanese engineer's shell has it.

    A fresh machine often has no Japanese locale generated (and ansible refuses to start under an unknown
    LANG), so it is compiled with ``localedef`` into a private LOCPATH (``.venv/locale``, made by bootstrap);
    ONSHI_CERT_LANG is cleared so that the locale alone chooses the language.
    """
    root = Path(__file__).resolve().parents[1] / ".venv" / "locale"
    target = root / JA_LOCALE
    if not (target / "LC_CTYPE").exists():
        if shutil.which("localedef") is None:
            pytest.fail("localedef is missing: install the Debian package 'locales' (scripts/system-deps.sh does)")
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=root) as tmp:
            built = Path(tmp) / JA_LOCALE
            subprocess.run(["localedef", "-c", "-i", "ja_JP", "-f", "UTF-8", str(built)], check=False)
            if not (built / "LC_CTYPE").exists():
                pytest.fail("localedef could not build ja_JP.UTF-8: install the Debian package 'locales'")
            with contextlib.suppress(OSError):  # another worker may have built it first
                built.rename(target)
    env = {
        "LOCPATH": str(root),
        "LANG": JA_LOCALE,
        "LC_ALL": JA_LOCALE,
        "LANGUAGE": "",
        "ONSHI_CERT_LANG": "",
    }
    probe = subprocess.run(
        [sys.executable, "-c", "import locale; print(locale.setlocale(locale.LC_ALL, ''))"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert probe.stdout.strip() == JA_LOCALE, probe.stderr
    return env


@pytest.fixture(autouse=True)
def _language_from_the_environment() -> Iterator[None]:
    """Each test starts (and leaves the process) with the language the environment chooses (English here)."""
    from onshi_cert import i18n

    i18n.use(None)
    yield
    i18n.use(None)


#: The files that take longest (about 30-110 s each on two cores), run first: pytest-xdist (--dist loadfile) hands
#: files to its workers in collection order, so the short ones then fill the end instead of one long file running
#: alone on one core at the end. Order only; every test still runs.
LONGEST_FIRST = (
    "tests/integration/test_molecule.py",
    "tests/integration/test_interruption.py",
    "tests/integration/test_playbooks.py",
    "tests/integration/test_backup.py",
    "tests/integration/test_cert.py",
    "tests/integration/test_lab_cli.py",
    "tests/integration/test_collection.py",
    "tests/integration/test_lab_wire.py",
    "tests/integration/test_preflight.py",
    "tests/integration/test_intake.py",
    "tests/integration/test_fleet_faults.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Put the longest files first (a stable sort: within a file and among the rest, the order stays)."""
    rank = {name: index for index, name in enumerate(LONGEST_FIRST)}
    root = Path(str(config.rootpath))
    missing = [name for name in LONGEST_FIRST if not (root / name).is_file()]
    if missing:
        raise pytest.UsageError(f"tests/conftest.py LONGEST_FIRST names files that are gone: {missing}")
    items.sort(key=lambda item: rank.get(Path(str(item.path)).relative_to(root).as_posix(), len(rank)))


@pytest.fixture(scope="session")
def postgres():
    """A private PostgreSQL server for the session (Debian's binaries; scripts/system-deps.sh installs them)."""
    from tests import postgres as pg

    if pg.binaries() is None:
        if os.environ.get("CI"):
            pytest.fail("no PostgreSQL server binaries: scripts/system-deps.sh installs Debian's postgresql")
        pytest.skip("no PostgreSQL server binaries: run scripts/system-deps.sh (as root) to install them")
    with pg.server() as server:
        yield server
