"""Verdicts, the warning schedule, and which certificates of a store are kept or stale."""

from __future__ import annotations

import datetime as dt

import pytest

from onshi_cert.core.certinfo import describe_certificate
from onshi_cert.core.policy import Expectations, Stage, Verdict, assess, plan_store, stage_for

EXPECT = Expectations(("3410712362",))


@pytest.mark.parametrize(
    ("days", "stage"),
    [
        (400, Stage.OK),
        (90.5, Stage.OK),
        (90, Stage.D90),
        (61, Stage.D90),
        (60, Stage.D60),
        (31, Stage.D60),
        (30, Stage.D30),
        (16, Stage.D30),
        (15, Stage.D15),
        (8, Stage.D15),
        (7, Stage.D7),
        (0.1, Stage.D7),
        (0, Stage.EXPIRED),
        (-5, Stage.EXPIRED),
    ],
)
def test_schedule_stages(now, days, stage) -> None:
    """Stages follow the MPKI client tool: 90, 60, 30, 15, daily from 7, expired."""
    assert stage_for(now - dt.timedelta(days=1000), now + dt.timedelta(days=days), now) is stage


def test_not_yet_valid_stage(now) -> None:
    """A certificate whose validity starts tomorrow is not yet valid."""
    assert stage_for(now + dt.timedelta(days=1), now + dt.timedelta(days=900), now) is Stage.NOT_YET_VALID


def _info(issued, **changes):
    info = describe_certificate(issued.cert, has_key=True)
    for name, value in changes.items():
        setattr(info, name, value)
    return info


@pytest.mark.parametrize(
    ("kwargs", "changes", "verdict", "stage"),
    [
        ({}, {}, Verdict.OK, Stage.OK),
        ({"days_left": 45}, {}, Verdict.EXPIRING, Stage.D60),
        ({"days_left": 3}, {}, Verdict.EXPIRING, Stage.D7),
        ({"days_left": -1}, {}, Verdict.EXPIRED, Stage.EXPIRED),
        ({"not_before": "future"}, {}, Verdict.NOT_YET_VALID, Stage.NOT_YET_VALID),
        ({"facility_code": "0110113719"}, {}, Verdict.WRONG_FACILITY, Stage.OK),
        ({}, {"has_key": False}, Verdict.NO_KEY, Stage.OK),
        ({}, {"key_usable": False}, Verdict.NO_KEY, Stage.OK),
        ({"client_auth": False}, {}, Verdict.NOT_CLIENT_AUTH, Stage.OK),
    ],
)
def test_verdicts(factory, now, kwargs, changes, verdict, stage) -> None:
    """Each kind of certificate gets its verdict and stage."""
    if kwargs.get("not_before") == "future":
        kwargs = {"not_before": now + dt.timedelta(days=2), "not_after": now + dt.timedelta(days=900)}
    info = _info(factory.leaf(**kwargs), **changes)
    result = assess(info, EXPECT, now)
    assert (result.verdict, result.stage) == (verdict, stage)
    assert result.ok is (verdict in (Verdict.OK, Verdict.EXPIRING))


def test_wrong_issuer_comes_first(lookalike_factory, now) -> None:
    """A look-alike issuer is the most severe finding, listed with the others."""
    info = _info(lookalike_factory.leaf("0110113719", days_left=-3))
    result = assess(info, EXPECT, now)
    assert result.verdict is Verdict.WRONG_ISSUER
    assert result.findings == [Verdict.WRONG_ISSUER, Verdict.WRONG_FACILITY, Verdict.EXPIRED]


def test_plan_keeps_newest_and_marks_stale(factory, lookalike_factory, now) -> None:
    """Newest usable per code is kept; expired, superseded and other-facility ones are stale; foreign untouched."""
    old = _info(factory.leaf("3410712362", days_left=20))
    new = _info(factory.leaf("3410712362", days_left=1180))
    expired = _info(factory.leaf("3410712362", days_left=-10))
    other = _info(factory.leaf("0110113719", days_left=500))
    foreign = _info(lookalike_factory.leaf("3410712362", days_left=-10))
    plan = plan_store([old, new, expired, other, foreign], EXPECT, now)
    assert plan.keep == {"3410712362": new.thumbprint}
    assert plan.stale == {
        old.thumbprint: f"superseded by {new.thumbprint}",
        expired.thumbprint: "expired",
        other.thumbprint: "other facility 0110113719",
    }
    assert plan.foreign == [foreign.thumbprint]
    assert plan.missing == []


def test_plan_never_supersedes_without_a_usable_successor(factory, now) -> None:
    """A valid certificate without a usable key is kept in place when nothing better exists."""
    broken = _info(factory.leaf("3410712362"), has_key=False)
    plan = plan_store([broken], EXPECT, now)
    assert plan.keep == {}
    assert plan.stale == {}
    assert plan.missing == ["3410712362"]


def test_just_imported_is_always_kept(factory, now) -> None:
    """A pinned thumbprint is kept even when an older-looking rival expires later."""
    longer = _info(factory.leaf("3410712362", days_left=1100))
    imported = _info(factory.leaf("3410712362", days_left=900))
    plan = plan_store([longer, imported], EXPECT, now, always_keep=[imported.thumbprint.lower()])
    assert plan.keep == {"3410712362": imported.thumbprint}
    assert imported.thumbprint not in plan.stale
    assert plan.stale == {longer.thumbprint: f"superseded by {imported.thumbprint}"}


def test_two_codes_each_keep_one(factory, now) -> None:
    """A facility with medical and dental codes keeps one certificate per code."""
    medical = _info(factory.leaf("3410712362"))
    dental = _info(factory.leaf("0110113719"))
    plan = plan_store([medical, dental], Expectations(("3410712362", "0110113719")), now)
    assert plan.keep == {"3410712362": medical.thumbprint, "0110113719": dental.thumbprint}
    assert plan.stale == {}


def test_not_yet_valid_is_left_alone(factory, now) -> None:
    """A certificate that becomes valid later (a renewal installed early) is neither kept nor stale."""
    current = _info(factory.leaf("3410712362", days_left=30))
    future = _info(
        factory.leaf("3410712362", not_before=now + dt.timedelta(days=3), not_after=now + dt.timedelta(days=1200))
    )
    plan = plan_store([current, future], EXPECT, now)
    assert plan.keep == {"3410712362": current.thumbprint}
    assert plan.stale == {}
