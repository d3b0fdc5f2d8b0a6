"""Renewal economics: when a certificate can be renewed, by when, and what it costs."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

FEE_YEN = 1500  # per certificate, tax included
POSTAGE_YEN = 753  # added once the certificate has expired: the notice is mailed again
RENEWAL_WINDOW_DAYS = 90
DEFAULT_LEAD_DAYS = 14  # a week for the notice by registered mail, a week to install
VALIDITY_YEARS, VALIDITY_MONTHS = 3, 3


def add_months(when: dt.datetime, months: int) -> dt.datetime:
    """Return ``when`` moved by ``months`` calendar months, clamped to the month's last day."""
    month_index = when.month - 1 + months
    year, month = when.year + month_index // 12, month_index % 12 + 1
    for day in range(when.day, 27, -1):
        try:
            return when.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    return when.replace(year=year, month=month, day=min(when.day, 28))


def renewed_not_after(renewed_on: dt.datetime) -> dt.datetime:
    """Return the expiry of a certificate renewed on ``renewed_on``: 3 years 3 months later."""
    return add_months(renewed_on, VALIDITY_YEARS * 12 + VALIDITY_MONTHS)


@dataclass(frozen=True)
class RenewalPlan:
    """The renewal calendar and price of one certificate, seen at ``now``."""

    window_opens: dt.datetime
    apply_by: dt.datetime
    deadline: dt.datetime
    in_window: bool
    expired: bool
    cost_yen: int

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-friendly dict."""
        return {
            "window_opens": self.window_opens.isoformat(),
            "apply_by": self.apply_by.isoformat(),
            "deadline": self.deadline.isoformat(),
            "in_window": self.in_window,
            "expired": self.expired,
            "cost_yen": self.cost_yen,
        }


def renewal_plan(not_after: dt.datetime, now: dt.datetime, lead_days: int = DEFAULT_LEAD_DAYS) -> RenewalPlan:
    """Return the plan: the window opens 90 days before expiry; after expiry postage is added."""
    expired = now >= not_after
    opens = not_after - dt.timedelta(days=RENEWAL_WINDOW_DAYS)
    return RenewalPlan(
        window_opens=opens,
        apply_by=not_after - dt.timedelta(days=lead_days),
        deadline=not_after,
        in_window=opens <= now < not_after,
        expired=expired,
        cost_yen=FEE_YEN + (POSTAGE_YEN if expired else 0),
    )
