"""The gate as a service: load the facts, decide, reserve the allowed attempts, log everything.

`Gate.decide_many` is the one path for single, batch and replayed decisions. Facts come from
each domain's service (`load_*`); the decision itself is `gate.decide.decide` (pure). An
allowed attempt is reserved in the same transaction that re-checks the caps under a lock,
so two processes cannot both allow the fourth call of a 3-per-24-hours cap.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import queue
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, is_dataclass, replace
from datetime import date, datetime, timedelta
from operator import attrgetter
from typing import Any

import orjson
from sqlalchemy import select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from callwarden.audit import service as audit
from callwarden.calls import service as calls
from callwarden.config import Settings
from callwarden.consent import service as consent
from callwarden.db import (
    Query,
    ReadConnections,
    Reader,
    dialect_name,
    fetch_all,
    run_queries,
    serial_writer,
    utcnow,
)
from callwarden.dnc import history as dnc_history
from callwarden.dnc.runtime import SYNC_MARKERS, DncRuntime, ListAnswer
from callwarden.ebr import service as ebr
from callwarden.emergencies import service as emergencies
from callwarden.errors import NotFound
from callwarden.gate import locations
from callwarden.gate.decide import Attempt, Decision, Frame, GateRules, Reason, decide, frame
from callwarden.gate.facts import (
    CallFact,
    ConsentFact,
    EbrFact,
    EmergencyFact,
    InternalDncFact,
    ListFact,
    LocationFact,
    NumberFacts,
    RegistrationFact,
    RevocationFact,
    RndFact,
    names,
)
from callwarden.gate.locations import Locations
from callwarden.gate.models import RulePackRevision
from callwarden.ids import uuid7, uuid7_many
from callwarden.logging import get_logger
from callwarden.numbers import service as numbers
from callwarden.rnd import service as rnd
from callwarden.rules.models import RulePack, RulePackError, RuleSet, load_packs
from callwarden.runtime import gc_paused

log = get_logger("callwarden.gate")

DECISION_EVENT = "gate.decision"
# The DNC runtime's change markers and the fact-change feed in one round trip.
_SYNC_SQL = "SELECT " + SYNC_MARKERS + ", (SELECT max(id) FROM fact_changes)"
REPLAY_EVENT = "gate.replay"
# The longest window any cap looks back over (Reg F 7 days, prerecorded 30 days), plus slack
# for local-date windows.
HISTORY_DAYS = 32
# Batches at least this large run without cyclic garbage collection (`runtime.gc_paused`).
GC_PAUSE_FROM = 1_000


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """A decision with its identity, the facts it used and its audit evidence."""

    id: str
    attempt: Attempt
    decision: Decision
    facts: NumberFacts
    revisions: Mapping[str, str]
    decided_at: datetime
    known_at: datetime | None
    reservation_expires_at: datetime | None
    audit_event_id: int | None
    audit_sha256: str | None


class _CallIndex:
    """Call history grouped by number and by debt: an attempt counts both (Reg F is per debt)."""

    def __init__(self, calls_: Iterable[CallFact] = ()) -> None:
        self.by_number: dict[int, list[CallFact]] = {}
        self.by_debt: dict[str, list[CallFact]] = {}
        for c in calls_:
            self.add(c)

    def add(self, c: CallFact) -> None:
        """Index one call (placed, reserved, or held earlier in the same group)."""
        self.by_number.setdefault(c.number, []).append(c)
        if c.debt_id:
            self.by_debt.setdefault(c.debt_id, []).append(c)

    def for_attempt(self, a: Attempt) -> tuple[CallFact, ...]:
        """The calls to the attempt's number and about its debt, each once."""
        mine = {c.id: c for c in self.by_number.get(a.number, ())}
        if a.debt_id:
            mine.update((c.id, c) for c in self.by_debt.get(a.debt_id, ()))
        return tuple(mine.values())


@dataclass(frozen=True, slots=True)
class _SlowFacts:
    """The facts about a number that change rarely (the gate caches them)."""

    consents: tuple[ConsentFact, ...]
    revocations: tuple[RevocationFact, ...]
    ebr: tuple[EbrFact, ...]
    rnd: tuple[RndFact, ...]
    line_type: str | None
    locations: tuple[LocationFact, ...]


@dataclass(frozen=True, slots=True)
class _Ask:
    """Who asks for a decision, and what kind: live (reserving) or a replay."""

    actor: str
    actor_role: str
    known_at: datetime | None = None  # replay: only facts recorded by then
    revisions: Mapping[str, str] | None = None  # replay: exactly these rule-pack revisions
    reserve: bool = True


@dataclass(slots=True)
class _Batch:
    """One caller's decided attempts on their way to the database."""

    attempts: Sequence[Attempt]
    results: list[tuple[Decision, NumberFacts]]
    actor: str
    actor_role: str
    known_at: datetime | None
    replay: bool
    reserve: bool
    rules: GateRules
    now: datetime
    records: list[DecisionRecord] = field(default_factory=list)
    bodies: list[str] = field(default_factory=list)  # canonical JSON of each log entry
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)
    future: asyncio.Future[None] | None = None  # an asyncio caller's (write_async)
    # queued -> writing -> done, or queued -> abandoned (its caller gave up: never written)
    state: str = "queued"


class DecisionWriter:
    """Writes the decisions of concurrent requests together: one transaction, one flush.

    Requests decide in their own threads, then hand their batch here and wait. The thread
    takes every batch that is waiting, re-checks caps under the lock for all of them, and
    commits once, so the write lock is held once per group instead of once per request.
    """

    MAX_ATTEMPTS = 20_000

    def __init__(self, gate: Gate, *, timeout: float = 30.0) -> None:
        self._gate = gate
        self._timeout = timeout
        self._queue: queue.Queue[_Batch | None] = queue.Queue()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="gate-writer", daemon=True)
        self._thread.start()

    def write(self, batch: _Batch) -> None:
        """Queue a batch and wait until it is committed (or raise why it was not)."""
        self._queue.put(batch)
        if not batch.done.wait(self._timeout):
            self._give_up(batch)
            batch.done.wait()  # already being written: its outcome is the answer
        if batch.error is not None:
            raise batch.error

    async def write_async(self, batch: _Batch) -> None:
        """`write` for asyncio code: awaits the commit without a thread of its own."""
        batch.future = asyncio.get_running_loop().create_future()
        self._queue.put(batch)
        try:
            await asyncio.wait_for(asyncio.shield(batch.future), self._timeout)
        except TimeoutError:
            self._give_up(batch)
            await batch.future  # already being written: its outcome is the answer
        if batch.error is not None:
            raise batch.error

    def _give_up(self, batch: _Batch) -> None:
        # The caller waited too long. A batch not yet taken is abandoned and never written
        # later (the caller answers deny, so no reservation may exist); one being written
        # returns, and its outcome is the answer.
        with self._lock:
            if batch.state == "queued":
                batch.state = "abandoned"
                raise TimeoutError("the decision was not written in time")

    def close(self) -> None:
        """Write what is queued, then stop."""
        self._queue.put(None)
        self._thread.join(timeout=self._timeout)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group, stop = [first], False
            # Take the write lock first, then everything queued by then: while another
            # process writes, the decisions arriving here join this group.
            with serial_writer(self._gate.session_factory):
                size = len(first.attempts)
                while size < self.MAX_ATTEMPTS:
                    try:
                        more = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        stop = True
                        break
                    group.append(more)
                    size += len(more.attempts)
                self._commit(group)
            if stop:
                return

    def _commit(self, group: list[_Batch]) -> None:
        # the caller holds serial_writer
        with self._lock:
            group = [b for b in group if b.state != "abandoned"]
            for b in group:
                b.state = "writing"
        if not group:
            return
        try:
            # a plain connection: an ORM session's bookkeeping cost as much as the writes
            with self._gate.engine.connect() as conn:
                self._gate._write(conn, group)
        except Exception as exc:
            if len(group) > 1:
                # one bad batch must not fail the others: write each on its own
                for b in group:
                    self._commit([b])
                return
            log.error("gate_write_failed", error=repr(exc))
            group[0].error = exc
        for b in group:
            b.done.set()
            if b.future is not None:
                loop = b.future.get_loop()
                with contextlib.suppress(RuntimeError):  # its loop closed meanwhile
                    loop.call_soon_threadsafe(_resolve, b.future)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _list_fact(ans: ListAnswer) -> ListFact:
    # a file-backed list's answer as the gate decides from it
    code = ans.list_key.split(":", 1)[1] if ":" in ans.list_key else ans.list_key
    return ListFact(
        ans.list_key, ans.kind, code, ans.status, ans.reason, ans.as_of, ans.snapshot_id
    )


def slow_fact_queries(
    session: Reader, nums: Sequence[int], known_at: datetime | None
) -> list[Query[Any]]:
    """The six loaders of the facts the gate caches: consents, revocations, EBR, line types,
    locations, RND (in that order)."""
    return [
        consent.consents_query(session, nums, known_at=known_at),
        consent.revocations_query(session, nums, known_at=known_at),
        ebr.ebr_query(session, nums, known_at=known_at),
        numbers.line_types_query(nums, known_at=known_at),
        numbers.locations_query(nums, known_at=known_at),
        rnd.rnd_query(nums, known_at=known_at),
    ]


def internal_error_decision(attempt: Attempt, message: str) -> Decision:
    """A fail-closed deny for an attempt the gate could not evaluate."""
    reason = Reason(
        "internal_error",
        message,
        "callwarden-internal-error",
        "rules.md §0 (fail closed)",
        "C",
        "callwarden",
    )
    return Decision(False, (reason,), (), Locations((), (), (), ()), (), ())


# --- rule packs: stored so replay can load the exact revision --------------------------------


def _canonical(value: Any) -> Any:
    # Sets dump in hash order, which differs between processes: sort every list of strings
    # (none of them is order-sensitive: a window's start sorts before its end anyway).
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        items = [_canonical(v) for v in value]
        return sorted(items) if all(isinstance(v, str) for v in items) else items
    return value


def pack_texts(ruleset: RuleSet) -> dict[tuple[str, str], str]:
    """(pack id, revision) -> canonical JSON of the pack, for storage and replay."""
    return {
        (p.pack.id, p.pack.revision): json.dumps(
            _canonical(p.model_dump(mode="json")), sort_keys=True
        )
        for p in ruleset.packs
    }


def store_pack_revisions(session: Session, ruleset: RuleSet) -> None:
    """Record every loaded pack revision; refuse a changed pack that kept its revision."""
    have = {(r.pack_id, r.revision): r.sha256 for r in session.scalars(select(RulePackRevision))}
    for (pack_id, revision), body in pack_texts(ruleset).items():
        digest = hashlib.sha256(body.encode()).hexdigest()
        known = have.get((pack_id, revision))
        if known is None:
            session.add(
                RulePackRevision(
                    pack_id=pack_id,
                    revision=revision,
                    sha256=digest,
                    text=body,
                    first_loaded_at=utcnow(),
                )
            )
        elif known != digest:
            raise RulePackError(
                f"rule pack {pack_id} changed but kept revision {revision}: "
                "give it a new revision so past decisions can be replayed"
            )


def ruleset_at_revisions(session: Session, revisions: Mapping[str, str]) -> RuleSet:
    """The rule set exactly as a past decision saw it, from the stored pack revisions."""
    packs = []
    for pack_id, revision in sorted(revisions.items()):
        row = session.scalars(
            select(RulePackRevision).where(
                RulePackRevision.pack_id == pack_id, RulePackRevision.revision == revision
            )
        ).first()
        if row is None:
            raise NotFound(f"rule pack {pack_id} revision {revision} is not stored")
        packs.append(RulePack.model_validate_json(row.text))
    return RuleSet(tuple(packs))


# --- JSON shapes for the audit trail and the API ------------------------------------------


_FIELDS: dict[type, tuple[tuple[str, ...], Callable[[Any], Any]]] = {}
# Canonical JSON: keys sorted at every level, so an auditor re-serialising a parsed body gets
# the bytes its receipt hashes. orjson sorts dict keys but writes a dataclass's fields in
# declaration order, so dataclasses pass through `_plain` (one call each) and become dicts.
_BODY_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATACLASS


def _plain(value: Any) -> Any:
    # orjson calls this for what it does not encode itself: a dataclass becomes a dict (so its
    # keys are sorted like every other object's), a set a sorted list.
    kind = type(value)
    known = _FIELDS.get(kind)
    if known is None:
        if kind is frozenset or kind is set:
            return sorted(value)
        if not is_dataclass(value):
            raise TypeError(f"cannot log a {kind.__name__}")
        names = tuple(f.name for f in fields(value))
        # one C call reads every field; the repeated first name keeps one field a tuple too
        # (zip stops at the last name)
        get: Callable[[Any], Any] = attrgetter(*names, names[0])
        known = _FIELDS[kind] = (names, get)
    names, get = known
    return dict(zip(names, get(value), strict=False))


def body_text(body: Mapping[str, Any]) -> str:
    """The canonical JSON text of a decision log entry (sorted keys, no spaces, UTF-8)."""
    return orjson.dumps(body, default=_plain, option=_BODY_OPTIONS).decode()


def decision_body(rec: DecisionRecord) -> dict[str, Any]:
    """The decision log entry: input, result, facts and the pack revisions used."""
    d = rec.decision
    return {
        "decision_id": rec.id,
        "decision": "allow" if d.allowed else "deny",
        "attempt": rec.attempt,
        "reasons": d.reasons,
        "obligations": d.obligations,
        "locations": d.locations,
        "local_times": dict(d.local_times),
        "rules_applied": d.rules_applied,
        "exemptions": d.exemptions,
        "consent_id": d.consent_id,
        "ebr_id": d.ebr_id,
        "retry_at": d.retry_at,
        "revisions": rec.revisions,
        "facts": rec.facts,
        "decided_at": rec.decided_at,
        "known_at": rec.known_at,
        "reservation_expires_at": rec.reservation_expires_at,
    }


def _dt(v: str | None) -> datetime | None:
    return datetime.fromisoformat(v) if v else None


def facts_from_json(data: Mapping[str, Any]) -> NumberFacts:
    """Rebuild the facts a logged decision used (for replay)."""

    def many(cls: Any, rows: Sequence[Mapping[str, Any]], **conv: Any) -> tuple[Any, ...]:
        out = []
        for row in rows:
            kw = dict(row)
            for name, fn in conv.items():
                if name in kw:
                    kw[name] = fn(kw[name])
            out.append(cls(**kw))
        return tuple(out)

    day = date.fromisoformat
    return NumberFacts(
        number=int(data["number"]),
        lists=many(ListFact, data["lists"], as_of=_dt, listed_since=_dt),
        internal=many(InternalDncFact, data["internal"], added_at=_dt),
        consents=many(
            ConsentFact,
            data["consents"],
            sellers=names,
            channels=names,
            purposes=names,
            given_at=_dt,
            expires_at=_dt,
        ),
        revocations=many(RevocationFact, data["revocations"], received_at=_dt),
        ebr=many(
            EbrFact,
            data["ebr"],
            occurred_on=day,
            ended_on=lambda v: day(v) if v else None,
        ),
        calls=many(CallFact, data["calls"], at=_dt),
        rnd=many(RndFact, data["rnd"], consent_date=day, queried_at=_dt),
        line_type=data["line_type"],
        locations=many(LocationFact, data["locations"]),
        emergencies=many(EmergencyFact, data["emergencies"], starts_at=_dt, ends_at=_dt),
        registrations=many(
            RegistrationFact,
            data["registrations"],
            valid_from=day,
            valid_to=lambda v: day(v) if v else None,
        ),
        campaign_abandonment=data["campaign_abandonment"],
        missing=tuple(data["missing"]),
    )


def attempt_from_json(data: Mapping[str, Any]) -> Attempt:
    """Rebuild a logged attempt."""
    kw = dict(data)
    kw["at"] = datetime.fromisoformat(kw["at"])
    return Attempt(**kw)


# --- the gate -------------------------------------------------------------------------------


class Gate:
    """Decides attempts for one process: holds the rules, the DNC runtime and the audit writer."""

    def __init__(
        self,
        *,
        settings: Settings,
        session_factory: sessionmaker[Session],
        dnc: DncRuntime,
        audit_writer: audit.AuditWriter | None = None,
        ruleset: RuleSet | None = None,
    ) -> None:
        self.settings = settings
        self.session_factory = session_factory
        self.dnc = dnc
        self.audit_writer = audit_writer
        # decide on the caller's event loop: the database is a file in this process
        bind = session_factory.kw.get("bind")
        if not isinstance(bind, Engine):
            raise TypeError("the gate needs a session factory bound to an engine")
        self.engine = bind
        self._reads = ReadConnections(bind)
        self.inline = bind.dialect.name == "sqlite"
        ruleset = ruleset or load_packs(extra_dirs=settings.extra_rule_pack_dirs)
        self.rules = GateRules(ruleset)
        locations.warm()
        self._replay_rules: dict[tuple[tuple[str, str], ...], GateRules] = {}
        self._writer: DecisionWriter | None = None
        # Facts that change rarely, per number, valid until fact_changes says otherwise.
        self._cache_lock = threading.Lock()
        self._cache_seq = 0
        self._epoch = 0
        self._slow: dict[int, _SlowFacts] = {}
        self._changed: dict[int, int] = {}
        self._sellers: dict[str, tuple[RegistrationFact, ...]] = {}
        self._emergencies: tuple[EmergencyFact, ...] | None = None
        self._epoch_global = 0  # bumped when a fact about no one number changes
        for tries_left in (2, 1, 0):
            try:
                with session_factory() as session:
                    store_pack_revisions(session, ruleset)
                    session.commit()
                break
            except IntegrityError:
                # another process starting at the same moment stored the same revision first;
                # the next pass reads it and checks that its text is the same
                if not tries_left:
                    raise

    # -- facts --------------------------------------------------------------------------

    def sync(self, session: Reader) -> None:
        """Catch up with every change made by any process: one statement per decision."""
        ((generation, seq, latest),) = fetch_all(session, _SYNC_SQL)
        self.dnc.catch_up(session, generation, seq)
        self._sync_cache(session, latest or 0)

    def _sync_cache(self, session: Reader, latest: int) -> None:
        # fact_changes' max(id) moved: evict the numbers changed since our last look
        with self._cache_lock:
            if latest <= self._cache_seq:
                return
            rows = fetch_all(
                session,
                "SELECT id, number FROM fact_changes WHERE id > ? ORDER BY id LIMIT 10001",
                (self._cache_seq,),
            )
            if len(rows) > 10_000:  # a bulk import: start afresh
                self._slow.clear()
                self._sellers.clear()
                self._emergencies = None
                self._epoch_global += 1
                self._changed.clear()
                self._epoch += 1
            for change_id, number in rows:
                if number is None:
                    self._sellers.clear()
                    self._emergencies = None
                    self._epoch_global += 1
                else:
                    self._slow.pop(number, None)
                    self._changed[number] = change_id
            self._cache_seq = latest
            if len(self._changed) > 200_000:
                self._changed.clear()
                self._slow.clear()
                self._epoch += 1

    def _slow_facts(
        self, session: Reader, nums: Sequence[int], known_at: datetime | None
    ) -> dict[int, _SlowFacts]:
        """Consents, revocations, EBR, RND, line type, locations: cached until they change."""
        if known_at is not None:  # a replay reads the past, never the cache
            return self._load_slow(session, nums, known_at)
        seq, epoch = self._cache_seq, self._epoch
        out = {n: f for n in nums if (f := self._slow.get(n)) is not None}
        missing = [n for n in nums if n not in out]
        if missing:
            loaded = self._load_slow(session, missing, None)
            with self._cache_lock:
                if len(self._slow) > 200_000:
                    self._slow.clear()
                for n, f in loaded.items():
                    # a change seen after our read began must not be overwritten by it
                    if self._epoch == epoch and self._changed.get(n, 0) <= seq:
                        self._slow[n] = f
            out.update(loaded)
        return out

    @staticmethod
    def _load_slow(
        session: Reader, nums: Sequence[int], known_at: datetime | None
    ) -> dict[int, _SlowFacts]:
        # one round trip on PostgreSQL for all six (a pipeline)
        consents, revocations, events, line_types, locations, rnd_results = run_queries(
            session, slow_fact_queries(session, nums, known_at)
        )
        return {
            n: _SlowFacts(
                consents=tuple(consents.get(n, ())),
                revocations=tuple(revocations.get(n, ())),
                ebr=tuple(events.get(n, ())),
                rnd=tuple(rnd_results.get(n, ())),
                line_type=line_types.get(n),
                locations=tuple(locations.get(n, ())),
            )
            for n in nums
        }

    def _registrations(
        self, session: Reader, sellers: Sequence[str], known_at: datetime | None
    ) -> list[RegistrationFact]:
        if known_at is not None:
            return emergencies.load_registrations(session, sellers, known_at=known_at)
        missing = [s for s in sellers if s not in self._sellers]
        if missing:
            found = emergencies.load_registrations(session, missing, known_at=None)
            with self._cache_lock:
                for seller in missing:
                    self._sellers[seller] = tuple(r for r in found if r.seller == seller)
        return [r for s in sellers for r in self._sellers.get(s, ())]

    def _emergencies_between(
        self, session: Reader, earliest: datetime, latest: datetime, known_at: datetime | None
    ) -> list[EmergencyFact]:
        if known_at is not None:
            every = emergencies.load_emergencies(session, at=None, known_at=known_at)
        else:
            cached = self._emergencies
            if cached is None:
                epoch = self._epoch_global
                cached = tuple(emergencies.load_emergencies(session, at=None))
                with self._cache_lock:
                    if self._epoch_global == epoch:  # no change seen while we read
                        self._emergencies = cached
            every = list(cached)
        # those in force at some moment of the attempts: decide checks each attempt's time
        return [
            e
            for e in every
            if e.starts_at <= latest and (e.ends_at is None or e.ends_at > earliest)
        ]

    def load_facts(
        self,
        session: Reader,
        attempts: Sequence[Attempt],
        *,
        known_at: datetime | None = None,
    ) -> dict[int, NumberFacts]:
        """Every fact about the attempts' numbers as known at `known_at`, but the call history.

        The history is read only for the attempts a cap or cool-off applies to (`_history`).
        """
        nums = sorted({a.number for a in attempts})
        sellers = sorted({a.seller for a in attempts})
        earliest = min(a.at for a in attempts)
        latest = max(a.at for a in attempts)
        slow = self._slow_facts(session, nums, known_at)
        active = self._emergencies_between(session, earliest, latest, known_at)
        registrations = self._registrations(session, sellers, known_at)
        out: dict[int, NumberFacts] = {}
        answers = (
            [self.dnc.lookup_one(nums[0], at=latest)]
            if len(nums) == 1
            else self.dnc.lookup_many(nums, at=latest)
        )
        internal_then = None
        if known_at is not None:
            # a replay: each list, and the internal list, as it stood then
            answers = dnc_history.answers_then(
                session,
                self.dnc.lists,
                nums,
                answers,
                dnc_dir=self.settings.dnc_dir,
                known_at=known_at,
                at=latest,
            )
            internal_then = dnc_history.internal_then(session, nums, known_at)
        # answers are shared between numbers (one per list, area code and hit): so are facts
        facts_of: dict[int, ListFact] = {}
        for n, row in zip(nums, answers, strict=True):
            lists: list[ListFact] = []
            internal: tuple[InternalDncFact, ...] = ()
            for ans in row:
                if ans.kind == "internal":
                    internal = (
                        tuple(
                            InternalDncFact(e.id, e.seller, e.channel, e.added_at)
                            for e in ans.entries
                        )
                        if internal_then is None
                        else internal_then[n]
                    )
                    continue
                fact = facts_of.get(id(ans))
                if fact is None:
                    fact = facts_of[id(ans)] = _list_fact(ans)
                lists.append(fact)
            out[n] = NumberFacts(
                number=n,
                lists=tuple(lists),
                internal=internal,
                consents=slow[n].consents,
                revocations=slow[n].revocations,
                ebr=slow[n].ebr,
                calls=(),
                rnd=slow[n].rnd,
                line_type=slow[n].line_type,
                locations=slow[n].locations,
                emergencies=tuple(active),
                registrations=tuple(registrations),
            )
        return out

    @staticmethod
    def _history(
        session: Reader,
        attempts: Sequence[Attempt],
        *,
        now: datetime,
        known_at: datetime | None = None,
    ) -> _CallIndex:
        """Placed calls and live reservations to the attempts' numbers and about their debts."""
        if not attempts:
            return _CallIndex()
        return _CallIndex(
            calls.load_history(
                session,
                numbers=sorted({a.number for a in attempts}),
                debt_ids=sorted({a.debt_id for a in attempts if a.debt_id}),
                since=min(a.at for a in attempts) - timedelta(days=HISTORY_DAYS),
                now=now,
                known_at=known_at,
            )
        )

    # -- decisions ----------------------------------------------------------------------

    def _rules_for(self, session: Reader, revisions: Mapping[str, str] | None) -> GateRules:
        if revisions is None:
            return self.rules
        key = tuple(sorted(revisions.items()))
        cached = self._replay_rules.get(key)
        if cached is None:
            if isinstance(session, Session):
                ruleset = ruleset_at_revisions(session, revisions)
            else:  # the stored packs are ORM rows: read them in a session of their own
                with self.session_factory() as own:
                    ruleset = ruleset_at_revisions(own, revisions)
            cached = self._replay_rules[key] = GateRules(ruleset)
        return cached

    def reads(self) -> contextlib.AbstractContextManager[Connection]:
        """A connection for a decision's reads (`sync`, facts): no ORM session, no transaction."""
        return self._reads.borrow()

    def evaluate(
        self, attempts: Sequence[Attempt], *, known_at: datetime | None = None
    ) -> list[tuple[Decision, NumberFacts]]:
        """Read the facts and decide, as `decide_many` does first; no reservation, no log."""
        with self.reads() as conn:
            _, results = self._read(conn, attempts, utcnow(), known_at, None)
        return results

    def _read(
        self,
        source: Reader,
        attempts: Sequence[Attempt],
        now: datetime,
        known_at: datetime | None,
        revisions: Mapping[str, str] | None,
    ) -> tuple[GateRules, list[tuple[Decision, NumberFacts]]]:
        # the read half of a decision: catch up, pick the rules, load the facts, decide
        self.sync(source)
        rules = self._rules_for(source, revisions)
        return rules, self._evaluate(source, attempts, now=now, known_at=known_at, rules=rules)

    def _evaluate(
        self,
        session: Reader,
        attempts: Sequence[Attempt],
        *,
        now: datetime,
        known_at: datetime | None,
        rules: GateRules,
    ) -> list[tuple[Decision, NumberFacts]]:
        facts = self.load_facts(session, attempts, known_at=known_at)
        frames: list[Frame | None] = []
        for a in attempts:
            try:
                frames.append(frame(a, facts[a.number], rules))
            except Exception:
                frames.append(None)  # `decide` raises it again below and denies the attempt
        # Only caps and cool-offs count past calls: the history is read for those attempts only.
        counted = [fr is not None and fr.selection.counting for fr in frames]
        index = self._history(
            session,
            [a for a, c in zip(attempts, counted, strict=True) if c],
            now=now,
            known_at=known_at,
        )
        campaigns = sorted({a.campaign for a in attempts if a.campaign})
        # A live decision throttles on the campaign's rate now (kept for a few seconds by the
        # calls domain); a replay recounts the period of the attempt.
        rate_at = now if known_at is None else max(a.at for a in attempts)
        rates = calls.load_campaign_abandonment(session, campaigns, at=rate_at) if campaigns else {}
        out = []
        for a, fr, c in zip(attempts, frames, counted, strict=True):
            f = facts[a.number]
            history = index.for_attempt(a) if c else ()
            rate = rates.get(a.campaign) if a.campaign else None
            if history or rate is not None:  # a copy costs more than the rest of the loop
                f = replace(f, calls=history, campaign_abandonment=rate)
            try:
                out.append((decide(a, f, rules, fr), f))
            except Exception as exc:  # one bad attempt denies itself, not the batch
                log.error("gate_decide_failed", error=repr(exc))
                out.append((internal_error_decision(a, "internal error while deciding"), f))
        return out

    def decide_many(
        self,
        attempts: Sequence[Attempt],
        *,
        actor: str,
        actor_role: str,
        known_at: datetime | None = None,
        revisions: Mapping[str, str] | None = None,
        reserve: bool = True,
        session: Session | None = None,
    ) -> list[DecisionRecord]:
        """Decide attempts; reserve the allowed ones; write every decision to the audit trail.

        `known_at` replays: only facts recorded by then, no reservation. `revisions` replays
        with exactly those rule-pack revisions (from a logged decision). With `session` (a
        request's), the work uses that one connection and commits it. Without, the facts are
        read on a plain pooled connection (`reads`), released before the write begins.
        """
        if not attempts:
            return []
        ask = _Ask(actor, actor_role, known_at, revisions, reserve)
        with gc_paused() if len(attempts) >= GC_PAUSE_FROM else contextlib.nullcontext():
            return self._decide_many(session, attempts, ask)

    async def decide_many_async(
        self,
        attempts: Sequence[Attempt],
        *,
        actor: str,
        actor_role: str,
        session: Session | None = None,
        known_at: datetime | None = None,
    ) -> list[DecisionRecord]:
        """`decide_many` on an event loop: the facts read inline, the commit awaited.

        For a database in the process (SQLite), whose reads take microseconds: the request
        then needs no worker thread, and its thread hops cost more than the reads.
        """
        if not attempts:
            return []
        ask = _Ask(actor, actor_role, known_at)
        if self._writer is None:  # no writer thread to wait for: the plain path
            return self._decide_many(session, attempts, ask)
        batch = self._prepare(session, attempts, ask)
        await self._writer.write_async(batch)
        return batch.records

    def _decide_many(
        self, session: Session | None, attempts: Sequence[Attempt], ask: _Ask
    ) -> list[DecisionRecord]:
        batch = self._prepare(session, attempts, ask)
        if self._writer is not None:
            self._writer.write(batch)
        elif session is not None:
            self._write(session, [batch])
        else:
            with self.engine.connect() as own:
                self._write(own, [batch])
        return batch.records

    def _prepare(self, session: Session | None, attempts: Sequence[Attempt], ask: _Ask) -> _Batch:
        # read the facts and decide (no lock): the write re-checks what the caps count
        now = utcnow()
        known_at, revisions = ask.known_at, ask.revisions
        replay = known_at is not None or revisions is not None
        if session is None:
            # no request transaction to join: a plain connection, released before the write
            with self.reads() as conn:
                rules, results = self._read(conn, attempts, now, known_at, revisions)
        else:
            try:
                rules, results = self._read(session, attempts, now, known_at, revisions)
                # End the read transaction: on SQLite the write below must begin a fresh one.
                session.commit()
            except BaseException:
                session.rollback()
                raise
        return _Batch(
            attempts=attempts,
            results=results,
            actor=ask.actor,
            actor_role=ask.actor_role,
            known_at=known_at,
            replay=replay,
            reserve=ask.reserve and not replay,
            rules=rules,
            now=now,
        )

    def _write(self, session: Session | Connection, batches: Sequence[_Batch]) -> None:
        """Re-check caps under the lock, reserve the allowed attempts, log every decision.

        One transaction (one disk flush) for every batch given: the writer thread hands it
        all the decisions that arrived while the previous group was being written.
        """
        hold = timedelta(seconds=self.settings.gate_reservation_seconds)
        if isinstance(session, Connection) and not session.in_transaction():
            session.begin()  # committed below; the driver-level statements join it
        try:
            if any(b.reserve and any(d.allowed for d, _ in b.results) for b in batches):
                self._lock_and_recheck(session, batches)
            events: list[dict[str, Any]] = []
            for b in batches:
                held_now: list[calls.Reservation] = []
                b.records = []
                revisions_for = b.rules.revisions_for
                # time-ordered ids, so index inserts append; made for the batch at once
                decision_ids = uuid7_many(len(b.attempts))
                for decision_id, a, (d, f) in zip(decision_ids, b.attempts, b.results, strict=True):
                    held = b.reserve and d.allowed
                    # held from now until the planned time plus the grace period
                    expires = max(b.now, a.at) + hold if held else None
                    if expires is not None:
                        held_now.append(
                            calls.Reservation(  # positional: one per allowed attempt
                                decision_id,
                                a.number,
                                a.at,
                                expires,
                                a.seller,
                                a.campaign,
                                a.subject,
                                a.debt_id,
                                a.channel,
                                a.purpose,
                                a.technology,
                                a.caller_id,
                            )
                        )
                    # positional, in DecisionRecord's field order; the receipt comes after
                    # the commit (`_receipted`)
                    b.records.append(
                        DecisionRecord(
                            decision_id,
                            a,
                            d,
                            f,
                            revisions_for(d.rules_applied),
                            b.now,
                            b.known_at,
                            expires,
                            None,
                            None,
                        )
                    )
                calls.reserve_many(session=session, reservations=held_now, actor=b.actor)
                b.bodies = [body_text(decision_body(r)) for r in b.records]
                events += [
                    {
                        "type": REPLAY_EVENT if b.replay else DECISION_EVENT,
                        "actor": b.actor,
                        "actor_role": b.actor_role,
                        "subject": r.id,
                        "body": body,
                    }
                    for r, body in zip(b.records, b.bodies, strict=True)
                ]
            # under the write lock: on SQLite the decisions enter the tree as they are written
            event_ids = iter(audit.record_events(session=session, events=events, sequence=True))
            session.commit()
        except BaseException:
            session.rollback()
            raise
        for b in batches:
            b.records = [
                _receipted(r, next(event_ids), body)
                for r, body in zip(b.records, b.bodies, strict=True)
            ]

    def start_writer(self) -> None:
        """Write decisions through one thread that groups concurrent requests (the service)."""
        if self._writer is None:
            self._writer = DecisionWriter(self)

    def close(self) -> None:
        """Stop the writer thread (pending decisions are written first); release connections."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self._reads.close()

    def _lock_and_recheck(self, session: Reader, batches: Sequence[_Batch]) -> None:
        # Serialise every writer that could count the same attempts, then decide again with
        # the history as it is now: the first check ran without a lock.
        todo = [b for b in batches if b.reserve]
        allowed = [
            (a, d, b.rules)
            for b in todo
            for a, (d, _) in zip(b.attempts, b.results, strict=True)
            if d.allowed
        ]
        if dialect_name(session) == "postgresql":
            # every number and debt in one statement, in one order in every process
            session.execute(
                text(
                    "SELECT count(pg_advisory_xact_lock(k)) FROM ("
                    " SELECT k, o FROM unnest(CAST(:nums AS bigint[])) WITH ORDINALITY t(k, o)"
                    " UNION ALL SELECT hashtextextended(d, 0), o + 1000000000"
                    " FROM unnest(CAST(:debts AS text[])) WITH ORDINALITY u(d, o) ORDER BY 2) s"
                ),
                {
                    "nums": sorted({a.number for a, _, _ in allowed}),
                    "debts": sorted({f"debt:{a.debt_id}" for a, _, _ in allowed if a.debt_id}),
                },
            )
        else:
            # SQLite: the first write statement takes the database's single write lock, and
            # this transaction's reads then see every commit made before it.
            fetch_all(session, "DELETE FROM call_attempts WHERE 1 = 0")
        # only counting rules (caps) can change their answer with the fresh history
        counted = [a for a, d, rules in allowed if rules.counts(d.rules_applied)]
        index = self._history(session, counted, now=min(b.now for b in todo))
        pending = 0
        for b in todo:
            out = []
            for a, (d, f) in zip(b.attempts, b.results, strict=True):
                if not d.allowed:
                    out.append((d, f))
                    continue
                if b.rules.counts(d.rules_applied):
                    f = replace(f, calls=index.for_attempt(a))
                    d = decide(a, f, b.rules)
                out.append((d, f))
                if d.allowed and counted:
                    # attempts decided earlier in this group count toward later ones
                    pending += 1
                    index.add(
                        CallFact(
                            id=-pending,
                            number=a.number,
                            at=a.at,
                            state="reserved",
                            seller=a.seller,
                            campaign=a.campaign,
                            subject=a.subject,
                            debt_id=a.debt_id,
                            channel=a.channel,
                            purpose=a.purpose,
                            technology=a.technology,
                        )
                    )
            b.results = out

    def replay_decision(
        self, decision_id: str, *, actor: str, actor_role: str
    ) -> tuple[dict[str, Any], DecisionRecord]:
        """Decide a logged decision again with its own facts and rule-pack revisions."""
        with self.session_factory() as session:
            events = audit.events(session=session, type=DECISION_EVENT, subject=decision_id)
            if not events:
                raise NotFound(f"no decision {decision_id}")
            original: dict[str, Any] = json.loads(events[0].body)
            rules = self._rules_for(session, original["revisions"])
        a = attempt_from_json(original["attempt"])
        f = facts_from_json(original["facts"])
        try:
            d = decide(a, f, rules)
        except Exception as exc:  # as in `_evaluate`: the replay denies and is logged
            log.error("gate_replay_failed", error=repr(exc))
            d = internal_error_decision(a, "internal error while deciding")
        rec = DecisionRecord(
            id=uuid7(),
            attempt=a,
            decision=d,
            facts=f,
            revisions=dict(original["revisions"]),
            decided_at=utcnow(),
            known_at=_dt(original.get("decided_at")),
            reservation_expires_at=None,
            audit_event_id=None,
            audit_sha256=None,
        )
        body = body_text(decision_body(rec) | {"replay_of": decision_id})
        with self.session_factory() as session:
            (eid,) = audit.record_events(
                session=session,
                events=[
                    {
                        "type": REPLAY_EVENT,
                        "actor": actor,
                        "actor_role": actor_role,
                        "subject": rec.id,
                        "body": body,
                    }
                ],
            )
            session.commit()
        return original, _receipted(rec, eid, body)


def _receipted(r: DecisionRecord, event_id: int, body: str) -> DecisionRecord:
    # the record with its audit receipt (positional: a batch builds thousands of them)
    return DecisionRecord(
        r.id,
        r.attempt,
        r.decision,
        r.facts,
        r.revisions,
        r.decided_at,
        r.known_at,
        r.reservation_expires_at,
        event_id,
        _digest(body),
    )


def _digest(body: str) -> str:
    # The hash of the stored event body: an auditor recomputes it from the event itself.
    return hashlib.sha256(body.encode()).hexdigest()
