"""The tamper-evident audit log on the database: sequencing, tree nodes, checkpoints, proofs.

Events are written by their domains (in the transaction of the change they record, or in
batches for reads) without a position. The sequencer (`integrate`) gives them dense positions
0, 1, 2... in one serialised transaction, stores each leaf hash and every complete perfect
subtree hash (so a proof needs O(log n) node reads), and `checkpoint` signs the tree head. The
pure Merkle math and the signature format live in `merkle.py` and `checkpoint.py`; the verifier
in `verify_log` trusts nothing stored but the signed checkpoints and the public key.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callwarden.audit import merkle
from callwarden.audit.checkpoint import Checkpoint, CheckpointError, Signer, Verifier
from callwarden.audit.checkpoint import load_or_create_signer as _load_signer
from callwarden.audit.models import AuditCheckpoint, AuditEvent
from callwarden.db import (
    Reader,
    dialect_name,
    driver_time_text,
    execute_many,
    fetch_all,
    utcnow,
)

ORIGIN = "callwarden.audit/v1"
KEY_NAME = "callwarden-audit"
KEY_FILE = "audit-checkpoint-key.pem"


def signer_for(data_dir: Path) -> Signer:
    """The log's checkpoint signer, created in the data directory on first use (mode 0600)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    return _load_signer(data_dir / KEY_FILE, KEY_NAME)


def leaf_bytes(
    seq: int,
    occurred_at: datetime,
    type: str,
    actor: str,
    actor_role: str,
    subject: str | None,
    body: str,
) -> bytes:
    """The canonical bytes of an event: what its leaf hash commits to (position included).

    A JSON object with sorted keys and no spaces, every value a JSON scalar. The body (JSON
    text as stored) is carried as a string, so no field can spill into another and verifying a
    million events does not parse and re-serialise a million bodies.
    """
    dumps = json.dumps
    at = driver_time_text(occurred_at)
    return (
        f'{{"actor":{dumps(actor)},"actor_role":{dumps(actor_role)},"body":{_quoted(body)},'
        f'"occurred_at":"{at}","seq":{int(seq)},"subject":{dumps(subject)},'
        f'"type":{dumps(type)}}}'
    ).encode()


def _quoted(text: str) -> str:
    # json.dumps(text) (ASCII-escaped), the bytes every leaf hash since the first has used.
    # orjson writes the same escapes for ASCII other than DEL, at twice the speed on a
    # decision body; anything else takes the standard library's path.
    if text.isascii() and "\x7f" not in text:
        return orjson.dumps(text).decode()
    return json.dumps(text)


class DbNodes:
    """Perfect-subtree hashes read from the database, with a cache for one operation."""

    def __init__(self, session: Reader) -> None:
        self._session = session
        self.cache: dict[tuple[int, int], bytes] = {}

    def get(self, level: int, index: int) -> bytes:
        """The hash of perfect subtree (level, index); a missing node means a damaged log."""
        key = (level, index)
        found = self.cache.get(key)
        if found is not None:
            return found
        rows = fetch_all(
            self._session,
            "SELECT hash FROM audit_tree_nodes WHERE level = ? AND idx = ?",
            (level, index),
        )
        if not rows:
            raise merkle.ProofError(f"the log has no tree node at level {level}, index {index}")
        value = bytes(rows[0][0])
        self.cache[key] = value
        return value


class _Recorder:
    """A node source that only notes which nodes an algorithm asks for."""

    def __init__(self) -> None:
        self.keys: list[tuple[int, int]] = []

    def get(self, level: int, index: int) -> bytes:
        self.keys.append((level, index))
        return bytes(32)


def prefetched(session: Session, run: Any) -> DbNodes:
    """Nodes for `run(nodes)` in one query: proofs ask for O(log n) nodes whose positions do
    not depend on their values, so a dry run tells which to read."""
    recorder = _Recorder()
    run(recorder)
    nodes = DbNodes(session)
    keys = sorted(set(recorder.keys))
    for i in range(0, len(keys), 200):
        part = keys[i : i + 200]
        where = " OR ".join("(level = ? AND idx = ?)" for _ in part)
        params = tuple(v for key in part for v in key)
        for level, idx, value in fetch_all(
            session, f"SELECT level, idx, hash FROM audit_tree_nodes WHERE {where}", params
        ):
            nodes.cache[(int(level), int(idx))] = bytes(value)
    return nodes


def size(session: Reader) -> int:
    """How many events have been sequenced into the tree."""
    # on the driver: every group of gate decisions asks (an ORM select cost 60 µs more)
    ((top,),) = fetch_all(session, "SELECT max(seq) FROM audit_events")
    return 0 if top is None else int(top) + 1


def _lock(session: Reader) -> None:
    # One sequencer at a time, on any number of processes: PostgreSQL has advisory locks; on
    # SQLite a write statement takes the database's single write lock for the transaction.
    if dialect_name(session) == "postgresql":
        fetch_all(session, "SELECT pg_advisory_xact_lock(7242025)")
    else:
        fetch_all(session, "DELETE FROM audit_tree_nodes WHERE level < 0")


@dataclass(frozen=True)
class Sequencing:
    """Pending events' leaves and tree nodes, computed from a read before any lock is taken."""

    start: int  # the tree size they were computed against
    updates: list[tuple[int, bytes, int]]  # (seq, leaf hash, event id)
    new_nodes: list[tuple[int, int, bytes]]  # (level, index, hash)


def prepare(session: Session, *, max_batch: int = 50_000) -> Sequencing | None:
    """Read the oldest pending events and hash them into the tree (reads only; no lock)."""
    start = size(session)
    rows = fetch_all(
        session,
        "SELECT id, occurred_at, type, actor, actor_role, subject, body FROM audit_events"
        " WHERE seq IS NULL ORDER BY id LIMIT ?",
        (max_batch,),
    )
    if not rows:
        return None
    leaves, new_nodes = _grow(session, start, [r[1:] for r in rows])
    updates = [(seq, h, int(r[0])) for (seq, h), r in zip(leaves, rows, strict=True)]
    return Sequencing(start, updates, new_nodes)


def _grow(
    session: Reader, start: int, events: Sequence[Sequence[Any]]
) -> tuple[list[tuple[int, bytes]], list[tuple[int, int, bytes]]]:
    # (occurred_at, type, actor, actor_role, subject, body) appended at `start`: each one's
    # seq and leaf hash, and the perfect-subtree roots they complete
    nodes = DbNodes(session)
    leaves: list[tuple[int, bytes]] = []
    new_nodes: list[tuple[int, int, bytes]] = []
    for offset, (occurred_at, type_, actor, role, subject, body) in enumerate(events):
        seq = start + offset
        h = merkle.leaf_hash(leaf_bytes(seq, occurred_at, type_, actor, role, subject, body))
        leaves.append((seq, h))
        level, index = 0, seq
        nodes.cache[(0, seq)] = h
        new_nodes.append((0, seq, h))
        while index & 1:  # this leaf completes a perfect subtree: store its root too
            h = merkle.node_hash(nodes.get(level, index - 1), h)
            level, index = level + 1, index >> 1
            nodes.cache[(level, index)] = h
            new_nodes.append((level, index, h))
    return leaves, new_nodes


def sequence_new(
    session: Reader, events: Sequence[Sequence[Any]]
) -> list[tuple[int, bytes]] | None:
    """Seq and leaf hash for events this transaction is about to insert, or None.

    SQLite only (its single writer numbers rows in insertion order): under the write lock,
    when no earlier event is still pending, new events are sequenced as they are written, so
    the sequencer never has to rewrite their rows later. `events` are (occurred_at, type,
    actor, actor_role, subject, body); their tree nodes are stored here.
    """
    if dialect_name(session) != "sqlite" or not events:
        return None
    _lock(session)
    if fetch_all(session, "SELECT 1 FROM audit_events WHERE seq IS NULL LIMIT 1"):
        return None  # the background sequencer takes them in id order
    leaves, new_nodes = _grow(session, size(session), events)
    execute_many(
        session, "INSERT INTO audit_tree_nodes (level, idx, hash) VALUES (?, ?, ?)", new_nodes
    )
    return leaves


def integrate(
    session: Session, *, max_batch: int = 50_000, prepared: Sequencing | None = None
) -> int:
    """Sequence pending events into the tree (in the caller's transaction); returns how many.

    With `prepared` (from `prepare`, read before the lock) the transaction only writes it, so
    the write lock is held for the writes alone; if another sequencer moved the tree
    meanwhile, the work is done again under the lock.
    """
    _lock(session)
    if prepared is None or size(session) != prepared.start:
        # No other sequencer can run now, and one that did would have grown the tree: with
        # the size unchanged, the prepared events are still the oldest pending ones.
        prepared = prepare(session, max_batch=max_batch)
        if prepared is None:
            return 0
    conn = session.connection()
    q = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    conn.exec_driver_sql(
        f"UPDATE audit_events SET seq = {q}, leaf_hash = {q} WHERE id = {q}", prepared.updates
    )
    conn.exec_driver_sql(
        f"INSERT INTO audit_tree_nodes (level, idx, hash) VALUES ({q}, {q}, {q})",
        prepared.new_nodes,
    )
    return len(prepared.updates)


def checkpoint(session: Session, signer: Signer, *, now: datetime | None = None) -> AuditCheckpoint:
    """Sign the current tree head and store the signed note (integrating pending events first)."""
    while integrate(session):
        pass
    n = size(session)
    head = Checkpoint(
        origin=ORIGIN,
        size=n,
        root=merkle.root(n, DbNodes(session)) if n else merkle.EMPTY_ROOT,
        time=now or utcnow(),
    )
    row = AuditCheckpoint(
        size=n, root=head.root, made_at=head.time, note=signer.sign(head).decode()
    )
    session.add(row)
    session.flush()
    return row


def latest_checkpoint(session: Session) -> AuditCheckpoint | None:
    """The most recent checkpoint."""
    return session.scalar(select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(1))


def receipt(session: Session, event_id: int) -> dict[str, Any]:
    """An event, its leaf hash, and its inclusion proof against the latest checkpoint."""
    event = session.get(AuditEvent, event_id)
    if event is None:
        raise LookupError(f"no audit event {event_id}")
    cp = latest_checkpoint(session)
    if event.seq is None or cp is None or cp.size <= event.seq:
        raise PendingError(
            f"audit event {event_id} is not yet covered by a checkpoint; ask again shortly"
        )
    seq, tree = event.seq, cp.size
    nodes = prefetched(session, lambda n: merkle.inclusion_proof(seq, tree, n))
    proof = merkle.inclusion_proof(seq, tree, nodes)
    return {
        "event_id": event.id,
        "seq": event.seq,
        "leaf": leaf_bytes(
            event.seq,
            event.occurred_at,
            event.type,
            event.actor,
            event.actor_role,
            event.subject,
            event.body,
        ).decode(),
        "leaf_hash": (event.leaf_hash or b"").hex(),
        "tree_size": cp.size,
        "root": cp.root.hex(),
        "checkpoint": cp.note,
        "proof": [p.hex() for p in proof],
    }


class PendingError(Exception):
    """An event that no checkpoint covers yet."""


@dataclass
class VerifyReport:
    """What `verify_log` found: OK, or the first place the log was changed."""

    events: int = 0
    checkpoints: int = 0
    pending: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing was found wrong."""
        return not self.problems


def _events_in_order(session: Session, batch: int = 50_000) -> Iterator[tuple[Any, ...]]:
    last = -1
    while True:
        rows = fetch_all(
            session,
            "SELECT seq, id, occurred_at, type, actor, actor_role, subject, body, leaf_hash"
            " FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?",
            (last, batch),
        )
        if not rows:
            return
        yield from rows
        last = rows[-1][0]


def verify_log(session: Session, verifier: Verifier) -> VerifyReport:
    """Recompute every leaf from the events and every checkpoint's root; report the first change."""
    report = VerifyReport()
    checkpoints = list(session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.size)))
    heads: list[Checkpoint] = []
    for cp in checkpoints:
        try:
            head = verifier.verify(cp.note.encode())
        except CheckpointError as exc:
            report.problems.append(f"checkpoint {cp.id} (size {cp.size}): {exc}")
            return report
        if head.size != cp.size or head.root != cp.root:
            report.problems.append(
                f"checkpoint {cp.id}: the stored size/root differ from the signed note"
            )
            return report
        heads.append(head)
    report.checkpoints = len(heads)
    frontier = merkle.CompactRange()
    next_head = 0
    expected = 0
    for seq, event_id, occurred_at, type_, actor, role, subject, body, stored in _events_in_order(
        session
    ):
        if seq != expected:
            report.problems.append(
                f"event at position {expected} is missing (next stored position is {seq}, "
                f"event id {event_id}): removed from the log"
            )
            return report
        try:
            h = merkle.leaf_hash(leaf_bytes(seq, occurred_at, type_, actor, role, subject, body))
        except (ValueError, TypeError) as exc:
            report.problems.append(f"event at position {seq} (id {event_id}) is unreadable: {exc}")
            return report
        if stored is None or bytes(stored) != h:
            report.problems.append(
                f"event at position {seq} (id {event_id}) was changed: its content no longer "
                "matches its leaf hash"
            )
            return report
        frontier.append(h)
        expected += 1
        while next_head < len(heads) and heads[next_head].size == frontier.size:
            if frontier.root() != heads[next_head].root:
                report.problems.append(
                    f"checkpoint of size {heads[next_head].size} does not match the events: "
                    f"something before position {frontier.size} was changed, inserted or "
                    "reordered"
                )
                return report
            next_head += 1
    report.events = expected
    if next_head < len(heads):
        report.problems.append(
            f"the log holds {expected} events but checkpoint of size {heads[next_head].size} "
            "was signed: events were removed from the end (truncated)"
        )
        return report
    report.pending = int(
        session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.seq.is_(None)))
        or 0
    )
    return report
