"""The gate's fact cache: a change written by another process is seen by the next decision."""

from __future__ import annotations

import gc
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from callwarden.config import Settings
from callwarden.consent import service as consent
from callwarden.db import make_engine, make_session_factory, utcnow
from callwarden.dnc.runtime import DncRuntime
from callwarden.gate.decide import Attempt
from callwarden.gate.service import GC_PAUSE_FROM, Gate
from callwarden.numbers import service as numbers
from callwarden.rnd import service as rnd
from callwarden.security.crypto import cipher_for
from tests.gate_helpers import record_pec

NUMBER = 14045550123
WHO = {"actor": "tests", "actor_role": "compliance"}


@pytest.fixture
def other(settings: Settings) -> Iterator[sessionmaker[Session]]:
    """A second engine: the writes of another process."""
    engine = make_engine(settings.resolved_database_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def gate(settings: Settings, session_factory: Any) -> Iterator[Gate]:
    rt = DncRuntime(settings=settings, session_factory=session_factory)
    rt.load()
    g = Gate(settings=settings, session_factory=session_factory, dnc=rt)
    yield g
    rt.close()


def _decide(gate: Gate, at: datetime) -> set[str]:
    attempt = Attempt(
        number=NUMBER,
        at=at,
        channel="voice",
        purpose="informational",
        technology="autodialer",
        seller="acme",
    )
    (rec,) = gate.decide_many([attempt], actor="tests", actor_role="dialer")
    return {r.rule_id for r in rec.decision.reasons}


def test_cached_facts_follow_writes_from_another_engine(
    gate: Gate, other: Any, settings: Settings
) -> None:
    """us-tcpa-wireless-autodialed-consent / us-fcc-rnd-check through the cache."""
    at = utcnow().replace(microsecond=0)
    with other() as s:
        numbers.add_line_type(session=s, number=NUMBER, line_type="landline", source="t", **WHO)
        s.commit()
    assert _decide(gate, at) == set()  # landline: no consent rule; the facts are now cached
    assert NUMBER in gate._slow
    with other() as s:
        numbers.add_line_type(
            session=s,
            number=NUMBER,
            line_type="wireless",
            source="t",
            as_of=at + timedelta(seconds=1),
            **WHO,
        )
        s.commit()
    assert _decide(gate, at) == {"us-tcpa-wireless-autodialed-consent"}
    given = at - timedelta(days=10)
    with other() as s:
        record_pec(s, settings.data_dir, NUMBER, given)
        s.commit()
    # consent is seen at once; relying on it needs a Reassigned Numbers Database answer
    assert _decide(gate, at) == {"us-fcc-rnd-check"}
    with other() as s:
        rnd.add_result(
            session=s,
            number=NUMBER,
            consent_date=given.astimezone(UTC).date(),
            result="no",
            queried_at=at - timedelta(days=1),
            **WHO,
        )
        s.commit()
    assert _decide(gate, at) == set()
    with other() as s:
        consent.record_revocation(
            session=s,
            cipher=cipher_for(settings.data_dir),
            number=NUMBER,
            received_at=at - timedelta(seconds=5),
            channel="sms",
            seller="acme",
            scope="all",
            message_channel="all",
            text="STOP",
            **WHO,
        )
        s.commit()
    assert _decide(gate, at) == {"us-tcpa-wireless-autodialed-consent"}


def test_regf_counts_calls_about_the_debt_on_another_number(
    gate: Gate, session_factory: Any
) -> None:
    """us-regf-7-in-7 through the service: calls to another number about the debt count."""
    from callwarden.calls import service as calls

    day = utcnow().date() + timedelta(days=1)
    at = datetime(day.year, day.month, day.day, 17, 0, tzinfo=UTC)  # 12:00 in Atlanta
    other_number = 14045550999
    with session_factory() as s:
        calls.reserve_many(
            session=s,
            actor="tests",
            reservations=[
                calls.Reservation(
                    decision_id=f"d-{k}",
                    number=other_number,
                    at=at - timedelta(hours=6 * (k + 1)),
                    expires_at=at + timedelta(hours=1),
                    seller="acme",
                    campaign=None,
                    subject=None,
                    debt_id="D-77",
                    channel="voice",
                    purpose="debt_collection",
                    technology="manual",
                    caller_id=None,
                )
                for k in range(7)
            ],
        )
        s.commit()
    attempt = Attempt(
        number=NUMBER,
        at=at,
        channel="voice",
        purpose="debt_collection",
        technology="manual",
        seller="acme",
        debt_id="D-77",
    )
    (rec,) = gate.decide_many([attempt], actor="tests", actor_role="dialer")
    assert {r.rule_id for r in rec.decision.reasons} == {"us-regf-7-in-7"}
    (other,) = gate.decide_many(
        [replace(attempt, debt_id="D-78")], actor="tests", actor_role="dialer"
    )
    assert other.decision.allowed


def _slow_writer() -> tuple[Any, list[str], Any, Any]:
    """A DecisionWriter over a gate whose writes block until released; what it wrote."""
    import threading
    from contextlib import nullcontext

    from callwarden.gate.service import DecisionWriter, _Batch

    written: list[str] = []
    release = threading.Event()

    class SlowGate:
        session_factory = staticmethod(nullcontext)
        engine = SimpleNamespace(connect=nullcontext)

        def _write(self, _session: Any, group: list[Any]) -> None:
            release.wait(5)
            written.extend(b.actor for b in group)

    def batch(name: str) -> _Batch:
        return _Batch([], [], name, "dialer", None, False, True, None, utcnow())  # type: ignore[arg-type]

    return DecisionWriter(SlowGate(), timeout=0.2), written, release, batch  # type: ignore[arg-type]


def test_a_decision_given_up_on_is_never_written() -> None:
    """A caller that timed out answered deny: its queued batch must not be committed later."""
    import threading
    import time

    writer, written, release, batch = _slow_writer()
    first = threading.Thread(target=writer.write, args=(batch("first"),))
    first.start()
    time.sleep(0.05)  # the writer is now busy with "first"
    late = batch("late")
    with pytest.raises(TimeoutError):
        writer.write(late)
    assert late.state == "abandoned"
    release.set()
    first.join(5)
    writer.close()
    assert written == ["first"]


def test_two_processes_starting_at_once_store_the_packs_once(
    settings: Settings, session_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A start that loses the race to store pack revisions reads them instead of failing."""
    from sqlalchemy import func, select
    from sqlalchemy.exc import IntegrityError

    from callwarden.gate import service as gate_service
    from callwarden.gate.models import RulePackRevision

    real = gate_service.store_pack_revisions
    calls: list[int] = []

    def racing(session: Any, ruleset: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            with session_factory() as other:  # the other process commits first
                real(other, ruleset)
                other.commit()
            raise IntegrityError("INSERT", {}, Exception("duplicate key"))
        real(session, ruleset)

    monkeypatch.setattr(gate_service, "store_pack_revisions", racing)
    rt = DncRuntime(settings=settings, session_factory=session_factory)
    gate = Gate(settings=settings, session_factory=session_factory, dnc=rt)
    assert len(calls) == 2
    with session_factory() as s:
        stored = s.scalar(select(func.count()).select_from(RulePackRevision))
    assert stored == len(gate.rules.ruleset.packs)


def test_emergency_recorded_elsewhere_applies_to_the_next_decision(gate: Gate, other: Any) -> None:
    """us-la-emergency-ban: cached emergencies follow a declaration and its end."""
    from callwarden.emergencies import service as emergencies

    day = utcnow().date() + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    at = datetime(day.year, day.month, day.day, 17, 0, tzinfo=UTC)  # 11:00 in New Orleans
    attempt = Attempt(
        number=15045550123,
        at=at,
        channel="voice",
        purpose="telemarketing",
        technology="manual",
        seller="acme",
        caller_id="+14045550199",
    )

    def rule_ids() -> set[str]:
        (rec,) = gate.decide_many([attempt], actor="tests", actor_role="dialer")
        return {r.rule_id for r in rec.decision.reasons}

    assert "us-la-emergency-ban" not in rule_ids()
    with other() as s:
        row = emergencies.add_emergency(
            session=s,
            jurisdiction="US-LA",
            starts_at=utcnow() - timedelta(hours=1),
            description="Hurricane",
            **WHO,
        )
        s.commit()
        emergency_id = row.id
    assert "us-la-emergency-ban" in rule_ids()
    with other() as s:
        emergencies.end_emergency(session=s, emergency_id=emergency_id, at=utcnow(), **WHO)
        s.commit()
    assert "us-la-emergency-ban" not in rule_ids()


def test_an_async_caller_that_gave_up_is_never_written() -> None:
    """write_async: a decision whose caller timed out (and answered deny) is never committed."""
    import asyncio
    import time

    writer, written, release, batch = _slow_writer()

    async def scenario() -> tuple[Any, Any]:
        first = batch("first")
        busy = asyncio.ensure_future(writer.write_async(first))
        await asyncio.sleep(0.05)  # the writer is now busy with "first"
        late = batch("late")
        with pytest.raises(TimeoutError):
            await writer.write_async(late)
        release.set()
        await asyncio.wait_for(busy, 5)  # "first" was already being written: it completes
        return first, late

    first, late = asyncio.run(scenario())
    time.sleep(0.05)
    writer.close()
    assert late.state == "abandoned" and first.state == "writing"
    assert written == ["first"]


def _numbered(i: int, **kw: Any) -> Attempt:
    # the i-th Atlanta number, at 13:00 local on a weekday
    kw = {"purpose": "informational", "technology": "manual"} | kw
    at = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)
    return Attempt(number=14045550000 + i, at=at, channel="voice", seller="acme", **kw)


def test_a_large_batch_names_decisions_in_time_order_and_resumes_gc(gate: Gate) -> None:
    """A batch of 1,200 (past GC_PAUSE_FROM): every decision gets a version 7 id, later ones
    sort after earlier ones, each id is the subject of its own audit event, and the cyclic
    collector is on again afterwards."""
    attempts = [_numbered(i) for i in range(1200)]
    assert len(attempts) >= GC_PAUSE_FROM
    records = gate.decide_many(attempts, actor="tests", actor_role="dialer")
    ids_ = [r.id for r in records]
    assert all(uuid.UUID(i).version == 7 for i in ids_)
    assert ids_ == sorted(ids_) and len(set(ids_)) == len(ids_)
    assert gc.isenabled()
    with gate.session_factory() as s:
        subjects = (
            s.execute(
                text("SELECT subject FROM audit_events WHERE type = 'gate.decision' ORDER BY id")
            )
            .scalars()
            .all()
        )
    assert subjects[-1200:] == ids_


def test_evaluate_decides_as_decide_many_and_writes_nothing(gate: Gate) -> None:
    """`Gate.evaluate`, the read half of a decision on a plain connection: the same answer,
    reasons and obligations as a full decision, and no audit event or reservation."""
    attempts = [
        _numbered(i, purpose=purpose, technology=technology, recorded=bool(i % 2))
        for i in range(3)
        # autodialed telemarketing is denied: no registry copy, no consent on record
        for purpose, technology in (("informational", "manual"), ("telemarketing", "autodialer"))
    ]

    def written() -> tuple[int, int]:
        with gate.session_factory() as s:
            events = s.execute(text("SELECT count(*) FROM audit_events")).scalar_one()
            held = s.execute(text("SELECT count(*) FROM call_attempts")).scalar_one()
            return int(events), int(held)

    before = written()
    evaluated = gate.evaluate(attempts)
    assert written() == before
    records = gate.decide_many(attempts, actor="tests", actor_role="dialer")
    assert [d.allowed for d, _ in evaluated] == [r.decision.allowed for r in records]
    assert [d.allowed for d, _ in evaluated] == [True, False] * 3
    for (d, _), r in zip(evaluated, records, strict=True):
        assert d.reasons == r.decision.reasons
        assert d.obligations == r.decision.obligations
