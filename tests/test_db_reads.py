"""`ReadConnections`: the connections the gate reads its facts through."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from callwarden.db import ReadConnections, fetch_all, make_engine


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
