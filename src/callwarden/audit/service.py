"""The one audit writer: every domain records evidence through `record`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from callwarden.audit import log as audit_log
from callwarden.audit.models import AuditEvent
from callwarden.db import (
    Reader,
    dialect_name,
    fetch_all,
    memo,
    serial_writer,
    sole_process,
    time_binder,
    utcnow,
)
from callwarden.logging import get_logger

log = get_logger("callwarden.audit")

# Events sequenced per transaction. Each holds the database's write lock for about 4 ms
# (32 leaf updates and their tree nodes); gate decisions waiting for that lock wait no longer.
SEQUENCE_BATCH = 32


_EVENTS_TABLE: Table = AuditEvent.__table__  # type: ignore[assignment]


def _body(body: Mapping[str, Any] | str | None) -> str:
    if isinstance(body, str):  # already canonical text (the caller hashed it)
        return body
    return canonical(body or {})


def canonical(body: Mapping[str, Any]) -> str:
    """The exact text an event body is stored as (sorted keys, no spaces)."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)


def record(
    *,
    session: Session,
    type: str,
    actor: str,
    actor_role: str,
    subject: str | None = None,
    body: Mapping[str, Any] | None = None,
) -> None:
    """Append one event in the caller's transaction (it commits or rolls back with the change)."""
    session.add(
        AuditEvent(
            occurred_at=utcnow(),
            type=type,
            actor=actor,
            actor_role=actor_role,
            subject=subject,
            body=_body(body),
        )
    )


def record_many(
    *,
    session: Session,
    type: str,
    actor: str,
    actor_role: str,
    subjects: Iterable[str],
    body: Mapping[str, Any] | None = None,
) -> None:
    """Append one event per subject in a single statement (bulk reads, batch lookups)."""
    now = utcnow()
    text = _body(body)
    rows = [
        {
            "occurred_at": now,
            "type": type,
            "actor": actor,
            "actor_role": actor_role,
            "subject": s,
            "body": text,
        }
        for s in subjects
    ]
    if rows:
        session.execute(insert(AuditEvent), rows)


def record_events(
    *, session: Reader, events: Sequence[Mapping[str, Any]], sequence: bool = False
) -> list[int]:
    """Append events (type, actor, actor_role, subject, body) in the caller's transaction.

    Returns their ids in order, so each can be handed back as a receipt. With `sequence`, on
    SQLite, the events enter the Merkle tree in the same transaction when nothing earlier is
    pending (`log.sequence_new`): for a writer that already holds the write lock.
    """
    if not events:
        return []
    # one transaction, one moment: the events of a call share their time (and a batch's
    # 10,000 decisions bind and hash one timestamp instead of 10,000)
    now = utcnow()
    rows = [
        _row(e["type"], e["actor"], e["actor_role"], e.get("subject"), e.get("body"), now)
        for e in events
    ]
    if len(rows) == 1 or dialect_name(session) == "sqlite":
        return _insert_on_driver(session, rows, sequence=sequence)
    table = _EVENTS_TABLE
    result = session.execute(
        insert(table).returning(table.c.id, sort_by_parameter_order=True), rows
    )
    return [int(i) for i in result.scalars()]


_EVENT_COLUMNS = "occurred_at, type, actor, actor_role, subject, body"


def _insert_on_driver(
    session: Reader, rows: Sequence[Mapping[str, Any]], *, sequence: bool = False
) -> list[int]:
    # The gate logs every decision through here: straight on the driver, no statement
    # compilation. One row, or SQLite, whose single writer numbers a statement's rows in
    # VALUES order, so the sorted ids are the rows' ids in order.
    when = memo(time_binder(session))
    values: list[tuple[Any, ...]] = [
        (when(r["occurred_at"]), r["type"], r["actor"], r["actor_role"], r["subject"], r["body"])
        for r in rows
    ]
    leaves = audit_log.sequence_new(session, values) if sequence else None
    columns, marks = _EVENT_COLUMNS, "?, ?, ?, ?, ?, ?"
    if leaves is not None:
        values = [v + leaf for v, leaf in zip(values, leaves, strict=True)]
        columns, marks = columns + ", seq, leaf_hash", marks + ", ?, ?"
    ids: list[int] = []
    for i in range(0, len(values), 1000):
        chunk = values[i : i + 1000]
        sql = (
            f"INSERT INTO audit_events ({columns}) VALUES "
            + ", ".join([f"({marks})"] * len(chunk))
            + " RETURNING id"
        )
        params = tuple(v for row in chunk for v in row)
        ids += sorted(int(row[0]) for row in fetch_all(session, sql, params))
    return ids


def events(
    *,
    session: Session,
    type: str | None = None,
    subject: str | None = None,
    limit: int = 100,
) -> list[AuditEvent]:
    """Recent events, newest first, optionally of one type and/or about one subject."""
    q = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if type is not None:
        q = q.where(AuditEvent.type == type)
    if subject is not None:
        q = q.where(AuditEvent.subject == subject)
    return list(session.scalars(q))


def _row(
    type: str,
    actor: str,
    actor_role: str,
    subject: str | None,
    body: Mapping[str, Any] | str | None,
    occurred_at: datetime | None = None,
) -> dict[str, Any]:
    return {
        "occurred_at": occurred_at or utcnow(),
        "type": type,
        "actor": actor,
        "actor_role": actor_role,
        "subject": subject,
        "body": _body(body),
    }


class _Ticket:
    """An event whose writer waits for it to be committed (a thread, or an asyncio task)."""

    __slots__ = ("done", "future", "id", "row")
    done: threading.Event | None

    def __init__(self, row: dict[str, Any], future: asyncio.Future[int] | None = None) -> None:
        self.row = row
        self.id: int | None = None
        self.future = future
        # a thread waits on an Event; a task on its future (an Event is costly to make)
        self.done = threading.Event() if future is None else None


def _resolve(pairs: list[tuple[asyncio.Future[int], int | None]]) -> None:
    # Runs on the waiting tasks' event loop: one call per committed batch wakes them all.
    for fut, event_id in pairs:
        if fut.done():
            continue
        if event_id is None:
            fut.set_exception(RuntimeError("the audit event was not written"))
        else:
            fut.set_result(event_id)


_Item = dict[str, Any] | _Ticket | threading.Event | None


# Core insert on the table (not the mapped class): no per-row ORM bookkeeping in the hot loop.
_INSERT_RETURNING_IDS = AuditEvent.__table__.insert().returning(  # type: ignore[attr-defined]
    AuditEvent.__table__.c.id,
    sort_by_parameter_order=True,  # type: ignore[attr-defined]
)


class AuditWriter:
    """Writes audit events in batches from a background thread (group commit).

    Whatever is queued when a batch starts goes into it, so batches grow with the load and one
    disk flush serves many events. `submit` (reads of personal data) returns at once: a lookup
    must not wait for a flush of its own, and a crash can lose only the batch being written.
    `append`, `append_async` and `append_many` return the event ids once committed. Changes
    (imports, list edits, keys) are audited in their own transaction instead, so the change and
    its evidence commit or fail together. The thread also sequences events into the Merkle tree
    and signs checkpoints on schedule when asked to.
    """

    def __init__(
        self,
        session_factory: Any,
        *,
        interval: float = 0.05,
        max_batch: int = 5000,
        sequence_every: float | None = None,
        checkpoint_every: float | None = None,
        signer: Any = None,
    ) -> None:
        self._factory = session_factory
        self._interval = interval
        self._max_batch = max_batch
        # The service also runs the log's housekeeping here: sequencing new events into the
        # Merkle tree and signing a checkpoint on schedule (None: not in this process).
        self._sequence_every = sequence_every
        self._checkpoint_every = checkpoint_every
        self._signer = signer
        self._last_sequence = time.monotonic()
        self._last_checkpoint = time.monotonic()
        self._queue: queue.Queue[_Item] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._thread.start()

    def submit(
        self,
        *,
        type: str,
        actor: str,
        actor_role: str,
        subject: str | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> None:
        """Queue one event (timestamped now); returns at once (reads of personal data)."""
        self._queue.put(_row(type, actor, actor_role, subject, body))

    def append(
        self,
        *,
        type: str,
        actor: str,
        actor_role: str,
        subject: str | None = None,
        body: Mapping[str, Any] | None = None,
        timeout: float = 10.0,
    ) -> int:
        """Write one event durably and return its id: returns once its batch has committed.

        Many callers at once share each commit (group commit), so evidence that must survive
        a crash before the caller goes on costs one disk flush per batch, not per event.
        """
        ticket = _Ticket(_row(type, actor, actor_role, subject, body))
        self._queue.put(ticket)
        assert ticket.done is not None
        if not ticket.done.wait(timeout):
            raise TimeoutError("the audit event was not written in time")
        if ticket.id is None:
            raise RuntimeError("the audit writer stopped before writing the event")
        return ticket.id

    async def append_async(
        self,
        *,
        type: str,
        actor: str,
        actor_role: str,
        subject: str | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> int:
        """`append` for asyncio code: awaits the commit without blocking the event loop.

        The writer wakes all tasks of a committed batch with one call into their loop, which
        is far cheaper than waking one thread per event.
        """
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._queue.put(_Ticket(_row(type, actor, actor_role, subject, body), future))
        return await future

    def append_many(
        self, events: Sequence[Mapping[str, Any]], *, timeout: float = 30.0
    ) -> list[int]:
        """Write several events durably (one batch decision, say); returns their ids in order.

        Each mapping has the keyword arguments of `append` (type, actor, actor_role, subject,
        body). The call returns once all of them are committed.
        """
        tickets = [
            _Ticket(_row(e["type"], e["actor"], e["actor_role"], e.get("subject"), e.get("body")))
            for e in events
        ]
        for t in tickets:
            self._queue.put(t)
        ids: list[int] = []
        for t in tickets:
            assert t.done is not None
            if not t.done.wait(timeout) or t.id is None:
                raise TimeoutError("audit events were not written in time")
            ids.append(t.id)
        return ids

    def flush(self, timeout: float = 10.0) -> None:
        """Block until every event submitted before this call is committed."""
        done = threading.Event()
        self._queue.put(done)
        if not done.wait(timeout):
            raise TimeoutError("audit events were not written in time")

    def close(self) -> None:
        """Write what is queued and stop the thread."""
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        stop = False
        while not stop:
            # Wait for work, then take everything already queued: under load the queue fills
            # while the previous batch commits, so batches grow exactly when they need to.
            rows: list[dict[str, Any]] = []
            tickets: list[tuple[int, _Ticket]] = []
            waiters: list[threading.Event] = []
            try:
                item: _Item = self._queue.get(timeout=self._interval)
            except queue.Empty:
                self._housekeeping()
                continue
            while True:
                if item is None:
                    stop = True
                elif isinstance(item, threading.Event):
                    waiters.append(item)
                elif isinstance(item, _Ticket):
                    tickets.append((len(rows), item))
                    rows.append(item.row)
                elif isinstance(item, dict):
                    rows.append(item)
                if stop or len(rows) >= self._max_batch:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            while rows:
                try:
                    with serial_writer(self._factory), self._factory() as session:
                        ids = session.scalars(_INSERT_RETURNING_IDS, rows).all()
                        session.commit()
                    for position, ticket in tickets:
                        ticket.id = ids[position]
                    rows = []
                except Exception as exc:  # keep the events and try again
                    log.error("audit_write_failed", error=repr(exc), pending=len(rows))
                    time.sleep(self._interval)
            wake: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[int], int | None]]] = {}
            for _, ticket in tickets:
                if ticket.future is not None:
                    wake.setdefault(ticket.future.get_loop(), []).append((ticket.future, ticket.id))
                if ticket.done is not None:
                    ticket.done.set()
            for loop, pairs in wake.items():
                with contextlib.suppress(RuntimeError):  # a loop closed meanwhile
                    loop.call_soon_threadsafe(_resolve, pairs)
            self._housekeeping()
            for w in waiters:
                w.set()

    def _housekeeping(self) -> None:
        now = time.monotonic()
        try:
            if (
                self._sequence_every is not None
                and now - self._last_sequence >= self._sequence_every
            ):
                # Small batches, one transaction each: sequencing holds the write lock, and
                # decisions waiting to commit should wait for a few dozen events at most. The
                # pause between batches lets writers queued meanwhile take the lock first.
                with sole_process(self._factory, "sequencer") as mine:
                    while mine:
                        # hashed from a read first: the write lock is held for the writes only
                        with self._factory() as session:
                            ready = audit_log.prepare(session, max_batch=SEQUENCE_BATCH)
                        if ready is None:
                            break
                        with serial_writer(self._factory), self._factory() as session:
                            done = audit_log.integrate(
                                session, max_batch=SEQUENCE_BATCH, prepared=ready
                            )
                            session.commit()
                        if done < SEQUENCE_BATCH:
                            break
                        time.sleep(0.001)
                self._last_sequence = now
            if (
                self._checkpoint_every is not None
                and self._signer is not None
                and now - self._last_checkpoint >= self._checkpoint_every
            ):
                with serial_writer(self._factory), self._factory() as session:
                    audit_log.checkpoint(session, self._signer)
                    session.commit()
                self._last_checkpoint = now
        except Exception as exc:  # retried next round; the events are safe in their table
            log.error("audit_housekeeping_failed", error=repr(exc))
