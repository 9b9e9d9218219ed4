"""Call history service: reservations, call records, imports, and the gate's history loader."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from callwarden.audit import service as audit
from callwarden.bulk import ImportRejected
from callwarden.calls import cdr, service
from callwarden.calls.models import CallAttempt
from callwarden.consent import service as consent
from callwarden.db import utcnow
from callwarden.dnc import service as dnc
from callwarden.errors import Conflict, NotFound, ValidationFailed

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
N1, N2 = 14045550100, 14045550101
WHO = {"actor": "dialer-1", "actor_role": "dialer"}


def _reserve(session: Any, *, at: datetime = T0, ttl: int = 300, **kw: Any) -> CallAttempt:
    values: dict[str, Any] = {
        "decision_id": str(uuid.uuid4()),
        "number": N1,
        "at": at,
        "expires_at": at + timedelta(seconds=ttl),
        "seller": "acme",
        "campaign": "spring",
        "subject": "solar",
        "debt_id": None,
        "channel": "voice",
        "purpose": "telemarketing",
        "technology": "autodialer",
        "caller_id": "+14045550199",
    }
    values.update(kw)
    service.reserve_many(
        session=session, reservations=[service.Reservation(**values)], actor="gate"
    )
    return session.scalars(
        select(CallAttempt).where(CallAttempt.decision_id == values["decision_id"])
    ).one()


def _call(session: Any, **kw: Any) -> CallAttempt:
    values: dict[str, Any] = {
        "number": N1,
        "at": T0,
        "seller": "acme",
        "channel": "voice",
        "purpose": "telemarketing",
        "technology": "autodialer",
        "outcome": "no_answer",
        **WHO,
    }
    values.update(kw)
    return service.record_call(session=session, **values)


def _confirm(session: Any, reservation: CallAttempt, **kw: Any) -> CallAttempt:
    # the dialer's record of a reserved call: the reservation's facts are not repeated
    values: dict[str, Any] = {
        "decision_id": reservation.decision_id,
        "number": None,
        "seller": None,
        "channel": None,
        "purpose": None,
        "technology": None,
        "outcome": "answered",
        "conversation": True,
    }
    return _call(session, **(values | kw))


def _record(line: int, **kw: Any) -> cdr.CallRecord:
    values: dict[str, Any] = {
        "number": N1,
        "at": T0,
        "seller": "acme",
        "channel": "voice",
        "purpose": "debt_collection",
        "technology": "manual",
        "outcome": "voicemail",
    }
    values.update(kw)
    return cdr.CallRecord(line=line, **values)


def _count(session: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(CallAttempt)))


def _history(session: Any, now: datetime = T0, **kw: Any) -> list[Any]:
    args: dict[str, Any] = {"numbers": [N1], "debt_ids": [], "since": T0 - timedelta(days=7)}
    args.update(kw)
    return service.load_history(session, now=now, **args)


def test_reservation_becomes_the_call(session_factory):
    with session_factory() as s:
        res = _reserve(s)
        s.commit()
        facts = _history(s)
        assert [(f.id, f.state, f.connected) for f in facts] == [(res.id, "reserved", True)]
        row = _confirm(
            s,
            res,
            at=T0 + timedelta(seconds=4),
            debt_id="D-7",
            external_id="cdr-1",
            duration_seconds=61,
        )
        s.commit()
        assert row.id == res.id and _count(s) == 1
        assert (row.state, row.outcome, row.at) == ("placed", "answered", T0 + timedelta(seconds=4))
        assert row.answered_by_person and row.connected and not row.abandoned
        assert row.debt_id == "D-7" and row.campaign == "spring"  # filled in, kept
        # a placed call counts long after the reservation would have expired
        (fact,) = _history(s, now=T0 + timedelta(days=1))
        assert (fact.state, fact.conversation, fact.outcome) == ("placed", True, "answered")
        events = audit.events(session=s, type="calls.recorded")
        assert events and events[0].subject == "+14045550100" and events[0].actor == "dialer-1"
        # the same record again changes nothing and is reported as a duplicate
        again = service.record_calls(
            session=s,
            records=[_record(1, decision_id=res.decision_id, outcome="voicemail")],
            source="api",
            **WHO,
        )
        assert again.imported == 0 and again.skipped[0]["decision_id"] == res.decision_id
        assert s.get(CallAttempt, res.id).outcome == "answered"


def test_unknown_decision_id_is_not_found(session_factory):
    with session_factory() as s, pytest.raises(NotFound) as exc:
        _call(s, decision_id="no-such-decision")
    assert exc.value.field == "decision_id"


def test_a_record_cannot_contradict_its_reservation(session_factory):
    with session_factory() as s:
        res = _reserve(s)
        with pytest.raises(ValidationFailed) as exc:
            _call(s, decision_id=res.decision_id, number=N2)
        assert exc.value.field == "number"
        s.rollback()
        assert _count(s) == 0


def test_expired_and_released_reservations_do_not_count(session_factory):
    with session_factory() as s:
        live = _reserve(s, ttl=300)
        _reserve(s, at=T0 - timedelta(minutes=10), ttl=60)  # expired at T0 - 9 min
        released = _reserve(s)
        s.commit()
        service.release(session=s, decision_id=released.decision_id, **WHO)
        s.commit()
        assert [f.id for f in _history(s)] == [live.id]
        # at the instant of expiry a reservation no longer counts
        assert _history(s, now=T0 + timedelta(seconds=300)) == []
        assert audit.events(session=s, type="calls.reservation.released")
        # releasing twice is harmless; an unknown id is 404; a placed call cannot be released
        assert service.release(session=s, decision_id=released.decision_id, **WHO).state == (
            "released"
        )
        with pytest.raises(NotFound):
            service.release(session=s, decision_id="nope", **WHO)
        _call(s, decision_id=live.decision_id, outcome="no_answer")
        with pytest.raises(Conflict):
            service.release(session=s, decision_id=live.decision_id, **WHO)


def test_history_by_number_or_debt_since_a_moment(session_factory):
    with session_factory() as s:
        a = _call(s, number=N1, at=T0 - timedelta(days=1), outcome="not_connected")
        b = _call(s, number=N2, debt_id="D-1", at=T0 - timedelta(hours=2), outcome="voicemail")
        _call(s, number=N2, debt_id="D-2", at=T0 - timedelta(hours=1))
        _call(s, number=N1, at=T0 - timedelta(days=9))  # before `since`
        s.commit()
        facts = _history(s, numbers=[N1], debt_ids=["D-1"])
        assert [f.id for f in facts] == [a.id, b.id]  # oldest first
        assert facts[0].connected is False and facts[1].connected is True
        assert facts[1].debt_id == "D-1" and facts[1].at == T0 - timedelta(hours=2)
        assert _history(s, numbers=[], debt_ids=[]) == []


def test_known_at_shows_only_what_was_known(session_factory):
    with session_factory() as s:
        _call(s, at=T0 - timedelta(hours=1))
        s.commit()
        recorded = utcnow()
        assert len(_history(s, known_at=recorded + timedelta(seconds=1))) == 1
        assert _history(s, known_at=recorded - timedelta(minutes=5)) == []


def test_history_for_many_numbers_and_debts_is_chunked(session_factory):
    numbers = [14045550000 + i for i in range(1200)]
    debts = [f"D-{i}" for i in range(700)]
    with session_factory() as s:
        ids = {
            _call(s, number=numbers[0]).id,
            _call(s, number=numbers[700]).id,
            _call(s, number=numbers[1199], debt_id="D-699").id,  # found twice, listed once
            _call(s, number=13125550100, debt_id="D-650").id,
        }
        _call(s, number=13125550101, debt_id="D-9999")  # neither
        s.commit()
        facts = _history(s, numbers=numbers, debt_ids=debts)
    assert {f.id for f in facts} == ids and len(facts) == len(ids)


def test_history_over_arrays_answers_as_the_in_lists(session_factory, monkeypatch):
    """PostgreSQL reads many numbers and debts over two arrays: the same calls as the IN lists
    (on SQLite both runs take the IN lists)."""
    numbers = [14045550000 + i for i in range(40)]
    with session_factory() as s:
        for i, n in enumerate(numbers[::3]):
            _call(s, number=n, debt_id=f"D-{i}", at=T0 - timedelta(hours=i))
        _call(s, number=13125550100, debt_id="D-2")  # found by its debt only
        _reserve(s, number=numbers[1], at=T0, ttl=3600)
        s.commit()
        args = {"numbers": numbers, "debt_ids": [f"D-{i}" for i in range(20)]}
        arrays = _history(s, **args)
        monkeypatch.setattr(service, "ARRAY_FROM", 10**9)
        lists = _history(s, **args)
    assert len(arrays) == len(numbers[::3]) + 2
    assert arrays == lists


def test_reimporting_the_same_records_is_idempotent(session_factory):
    records = [_record(i + 2, external_id=f"x-{i}", at=T0 + timedelta(minutes=i)) for i in range(3)]
    with session_factory() as s:
        first = service.record_calls(session=s, records=records, source="import", **WHO)
        s.commit()
        assert (first.imported, len(first.skipped)) == (3, 0)
        dup = [*records, _record(9, external_id="x-new"), _record(10, external_id="x-new")]
        second = service.record_calls(session=s, records=dup, source="import", **WHO)
        s.commit()
        assert second.imported == 1
        assert [r["line"] for r in second.skipped] == [2, 3, 4, 10]
        assert _count(s) == 4
        summary = audit.events(session=s, type="calls.imported")
        assert len(summary) == 2 and '"skipped":4' in summary[0].body


def test_dnc_request_puts_the_number_on_the_internal_list(session_factory):
    with session_factory() as s:
        row = _call(s, outcome="answered", dnc_request=True, seller="acme")
        s.commit()
        (entry,) = dnc.internal_entries(session=s, number=N1)
        assert (entry.seller, entry.channel, entry.source) == ("acme", "all", "agent_disposition")
        assert f"call {row.id}" in (entry.note or "") and entry.added_by == "dialer-1"
        assert dnc.internal_entries(session=s, number=N2) == []


def test_one_bad_row_imports_nothing_and_every_bad_row_is_named(session_factory):
    records = [
        _record(2, dnc_request=True, outcome="answered"),
        _record(3, decision_id="missing"),
        _record(4),
        _record(5, at=utcnow() + timedelta(days=2)),
    ]
    with session_factory() as s:
        with pytest.raises(ImportRejected) as exc:
            service.record_calls(session=s, records=records, source="import", **WHO)
        s.rollback()
        assert [(e.line, e.field) for e in exc.value.errors] == [(3, "decision_id"), (5, "at")]
        assert _count(s) == 0
        assert dnc.internal_entries(session=s, number=N1) == []


def test_record_call_validates_with_the_field_name(session_factory):
    with session_factory() as s:
        with pytest.raises(ValidationFailed) as exc:
            _call(s, outcome="hung_up")
        assert exc.value.field == "outcome"
        with pytest.raises(ValidationFailed) as exc:
            _call(s, at=datetime(2026, 3, 1, 12, 0))  # naive
        assert exc.value.field == "at"
        with pytest.raises(ValidationFailed) as exc:
            _call(s, number="12")
        assert exc.value.field == "number"
        with pytest.raises(ValidationFailed):
            _reserve(s, ttl=0)


def test_duplicate_external_id_returns_the_recorded_call(session_factory):
    with session_factory() as s:
        first = _call(s, external_id="same")
        second = _call(s, external_id="same", outcome="answered")
        s.commit()
        assert second.id == first.id and second.outcome == "no_answer" and _count(s) == 1


def test_list_calls_newest_first(session_factory):
    with session_factory() as s:
        old = _call(s, at=T0 - timedelta(days=1), campaign="c1")
        new = _call(s, at=T0, campaign="c2")
        _call(s, number=N2, at=T0, campaign="c1")
        s.commit()
        assert [r.id for r in service.list_calls(session=s, number=N1)] == [new.id, old.id]
        assert [r.id for r in service.list_calls(session=s, number=N1, campaign="c1")] == [old.id]
        view = service.call_view(new)
        assert view["number"] == "+14045550100" and view["state"] == "placed"


def _settle_later(session: Any, row: CallAttempt, settled: datetime) -> None:
    # the confirmation or release happened at `settled` (after the replayed moment)
    session.execute(update(CallAttempt).where(CallAttempt.id == row.id).values(settled_at=settled))
    session.commit()


def test_replay_sees_a_reservation_confirmed_later_as_the_reservation(session_factory):
    """rules.md §0 (replay): a call record arriving after known_at does not rewrite then."""
    planned = utcnow() - timedelta(minutes=30)
    placed = planned + timedelta(minutes=3)
    since = planned - timedelta(days=1)
    with session_factory() as s:
        res = _reserve(s, at=planned, ttl=7200)
        s.commit()
        reserved_known = utcnow()
        row = _confirm(s, res, at=placed)
        s.commit()
        assert row.planned_at == planned and row.at == placed
        assert row.settled_at is not None and row.settled_at >= reserved_known
        settled = reserved_known + timedelta(minutes=10)
        _settle_later(s, row, settled)
        # then: the gate's live reservation at its planned time, outcome unknown
        (then,) = _history(s, since=since, known_at=reserved_known + timedelta(seconds=1))
        assert (then.id, then.state, then.at, then.outcome) == (res.id, "reserved", planned, None)
        assert then.connected is True and then.conversation is False
        # after the record: the placed call with its conversation
        (later,) = _history(s, since=since, known_at=settled + timedelta(seconds=1))
        assert (later.state, later.at, later.conversation) == ("placed", placed, True)
        # today's view is unchanged
        (now_view,) = _history(s, since=since, now=utcnow())
        assert (now_view.state, now_view.at) == ("placed", placed)


def test_replay_counts_a_reservation_released_later_and_expiry_at_known_at(session_factory):
    """A release after known_at, and a reservation expired since, still counted then."""
    real_now = utcnow()
    with session_factory() as s:
        # planned 1 h ago, held for 2 h: live at known_at, whatever the clock says now
        released = _reserve(s, at=real_now - timedelta(hours=1), ttl=7200)
        expired = _reserve(s, at=real_now - timedelta(hours=1), ttl=60, number=N2)
        s.commit()
        known = utcnow()
        service.release(session=s, decision_id=released.decision_id, **WHO)
        s.commit()
        _settle_later(s, released, known + timedelta(minutes=5))
        since = real_now - timedelta(days=1)
        got = _history(s, numbers=[N1, N2], since=since, now=known, known_at=known)
        # the released one was live then; the other had expired 59 minutes before known_at
        assert [(f.id, f.state) for f in got] == [(released.id, "reserved")]
        after = _history(
            s, numbers=[N1, N2], since=since, now=known, known_at=known + timedelta(minutes=6)
        )
        assert after == []
        # a reservation expiring after known_at but before now still counted at known_at
        s.execute(
            update(CallAttempt)
            .where(CallAttempt.id == expired.id)
            .values(expires_at=known + timedelta(seconds=30))
        )
        s.commit()
        got = _history(s, numbers=[N2], since=since, now=known, known_at=known)
        assert [f.id for f in got] == [expired.id]
        assert _history(s, numbers=[N2], since=since, now=known + timedelta(minutes=1)) == []


def test_a_dnc_request_on_a_call_also_revokes_consent_for_that_kind_of_call(session_factory):
    """An opt-out during an informational prerecorded call revokes the consent it was made on
    (64.1200(a)(10)): the internal list alone stops only telemarketing."""
    with session_factory() as s:
        row = _call(s, outcome="voicemail", purpose="informational", technology="prerecorded",
                    dnc_request=True)  # fmt: skip
        s.commit()
        (revocation,) = consent.revocations_for(session=s, number=N1)
        assert (revocation.seller, revocation.scope, revocation.message_channel) == (
            "acme",
            "informational",
            "voice",
        )
        assert revocation.channel == "ivr" and revocation.received_at == row.at
        # one internal entry, the call's own (every channel), not a second from the revocation
        (entry,) = dnc.internal_entries(session=s, number=N1)
        assert entry.channel == "all"


def test_a_dnc_request_sent_again_on_a_recorded_call_is_applied(session_factory):
    """The dialer sends a CDR, then the same call again once the agent marked it Do-Not-Call:
    the duplicate is skipped but its request counts (64.1200(d)(3)), once."""
    with session_factory() as s:
        first = service.record_calls(
            session=s, records=[_record(1, external_id="cdr-9")], source="import", **WHO
        )
        s.commit()
        assert first.dnc_entries == 0 and dnc.internal_entries(session=s, number=N1) == []
        again = service.record_calls(
            session=s,
            records=[_record(1, external_id="cdr-9", dnc_request=True, outcome="answered")],
            source="import",
            **WHO,
        )
        s.commit()
        assert again.imported == 0 and again.dnc_entries == 1
        assert "Do-Not-Call request was applied" in again.skipped[0]["reason"]
        assert len(dnc.internal_entries(session=s, number=N1)) == 1
        stored = s.scalars(select(CallAttempt).where(CallAttempt.external_id == "cdr-9")).one()
        assert stored.dnc_request is True
        # a third copy changes nothing more
        third = service.record_calls(
            session=s,
            records=[_record(1, external_id="cdr-9", dnc_request=True, outcome="answered")],
            source="import",
            **WHO,
        )
        assert third.dnc_entries == 0 and len(dnc.internal_entries(session=s, number=N1)) == 1
