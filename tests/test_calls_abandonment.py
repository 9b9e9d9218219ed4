"""Abandonment rate per campaign per successive 30-day period (16 CFR 310.4(b)(4)(i))."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from callwarden.calls import cdr, service
from callwarden.calls.models import CallAttempt
from callwarden.db import utcnow
from callwarden.errors import NotFound

# The campaign's first call: day 1 is 2026-03-02 (UTC), day 30 is 2026-03-31, day 31 2026-04-01.
DAY1 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
DAY30_LAST = datetime(2026, 3, 31, 23, 59, 59, tzinfo=UTC)
DAY31_FIRST = datetime(2026, 4, 1, 0, 0, tzinfo=UTC)
WHO = {"actor": "dialer-1", "actor_role": "dialer", "source": "import"}


def _calls(session: Any, at: datetime, outcomes: dict[str, int], **kw: Any) -> None:
    records = []
    for outcome, n in outcomes.items():
        for _ in range(n):
            values: dict[str, Any] = {
                "number": 14045550100,
                "at": at,
                "seller": "acme",
                "campaign": "spring",
                "channel": "voice",
                "purpose": "telemarketing",
                "technology": "autodialer",
                "outcome": outcome,
            }
            values.update(kw)
            records.append(cdr.CallRecord(line=len(records) + 1, **values))
    service.record_calls(session=session, records=records, **WHO)
    session.commit()


def test_exactly_three_percent_is_within_the_limit(session_factory):
    with session_factory() as s:
        _calls(s, DAY1, {"answered": 97, "abandoned": 3, "no_answer": 40, "busy": 5})
        report = service.abandonment(session=s, campaign="spring", at=DAY1 + timedelta(days=1))
    p = report.current
    assert (p.calls, p.answered_by_person, p.abandoned) == (145, 100, 3)
    assert p.rate == pytest.approx(0.03) and p.within_limit is True
    assert report.citation == "16 CFR 310.4(b)(4)(i); 47 CFR 64.1200(a)(7)"
    assert report.as_dict()["within_limit"] is True and report.periods_over_limit == 0


def test_just_over_three_percent_is_not(session_factory):
    with session_factory() as s:
        _calls(s, DAY1, {"answered": 96, "abandoned": 3})  # 3 / 99 = 3.03%
        report = service.abandonment(session=s, campaign="spring", at=DAY1 + timedelta(hours=1))
    assert report.current.rate == pytest.approx(3 / 99)
    assert report.current.within_limit is False and report.periods_over_limit == 1


def test_day_30_closes_the_first_period_and_day_31_opens_the_second(session_factory):
    with session_factory() as s:
        _calls(s, DAY1, {"answered": 50})
        _calls(s, DAY30_LAST, {"abandoned": 2})  # period 1: 2 / 52 = 3.8%
        _calls(s, DAY31_FIRST, {"answered": 10})  # period 2: 0 / 10
        at = DAY31_FIRST + timedelta(hours=12)
        report = service.abandonment(session=s, campaign="spring", at=at)
        p1, p2 = report.periods
        assert (p1.start, p1.end) == (datetime(2026, 3, 2, tzinfo=UTC), DAY31_FIRST)
        assert (p1.answered_by_person, p1.abandoned, p1.within_limit) == (52, 2, False)
        assert p1.complete is True
        assert (p2.number, p2.start, p2.end) == (2, DAY31_FIRST, DAY31_FIRST + timedelta(days=30))
        assert (p2.answered_by_person, p2.abandoned, p2.rate, p2.within_limit) == (10, 0, 0.0, True)
        assert p2.complete is False and report.current == p2
        # the gate sees the higher of the period's rate and the rolling 30 days' (rules.md §2):
        # the new period starts clean, but the last 30 days still hold the 2 abandoned calls
        assert service.load_campaign_abandonment(s, ["spring"], at=DAY30_LAST) == {
            "spring": pytest.approx(2 / 52)
        }
        assert (report.rolling.answered_by_person, report.rolling.abandoned) == (62, 2)
        assert report.rolling.within_limit is False
        assert report.as_dict()["gate_within_limit"] is False
        assert service.load_campaign_abandonment(s, ["spring"], at=at) == {
            "spring": pytest.approx(2 / 62)
        }
        # 30 days after the abandoned calls they leave the rolling window too
        later = DAY30_LAST + timedelta(days=30, seconds=1)
        assert service.load_campaign_abandonment(s, ["spring"], at=later) == {"spring": 0.0}
        assert service.abandonment(session=s, campaign="spring", at=later).as_dict()[
            "gate_within_limit"
        ]


def test_a_later_period_with_no_calls_yet(session_factory):
    with session_factory() as s:
        _calls(s, DAY1, {"abandoned": 1, "answered": 1})
        at = DAY1 + timedelta(days=75)  # day 76: period 3
        report = service.abandonment(session=s, campaign="spring", at=at)
        assert [p.number for p in report.periods] == [1, 2, 3]
        assert report.current.calls == 0 and report.current.rate is None
        assert report.current.within_limit is True and report.periods_over_limit == 1
        assert service.load_campaign_abandonment(s, ["spring"], at=at) == {"spring": None}


def test_only_placed_voice_calls_of_the_campaign_up_to_the_moment_count(session_factory):
    with session_factory() as s:
        _calls(s, DAY1, {"answered": 10})
        _calls(s, DAY1, {"abandoned": 5}, channel="sms")
        _calls(s, DAY1, {"abandoned": 5}, campaign="autumn")
        _calls(s, DAY1 + timedelta(days=2), {"abandoned": 5})  # after the moment asked
        service.reserve_many(
            session=s,
            actor="gate",
            reservations=[
                service.Reservation(
                    decision_id="r-1",
                    number=14045550100,
                    at=DAY1,
                    expires_at=DAY1 + timedelta(minutes=5),
                    seller="acme",
                    campaign="spring",
                    subject=None,
                    debt_id=None,
                    channel="voice",
                    purpose="telemarketing",
                    technology="autodialer",
                    caller_id=None,
                )
            ],
        )
        s.commit()
        rates = service.load_campaign_abandonment(
            s, ["spring", "autumn", "unknown"], at=DAY1 + timedelta(days=1)
        )
        assert rates == {"spring": 0.0, "autumn": 1.0, "unknown": None}
        report = service.abandonment(session=s, campaign="spring", at=DAY1 + timedelta(days=1))
        assert report.current.calls == 10


def test_no_answers_yet_gives_no_rate(session_factory):
    with session_factory() as s:
        _calls(s, DAY1, {"no_answer": 4, "voicemail": 2})
        assert service.load_campaign_abandonment(s, ["spring"], at=DAY1) == {"spring": None}


def test_unknown_campaign_is_not_found(session_factory):
    with session_factory() as s:
        _calls(s, DAY1, {"answered": 1})
        with pytest.raises(NotFound):
            service.abandonment(session=s, campaign="nope", at=DAY1)
        with pytest.raises(NotFound):  # no call placed yet at that moment
            service.abandonment(session=s, campaign="spring", at=DAY1 - timedelta(seconds=1))


def test_stats_summarises_every_campaign(session_factory):
    with session_factory() as s:
        _calls(s, DAY1, {"answered": 90, "abandoned": 10}, campaign="b-loud")
        _calls(s, DAY1, {"answered": 100}, campaign="a-quiet")
        _calls(s, DAY1, {"answered": 3}, campaign=None)
        reports = service.stats(session=s, at=DAY1 + timedelta(days=1))
    assert [(r.campaign, r.current.within_limit) for r in reports] == [
        ("a-quiet", True),
        ("b-loud", False),
    ]


def test_live_rates_are_reused_briefly_and_forgotten_on_writes(session_factory):
    now = utcnow()
    with session_factory() as s:
        _calls(s, now - timedelta(minutes=5), {"answered": 9, "abandoned": 1})
        assert service.load_campaign_abandonment(s, ["spring"], at=now) == {"spring": 0.1}
        # a row written behind the service's back is not seen for up to 30 seconds...
        s.execute(
            update(CallAttempt).where(CallAttempt.outcome == "answered").values(abandoned=True)
        )
        s.commit()
        later = now + timedelta(seconds=5)
        assert service.load_campaign_abandonment(s, ["spring"], at=later) == {"spring": 0.1}
        # ...a replay of a moment away from the clock always counts afresh...
        past = service.load_campaign_abandonment(s, ["spring"], at=now - timedelta(minutes=2))
        assert past == {"spring": 1.0}
        # ...and a call recorded through the service makes the reused rate stale: the next
        # decision still gets it at once (it never waits for a count) while one background
        # thread counts afresh, and the decisions after that get the new rate
        _calls(s, now - timedelta(minutes=1), {"no_answer": 1})
        s.commit()
        assert service.load_campaign_abandonment(s, ["spring"], at=later) == {"spring": 0.1}
        service.wait_for_rate_refreshes()
        again = utcnow()
        assert service.load_campaign_abandonment(s, ["spring"], at=again) == {"spring": 1.0}


def test_an_expired_rate_is_answered_while_it_is_recounted(session_factory):
    """Past its 30 seconds a reused rate is answered once more and recounted in the
    background; past another 30 seconds without a recount, it is counted in line."""
    now = utcnow()
    with session_factory() as s:
        _calls(s, now - timedelta(minutes=5), {"answered": 9, "abandoned": 1})
        s.commit()
        assert service.load_campaign_abandonment(s, ["spring"], at=now) == {"spring": 0.1}
        s.execute(
            update(CallAttempt).where(CallAttempt.outcome == "answered").values(abandoned=True)
        )
        s.commit()
        key = (str(s.get_bind().engine.url), "spring")
        entry = service._live_rates[key]
        entry.since, entry.until = now - timedelta(seconds=40), now - timedelta(seconds=10)
        assert service.load_campaign_abandonment(s, ["spring"], at=now) == {"spring": 0.1}
        service.wait_for_rate_refreshes()
        assert service.load_campaign_abandonment(s, ["spring"], at=utcnow()) == {"spring": 1.0}
        # a rate nobody refreshed for a minute is not answered: it is counted in line
        entry = service._live_rates[key]
        entry.rate = 0.5
        entry.since, entry.until = now - timedelta(seconds=90), now - timedelta(seconds=60)
        assert service.load_campaign_abandonment(s, ["spring"], at=utcnow()) == {"spring": 1.0}


def test_the_gate_takes_the_higher_of_the_period_and_the_last_30_days(session_factory):
    """Either measure can be the higher one: a fresh period with one abandoned call of ten is
    over 3% even though the last 30 days, with the previous period's answers, are not."""
    with session_factory() as s:
        _calls(s, DAY1, {"answered": 100})
        _calls(s, DAY31_FIRST, {"abandoned": 1, "answered": 9})
        at = DAY31_FIRST + timedelta(hours=1)
        report = service.abandonment(session=s, campaign="spring", at=at)
        assert report.current.rate == pytest.approx(1 / 10)
        assert report.rolling.rate == pytest.approx(1 / 110)
        assert service.load_campaign_abandonment(s, ["spring"], at=at) == {
            "spring": pytest.approx(1 / 10)
        }
