"""`ReadConnections`: the connections the gate reads its facts through."""

from __future__ import annotations

import contextlib
import tempfile
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from callwarden.db import (
    Query,
    ReadConnections,
    _sqlite_time,
    driver_time,
    driver_time_text,
    fetch_all,
    in_chunks,
    make_engine,
    memo,
    run_queries,
    run_query,
    statements_for,
    time_binder,
)
from tests.gate_helpers import record_pec


def _in_transaction(conn: Connection) -> bool:
    dbapi: Any = conn.connection.dbapi_connection
    if conn.dialect.name == "sqlite":
        return bool(dbapi.in_transaction)
    import psycopg

    return bool(dbapi.info.transaction_status != psycopg.pq.TransactionStatus.IDLE)


def test_a_connection_is_kept_for_the_next_borrower_and_never_shared(engine: Engine) -> None:
    """The next borrow reuses the idle connection; a borrow while one is out gets another."""
    reads = ReadConnections(engine, keep=1)
    with reads.borrow() as first, reads.borrow() as second:
        assert second is not first
    # the second came back first and was kept; the first found no room and went to the pool
    assert first.closed and not second.closed
    with reads.borrow() as again:
        assert again is second
    reads.close()
    assert again.closed


def test_reads_leave_no_transaction_open(engine: Engine) -> None:
    """Autocommit: after a read the driver holds no transaction (on PostgreSQL, no idle
    transaction; on SQLite, no read lock that would hold back a WAL checkpoint)."""
    reads = ReadConnections(engine)
    with reads.borrow() as conn:
        assert fetch_all(conn, "SELECT 1") == [(1,)]
        assert not _in_transaction(conn)
    reads.close()


def test_a_write_elsewhere_is_seen_by_the_next_read(engine: Engine) -> None:
    """A kept connection reads the latest committed data, not an old snapshot."""
    with engine.begin() as c:
        c.execute(text("CREATE TABLE IF NOT EXISTS read_probe (v INTEGER)"))
        c.execute(text("DELETE FROM read_probe"))
    reads = ReadConnections(engine)
    try:
        with reads.borrow() as conn:
            assert fetch_all(conn, "SELECT count(*) FROM read_probe") == [(0,)]
        with engine.begin() as c:
            c.execute(text("INSERT INTO read_probe VALUES (1)"))
        with reads.borrow() as conn:
            assert fetch_all(conn, "SELECT count(*) FROM read_probe") == [(1,)]
    finally:
        reads.close()
        with engine.begin() as c:
            c.execute(text("DROP TABLE read_probe"))


def test_a_borrower_that_fails_gives_its_connection_back_to_the_pool(engine: Engine) -> None:
    """An error inside the block: the connection is closed, not kept, and the error passes."""
    reads = ReadConnections(engine)
    with pytest.raises(RuntimeError), reads.borrow() as conn:
        raise RuntimeError("boom")
    assert conn.closed
    with reads.borrow() as fresh:
        assert fresh is not conn
    reads.close()


def test_a_small_pool_keeps_no_connection_aside(database_url: str) -> None:
    """A quarter of the pool, at most 4, is kept: a pool of 3 keeps none, so every borrowed
    connection goes back to the pool for the writers."""
    small = make_engine(database_url, pool_size=3)
    try:
        reads = ReadConnections(small)
        with reads.borrow() as conn:
            pass
        assert conn.closed
    finally:
        small.dispose()
    roomy = make_engine(database_url, pool_size=24)
    try:
        reads = ReadConnections(roomy)
        held = []
        with contextlib.ExitStack() as stack:
            held = [stack.enter_context(reads.borrow()) for _ in range(6)]
        assert sum(not c.closed for c in held) == 4
        reads.close()
        assert all(c.closed for c in held)
    finally:
        roomy.dispose()


def test_a_database_error_returns_every_idle_connection(engine: Engine) -> None:
    """A connection that fails underneath its borrower (as after a database restart): the
    error passes, the idle connections go back to the pool too, and the next read works."""
    reads = ReadConnections(engine, keep=3)
    with reads.borrow() as a, reads.borrow() as b, reads.borrow() as c:
        pass
    idle = [a, b, c]
    assert not any(x.closed for x in idle)
    dbapi_error = engine.dialect.loaded_dbapi.Error
    with pytest.raises(dbapi_error), reads.borrow() as broken:
        broken.connection.dbapi_connection.close()  # type: ignore[union-attr]
        fetch_all(broken, "SELECT 1")
    assert all(x.closed for x in idle)
    with reads.borrow() as fresh:
        assert fresh not in idle
        assert fetch_all(fresh, "SELECT 1") == [(1,)]
    reads.close()


def test_an_error_of_the_borrower_keeps_the_other_idle_connections(engine: Engine) -> None:
    """An application error (a refused credential, say) is not the database's: only the
    borrower's connection is given back; the idle ones stay."""
    reads = ReadConnections(engine, keep=2)
    with reads.borrow() as a, reads.borrow() as b:
        pass
    with pytest.raises(ValueError), reads.borrow() as failed:
        raise ValueError("not the database")
    (other,) = {a, b} - {failed}
    assert failed.closed and not other.closed
    reads.close()


# -- loaders sent together (`run_queries`) ------------------------------------------------


def _probe(engine: Engine, numbers: list[int]) -> None:
    with engine.begin() as c:
        c.execute(text("CREATE TABLE IF NOT EXISTS query_probe (number BIGINT, v INTEGER)"))
        c.execute(text("DELETE FROM query_probe"))
        c.execute(
            text("INSERT INTO query_probe VALUES (:n, :v)"),
            [{"n": n, "v": n % 7} for n in numbers],
        )


def _by_number(rows: Any) -> list[tuple[int, int]]:
    return [(int(n), int(v)) for n, v in rows]


def test_queries_answer_in_order_across_chunks(engine: Engine) -> None:
    """Several loaders sent together each get exactly their own rows, in statement order: a
    query over 1,203 numbers (three IN lists) reads every row once, by number."""
    numbers = [15550000000 + 3 * i for i in range(1203)]
    _probe(engine, numbers)
    sql = "SELECT number, v FROM query_probe WHERE number IN ({marks}) ORDER BY number"
    every = Query(in_chunks(sql, list(reversed(numbers)) + numbers[:5]), _by_number)
    assert len(every.statements) == 3  # 1,203 distinct numbers, 500 per list
    odd = Query(in_chunks(sql, numbers[1::2]), _by_number)
    none = Query(in_chunks(sql, [15559999999]), _by_number)
    sevens = Query(
        in_chunks(sql.replace("ORDER BY", "AND v = ? ORDER BY"), numbers[:20], (3,)), _by_number
    )
    try:
        reads = ReadConnections(engine)
        with reads.borrow() as conn:
            got = run_queries(conn, [every, none, odd, sevens])
            assert got[0] == [(n, n % 7) for n in numbers]
            assert got[1] == []
            assert got[2] == [(n, n % 7) for n in numbers[1::2]]
            assert got[3] == [(n, 3) for n in numbers[:20] if n % 7 == 3]
            assert run_query(conn, odd) == got[2]
        reads.close()
    finally:
        with engine.begin() as c:
            c.execute(text("DROP TABLE query_probe"))


def test_many_numbers_are_one_statement_over_an_array_on_postgresql(engine: Engine) -> None:
    """PostgreSQL takes 16 numbers or more as one bigint array (it plans each 500-value IN list
    anew); SQLite, and a few numbers anywhere, keep the IN lists."""
    sql = "SELECT number, v FROM query_probe WHERE number IN ({marks}) AND v = ? ORDER BY number"
    numbers = [15550000000 + i for i in range(1203)]
    many = Query(in_chunks(sql, numbers, (3,)), _by_number)
    few = Query(in_chunks(sql, numbers[:15], (3,)), _by_number)
    with engine.connect() as conn:
        sent_many, sent_few = statements_for(conn, many), statements_for(conn, few)
    assert sent_few == few.statements and len(sent_few) == 1 and "?, ?" in sent_few[0][0]
    if engine.dialect.name == "postgresql":
        ((text_, params),) = sent_many
        assert "unnest(CAST(? AS bigint[]))" in text_ and params == (numbers, 3)
    else:
        assert sent_many == many.statements and len(sent_many) == 3


def test_a_failing_statement_among_queries_raises_and_the_connection_reads_on(
    engine: Engine,
) -> None:
    """One bad statement (pipelined with good ones on PostgreSQL) fails the call with the
    driver's error, and the same connection answers the next read."""
    good = Query((("SELECT 1", ()),), list)
    bad = Query((("SELECT * FROM no_such_table", ()),), list)
    # outside any transaction, as the gate reads (autocommit on PostgreSQL)
    options = {"isolation_level": "AUTOCOMMIT"} if engine.dialect.name == "postgresql" else {}
    with engine.connect().execution_options(**options) as conn:
        with pytest.raises(engine.dialect.loaded_dbapi.Error):
            run_queries(conn, [good, bad, good])
        assert run_queries(conn, [good, good]) == [[(1,)], [(1,)]]


def test_a_decisions_facts_are_the_loaders_answers_in_one_round_trip_on_postgresql(
    engine: Engine, session_factory: Any, settings: Any
) -> None:
    """The six fact loaders sent together answer exactly as each loader alone; on PostgreSQL
    they go in one pipeline: the libpq trace of the call holds a single Sync (sent one by
    one, each statement ends with its own)."""
    from datetime import timedelta

    from callwarden.consent import service as consent
    from callwarden.db import utcnow
    from callwarden.ebr import service as ebr
    from callwarden.gate.service import Gate
    from callwarden.numbers import service as numbers
    from callwarden.rnd import service as rnd

    n, other = 14045550100, 14045550101
    who = {"actor": "t", "actor_role": "compliance"}
    given = utcnow() - timedelta(days=3)
    with session_factory() as s:
        numbers.add_line_type(session=s, number=n, line_type="wireless", source="t", **who)
        record_pec(s, settings.data_dir, n, given)
        s.commit()
    reads = ReadConnections(engine)
    with reads.borrow() as conn, tempfile.TemporaryFile("w+") as trace:
        pg: Any = conn.connection.dbapi_connection
        if engine.dialect.name == "postgresql":
            pg.pgconn.trace(trace.fileno())
        try:
            facts = Gate._load_slow(conn, [n, other], None)
        finally:
            if engine.dialect.name == "postgresql":
                pg.pgconn.untrace()
        trace.seek(0)
        messages = [line.split("\t")[3] for line in trace.read().splitlines()]
        alone = {
            "consents": consent.load_consents(conn, [n, other]),
            "revocations": consent.load_revocations(conn, [n, other]),
            "ebr": ebr.load_ebr(conn, [n, other]),
            "line_types": numbers.load_line_types(conn, [n, other]),
            "locations": numbers.load_locations(conn, [n, other]),
            "rnd": rnd.load_rnd(conn, [n, other]),
        }
    reads.close()
    assert [c.kind for c in facts[n].consents] == ["pec"]
    assert facts[n].line_type == "wireless" and facts[other].line_type is None
    for number in (n, other):
        f = facts[number]
        assert f.consents == tuple(alone["consents"][number])
        assert f.revocations == tuple(alone["revocations"][number])
        assert f.ebr == tuple(alone["ebr"][number])
        assert f.line_type == alone["line_types"].get(number)
        assert f.locations == tuple(alone["locations"].get(number, ()))
        assert f.rnd == tuple(alone["rnd"].get(number, ()))
    if engine.dialect.name == "postgresql":
        assert messages.count("Parse") + messages.count("Bind") >= 6  # six statements sent
        assert messages.count("Sync") == 1


@settings(max_examples=300, deadline=None)
@given(
    moment=st.datetimes(
        min_value=datetime(1970, 1, 2),
        max_value=datetime(9998, 12, 30),
        timezones=st.sampled_from(
            [
                UTC,
                timezone(timedelta(0)),
                timezone(timedelta(hours=-5)),
                timezone(timedelta(hours=5, minutes=30)),
            ]
        ),
    )
)
def test_a_timestamp_bound_for_sqlite_reads_back_as_the_same_instant_in_utc(
    moment: datetime,
) -> None:
    """`time_binder` text and `driver_time` are inverses: same instant, tz UTC, fixed width."""
    stored = _sqlite_time(moment)
    assert len(stored) == 26  # 'YYYY-MM-DD HH:MM:SS.ffffff': text order is time order
    back = driver_time(stored)
    assert back == moment
    assert back.tzinfo is UTC
    # text carrying its own offset (written by another tool) is honoured, not overwritten
    assert driver_time(moment.isoformat()) == moment
    assert driver_time(moment.replace(tzinfo=None).isoformat(" ")) == moment.replace(tzinfo=UTC)


@given(
    moment=st.datetimes(
        min_value=datetime(1970, 1, 2), max_value=datetime(9998, 12, 30), timezones=st.just(UTC)
    )
)
def test_time_text_is_the_same_whichever_form_the_driver_gave(moment: datetime) -> None:
    """An audit leaf commits to `driver_time_text`: SQLite's stored text (the fast path) and
    the datetime PostgreSQL returns give the same characters."""
    stored = _sqlite_time(moment)
    assert driver_time_text(stored) == moment.isoformat(timespec="microseconds")
    assert driver_time_text(stored) == driver_time_text(moment)
    assert driver_time_text(moment.replace(tzinfo=None)) == driver_time_text(moment)
    # text in another shape (no fraction, or an offset) takes the general parse
    other = moment.astimezone(timezone(timedelta(hours=-7))).isoformat()
    assert driver_time_text(other) == driver_time_text(moment)


def test_text_shaped_like_sqlites_but_with_an_offset_is_parsed() -> None:
    """26 characters, the space and the dot in place, but an offset after the fraction: the
    fast path must not copy it through as UTC."""
    odd = "2026-01-01 10:00:00.1+0100"
    assert driver_time_text(odd) == "2026-01-01T09:00:00.100000+00:00"


@pytest.mark.parametrize(
    ("given", "text_"),
    [
        ("2026-11-28 17:05:09.000123", "2026-11-28T17:05:09.000123+00:00"),  # SQLite's text
        ("2026-11-28 17:05:09.1+0100", "2026-11-28T16:05:09.100000+00:00"),
        ("2024-01-01", "2024-01-01T00:00:00.000000+00:00"),
        (datetime(2026, 11, 28, 17, 5, 9), "2026-11-28T17:05:09.000000+00:00"),  # naive: UTC
        (
            datetime(2026, 11, 28, 22, 35, 9, tzinfo=timezone(timedelta(hours=5, minutes=30))),
            "2026-11-28T17:05:09.000000+00:00",
        ),
    ],
)
def test_time_text_is_pinned(given: Any, text_: str) -> None:
    """Every audit leaf already hashed commits to this text: it must never change."""
    assert driver_time_text(given) == text_


def test_text_that_is_not_a_full_timestamp_takes_the_general_parse() -> None:
    """A date alone (or compact) is midnight UTC, as before the fast path, never naive."""
    for text_ in ("2024-01-01", "20240101"):
        assert driver_time(text_) == datetime(2024, 1, 1, tzinfo=UTC)
        assert driver_time(text_).tzinfo is UTC
    assert driver_time("2026-05-13T03:38:25Z") == datetime(2026, 5, 13, 3, 38, 25, tzinfo=UTC)


def test_times_that_differ_only_in_fold_are_bound_apart() -> None:
    """New York's 01:30 on 2026-11-01 happens twice; `memo` must not hand one the other's text
    (Python calls the two equal)."""
    first = datetime(2026, 11, 1, 1, 30, tzinfo=ZoneInfo("America/New_York"))
    second = first.replace(fold=1)
    assert first == second  # what a plain cache would key on
    bind = memo(_sqlite_time)
    assert bind(first) == "2026-11-01 05:30:00.000000"
    assert bind(second) == "2026-11-01 06:30:00.000000"


def test_a_naive_timestamp_is_refused_for_a_utc_column() -> None:
    """Binding a time without a zone is a bug, not a guess at UTC."""
    with pytest.raises(ValueError, match="naive"):
        _sqlite_time(datetime(2026, 1, 1, 12))


def test_timestamps_read_from_the_database_are_the_instants_written(engine: Engine) -> None:
    """A time bound by the session's binder comes back through `driver_time` unchanged."""
    moments = [
        datetime(2026, 3, 8, 7, 0, 0, 1, tzinfo=UTC),
        datetime(2026, 11, 1, 1, 30, tzinfo=timezone(timedelta(hours=-4))),
        datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ]
    with engine.connect() as conn:
        bind = time_binder(conn)
        got = [
            driver_time(
                fetch_all(
                    conn, "SELECT " + ("?" if conn.dialect.name == "sqlite" else "%s"), (bind(m),)
                )[0][0]
            )
            for m in moments
        ]
    assert got == moments
    assert all(g.tzinfo is UTC for g in got)
