"""The whole fleet from the record: never seen, seen long ago, gone from the inventory, and what changed; days
counted again at the report's time. Rows as the store returns them, built by hand (no database needed here)."""

from __future__ import annotations

import datetime as dt

from onshi_cert.report import build, fleet
from onshi_cert.store import Pc, Seen

NOW = dt.datetime(2026, 12, 7, 0, 0, tzinfo=dt.UTC)


def answer(thumb: str, not_after: dt.datetime, problems=(), at: dt.datetime = NOW, host: str = "pc01") -> dict:
    born = (not_after - dt.timedelta(days=1095)).isoformat()
    cert = {"thumbprint": thumb, "not_after": not_after.isoformat(), "not_before": born, "ours": True,
            "facility_code": "0110113719", "subject_cn": "0110113719-01", "issuer_cn": "CA",
            "stage": "ok", "days_remaining": 999, "verdict": "ok"}  # fmt: skip
    report = {"certificates": [cert], "problems": [dict(p) for p in problems], "plan": {"keep": {"0110113719": thumb}},
              "face_auth": None, "host": {"os_build": 19045}}  # fmt: skip
    return {"host": host, "observed_at": at, "reachable": True, "report": report, "error": "", "site": "s",
            "facility_name": "c"}  # fmt: skip


def answered(row: dict, **more) -> Seen:
    """A PC whose latest observation is an answer (as the store gives it: the latest and the answer are one row)."""
    return Seen(row, row, **more)


def test_every_pc_of_the_inventory_appears_with_its_state_from_the_record() -> None:
    fleet_pcs = [Pc("seen"), Pc("old"), Pc("never"), Pc("silent")]
    long_ago = NOW - dt.timedelta(days=30)
    record = {
        "seen": answered(answer("A", NOW + dt.timedelta(days=200), host="seen")),
        "old": answered(answer("B", NOW + dt.timedelta(days=200), at=long_ago, host="old")),
        # answered 20 days ago with 25 days left; silent since: 5 days left now, still in the worklist
        "silent": Seen(
            {"host": "silent", "observed_at": NOW, "reachable": False, "report": None, "error": "timed out"},
            answer("C", NOW + dt.timedelta(days=5), at=NOW - dt.timedelta(days=20), host="silent"),
            was_reachable=True,
        ),
        "gone": answered(answer("D", NOW + dt.timedelta(days=200), host="gone")),
    }
    data = build(fleet.entries(fleet_pcs, record, NOW), now=NOW, stale_days=14)
    rows = {h["host"]: h for hosts in data["sites"].values() for h in hosts}
    assert set(rows) == {"seen", "old", "never", "silent"}
    assert rows["seen"]["status"] == "ok" and rows["seen"]["age_days"] == 0
    assert rows["old"]["status"] == "outdated" and rows["old"]["age_days"] == 30
    assert rows["never"]["status"] == "unseen" and rows["never"]["observed_at"] is None
    assert rows["silent"]["status"] == "unreachable"
    assert rows["silent"]["certificates"][0]["days_remaining"] == 5, "counted again at the report's time"
    assert [r["host"] for r in data["renewals"]] == ["silent"]
    assert data["summary"] | {"stages": None, "problems": None} == data["summary"] | {
        "hosts": 4,
        "reachable": 2,
        "unreachable": 1,
        "unseen": 1,
        "outdated": 1,
        "stages": None,
        "problems": None,
    }
    assert [d["host"] for d in fleet.departed(fleet_pcs, record)] == ["gone"]
    assert fleet.changes(fleet_pcs, record) == [
        {"host": "silent", "site": "", "change": "unreachable", "at": NOW.isoformat(), "detail": ""}
    ]


def test_a_certificate_that_expired_since_it_was_seen_is_reported_expired() -> None:
    record = {"pc01": answered(answer("A", NOW - dt.timedelta(days=2), at=NOW - dt.timedelta(days=9)))}
    data = build(fleet.entries([Pc("pc01")], record, NOW), now=NOW, stale_days=14)
    (row,) = [h for hosts in data["sites"].values() for h in hosts]
    assert row["status"] == "expired" and row["certificates"][0]["stage"] == "expired"


def test_what_changed_since_the_previous_answer() -> None:
    later = NOW + dt.timedelta(days=900)
    expiring = [{"code": "expiring", "facility_code": "0110113719"}]
    record = {
        "renewed": answered(answer("NEW", later, host="renewed"), previous=answer("OLD", NOW + dt.timedelta(days=20))),
        "worse": answered(
            answer("A", NOW + dt.timedelta(days=20), expiring, host="worse"), previous=answer("A", later)
        ),
        "better": answered(answer("B", later, host="better"), previous=answer("B", later, expiring)),
    }
    changes = fleet.changes([Pc(n) for n in record], record)
    assert {(c["host"], c["change"]) for c in changes} == {
        ("renewed", "renewed"),
        ("worse", "attention"),
        ("better", "resolved"),
    }
