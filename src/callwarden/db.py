"""Engine, session factory and the declarative base shared by every domain.

Also what the service's background writers need to share one database file: the driver-level
statements of the hot paths (`fetch_all`, `execute_many`, timestamp binding), the queue of
SQLite writers across processes (`serial_writer`), the one-process tasks (`sole_process`) and
the write-ahead-log checkpoint thread (`WalCheckpointer`).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from itertools import chain
from typing import Any, Generic, TypeVar

from sqlalchemy import DateTime, MetaData, create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base; every table of every domain hangs off this metadata."""

    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    """The one clock: timezone-aware UTC now."""
    return datetime.now(UTC)


def make_engine(url: str, *, pool_size: int = 24, checkpoint_apart: bool = False) -> Engine:
    """Create an engine with the pragmas callwarden relies on.

    `checkpoint_apart` (the service, with a `WalCheckpointer` running): SQLite's commits do
    not copy the write-ahead log back into the database themselves. A commit that crosses
    the 1,000-page mark otherwise does that copy while it holds the write lock, and every
    decision waits behind it (seconds after a large import).
    """
    if url.startswith("sqlite"):
        in_memory = url in ("sqlite://", "sqlite:///:memory:")
        # a file database gets a bounded pool (see Settings.max_concurrent_requests)
        pool: dict[str, Any] = {} if in_memory else {"pool_size": pool_size, "max_overflow": 0}
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **pool
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            # WAL lets readers proceed during an import; FULL sync keeps acknowledged writes.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            if checkpoint_apart:
                cur.execute("PRAGMA wal_autocheckpoint=0")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=pool_size, max_overflow=0)


def _sqlite_file(bind: Any) -> str | None:
    # the absolute path of an engine's SQLite file; None for any other database or memory
    if not isinstance(bind, Engine) or bind.dialect.name != "sqlite":
        return None
    database = bind.url.database
    return None if database in (None, "", ":memory:") else os.path.abspath(str(database))


class WalCheckpointer:
    """Copies an SQLite file's write-ahead log back into the database from a thread of its own.

    PASSIVE checkpoints take no lock that readers or writers wait for: each copies what no
    open read still needs, so the log stays short while decisions never wait for the copy.
    A no-op on other databases.
    """

    def __init__(self, engine: Engine, *, every: float = 1.0) -> None:
        self._engine = engine
        self._every = every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if _sqlite_file(engine) is not None:
            self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
            self._thread.start()

    def checkpoint(self) -> tuple[int, int, int]:
        """One PASSIVE checkpoint now: (busy, frames in the log, frames copied)."""
        with self._engine.connect() as conn:
            row = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
            return int(row[0]), int(row[1]), int(row[2])

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                self.checkpoint()
            except Exception as exc:  # retried next round; the log only grows meanwhile
                from callwarden.logging import get_logger

                get_logger("callwarden.db").error("wal_checkpoint_failed", error=repr(exc))

    def close(self) -> None:
        """Stop the thread (after one last checkpoint)."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=30)
            self.checkpoint()


class _WriterLock:
    """One SQLite file's background writers, serialised: a thread lock, then an OS file lock."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.thread_lock = threading.Lock()
        self.fd: int | None = None
        self.pid = 0

    @contextmanager
    def hold(self) -> Iterator[None]:
        with self.thread_lock:
            if self.fd is None or self.pid != os.getpid():  # opened anew in a forked worker
                self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
                self.pid = os.getpid()
            fcntl.flock(self.fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self.fd, fcntl.LOCK_UN)


_WRITER_LOCKS: dict[str, _WriterLock] = {}
_WRITER_LOCKS_GUARD = threading.Lock()


@contextmanager
def serial_writer(factory: sessionmaker[Session]) -> Iterator[None]:
    """Around a background writer's transaction: on an SQLite file, one such writer at a time.

    SQLite's own wait for its write lock sleeps and retries (1, 2, 5, 10 ... 100 ms), so two
    processes' group-commit writers meeting at the lock add tens of milliseconds to every
    decision behind them. Queued here (threads, then processes through flock) they wake the
    moment the lock is free. Other writers still meet at SQLite's lock; PostgreSQL needs none.
    """
    key = _sqlite_file(getattr(factory, "kw", {}).get("bind"))
    if key is None:
        yield
        return
    with _WRITER_LOCKS_GUARD:
        lock = _WRITER_LOCKS.get(key)
        if lock is None:
            lock = _WRITER_LOCKS[key] = _WriterLock(key + "-writers.lock")
    with lock.hold():
        yield


@contextmanager
def sole_process(factory: sessionmaker[Session], task: str) -> Iterator[bool]:
    """Whether this process is the one doing `task` now, among those sharing the database.

    For background work that any process could do but one is enough (sequencing the audit
    log): the others would only redo it and hold the write lock longer. The first to take
    the task's lock does it (SQLite: a file lock; PostgreSQL: an advisory lock); the lock goes
    with the process if it dies. Other databases: always this process.
    """
    bind = getattr(factory, "kw", {}).get("bind")
    if isinstance(bind, Engine) and bind.dialect.name == "postgresql":
        # a session-level advisory lock, tried, on a connection held for the task
        key = int.from_bytes(hashlib.sha256(f"callwarden:{task}".encode()).digest()[:8]) >> 1
        with bind.connect() as conn:
            mine = bool(conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({key})").scalar())
            try:
                yield mine
            finally:
                if mine:
                    conn.exec_driver_sql(f"SELECT pg_advisory_unlock({key})")
                conn.rollback()
        return
    path = _sqlite_file(bind)
    if path is None:
        yield True
        return
    fd = os.open(f"{path}-{task}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory bound to the engine."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work commits on success and rolls back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# What the read-only hot paths read through: a request's ORM session, or a plain connection
# (`ReadConnections`): beginning and ending an ORM session costs about 35 µs, a third of a
# cached decision.
Reader = Session | Connection


class ReadConnections:
    """A few pooled connections kept open, without transactions, for the hot read paths.

    Taking a connection from SQLAlchemy's pool and giving it back costs about 10 µs, a tenth
    of a cached decision, and on PostgreSQL the driver's BEGIN and the pool's ROLLBACK are two
    more round trips; a run of plain reads (`fetch_all`) needs none of that. Each connection
    serves one borrower at a time; beyond `keep` idle ones, borrowers get fresh ones from the
    pool and give them back. A borrower that raises gives its connection back to the pool,
    whose checks then apply, instead of keeping it; a database error returns the idle ones
    too, so that a restarted database costs one failed read, not one per kept connection.
    By default a quarter of the pool, at most 4, is kept aside, so that a small pool still
    serves its writers.
    """

    def __init__(self, engine: Engine, *, keep: int | None = None) -> None:
        self._engine = engine
        if keep is None:
            size = getattr(engine.pool, "size", None)  # QueuePool; other pools keep none
            keep = min(4, size() // 4) if callable(size) else 0
        self._keep = keep
        self._idle: list[Connection] = []  # pop and append are atomic: no lock needed
        self._closed = False

    @contextmanager
    def borrow(self) -> Iterator[Connection]:
        """One connection for this thread's reads until the block ends."""
        try:
            conn = self._idle.pop()
        except IndexError:
            conn = self._engine.connect()
            if conn.dialect.name != "sqlite":
                # PostgreSQL: no BEGIN before the reads and no ROLLBACK after them. SQLite's
                # driver begins no transaction for reads anyway, and the one connection of a
                # memory database may be a session's, whose transaction must not change mode.
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        try:
            yield conn
        except BaseException as exc:
            conn.close()
            if isinstance(exc, conn.dialect.loaded_dbapi.Error):
                # the database went away (a restart, a failover): the idle ones are as dead
                # as this one, so they go back to the pool, which checks each before reuse
                self._drop_idle()
            raise
        if self._closed or len(self._idle) >= self._keep:
            conn.close()
        else:
            self._idle.append(conn)

    def close(self) -> None:
        """Give every idle connection back to the pool."""
        self._closed = True
        self._drop_idle()

    def _drop_idle(self) -> None:
        while self._idle:
            try:
                self._idle.pop().close()
            except IndexError:  # another thread took the last one meanwhile
                return


def dialect_name(source: Reader) -> str:
    """The backend's name ("sqlite", "postgresql") of a session or connection."""
    if isinstance(source, Connection):
        return str(source.dialect.name)
    return str(source.get_bind().dialect.name)


def _connection(source: Reader) -> Connection:
    # a session's connection joins (or begins) the session's transaction
    return source.connection() if isinstance(source, Session) else source


def fetch_all(session: Reader, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
    """Run one constant SQL statement with `?` placeholders straight on the driver.

    For the queries that run on every request (credential check, DNC sync, the gate's facts):
    they skip SQLAlchemy's statement compilation and result wrapping. Rows are plain tuples.
    The SQL is a constant of the caller; values are always bound, never formatted in.
    """
    conn = _connection(session)
    if conn.dialect.paramstyle != "qmark":
        sql = sql.replace("?", "%s")
    # The DBAPI cursor itself: SQLAlchemy's result wrapping costs four times the query.
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, params)
        return list(cursor.fetchall()) if cursor.description is not None else []
    finally:
        cursor.close()


T = TypeVar("T")

# Numbers per IN list: SQLite allows 32,766 bound values, and shorter lists plan better.
IN_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Query(Generic[T]):
    """A loader's statements (`?` placeholders) and the function that turns their rows into its
    answer: a caller that needs several loaders' answers sends them together (`run_queries`).
    """

    statements: tuple[tuple[str, tuple[Any, ...]], ...]
    parse: Callable[[Iterable[Any]], T]  # every statement's rows, in statement order


class InChunks(tuple[tuple[str, tuple[Any, ...]], ...]):
    """`in_chunks`' statements, one per `IN_CHUNK` values (SQLite's form), knowing their
    template, values, tail and SQL type so PostgreSQL can take them as one statement over an
    array."""

    template: str
    values: tuple[Any, ...]
    tail: tuple[Any, ...]
    sql_type: str

    def __new__(
        cls, template: str, values: tuple[Any, ...], tail: tuple[Any, ...], sql_type: str
    ) -> InChunks:
        statements = (
            (_with_marks(template, len(part)), (*part, *tail))
            for part in (values[i : i + IN_CHUNK] for i in range(0, len(values), IN_CHUNK))
        )
        self = super().__new__(cls, statements)
        self.template, self.values, self.tail, self.sql_type = template, values, tail, sql_type
        return self


def in_chunks(
    sql: str, values: Sequence[Any], tail: tuple[Any, ...] = (), *, sql_type: str = "bigint"
) -> InChunks:
    """`sql` with `{marks}` for an IN list of distinct values, once per `IN_CHUNK` of them.

    The values (numbers, or text with `sql_type="text"`) are sorted, so rows ordered by them
    within each statement are ordered across all of them. `tail` binds the placeholders after
    the list.
    """
    unique = sorted({int(v) for v in values}) if sql_type == "bigint" else sorted(set(values))
    return InChunks(sql, tuple(unique), tail, sql_type)


@lru_cache(maxsize=1024)
def _with_marks(sql: str, count: int) -> str:
    # the same few texts on every decision: a single number's, and full chunks'
    return sql.format(marks=", ".join("?" * count))


# PostgreSQL plans an IN list of 500 parameters for every chunk: for 10,000 numbers the
# consents took 240-340 ms in 20 statements, 50-90 ms in one over a bigint array. A few
# values stay a plain list, which is faster for one (87 against 124 µs).
ARRAY_FROM = 16


@lru_cache(maxsize=64)
def _with_array(sql: str, sql_type: str) -> str:
    return sql.format(marks=f"SELECT unnest(CAST(? AS {sql_type}[]))")


def statements_for(source: Reader, query: Query[Any]) -> Sequence[tuple[str, tuple[Any, ...]]]:
    """The statements `run_queries` sends for a query on this connection's database."""
    st = query.statements
    if (
        isinstance(st, InChunks)
        and len(st.values) >= ARRAY_FROM
        and dialect_name(source) == "postgresql"
    ):
        return ((_with_array(st.template, st.sql_type), (list(st.values), *st.tail)),)
    return st


def run_query(source: Reader, query: Query[T]) -> T:
    """One loader's answer."""
    (answer,) = run_queries(source, [query])
    return answer  # type: ignore[no-any-return]


def run_queries(source: Reader, queries: Sequence[Query[Any]]) -> list[Any]:
    """Every loader's answer, in order; on PostgreSQL their statements go in one pipeline.

    A decision's facts are six loaders: sent one by one they cost six round trips to the
    server (about 0.9 ms on this machine), pipelined one (about 0.3 ms).
    """
    conn = _connection(source)
    per_query = [statements_for(conn, q) for q in queries]
    statements = [st for sts in per_query for st in sts]
    if conn.dialect.name != "postgresql" or len(statements) < 2:
        results = [fetch_all(conn, sql, params) for sql, params in statements]
    else:
        dbapi = conn.connection.dbapi_connection
        cursors = []
        try:
            with dbapi.pipeline():  # type: ignore[union-attr]
                for sql, params in statements:
                    cursor = dbapi.cursor()  # type: ignore[union-attr]
                    cursors.append(cursor)
                    cursor.execute(sql.replace("?", "%s"), params)
            results = [list(c.fetchall()) if c.description is not None else [] for c in cursors]
        finally:
            for cursor in cursors:
                cursor.close()
    answers = []
    done = 0
    for q, sts in zip(queries, per_query, strict=True):
        answers.append(q.parse(chain.from_iterable(results[done : done + len(sts)])))
        done += len(sts)
    return answers


def execute_many(session: Reader, sql: str, rows: list[tuple[Any, ...]]) -> None:
    """Run one constant statement with `?` placeholders for many rows, straight on the driver.

    For the gate's per-decision writes; values must already be in the driver's form
    (`bind_time` for timestamps).
    """
    if not rows:
        return
    conn = _connection(session)
    if conn.dialect.paramstyle != "qmark":
        sql = sql.replace("?", "%s")
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(sql, rows)
    finally:
        cursor.close()


def bind_time(session: Reader, value: datetime) -> Any:
    """A UTC timestamp as the driver stores and compares it (text on SQLite)."""
    return time_binder(session)(value)


def memo(fn: Callable[[datetime], Any]) -> Callable[[datetime], Any]:
    """`fn` remembering its answers, for one loop over rows that repeat a few times."""
    # keyed with `fold`: two times of one zone that differ only in it are equal in Python
    seen: dict[tuple[datetime, int], Any] = {}

    def cached(value: datetime) -> Any:
        key = (value, value.fold)
        found = seen.get(key)
        if found is None:
            found = seen[key] = fn(value)
        return found

    return cached


def time_binder(session: Reader) -> Callable[[datetime], Any]:
    """`bind_time` for this session's backend, decided once (for loops over many rows)."""
    return _sqlite_time if dialect_name(session) == "sqlite" else _utc_time


def _utc_time(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return value.astimezone(UTC)


def _sqlite_time(value: datetime) -> str:
    # SQLAlchemy's SQLite storage format 'YYYY-MM-DD HH:MM:SS.ffffff'; fixed width, so text
    # order is time order. The aware text less its '+00:00': `replace(tzinfo=None)` costs
    # more than the formatting (a batch binds tens of thousands). `_is_sqlite_time` and
    # `driver_time_text` read this layout back.
    if value.tzinfo is not UTC:
        value = _utc_time(value)
    return value.isoformat(" ", "microseconds")[:-6]


def _is_sqlite_time(value: str) -> bool:
    # the layout `_sqlite_time` writes, checked character by character
    return len(value) == 26 and value[10] == " " and value[19] == "." and value[20:].isdigit()


_UTC_SUFFIX = "+00:00"


def driver_time(value: Any) -> datetime:
    """A timestamp as `fetch_all` returns it (SQLite: text, PostgreSQL: datetime), in UTC."""
    if isinstance(value, str):
        # SQLite's naive UTC text parsed aware in one call: a `replace(tzinfo=UTC)` after
        # the parse costs several times the parse, and a batch reads tens of thousands.
        try:
            fast: datetime | None = datetime.fromisoformat(value + _UTC_SUFFIX)
        except ValueError:  # the text carries its own offset
            fast = None
        if fast is not None and fast.tzinfo is not None:
            return fast
        # a date alone ('2026-01-01+00:00' reads as a naive midnight) or an offset of its own
        value = datetime.fromisoformat(value)
    stamp: datetime = value
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


def driver_time_text(value: Any) -> str:
    """A timestamp as `fetch_all` returns it, as ISO 8601 UTC text to the microsecond."""
    if isinstance(value, str) and _is_sqlite_time(value):
        # the same characters as the parse below gives, without its calls (a batch of
        # decisions hashes 10,000 audit leaves, each with its time)
        return f"{value[:10]}T{value[11:]}+00:00"
    return driver_time(value).isoformat(timespec="microseconds")
