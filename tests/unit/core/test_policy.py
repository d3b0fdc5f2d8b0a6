"""The one decision (plan_host) and the verdicts, rule by rule, as in-process case tables."""

from __future__ import annotations

import datetime as dt

import pytest

from onshi_cert.core.certinfo import describe_certificate, thumbprint
from onshi_cert.core.facility import FacilityRule
from onshi_cert.core.policy import Expectations, Judged, Scope, Stage, Verdict, assess, judge, plan_host, stage_for
from onshi_cert.core.trust import TrustAnchors, fingerprint
from onshi_cert_tools.factory import CertificateFactory

CODE = "3410712362"
OTHER = "0110113719"


@pytest.fixture(scope="module")
def forged(now) -> CertificateFactory:
    """Return a CA with the genuine CA's very name and another key."""
    return CertificateFactory(now=now, key_pool=1)


@pytest.fixture(scope="module")
def expect(factory) -> Expectations:
    """Return expectations pinning the test factory's root by fingerprint."""
    return Expectations((CODE,), TrustAnchors(frozenset({fingerprint(factory.root)})))


def pc(issued, expect, factory, *, key=True, exportable=True, usable=True, backed_up=None) -> Judged:
    """Return a certificate as found on a PC, judged."""
    info = describe_certificate(issued.cert, rule=expect.rule, has_key=key)
    info.key_usable, info.key_exportable = (key and usable), exportable
    return judge(
        info,
        issued.cert,
        expect,
        source="pc",
        origin="My",
        pool=[factory.root, *issued.chain],
        key_ok=key and usable,
        exportable=exportable,
        backed_up=backed_up,
    )


def offer(issued, expect, origin="x.p12") -> Judged:
    """Return a certificate offered in a .p12, judged with the file's own chain."""
    info = describe_certificate(issued.cert, rule=expect.rule, has_key=True)
    return judge(
        info, issued.cert, expect, source="p12", origin=origin, pool=issued.chain, key_ok=True, exportable=True
    )


@pytest.mark.parametrize(
    ("days", "stage"),
    [
        *[(400, Stage.OK), (90.5, Stage.OK), (90, Stage.D90), (60, Stage.D60), (30, Stage.D30), (15, Stage.D15)],
        *[(7, Stage.D7), (0.1, Stage.D7), (0, Stage.EXPIRED), (-5, Stage.EXPIRED)],
    ],
)
def test_schedule_stages(now, days, stage) -> None:
    """Stages follow the MPKI client tool: 90, 60, 30, 15, daily from 7, expired."""
    assert stage_for(now - dt.timedelta(days=1000), now + dt.timedelta(days=days), now) is stage


@pytest.mark.parametrize(
    ("kwargs", "pc_kwargs", "verdict"),
    [
        ({}, {}, Verdict.OK),
        ({"days_left": 45}, {}, Verdict.EXPIRING),
        ({"days_left": -1}, {}, Verdict.EXPIRED),
        ({"facility_code": OTHER}, {}, Verdict.WRONG_FACILITY),
        ({"facility_code": "3410712363"}, {}, Verdict.BAD_CODE),
        ({}, {"key": False}, Verdict.NO_KEY),
        ({}, {"usable": False}, Verdict.NO_KEY),
        ({"client_auth": False}, {}, Verdict.NOT_CLIENT_AUTH),
    ],
)
def test_verdicts(factory, expect, now, kwargs, pc_kwargs, verdict) -> None:
    """Each kind of certificate gets its verdict."""
    result = assess(pc(factory.leaf(**{"facility_code": CODE, **kwargs}), expect, factory, **pc_kwargs), expect, now)
    assert result.verdict is verdict


def test_trust_is_a_signature_chain_not_a_name(factory, forged, expect, now) -> None:
    """A CA copying the genuine name is not trusted; a leaf without its chain verifies only with the pinned root."""
    fake = pc(forged.leaf(CODE), expect, forged)
    assert fake.info.issuer_cn == factory.root.subject.rfc4514_string().split("CN=")[1].split(",")[0]
    assert not fake.ours and assess(fake, expect, now).verdict is Verdict.WRONG_ISSUER
    genuine = factory.leaf(CODE)
    bare = describe_certificate(genuine.cert, has_key=True)
    alone = judge(bare, genuine.cert, expect, source="p12", origin="f", pool=[], key_ok=True)
    assert not alone.ours and "not available" in alone.chain.reason
    assert judge(bare, genuine.cert, expect, source="p12", origin="f", pool=[factory.root], key_ok=True).ours
    unpinned = Expectations((CODE,))
    assert not judge(bare, genuine.cert, unpinned, source="p12", origin="f", pool=[factory.root], key_ok=True).ours


@pytest.mark.parametrize(
    ("cn", "ou", "code", "error"),
    [
        (f"{CODE}-01", None, CODE, None),
        (f"{OTHER}-01", CODE, None, "another facility code"),
        ("3410712363-01", None, None, "check digit"),
        (f"{CODE} {OTHER}", None, None, "2 different facility codes"),
        ("terminal-01", CODE, None, "no facility code"),
    ],
)
def test_code_comes_from_one_field_unambiguously(factory, cn, ou, code, error) -> None:
    """The code is read from the CN only; a wrong check digit or a second code elsewhere is refused."""
    info = describe_certificate(factory.leaf(CODE, cn=cn, ou=ou).cert, rule=FacilityRule())
    assert (info.facility_codes[0] if info.facility_codes and not info.code_error else None) == code
    assert (error is None) == (info.code_error is None)
    if error:
        assert error in info.code_error


def test_code_field_is_configurable(factory) -> None:
    """With the rule naming OU, the OU's code counts and a different CN code makes it ambiguous."""
    info = describe_certificate(factory.leaf(CODE, cn="terminal-01", ou=CODE).cert, rule=FacilityRule("OU"))
    assert info.facility_codes == [CODE] and info.code_error is None


def test_newest_valid_wins_wherever_it_is(factory, expect, now) -> None:
    """An older .p12 is not installed over a newer certificate: it is reported as outdated; nothing is removed."""
    newer = pc(factory.leaf(CODE, days_left=1000), expect, factory)
    older = offer(factory.leaf(CODE, days_left=700), expect)
    plan = plan_host(expect, [newer], [older], now=now)
    assert plan.keep == {CODE: newer.thumbprint}
    assert plan.imports == [] and plan.removals == []
    assert any("older than" in w for w in plan.warnings)


def test_newer_file_installs_and_supersedes(factory, expect, now) -> None:
    """A newer .p12 wins; the old valid one is superseded (backed up first) and the expired one goes."""
    old = pc(factory.leaf(CODE, days_left=60), expect, factory)
    expired = pc(factory.leaf(CODE, days_left=-5), expect, factory)
    new = offer(factory.leaf(CODE, days_left=1180), expect)
    plan = plan_host(expect, [old, expired], [new], now=now)
    assert [i.thumbprint for i in plan.imports] == [new.thumbprint]
    assert {r.thumbprint: (r.reason, r.backup) for r in plan.removals} == {
        old.thumbprint: ("superseded", "export"),
        expired.thumbprint: ("expired", "export"),
    }
    assert [s for s, _ in plan.ca_adds] == ["LocalMachine\\Root"]


def test_in_place_renewal_with_unexportable_key_is_finished(factory, expect, now) -> None:
    """The renewed (unexportable) certificate is kept; the old one goes; the PC needs a person for its backup."""
    renewed = pc(factory.leaf(CODE, days_left=1180), expect, factory, exportable=False)
    old = pc(factory.leaf(CODE, days_left=20), expect, factory)
    stale_p12 = offer(factory.leaf(CODE, days_left=19), expect)
    plan = plan_host(expect, [renewed, old], [stale_p12], now=now)
    assert plan.keep == {CODE: renewed.thumbprint} and plan.imports == []
    assert [(r.thumbprint, r.reason) for r in plan.removals] == [(old.thumbprint, "superseded")]
    assert [a.code for a in plan.attention] == ["not_exportable"]


def test_valid_certificate_of_another_code_is_never_removed(factory, expect, now) -> None:
    """Codes swapped in the inventory: the PC's only valid certificate stays, unexportable or not, and it says so."""
    theirs = pc(factory.leaf(OTHER, days_left=500), expect, factory, exportable=False)
    plan = plan_host(expect, [theirs], now=now)
    assert plan.removals == [] and plan.disagreement
    assert "disagree" in plan.warnings[0]
    assert {a.code for a in plan.attention} == {"missing", "wrong_facility"}


def test_retired_code_goes_only_once_every_expected_code_is_held(factory, now) -> None:
    """A retired code's valid certificate is removed (after backup) only when the expected code has its own."""
    retired = Expectations((CODE,), TrustAnchors(frozenset({fingerprint(factory.root)})), retire_codes=(OTHER,))
    old_code = pc(factory.leaf(OTHER, days_left=500), retired, factory)
    assert plan_host(retired, [old_code], now=now).removals == []
    mine = pc(factory.leaf(CODE, days_left=900), retired, factory)
    plan = plan_host(retired, [old_code, mine], now=now)
    assert [(r.thumbprint, r.reason) for r in plan.removals] == [(old_code.thumbprint, "retired")]


@pytest.mark.parametrize(
    ("pc_kwargs", "route"),
    [
        ({"backed_up": True}, "verified"),
        ({}, "export"),
        ({"exportable": False}, "impossible"),
        ({"key": False}, "impossible"),
        ({"exportable": None}, None),
    ],
)
def test_no_removal_without_a_way_back(factory, expect, now, pc_kwargs, route) -> None:
    """A superseded certificate goes with a backup, or the stated reason none is possible; unknown: it stays."""
    old = pc(factory.leaf(CODE, days_left=100), expect, factory, **pc_kwargs)
    new = pc(factory.leaf(CODE, days_left=1000), expect, factory)
    plan = plan_host(expect, [old, new], now=now)
    assert [r.backup for r in plan.removals] == ([route] if route else [])
    if route is None:
        assert old.thumbprint in plan.stays


def test_forged_and_foreign_certificates_are_never_touched(factory, forged, expect, now) -> None:
    """A forged certificate claiming the code stays and needs a person; a .p12 from it is refused and holds its code."""
    fake = pc(forged.leaf(CODE, days_left=-3), expect, forged)
    mine = pc(factory.leaf(CODE), expect, factory)
    plan = plan_host(expect, [fake, mine], [offer(forged.leaf(CODE), expect)], now=now)
    assert plan.removals == [] and plan.keep == {CODE: mine.thumbprint}
    assert [a.code for a in plan.attention] == ["blocked", "wrong_issuer"]
    assert [code for _, code, _ in plan.refusals] == ["wrong_issuer"]


def test_only_the_pinned_chain_is_trusted_into_stores(factory_with_intermediate, now) -> None:
    """The pinned root and the verified intermediate are added; an extra self-signed root in the file is not."""
    factory = factory_with_intermediate
    expect = Expectations((CODE,), TrustAnchors(frozenset({fingerprint(factory.root)})))
    issued = factory.leaf(CODE)
    extra = CertificateFactory(now=now).root
    issued.chain.append(extra)
    plan = plan_host(expect, [], [offer(issued, expect)], now=now)
    added = {(store, fingerprint(c)) for store, c in plan.ca_adds}
    assert added == {
        ("LocalMachine\\Root", fingerprint(factory.root)),
        ("CurrentUser\\CA", fingerprint(factory.issuer_cert)),
    }
    already = [thumbprint(c) for _, c in plan.ca_adds]
    assert not plan_host(expect, [], [offer(issued, expect)], ca_present=already, now=now).ca_adds


def test_every_code_of_a_two_code_pc(factory, now) -> None:
    """Medical and dental: one certificate per code, each from its own file, neither over the other."""
    dental = "1230444448"
    expect = Expectations((CODE, dental), TrustAnchors(frozenset({fingerprint(factory.root)})))
    files = [offer(factory.leaf(CODE), expect, "a.p12"), offer(factory.leaf(dental), expect, "b.p12")]
    plan = plan_host(expect, [], files, now=now)
    assert set(plan.keep) == {CODE, dental} and len(plan.imports) == 2


def test_expired_file_is_refused_only_when_nothing_valid_is_there(factory, expect, now) -> None:
    """An expired .p12 for a PC that has a valid certificate is outdated; for a PC without one it is refused."""
    expired = offer(factory.leaf(CODE, days_left=-1), expect)
    assert [code for _, code, _ in plan_host(expect, [], [expired], now=now).refusals] == ["expired"]
    healthy = pc(factory.leaf(CODE), expect, factory)
    assert plan_host(expect, [healthy], [expired], now=now).refusals == []


def test_not_yet_valid_is_left_alone(factory, expect, now) -> None:
    """A certificate that becomes valid later (a renewal installed early) is neither kept nor removed."""
    current = pc(factory.leaf(CODE, days_left=300), expect, factory)
    future = pc(
        factory.leaf(CODE, not_before=now + dt.timedelta(days=3), not_after=now + dt.timedelta(days=1200)),
        expect,
        factory,
    )
    plan = plan_host(expect, [current, future], now=now)
    assert plan.keep == {CODE: current.thumbprint} and plan.removals == []


def test_scope_limits_what_a_task_removes_and_force_needs_a_backup(factory, expect, now) -> None:
    """state=absent selectors narrow the stale set; force removes a named valid one only with a backup."""
    expired = pc(factory.leaf(CODE, days_left=-3), expect, factory)
    old = pc(factory.leaf(CODE, days_left=100), expect, factory)
    new = pc(factory.leaf(CODE, days_left=1000), expect, factory, exportable=False)
    only_expired = plan_host(expect, [expired, old, new], scope=Scope(expired_only=True), now=now)
    assert [r.thumbprint for r in only_expired.removals] == [expired.thumbprint]
    forced = plan_host(
        expect, [new], scope=Scope(thumbprints=frozenset({new.thumbprint}), force=frozenset({new.thumbprint})), now=now
    )
    assert forced.removals == [] and "never removed without a backup" in forced.stays[new.thumbprint]
