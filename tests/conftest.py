"""Session-wide fixtures: one certificate factory (keys generated at test time, never committed)."""

from __future__ import annotations

import datetime as dt

import pytest

from onshi_cert_tools.factory import CertificateFactory


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
