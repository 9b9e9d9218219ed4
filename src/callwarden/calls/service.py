"""Call history: the gate's reservations, call records, and abandonment rates per campaign.

A row of `call_attempts` is reserved (the gate allowed an attempt: it counts toward caps until
`expires_at`), placed (the call happened) or released (the dialer gave the reservation back:
it never counts). A call record carrying a reservation's decision_id turns that reservation
into the call, so the attempt is counted once.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callwarden import phone
from callwarden.audit import service as audit
from callwarden.bulk import ImportRejected, RowError
from callwarden.calls import cdr
from callwarden.calls.cdr import CallRecord
from callwarden.calls.models import CallAttempt
from callwarden.db import (
    ARRAY_FROM,
    IN_CHUNK,
    Query,
    Reader,
    bind_time,
    dialect_name,
    driver_time,
    execute_many,
    fetch_all,
    in_chunks,
    memo,
    run_queries,
    time_binder,
    utcnow,
)
from callwarden.errors import Conflict, NotFound, ValidationFailed
from callwarden.gate.facts import CallFact
from callwarden.logging import get_logger
from callwarden.security.roles import Role
from callwarden.security.service import Principal

log = get_logger("callwarden.calls")

ABANDONMENT_LIMIT = 0.03
ABANDONMENT_CITATION = "16 CFR 310.4(b)(4)(i); 47 CFR 64.1200(a)(7)"
PERIOD_DAYS = 30
CHUNK = IN_CHUNK  # values per IN list, as the gate's loaders use
# A dialer's clock may run a little ahead of ours; a record further in the future is a mistake
# (a wrong time zone, say) that would count toward caps, and hold calls back, for days.
FUTURE_SLACK = timedelta(hours=1)

RESERVED, PLACED, RELEASED = "reserved", "placed", "released"
SOURCES = ("gate", "api", "import")
# Fields a call record may fill in on its reservation but must not contradict.
_RESERVATION_FIELDS = (
    "number",
    "seller",
    "campaign",
    "subject",
    "debt_id",
    "channel",
    "purpose",
    "technology",
)


# -- reservations ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reservation:
    """An allowed attempt the gate holds in the history until `expires_at`."""

    decision_id: str
    number: int
    at: datetime
    expires_at: datetime
    seller: str
    campaign: str | None
    subject: str | None
    debt_id: str | None
    channel: str
    purpose: str
    technology: str
    caller_id: str | None


_RESERVE_COLUMNS = (
    "number, at, state, expires_at, decision_id, seller, campaign, subject, debt_id, channel,"
    " purpose, technology, caller_id, outcome, connected, answered_by_person, conversation,"
    " voicemail, abandoned, dnc_request, source, recorded_at, recorded_by"
)
_RESERVE_SQL = (
    f"INSERT INTO call_attempts ({_RESERVE_COLUMNS}) VALUES "
    "(?, ?, 'reserved', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, 'gate', ?, ?)"
)


def reserve_many(*, session: Reader, reservations: Sequence[Reservation], actor: str) -> None:
    """Hold allowed attempts in the history (in the gate's transaction; one statement)."""
    # a batch's attempts share a handful of planned times: bind each once
    when = memo(time_binder(session))
    now = when(utcnow())
    rows = []
    for r in reservations:
        if r.expires_at <= r.at:
            raise ValidationFailed("a reservation must expire after it is made", field="expires_at")
        rows.append(
            (
                r.number,
                when(r.at),
                when(r.expires_at),
                r.decision_id,
                r.seller,
                r.campaign,
                r.subject,
                r.debt_id,
                r.channel,
                r.purpose,
                r.technology,
                r.caller_id,
                False,  # connected, answered_by_person, conversation, voicemail, abandoned,
                False,  # dnc_request: nothing has happened yet
                False,
                False,
                False,
                False,
                now,
                actor,
            )
        )
    # straight on the driver: this runs for every allowed decision
    execute_many(session, _RESERVE_SQL, rows)


def release(*, session: Session, decision_id: str, actor: str, actor_role: str) -> CallAttempt:
    """Give a reservation back: it stops counting at once (a placed call cannot be released)."""
    row = session.scalar(
        select(CallAttempt).where(CallAttempt.decision_id == decision_id).with_for_update()
    )
    if row is None:
        raise NotFound(f"no reservation has decision id {decision_id!r}")
    if row.state == PLACED:
        raise Conflict("the call was already recorded as placed; it cannot be released")
    if row.state == RELEASED:
        return row
    row.state = RELEASED
    row.settled_at = utcnow()
    audit.record(
        session=session,
        type="calls.reservation.released",
        actor=actor,
        actor_role=actor_role,
        subject=_e164(row.number),
        body={"call_id": row.id, "decision_id": decision_id},
    )
    session.flush()
    return row


# -- call records --------------------------------------------------------------------------


@dataclass
class ImportReport:
    """What a batch of call records did: rows written, duplicates skipped, opt-outs recorded."""

    imported: int = 0
    converted: int = 0  # of the imported, reservations that became calls
    skipped: list[dict[str, Any]] = field(default_factory=list)
    dnc_entries: int = 0
    call_ids: list[int] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON output (call ids left out: a batch may hold 10,000)."""
        return {
            "imported": self.imported,
            "converted": self.converted,
            "skipped": len(self.skipped),
            "skipped_rows": self.skipped,
            "dnc_entries": self.dnc_entries,
            "ignored_columns": self.ignored_columns,
        }


def record_call(
    *,
    session: Session,
    outcome: str,
    number: int | str | None = None,
    at: datetime | None = None,
    seller: str | None = None,
    campaign: str | None = None,
    subject: str | None = None,
    debt_id: str | None = None,
    channel: str | None = None,
    purpose: str | None = None,
    technology: str | None = None,
    conversation: bool = False,
    dnc_request: bool = False,
    disposition: str | None = None,
    duration_seconds: int | None = None,
    caller_id: str | None = None,
    decision_id: str | None = None,
    external_id: str | None = None,
    source: str = "api",
    actor: str,
    actor_role: str,
) -> CallAttempt:
    """Record one call, or confirm a reservation by decision_id; a duplicate returns the first."""
    values: dict[str, Any] = {
        "outcome": outcome,
        "number": f"+{number}"
        if isinstance(number, int) and not isinstance(number, bool)
        else number,
        "at": at.isoformat() if isinstance(at, datetime) else at,
        "seller": seller,
        "campaign": campaign,
        "subject": subject,
        "debt_id": debt_id,
        "channel": channel,
        "purpose": purpose,
        "technology": technology,
        "conversation": conversation,
        "dnc_request": dnc_request,
        "disposition": disposition,
        "duration_seconds": duration_seconds,
        "caller_id": caller_id,
        "decision_id": decision_id,
        "external_id": external_id,
    }
    record, errors = cdr.parse_record(values, line=1)
    if record is None:
        raise ValidationFailed(errors[0].message, field=errors[0].field)
    try:
        report = record_calls(
            session=session, records=[record], source=source, actor=actor, actor_role=actor_role
        )
    except ImportRejected as exc:
        first = exc.errors[0]
        if first.field == "decision_id" and first.message.startswith("no reservation"):
            raise NotFound(first.message, field="decision_id") from None
        raise ValidationFailed(first.message, field=first.field) from None
    if report.call_ids:
        row = session.get(CallAttempt, report.call_ids[0])
    else:
        row = existing_call(session=session, skipped=report.skipped[0])
    assert row is not None
    return row


def existing_call(*, session: Session, skipped: dict[str, Any]) -> CallAttempt | None:
    """The row a skipped record duplicates (by its external_id, else its decision_id)."""
    if skipped.get("external_id"):
        return session.scalar(
            select(CallAttempt).where(CallAttempt.external_id == skipped["external_id"])
        )
    return session.scalar(
        select(CallAttempt).where(CallAttempt.decision_id == skipped["decision_id"])
    )


def record_calls(
    *,
    session: Session,
    records: Sequence[CallRecord],
    source: str,
    actor: str,
    actor_role: str,
    batch: str | None = None,
    now: datetime | None = None,
) -> ImportReport:
    """Record parsed call records all or nothing: every bad row raises `ImportRejected` together.

    A record whose external_id (or decision_id) is already recorded is skipped, so sending the
    same file twice imports it once.
    """
    if source not in SOURCES:
        raise ValidationFailed(f"source must be one of {', '.join(SOURCES)}", field="source")
    principal = _principal(actor, actor_role)
    now = now or utcnow()
    existing_ext = _existing_external_ids(
        session, [r.external_id for r in records if r.external_id]
    )
    reservations = _reservations(session, [r.decision_id for r in records if r.decision_id])
    errors: list[RowError] = []
    report = ImportReport()
    seen_ext: set[str] = set()
    seen_dec: set[str] = set()
    plan: list[tuple[CallRecord, CallAttempt | None]] = []
    # duplicates that carry a Do-Not-Call request: the request still counts (a CDR sent again
    # once the agent's disposition is in must not lose it; 64.1200(d)(3))
    late: list[tuple[CallRecord, dict[str, Any]]] = []
    for r in records:
        if r.external_id and (r.external_id in existing_ext or r.external_id in seen_ext):
            report.skipped.append(
                {"line": r.line, "external_id": r.external_id, "reason": "already recorded"}
            )
            if r.dnc_request:
                late.append((r, report.skipped[-1]))
            continue
        row: CallAttempt | None = None
        if r.decision_id:
            row = reservations.get(r.decision_id)
            if row is None:
                errors.append(
                    RowError(r.line, "decision_id", "no reservation has this decision_id")
                )
                continue
            if row.state == PLACED or r.decision_id in seen_dec:
                report.skipped.append(
                    {"line": r.line, "decision_id": r.decision_id, "reason": "already recorded"}
                )
                if r.dnc_request:
                    late.append((r, report.skipped[-1]))
                continue
            errors.extend(_contradictions(r, row))
        if r.at is not None and r.at > now + FUTURE_SLACK:
            errors.append(RowError(r.line, "at", "the call is in the future"))
        if r.external_id:
            seen_ext.add(r.external_id)
        if r.decision_id:
            seen_dec.add(r.decision_id)
        plan.append((r, row))
    if errors:
        raise ImportRejected(errors)

    written: list[tuple[CallRecord, CallAttempt]] = []
    for r, reservation in plan:
        if reservation is not None:
            _confirm(reservation, r, now)
            written.append((r, reservation))
            report.converted += 1
        else:
            written.append((r, _new_row(r, source=source, now=now, actor=actor)))
            session.add(written[-1][1])
    try:
        session.flush()
    except IntegrityError:
        # another import recorded one of these external ids at the same moment
        raise Conflict("a call in this batch was recorded concurrently; send it again") from None
    report.imported = len(written)
    report.call_ids = [row.id for _, row in written]
    forget_live_rates()

    for r, row in written:
        if r.dnc_request:
            _record_dnc_request(session, row, source=source, actor=principal)
            report.dnc_entries += 1
    for r, skipped in late:
        key = (
            CallAttempt.external_id == r.external_id
            if r.external_id
            else CallAttempt.decision_id == r.decision_id
        )
        stored = session.scalars(select(CallAttempt).where(key)).first()
        if stored is not None and not stored.dnc_request:
            stored.dnc_request = True
            _record_dnc_request(session, stored, source=source, actor=principal)
            report.dnc_entries += 1
            skipped["reason"] = "already recorded; its Do-Not-Call request was applied"
    _audit_records(session, written, source=source, actor=actor, actor_role=actor_role)
    if len(records) > 1 or batch:
        audit.record(
            session=session,
            type="calls.imported",
            actor=actor,
            actor_role=actor_role,
            subject=f"batch:{batch}" if batch else f"batch:{len(records)}",
            body={
                "source": source,
                "rows": len(records),
                "imported": report.imported,
                "converted": report.converted,
                "skipped": len(report.skipped),
                "dnc_entries": report.dnc_entries,
            },
        )
    session.flush()
    return report


def _principal(actor: str, actor_role: str) -> Principal:
    try:
        return Principal(name=actor, role=Role(actor_role))
    except ValueError:
        raise ValidationFailed(f"unknown role {actor_role!r}", field="actor_role") from None


def _existing_external_ids(session: Session, ids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    unique = sorted(set(ids))
    for i in range(0, len(unique), CHUNK):
        q = select(CallAttempt.external_id).where(
            CallAttempt.external_id.in_(unique[i : i + CHUNK])
        )
        found.update(v for v in session.scalars(q) if v is not None)
    return found


def _reservations(session: Session, ids: Sequence[str]) -> dict[str, CallAttempt]:
    found: dict[str, CallAttempt] = {}
    unique = sorted(set(ids))
    for i in range(0, len(unique), CHUNK):
        chunk = unique[i : i + CHUNK]
        q = select(CallAttempt).where(CallAttempt.decision_id.in_(chunk)).with_for_update()
        for row in session.scalars(q):
            if row.decision_id is not None:
                found[row.decision_id] = row
    return found


def _contradictions(r: CallRecord, row: CallAttempt) -> list[RowError]:
    out = []
    for name in _RESERVATION_FIELDS:
        given, held = getattr(r, name), getattr(row, name)
        if given is not None and held is not None and given != held:
            shown = _e164(held) if name == "number" else held
            out.append(RowError(r.line, name, f"{name} differs from the reservation's ({shown})"))
    return out


def _confirm(row: CallAttempt, r: CallRecord, now: datetime) -> None:
    # The reservation becomes the call: its facts stay, the record adds the outcome. The
    # row keeps its recorded_at (when the attempt was first known) so replay still sees it,
    # and settled_at/planned_at, so a replay as of an earlier time sees the reservation.
    for name in _RESERVATION_FIELDS:
        if getattr(row, name) is None and getattr(r, name) is not None:
            setattr(row, name, getattr(r, name))
    row.settled_at = now
    if r.at is not None and r.at != row.at:
        row.planned_at = row.at
        row.at = r.at
    row.state = PLACED
    _apply_outcome(row, r)
    row.caller_id = r.caller_id or row.caller_id
    row.external_id = r.external_id or row.external_id


def _new_row(r: CallRecord, *, source: str, now: datetime, actor: str) -> CallAttempt:
    assert r.number is not None and r.at is not None and r.seller is not None
    assert r.channel is not None and r.purpose is not None and r.technology is not None
    row = CallAttempt(
        number=r.number,
        at=r.at,
        state=PLACED,
        expires_at=None,
        decision_id=r.decision_id,
        external_id=r.external_id,
        seller=r.seller,
        campaign=r.campaign,
        subject=r.subject,
        debt_id=r.debt_id,
        channel=r.channel,
        purpose=r.purpose,
        technology=r.technology,
        caller_id=r.caller_id,
        source=source,
        recorded_at=now,
        recorded_by=actor,
    )
    _apply_outcome(row, r)
    return row


def _apply_outcome(row: CallAttempt, r: CallRecord) -> None:
    row.outcome = r.outcome
    for name, value in cdr.flags(r.outcome).items():
        setattr(row, name, value)
    row.conversation = r.conversation
    row.dnc_request = r.dnc_request
    row.disposition = r.disposition
    row.duration_seconds = r.duration_seconds


def _record_dnc_request(
    session: Session, row: CallAttempt, *, source: str, actor: Principal
) -> None:
    # 47 CFR 64.1200(d)(3): the request is recorded when it is made; the entry covers every
    # channel for this seller (rules.md §1.3: block voice and SMS at once).
    # imported here: the DNC service loads the registry index machinery (numba), which
    # commands that only read call history should not pay for
    from callwarden.consent import service as consent
    from callwarden.dnc import service as dnc

    if row.channel == "sms":
        how, by = "sms_keyword", "sms"
    elif row.outcome == "answered":
        how, by = "agent_disposition", "agent"
    else:
        # an abandoned call's recorded message offers a key-press opt-out
        how, by = "ivr", "ivr"
    dnc.add_internal(
        session=session,
        number=phone.parse_e164_int(row.number),
        channel="all",
        seller=row.seller,
        source=how,
        note=f"asked during call {row.id} at {row.at.isoformat()} (via {source})",
        actor=actor,
    )
    # The request also revokes consent for calls of this kind (any reasonable means,
    # 64.1200(a)(10)): the internal list alone stops telemarketing, not an informational
    # prerecorded call made on consent.
    consent.record_revocation(
        session=session,
        cipher=None,
        number=row.number,
        received_at=min(row.at, utcnow()),
        channel=by,
        seller=row.seller,
        scope=row.purpose,
        message_channel=row.channel,
        actor=actor.name,
        actor_role=actor.role.value,
        listed=True,
    )


def _audit_records(
    session: Session,
    written: Sequence[tuple[CallRecord, CallAttempt]],
    *,
    source: str,
    actor: str,
    actor_role: str,
) -> None:
    if len(written) == 1:
        r, row = written[0]
        audit.record(
            session=session,
            type="calls.recorded",
            actor=actor,
            actor_role=actor_role,
            subject=_e164(row.number),
            body={
                "call_id": row.id,
                "decision_id": row.decision_id,
                "external_id": row.external_id,
                "outcome": row.outcome,
                "source": source,
                "reservation": r.decision_id is not None,
            },
        )
        return
    # One statement for a whole batch: one event per number called (who holds what about whom).
    audit.record_many(
        session=session,
        type="calls.recorded",
        actor=actor,
        actor_role=actor_role,
        subjects=[_e164(row.number) for _, row in written],
        body={"source": source, "batch": len(written)},
    )


def _e164(number: int) -> str:
    try:
        return phone.parse_e164_int(number).e164
    except phone.InvalidPhoneNumber:
        return f"+{number}"


# -- reading -------------------------------------------------------------------------------


def list_calls(
    *,
    session: Session,
    number: int | None = None,
    campaign: str | None = None,
    limit: int = 100,
) -> list[CallAttempt]:
    """Calls and reservations, newest first, for a number and/or a campaign."""
    q = select(CallAttempt)
    if number is not None:
        q = q.where(CallAttempt.number == number)
    if campaign is not None:
        q = q.where(CallAttempt.campaign == campaign)
    return list(
        session.scalars(q.order_by(CallAttempt.at.desc(), CallAttempt.id.desc()).limit(limit))
    )


def call_view(row: CallAttempt) -> dict[str, Any]:
    """A row as plain data for the API and the CLI."""
    return {
        "id": row.id,
        "number": _e164(row.number),
        "at": row.at,
        "state": row.state,
        "expires_at": row.expires_at,
        "decision_id": row.decision_id,
        "external_id": row.external_id,
        "seller": row.seller,
        "campaign": row.campaign,
        "subject": row.subject,
        "debt_id": row.debt_id,
        "channel": row.channel,
        "purpose": row.purpose,
        "technology": row.technology,
        "caller_id": row.caller_id,
        "outcome": row.outcome,
        "connected": row.connected,
        "answered_by_person": row.answered_by_person,
        "conversation": row.conversation,
        "voicemail": row.voicemail,
        "abandoned": row.abandoned,
        "dnc_request": row.dnc_request,
        "disposition": row.disposition,
        "duration_seconds": row.duration_seconds,
        "source": row.source,
        "recorded_at": row.recorded_at,
        "recorded_by": row.recorded_by,
        "settled_at": row.settled_at,
        "planned_at": row.planned_at,
    }


# -- gate loaders (driver-level SQL: they run on every decision) ---------------------------

_HISTORY_SQL = (
    "SELECT id, number, at, state, seller, campaign, subject, debt_id, channel, purpose,"
    " technology, outcome, connected, conversation, dnc_request{extra} FROM call_attempts WHERE "
)
# Released rows never count; a reservation counts until it expires.
_LIVE_SQL = " AND at >= ? AND (state = 'placed' OR (state = 'reserved' AND expires_at > ?))"
# Replay: every row known by then; which of them counted then is decided row by row
# (`_as_known`), since a confirmation or release after that moment changed the row.
_KNOWN_SQL = " AND (at >= ? OR planned_at >= ?) AND recorded_at <= ?"
_KNOWN_EXTRA = ", expires_at, settled_at, planned_at"


def load_history(
    session: Reader,
    *,
    numbers: Sequence[int],
    debt_ids: Sequence[str],
    since: datetime,
    now: datetime,
    known_at: datetime | None = None,
) -> list[CallFact]:
    """Placed calls and live reservations since `since`, to these numbers or about these debts.

    With ``known_at`` (replay), the history as it stood then: rows recorded by then, a
    reservation confirmed or released later still a reservation, live until it expired.
    """
    numbers = list(dict.fromkeys(int(n) for n in numbers))
    debt_ids = list(dict.fromkeys(d for d in debt_ids if d))
    if not numbers and not debt_ids:
        return []
    when = time_binder(session)
    head = _HISTORY_SQL.format(extra="" if known_at is None else _KNOWN_EXTRA)
    tail_params: tuple[Any, ...]
    if known_at is None:
        tail, tail_params = _LIVE_SQL, (when(since), when(now))
    else:
        tail, tail_params = _KNOWN_SQL, (when(since), when(since), when(known_at))
    rows: dict[int, Any] = {}
    few = len(numbers) <= CHUNK and len(debt_ids) <= CHUNK
    if few and (
        max(len(numbers), len(debt_ids)) < ARRAY_FROM or dialect_name(session) != "postgresql"
    ):
        # the usual decision: one number, maybe one debt, one round trip
        clauses: list[str] = []
        params: list[Any] = []
        if numbers:
            clauses.append(f"number IN ({_marks(numbers)})")
            params.extend(numbers)
        if debt_ids:
            clauses.append(f"debt_id IN ({_marks(debt_ids)})")
            params.extend(debt_ids)
        sql = head + "(" + " OR ".join(clauses) + ")" + tail
        for row in fetch_all(session, sql, (*params, *tail_params)):
            rows[row[0]] = row
    else:
        # many: IN lists per column (one array each on PostgreSQL), sent together
        by_number = in_chunks(head + "number IN ({marks})" + tail, numbers, tail_params)
        by_debt = in_chunks(
            head + "debt_id IN ({marks})" + tail, debt_ids, tail_params, sql_type="text"
        )
        for found in run_queries(session, [Query(by_number, list), Query(by_debt, list)]):
            for row in found:
                rows[row[0]] = row
    if known_at is None:
        facts = [_fact(r) for r in rows.values()]
    else:
        known = (_as_known(r, known_at, since) for r in rows.values())
        facts = [f for f in known if f is not None]
    facts.sort(key=lambda f: (f.at, f.id))
    return facts


def _as_known(r: Any, known_at: datetime, since: datetime) -> CallFact | None:
    # One row as the history held it at known_at, or None when it did not count then.
    expires, settled, planned = r[15], r[16], r[17]
    if settled is not None and driver_time(settled) > known_at:
        # confirmed or released later: then it was still the gate's reservation
        at = driver_time(planned) if planned is not None else driver_time(r[2])
        if expires is None or driver_time(expires) <= known_at or at < since:
            return None
        fact = _fact(r)
        return replace(fact, at=at, state=RESERVED, outcome=None, connected=True,
                       conversation=False, dnc_request=False)  # fmt: skip
    if r[3] == RELEASED or driver_time(r[2]) < since:
        return None
    if r[3] == RESERVED and (expires is None or driver_time(expires) <= known_at):
        return None
    return _fact(r)


def _fact(r: Any) -> CallFact:
    outcome = r[11]
    return CallFact(
        id=int(r[0]),
        number=int(r[1]),
        at=driver_time(r[2]),
        state=r[3],
        seller=r[4],
        campaign=r[5],
        subject=r[6],
        debt_id=r[7],
        channel=r[8],
        purpose=r[9],
        technology=r[10],
        outcome=outcome,
        # a reservation's outcome is unknown: it counts as connected (fail closed)
        connected=True if outcome is None else bool(r[12]),
        conversation=bool(r[13]),
        dnc_request=bool(r[14]),
    )


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" * len(values))


# -- abandonment (16 CFR 310.4(b)(4); 47 CFR 64.1200(a)(7)) ----------------------------------
#
# Periods are successive 30-day periods from the campaign's first call, counted in whole UTC
# days: day 1 is the UTC date of the first call, so days 1-30 are period 1, day 31 starts
# period 2, and the last period is the "portion thereof" still running. Only placed voice
# calls count (a text cannot be abandoned); the rate is abandoned / answered by a live person.

# The first call by the (campaign, at) index: stops at the first matching row.
_FIRST_SQL = (
    "SELECT at FROM call_attempts WHERE campaign = ? AND state = 'placed' AND channel = 'voice'"
    " AND at <= ? ORDER BY at LIMIT 1"
)
_ALL_FIRST_SQL = (
    "SELECT campaign, MIN(at) FROM call_attempts WHERE state = 'placed' AND channel = 'voice'"
    " AND at <= ? AND campaign IS NOT NULL GROUP BY campaign ORDER BY campaign"
)
# The gate's rate in one pass over the calls: (answered, abandoned) since the period's start
# and since 30 days ago, both up to the moment (the period's end is never before it).
_GATE_COUNT_SQL = (
    "SELECT"
    " COALESCE(SUM(CASE WHEN at >= ? AND answered_by_person THEN 1 ELSE 0 END), 0),"
    " COALESCE(SUM(CASE WHEN at >= ? AND abandoned THEN 1 ELSE 0 END), 0),"
    " COALESCE(SUM(CASE WHEN at >= ? AND answered_by_person THEN 1 ELSE 0 END), 0),"
    " COALESCE(SUM(CASE WHEN at >= ? AND abandoned THEN 1 ELSE 0 END), 0)"
    " FROM call_attempts WHERE campaign = ? AND state = 'placed' AND channel = 'voice'"
    " AND at >= ? AND at <= ?"
)
_COUNT_SQL = (
    "SELECT COUNT(*), COALESCE(SUM(CASE WHEN answered_by_person THEN 1 ELSE 0 END), 0),"
    " COALESCE(SUM(CASE WHEN abandoned THEN 1 ELSE 0 END), 0) FROM call_attempts"
    " WHERE campaign = ? AND state = 'placed' AND channel = 'voice'"
    " AND at >= ? AND at < ? AND at <= ?"
)


@dataclass(frozen=True, slots=True)
class AbandonmentPeriod:
    """One 30-day period of a campaign: [start, end), with its abandonment rate."""

    number: int  # 1 = the period starting on the campaign's first day
    start: datetime
    end: datetime
    complete: bool  # False: the period is still running (a "portion thereof")
    calls: int
    answered_by_person: int
    abandoned: int
    rate: float | None  # abandoned / answered_by_person; None before anyone answered
    within_limit: bool

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class RollingRate:
    """A campaign's abandonment rate over the 30 days ending at a moment (the gate's throttle).

    The law measures successive 30-day periods; the gate also throttles on the rolling 30
    days (rules.md §2 'Gate must'), so a new period does not clear a rate that is over 3%.
    """

    start: datetime
    end: datetime  # the moment itself, included
    calls: int
    answered_by_person: int
    abandoned: int
    rate: float | None
    within_limit: bool

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class AbandonmentReport:
    """A campaign's abandonment rate in every 30-day period so far, and over the last 30 days."""

    campaign: str
    at: datetime
    first_call_at: datetime
    periods: tuple[AbandonmentPeriod, ...]
    rolling: RollingRate
    limit: float = ABANDONMENT_LIMIT
    citation: str = ABANDONMENT_CITATION

    @property
    def current(self) -> AbandonmentPeriod:
        """The period `at` falls in."""
        return self.periods[-1]

    @property
    def periods_over_limit(self) -> int:
        """How many periods exceeded the limit."""
        return sum(1 for p in self.periods if not p.within_limit)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {
            "campaign": self.campaign,
            "at": self.at,
            "first_call_at": self.first_call_at,
            "limit": self.limit,
            "citation": self.citation,
            "current": self.current.as_dict(),
            "within_limit": self.current.within_limit,
            "periods_over_limit": self.periods_over_limit,
            "periods": [p.as_dict() for p in self.periods],
            "rolling_30_days": self.rolling.as_dict(),
            # what the gate throttles on: the current period and the rolling 30 days
            "gate_within_limit": self.current.within_limit and self.rolling.within_limit,
        }


def within_limit(abandoned: int, answered: int) -> bool:
    """abandoned / answered <= 3%, in exact integer arithmetic (exactly 3% is within)."""
    return abandoned * 100 <= 3 * answered


def _period_bounds(first: datetime, index: int) -> tuple[datetime, datetime]:
    day0: date = first.astimezone(UTC).date()
    start = datetime.combine(day0 + timedelta(days=PERIOD_DAYS * index), time(0), UTC)
    return start, start + timedelta(days=PERIOD_DAYS)


def _period_index(first: datetime, at: datetime) -> int:
    return (at.astimezone(UTC).date() - first.astimezone(UTC).date()).days // PERIOD_DAYS


def _rolling(session: Reader, campaign: str, at: datetime) -> RollingRate:
    # [at - 30 days, at]: the upper bound is `at` itself (the query's third bound)
    start = at - timedelta(days=PERIOD_DAYS)
    calls, answered, abandoned = _count(session, campaign, start, at + timedelta(days=1), at)
    return RollingRate(
        start=start,
        end=at,
        calls=calls,
        answered_by_person=answered,
        abandoned=abandoned,
        rate=abandoned / answered if answered else None,
        within_limit=within_limit(abandoned, answered),
    )


def _count(
    session: Reader, campaign: str, start: datetime, end: datetime, at: datetime
) -> tuple[int, int, int]:
    row = fetch_all(
        session,
        _COUNT_SQL,
        (campaign, *map(time_binder(session), (start, end, at))),
    )[0]
    return int(row[0]), int(row[1]), int(row[2])


def _first_call(session: Reader, campaign: str, at: datetime) -> datetime | None:
    rows = fetch_all(session, _FIRST_SQL, (campaign, bind_time(session, at)))
    return driver_time(rows[0][0]) if rows else None


# Live decisions ask for the same campaigns' rates again and again, and counting a busy
# campaign's period reads every call in it (about 100 ms for 150,000 calls). So a rate
# computed for a moment near the clock is reused for moments up to 30 seconds later, within
# the same period: the rate is measured over 30 days, so it cannot move meaningfully in 30
# seconds. Moments away from the clock (replays, tests) are always counted afresh. When a
# reused rate expires, or a write through this module makes it stale, it is still answered
# for up to another 30 seconds while one background thread counts afresh: a decision never
# waits for the count (with the gate deciding on the event loop, that wait stalled every
# request behind it).
LIVE_RATE_TTL = timedelta(seconds=30)


@dataclass
class _LiveRate:
    since: datetime  # the moment it was counted for
    until: datetime  # reused up to here (the TTL, or the period's end)
    period_end: datetime | None  # never answered past its period
    rate: float | None
    stale: bool = False


_live_rates: dict[tuple[str, str], _LiveRate] = {}
_refreshing: dict[tuple[str, str], threading.Thread] = {}
_refresh_guard = threading.Lock()

_url_keys: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()


def _url_key(engine: Engine) -> str:
    # rendering an engine's URL costs more than the rest of a cached rate lookup
    key = _url_keys.get(engine)
    if key is None:
        key = _url_keys[engine] = str(engine.url)
    return key


def forget_live_rates() -> None:
    """Mark the reused abandonment rates stale (after writing calls): they are counted again."""
    for entry in list(_live_rates.values()):
        entry.stale = True


def wait_for_rate_refreshes(timeout: float = 10.0) -> None:
    """Block until the background recounts started so far are done (tests, shutdown)."""
    with _refresh_guard:
        threads = list(_refreshing.values())
    for t in threads:
        t.join(timeout)


def _count_rate(
    session: Reader, campaign: str, at: datetime
) -> tuple[float | None, datetime | None]:
    first = _first_call(session, campaign, at)
    if first is None:
        return None, None
    start, end = _period_bounds(first, _period_index(first, at))
    since = at - timedelta(days=PERIOD_DAYS)
    bind = time_binder(session)
    row = fetch_all(
        session,
        _GATE_COUNT_SQL,
        (*map(bind, (start, start, since, since)), campaign, bind(min(start, since)), bind(at)),
    )[0]
    # the stricter of the period's rate and the rolling 30 days' (rules.md §2)
    rates = [
        int(abandoned) / int(answered) for answered, abandoned in (row[:2], row[2:]) if answered
    ]
    return (max(rates) if rates else None), end


def _remember(key: tuple[str, str], at: datetime, rate: float | None, end: datetime | None) -> None:
    if len(_live_rates) > 10_000:
        _live_rates.clear()
    until = at + LIVE_RATE_TTL if end is None else min(at + LIVE_RATE_TTL, end)
    _live_rates[key] = _LiveRate(at, until, end, rate)


def _recount_later(engine: Engine, key: tuple[str, str], campaign: str) -> None:
    def run() -> None:
        try:
            with Session(bind=engine) as session:
                at = utcnow()
                rate, end = _count_rate(session, campaign, at)
            _remember(key, at, rate, end)
        except Exception as exc:  # the next decision counts it itself
            log.error("abandonment_recount_failed", campaign=campaign, error=repr(exc))
            _live_rates.pop(key, None)
        finally:
            with _refresh_guard:
                _refreshing.pop(key, None)

    with _refresh_guard:
        if key in _refreshing:
            return
        thread = threading.Thread(target=run, name="abandonment-recount", daemon=True)
        _refreshing[key] = thread
    thread.start()


def load_campaign_abandonment(
    session: Reader, campaigns: Sequence[str], *, at: datetime
) -> dict[str, float | None]:
    """Each campaign's rate for the gate: its 30-day period's or the last 30 days', the higher."""
    live = abs(utcnow() - at) <= LIVE_RATE_TTL
    bind = session.engine if isinstance(session, Connection) else session.get_bind()
    # a session joined to an outer connection's transaction must count in it, not aside
    engine = bind if isinstance(bind, Engine) else None
    url = _url_key(bind.engine) if live else ""
    out: dict[str, float | None] = {}
    for campaign in campaigns:
        if campaign in out:
            continue
        key = (url, campaign)
        hit = _live_rates.get(key) if live else None
        usable = (
            hit is not None and hit.since <= at and (hit.period_end is None or at < hit.period_end)
        )
        if hit is not None and usable and not hit.stale and at < hit.until:
            out[campaign] = hit.rate
            continue
        if hit is not None and usable and engine is not None and at < hit.until + LIVE_RATE_TTL:
            out[campaign] = hit.rate  # a recent count, answered while it is redone
            _recount_later(engine, key, campaign)
            continue
        rate, end = _count_rate(session, campaign, at)
        out[campaign] = rate
        if live:
            _remember(key, at, rate, end)
    return out


def abandonment(
    *, session: Session, campaign: str, at: datetime | None = None
) -> AbandonmentReport:
    """A campaign's abandonment rate per successive 30-day period (16 CFR 310.4(b)(4)(i))."""
    at = at or utcnow()
    first = _first_call(session, campaign, at)
    if first is None:
        raise NotFound(f"no voice calls placed for campaign {campaign!r}", field="campaign_id")
    return _report(session, campaign, first, at)


def _report(session: Session, campaign: str, first: datetime, at: datetime) -> AbandonmentReport:
    periods = []
    for index in range(_period_index(first, at) + 1):
        start, end = _period_bounds(first, index)
        calls, answered, abandoned = _count(session, campaign, start, end, at)
        periods.append(
            AbandonmentPeriod(
                number=index + 1,
                start=start,
                end=end,
                complete=end <= at,
                calls=calls,
                answered_by_person=answered,
                abandoned=abandoned,
                rate=abandoned / answered if answered else None,
                within_limit=within_limit(abandoned, answered),
            )
        )
    return AbandonmentReport(
        campaign=campaign,
        at=at,
        first_call_at=first,
        periods=tuple(periods),
        rolling=_rolling(session, campaign, at),
    )


def stats(*, session: Session, at: datetime | None = None) -> list[AbandonmentReport]:
    """Every campaign's abandonment report (its `current` period is the summary), by name."""
    at = at or utcnow()
    rows = fetch_all(session, _ALL_FIRST_SQL, (bind_time(session, at),))
    return [_report(session, campaign, driver_time(first), at) for campaign, first in rows]
