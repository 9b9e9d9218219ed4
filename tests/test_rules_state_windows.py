"""Every state's weekday window at its four edges, against rules.md §5.1 typed in here.

The expected windows are written from the reference table, not read from the packs, so a
wrong pack value fails here. Each case names the rule it proves.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from callwarden.rules import load_packs
from callwarden.rules.windows import evaluate_hours

RULES = load_packs()
DAY = "2026-07-15"  # a Wednesday, after every effective date used here

# (rule id, state, a zone of that state, weekday start, weekday end) from rules.md §5.1
WEEKDAY_WINDOWS = [
    ("us-fl-hours-telemarketing", "FL", "America/New_York", "08:00", "20:00"),
    ("us-ok-hours-telemarketing", "OK", "America/Chicago", "08:00", "20:00"),
    ("us-md-hours-telemarketing", "MD", "America/New_York", "08:00", "20:00"),
    ("us-ct-hours-telemarketing", "CT", "America/New_York", "09:00", "20:00"),
    ("us-wa-hours-telemarketing", "WA", "America/Los_Angeles", "08:00", "20:00"),
    ("us-tx-hours-telemarketing", "TX", "America/Chicago", "09:00", "21:00"),
    ("us-ut-hours-telemarketing", "UT", "America/Denver", "08:00", "21:00"),
    ("us-ri-hours-telemarketing", "RI", "America/New_York", "09:00", "18:00"),
    ("us-la-hours-telemarketing", "LA", "America/Chicago", "08:00", "20:00"),
    ("us-al-hours-telemarketing", "AL", "America/Chicago", "08:00", "20:00"),
    ("us-ky-hours-telemarketing", "KY", "America/New_York", "10:00", "21:00"),
    ("us-ma-hours-telemarketing", "MA", "America/New_York", "08:00", "20:00"),
    ("us-mi-hours-telemarketing", "MI", "America/Detroit", "09:00", "21:00"),
    ("us-mn-hours-telemarketing", "MN", "America/Chicago", "09:00", "21:00"),
    ("us-nv-hours-telemarketing", "NV", "America/Los_Angeles", "09:00", "20:00"),
    ("us-nm-hours-telemarketing", "NM", "America/Denver", "09:00", "21:00"),
    ("us-il-hours-telemarketing", "IL", "America/Chicago", "08:00", "21:00"),
    ("us-or-hours-telemarketing", "OR", "America/Los_Angeles", "08:00", "20:00"),
    ("us-va-hours-telemarketing", "VA", "America/New_York", "08:00", "21:00"),
]


def _at(clock: str, zone: str, shift: timedelta = timedelta(0)) -> datetime:
    return datetime.fromisoformat(f"{DAY}T{clock}").replace(tzinfo=ZoneInfo(zone)) + shift


def _violations(at: datetime, zone: str, state: str) -> set[str]:
    found = evaluate_hours(
        RULES.in_force(at.date()),
        at=at,
        zones=[zone],
        states=[state],
        country="US",
        purpose="telemarketing",
        channel="voice",
        technology="manual",
    )
    return {v.rule_id for v in found}


@pytest.mark.parametrize(("rule_id", "state", "zone", "start", "end"), WEEKDAY_WINDOWS)
def test_weekday_window_edges(rule_id: str, state: str, zone: str, start: str, end: str) -> None:
    """The state's own rule denies one minute before the start and at the end, not inside."""
    second = timedelta(seconds=1)
    assert rule_id in _violations(_at(start, zone, -second), zone, state)
    assert rule_id not in _violations(_at(start, zone), zone, state)
    assert rule_id not in _violations(_at(end, zone, -second), zone, state)
    assert rule_id in _violations(_at(end, zone), zone, state)


def test_alabama_sunday_ban() -> None:
    """us-al-no-calls-sunday (Ala. Admin. Code r. 770-X-5-.17): no telemarketing on Sunday."""
    sunday = datetime(2026, 7, 19, 12, 0, tzinfo=ZoneInfo("America/Chicago"))
    assert "us-al-no-calls-sunday" in _violations(sunday, "America/Chicago", "AL")


def test_nebraska_prerecorded_rules() -> None:
    """us-ne-hours-adad and us-ne-sunday-prerecorded (Neb. Rev. Stat. §86-248; tit. 291 ch. 11)."""
    zone = "America/Chicago"

    def found(at: datetime, technology: str) -> set[str]:
        return {
            v.rule_id
            for v in evaluate_hours(
                RULES.in_force(at.date()),
                at=at,
                zones=[zone],
                states=["NE"],
                country="US",
                purpose="telemarketing",
                channel="voice",
                technology=technology,
            )
        }

    weekday_late = datetime(2026, 7, 15, 21, 0, tzinfo=ZoneInfo(zone))
    assert "us-ne-hours-adad" in found(weekday_late, "prerecorded")
    sunday_noon = datetime(2026, 7, 19, 12, 0, tzinfo=ZoneInfo(zone))
    assert "us-ne-sunday-prerecorded" in found(sunday_noon, "prerecorded")
    assert "us-ne-sunday-prerecorded" not in found(sunday_noon, "manual")
