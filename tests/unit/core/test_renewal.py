"""Renewal economics: window, deadline and price."""

from __future__ import annotations

import datetime as dt

import pytest

from onshi_cert.core.renewal import add_months, renewal_plan, renewed_not_after


@pytest.mark.parametrize(
    ("days_left", "in_window", "expired", "cost"),
    [
        (200, False, False, 1500),
        (90, True, False, 1500),
        (1, True, False, 1500),
        (0, False, True, 2253),
        (-30, False, True, 2253),
    ],
)
def test_renewal_plan(now, days_left, in_window, expired, cost) -> None:
    """The window opens 90 days before expiry; renewing after expiry costs 1,500 + 753 yen."""
    not_after = now + dt.timedelta(days=days_left)
    plan = renewal_plan(not_after, now)
    assert (plan.in_window, plan.expired, plan.cost_yen) == (in_window, expired, cost)
    assert plan.window_opens == not_after - dt.timedelta(days=90)
    assert plan.apply_by == not_after - dt.timedelta(days=14)
    assert plan.to_dict()["deadline"] == not_after.isoformat()


def test_renewed_certificate_runs_three_years_three_months() -> None:
    """A renewal on 2026-11-24 runs to 2030-02-24."""
    assert renewed_not_after(dt.datetime(2026, 11, 24, tzinfo=dt.UTC)).date() == dt.date(2030, 2, 24)


@pytest.mark.parametrize(
    ("start", "months", "end"),
    [
        (dt.datetime(2026, 11, 30), 3, dt.datetime(2027, 2, 28)),
        (dt.datetime(2027, 11, 30), 3, dt.datetime(2028, 2, 29)),
        (dt.datetime(2026, 1, 31), 39, dt.datetime(2029, 4, 30)),
        (dt.datetime(2026, 5, 15), 0, dt.datetime(2026, 5, 15)),
    ],
)
def test_add_months_clamps_to_month_end(start, months, end) -> None:
    """Month arithmetic keeps the day, or the last day of a shorter month."""
    assert add_months(start, months) == end
