"""Established business relationships: qualifying events, their expiry, imports, the gate loader.

An EBR exempts a seller's calls from the National DNC Registry only (47 CFR 64.1200(f)(5)); it
is never consent for autodialed or prerecorded calls. Its window is computed from each event
by `ebr_expiry`, a pure function of the event and the country (rules.md §1.9 and §11).
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from callwarden import bulk, phone
from callwarden.audit import service as audit
from callwarden.bulk import FieldChecks, RowError
from callwarden.consent.service import ANY_SELLER, fact_statements
from callwarden.db import Query, Reader, driver_time, run_query, utcnow
from callwarden.ebr.models import EbrEvent
from callwarden.errors import Conflict, NotFound, ValidationFailed
from callwarden.gate import changes
from callwarden.gate.facts import EbrFact

KINDS = ("purchase", "transaction", "inquiry", "application")
COUNTRIES = ("US", "CA")
EBR_FIELDS = ("number", "seller", "kind", "occurred_on", "ended_on", "reference")
EBR_REQUIRED = ("number", "seller", "kind", "occurred_on")

# Months an event keeps the relationship alive. US: 47 CFR 64.1200(f)(5) (18 months after a
# purchase or transaction, 3 after an inquiry or application). Canada (CRTC UTR, rules.md §11):
# 18 months after a purchase, lease or rental, 6 after an inquiry.
WINDOW_MONTHS: Mapping[tuple[str, str], int] = {
    ("US", "purchase"): 18,
    ("US", "transaction"): 18,
    ("US", "inquiry"): 3,
    ("US", "application"): 3,
    ("CA", "purchase"): 18,
    ("CA", "transaction"): 18,
    ("CA", "inquiry"): 6,
    ("CA", "application"): 6,
}

__all__ = [
    "KINDS",
    "EbrInput",
    "add_event",
    "add_months",
    "ebr_active",
    "ebr_expiry",
    "end_relationship",
    "event_view",
    "events_for",
    "import_events",
    "load_ebr",
    "parse_ebr_rows",
]


# -- the window (pure) ------------------------------------------------------


def add_months(day: date, months: int) -> date:
    """The same day of the month `months` later, clamped to that month's last day."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@lru_cache(maxsize=32_768)  # pure, and asked again for every attempt to a customer
def ebr_expiry(kind: str, occurred_on: date, country: str) -> date:
    """The first day an event no longer supports an EBR (calls must fall strictly before it).

    rules.md §1.9: the anniversary date itself is treated as expired (the conservative reading
    of "within the 18 months immediately preceding the date of the call").
    """
    key = (country.strip().upper(), kind.strip().lower())
    if key[0] not in COUNTRIES:
        raise ValidationFailed(
            f"country must be one of {', '.join(COUNTRIES)}, not {country!r}", field="country"
        )
    months = WINDOW_MONTHS.get(key)
    if months is None:
        raise ValidationFailed(f"kind must be one of {', '.join(KINDS)}", field="kind")
    return add_months(occurred_on, months)


def ebr_active(
    kind: str, occurred_on: date, country: str, on: date, ended_on: date | None = None
) -> bool:
    """Whether an event supports an EBR for a call on `on` (not before it, not after its end)."""
    if on < occurred_on:
        return False
    if ended_on is not None and on >= ended_on:
        return False
    return on < ebr_expiry(kind, occurred_on, country)


# -- events -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EbrInput:
    """A checked EBR event (one API call, or one row of an import)."""

    number: int
    seller: str
    kind: str
    occurred_on: date
    ended_on: date | None
    reference: str | None
    line: int | None = None


def _check_seller(value: Any) -> str:
    seller = bulk.required_text(value, "seller")
    if seller == ANY_SELLER:
        raise ValidationFailed(
            "an EBR is with one named seller; '*' is not a seller", field="seller"
        )
    return seller


def check_event(raw: Mapping[str, Any], *, now: datetime, line: int | None = None) -> EbrInput:
    """Validate one event; InvalidRecord lists every bad field."""
    c = FieldChecks()
    number = c(lambda: bulk.parse_number(raw.get("number")))
    seller = c(lambda: _check_seller(raw.get("seller")))
    kind = c(lambda: bulk.choice(raw.get("kind"), KINDS, "kind"))
    occurred_on = c(lambda: bulk.day(raw.get("occurred_on"), "occurred_on"))
    ended_on = c(lambda: bulk.day(raw.get("ended_on"), "ended_on", required=False))
    reference = c(lambda: bulk.text(raw.get("reference"), "reference"))
    # Dates are the consumer's calendar; in North America that is never ahead of UTC's.
    today = now.date()
    if occurred_on is not None and occurred_on > today:
        c.fail("occurred_on", "occurred_on cannot be in the future")
    if ended_on is not None:
        _check_end(c, occurred_on, ended_on, today)
    c.done()
    assert number is not None and seller is not None and kind is not None
    assert occurred_on is not None
    return EbrInput(number, seller, kind, occurred_on, ended_on, reference, line)


def _check_end(c: FieldChecks, occurred_on: date | None, ended_on: date, today: date) -> None:
    if ended_on > today:
        c.fail("ended_on", "ended_on cannot be in the future")
    if occurred_on is not None and ended_on < occurred_on:
        c.fail("ended_on", "ended_on cannot be before occurred_on")


def _e164(number: int) -> str:
    return phone.parse_e164_int(number).e164


def _store(
    *, session: Session, items: Sequence[EbrInput], actor: str, actor_role: str
) -> list[EbrEvent]:
    now = utcnow()
    events = [
        EbrEvent(
            number=item.number,
            seller=item.seller,
            kind=item.kind,
            occurred_on=item.occurred_on,
            ended_on=item.ended_on,
            ended_recorded_at=now if item.ended_on is not None else None,
            reference=item.reference,
            recorded_at=now,
            recorded_by=actor,
        )
        for item in items
    ]
    session.add_all(events)
    session.flush()  # one batched INSERT returning every id
    changes.note(session, "ebr", [e.number for e in events])
    for event, item in zip(events, items, strict=True):
        audit.record(
            session=session,
            type="ebr.recorded",
            actor=actor,
            actor_role=actor_role,
            subject=_e164(item.number),
            body={
                "ebr_id": event.id,
                "seller": item.seller,
                "kind": item.kind,
                "occurred_on": item.occurred_on.isoformat(),
                "ended_on": item.ended_on.isoformat() if item.ended_on else None,
                "reference": item.reference,
            },
        )
    return events


def add_event(
    *,
    session: Session,
    number: int,
    seller: str,
    kind: str,
    occurred_on: date,
    ended_on: date | None = None,
    reference: str | None = None,
    actor: str,
    actor_role: str,
) -> EbrEvent:
    """Record a qualifying event with a seller; audited in the same transaction."""
    item = check_event(
        {
            "number": f"+{number}",
            "seller": seller,
            "kind": kind,
            "occurred_on": occurred_on,
            "ended_on": ended_on,
            "reference": reference,
        },
        now=utcnow(),
    )
    [event] = _store(session=session, items=[item], actor=actor, actor_role=actor_role)
    return event


def end_relationship(
    *, session: Session, event_id: int, ended_on: date, actor: str, actor_role: str
) -> EbrEvent:
    """Record that either party ended the relationship an event formed (from `ended_on` on)."""
    event = session.get(EbrEvent, event_id)
    if event is None:
        raise NotFound(f"no EBR event {event_id}")
    if event.ended_on is not None:
        raise Conflict(f"EBR event {event_id} already ended on {event.ended_on.isoformat()}")
    c = FieldChecks()
    day = c(lambda: bulk.day(ended_on, "ended_on"))
    if day is not None:
        _check_end(c, event.occurred_on, day, utcnow().date())
    c.done()
    assert day is not None
    event.ended_on = day
    event.ended_recorded_at = utcnow()
    changes.note(session, "ebr", [event.number])
    audit.record(
        session=session,
        type="ebr.ended",
        actor=actor,
        actor_role=actor_role,
        subject=_e164(event.number),
        body={"ebr_id": event.id, "seller": event.seller, "ended_on": day.isoformat()},
    )
    session.flush()
    return event


def events_for(*, session: Session, number: int) -> list[EbrEvent]:
    """A number's EBR events, newest first."""
    q = (
        select(EbrEvent)
        .where(EbrEvent.number == number)
        .order_by(EbrEvent.occurred_on.desc(), EbrEvent.id.desc())
    )
    return list(session.scalars(q))


def event_view(event: EbrEvent) -> dict[str, Any]:
    """An event as plain data, with the day it stops supporting an EBR in each country."""
    return {
        "id": event.id,
        "number": _e164(event.number),
        "seller": event.seller,
        "kind": event.kind,
        "occurred_on": event.occurred_on,
        "ended_on": event.ended_on,
        "ended_recorded_at": event.ended_recorded_at,
        "reference": event.reference,
        "expires_on": {c: ebr_expiry(event.kind, event.occurred_on, c) for c in COUNTRIES},
        "recorded_at": event.recorded_at,
        "recorded_by": event.recorded_by,
    }


# -- bulk imports -----------------------------------------------------------


def parse_ebr_rows(
    data: bytes | str, fmt: str | None, *, now: datetime | None = None
) -> tuple[list[EbrInput], list[RowError]]:
    """Read and validate every EBR row; the rows are good only when the errors are empty."""
    read = bulk.read_rows(data, fmt, fields=EBR_FIELDS, required=EBR_REQUIRED, strict_columns=True)
    when = now or utcnow()
    return bulk.check_rows(
        read.rows, read.errors, lambda line, raw: check_event(raw, now=when, line=line)
    )


def import_events(
    *, session: Session, rows: Sequence[EbrInput], actor: str, actor_role: str
) -> list[EbrEvent]:
    """Store validated EBR rows in the caller's transaction (all or nothing)."""
    events = _store(session=session, items=rows, actor=actor, actor_role=actor_role)
    ids = [e.id for e in events]
    audit.record(
        session=session,
        type="ebr.imported",
        actor=actor,
        actor_role=actor_role,
        subject=f"import:{len(events)}",
        body={"rows": len(events), "ids": [min(ids), max(ids)] if ids else []},
    )
    return events


# -- gate loader ------------------------------------------------------------


def _as_date(value: Any) -> date:
    # Read through the driver: SQLite gives text, PostgreSQL a date.
    day: date = date.fromisoformat(value) if isinstance(value, str) else value
    return day


_EBR_SQL = (
    "SELECT number, id, seller, kind, occurred_on, ended_on, ended_recorded_at"
    " FROM ebr_events WHERE number IN ({marks}){known}"
)


def _ended_later(recorded: Any, known_at: datetime) -> bool:
    # NULL: an end from before this was tracked; a replay sees it, as it always did
    return recorded is not None and driver_time(recorded) > known_at


def ebr_query(
    session: Reader, numbers: Sequence[int], *, known_at: datetime | None = None
) -> Query[dict[int, list[EbrFact]]]:
    """`load_ebr` as a query, to be sent with other loaders' (`db.run_queries`)."""
    keys = [int(n) for n in numbers]

    def parse(rows: Iterable[Any]) -> dict[int, list[EbrFact]]:
        out: dict[int, list[EbrFact]] = {n: [] for n in keys}
        for number, id_, seller, kind, occurred, ended, ended_recorded in rows:
            if known_at is not None and _ended_later(ended_recorded, known_at):
                ended = None  # the end was recorded after the replayed moment
            out[int(number)].append(
                EbrFact(
                    id=int(id_),
                    seller=seller,
                    kind=kind,
                    occurred_on=_as_date(occurred),
                    ended_on=_as_date(ended) if ended is not None else None,
                )
            )
        return out

    statements = fact_statements(session, _EBR_SQL, keys, known_at, "number, occurred_on, id")
    return Query(statements, parse)


def load_ebr(
    session: Reader, numbers: Sequence[int], *, known_at: datetime | None = None
) -> dict[int, list[EbrFact]]:
    """Every EBR event on record for each number (known at `known_at`), oldest first."""
    return run_query(session, ebr_query(session, numbers, known_at=known_at))
