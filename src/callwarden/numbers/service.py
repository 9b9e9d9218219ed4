"""Numbers: line types and customer locations, one at a time or in bulk, and the gate's loaders.

Bulk files are read by ``callwarden.bulk`` (CSV, JSON lines or a JSON list; all rows or none,
every bad row reported); extra columns are ignored.

Line types: ``number``, ``line_type`` (wireless, landline or voip; ``mobile``/``cell`` mean
wireless, ``fixed``/``wireline`` landline, ``fixedVoip``/``nonFixedVoip`` voip), ``source``
(the data source; the import's default when the column is absent), ``as_of`` (ISO date or
date-time with an offset; a date means 00:00 UTC; default: now). For a number, the statement
with the newest ``as_of`` wins; a number without any is of unknown type.

Locations: ``number``, ``country`` (US or CA; default US), ``state`` (a US state, DC or
territory code, or a Canadian province or territory code), ``zip`` (US: 12345 or 12345-6789;
CA: A1A 1A1), ``kind`` (mailing, billing or other; default other), ``source``. A state or a
ZIP is required; a ZIP alone leaves the state empty (it is never guessed). Locations are
removed by stamping ``removed_at``, never deleted.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from callwarden import bulk, phone
from callwarden.audit import service as audit
from callwarden.bulk import MAX_SOURCE, ImportReport, digest
from callwarden.db import (
    IN_CHUNK,
    Query,
    Reader,
    driver_time,
    in_chunks,
    run_query,
    utcnow,
)
from callwarden.errors import Conflict, NotFound, ValidationFailed
from callwarden.gate import changes
from callwarden.gate.facts import LocationFact
from callwarden.numbers.models import CustomerLocation, LineTypeRecord

T = TypeVar("T")

LINE_TYPES = ("wireless", "landline", "voip")
KINDS = ("mailing", "billing", "other")
COUNTRIES = ("US", "CA")
US_STATES = frozenset(
    {"AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN",
     "IA", "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH",
     "NJ", "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT",
     "VT", "VA", "WA", "WV", "WI", "WY"}
)  # fmt: skip
US_TERRITORIES = frozenset({"PR", "VI", "GU", "AS", "MP"})
CA_PROVINCES = frozenset(
    {"AB", "BC", "MB", "NB", "NL", "NS", "NT", "NU", "ON", "PE", "QC", "SK", "YT"}
)
SUBDIVISIONS: dict[str, frozenset[str]] = {
    "US": US_STATES | US_TERRITORIES,
    "CA": CA_PROVINCES,
}

CHUNK = IN_CHUNK  # numbers per IN list, as the gate's loaders use

_LINE_TYPE_WORDS = {
    "wireless": "wireless",
    "mobile": "wireless",
    "cell": "wireless",
    "cellular": "wireless",
    "landline": "landline",
    "fixed": "landline",
    "fixed_line": "landline",
    "wireline": "landline",
    "voip": "voip",
    "fixed_voip": "voip",
    "fixedvoip": "voip",
    "non_fixed_voip": "voip",
    "nonfixedvoip": "voip",
}
_COUNTRY_WORDS = {"US": "US", "USA": "US", "CA": "CA", "CAN": "CA"}
_US_ZIP = re.compile(r"(\d{5})(?:-?(\d{4}))?")
# Canada Post: no D, F, I, O, Q or U anywhere; no W or Z in the first position.
_CA_POSTAL = re.compile(r"([ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z]) ?(\d[ABCEGHJ-NPRSTV-Z]\d)")

LINE_TYPE_ALIASES = {
    "phone": "number",
    "phone_number": "number",
    "phonenumber": "number",
    "tn": "number",
    "telephone": "number",
    "linetype": "line_type",
    "type": "line_type",
    "asof": "as_of",
}
LOCATION_ALIASES = {
    "phone": "number",
    "phone_number": "number",
    "phonenumber": "number",
    "tn": "number",
    "telephone": "number",
    "province": "state",
    "state_code": "state",
    "zip_code": "zip",
    "zipcode": "zip",
    "postal_code": "zip",
    "postcode": "zip",
    "country_code": "country",
}


# -- bulk imports -----------------------------------------------------------------------------


# -- values -----------------------------------------------------------------------------------


def parse_line_type(value: Any, field: str = "line_type") -> str:
    """wireless, landline or voip (common data-source words mapped to them)."""
    raw = bulk.text(value, field, max_len=32)
    if raw is None:
        raise ValidationFailed(f"{field} is required (wireless, landline or voip)", field=field)
    word = _LINE_TYPE_WORDS.get(bulk.column_key(raw))
    if word is None:
        raise ValidationFailed(
            f"{field} must be wireless, landline or voip, not {raw!r}", field=field
        )
    return word


def parse_source(value: Any, default: str | None = None, field: str = "source") -> str:
    """A data source name (required unless the import gives a default)."""
    raw = bulk.text(value, field, max_len=MAX_SOURCE) or default
    if not raw:
        raise ValidationFailed(f"{field} is required (where the fact came from)", field=field)
    return raw[:MAX_SOURCE]


def parse_country(value: Any, field: str = "country") -> str:
    """US or CA (USA and CAN accepted); default US."""
    raw = bulk.text(value, field, max_len=8)
    if raw is None:
        return "US"
    code = _COUNTRY_WORDS.get(raw.upper())
    if code is None:
        raise ValidationFailed(f"{field} must be US or CA, not {raw!r}", field=field)
    return code


def parse_state(value: Any, country: str, field: str = "state") -> str | None:
    """A two-letter state, DC or territory code (US), or province/territory code (CA)."""
    raw = bulk.text(value, field, max_len=8)
    if raw is None:
        return None
    code = raw.upper()
    if code not in SUBDIVISIONS.get(country, frozenset()):
        what = (
            "a Canadian province or territory code (e.g. ON)"
            if country == "CA"
            else "a US state, DC or territory code (e.g. FL)"
        )
        raise ValidationFailed(f"{field} must be {what}, not {raw!r}", field=field)
    return code


def parse_zip(value: Any, country: str, field: str = "zip") -> str | None:
    """A US ZIP (12345 or 12345-6789) or a Canadian postal code (A1A 1A1), normalized."""
    if isinstance(value, int) and not isinstance(value, bool):
        # a number loses leading zeros (02134 -> 2134): refuse rather than guess them back
        value = str(value)
    raw = bulk.text(value, field, max_len=16)
    if raw is None:
        return None
    if country == "CA":
        m = _CA_POSTAL.fullmatch(raw.upper())
        if m is None:
            raise ValidationFailed(
                f"{field} must be a Canadian postal code like K1A 0B1, not {raw!r}", field=field
            )
        return f"{m.group(1)} {m.group(2)}"
    m = _US_ZIP.fullmatch(raw)
    if m is None:
        raise ValidationFailed(
            f"{field} must be a 5-digit ZIP or ZIP+4 (12345-6789), not {raw!r}", field=field
        )
    return m.group(1) if m.group(2) is None else f"{m.group(1)}-{m.group(2)}"


def parse_kind(value: Any, field: str = "kind") -> str:
    """mailing, billing or other (default other)."""
    raw = bulk.text(value, field, max_len=16)
    if raw is None:
        return "other"
    kind = raw.lower()
    if kind not in KINDS:
        raise ValidationFailed(
            f"{field} must be mailing, billing or other, not {raw!r}", field=field
        )
    return kind


# -- records ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LineTypeIn:
    """A validated line-type statement."""

    number: int
    line_type: str
    source: str
    as_of: datetime


@dataclass(frozen=True, slots=True)
class LocationIn:
    """A validated customer location."""

    number: int
    country: str
    state: str | None
    zip: str | None
    kind: str
    source: str


def parse_line_type_row(
    row: Mapping[str, Any], *, source: str | None = None, now: datetime | None = None
) -> LineTypeIn:
    """Validate one line-type record (every bad field reported at once)."""
    now = now or utcnow()
    f = bulk.FieldChecks(row)
    number = f.get("number", bulk.parse_number)
    line_type = f.get("line_type", parse_line_type)
    src = f.get("source", parse_source, source)
    as_of = f.get("as_of", bulk.instant, "as_of", required=False, allow_date=True, not_after=now)
    f.done()
    return LineTypeIn(number=number, line_type=line_type, source=src, as_of=as_of or now)


def parse_location_row(row: Mapping[str, Any], *, source: str | None = None) -> LocationIn:
    """Validate one location record (every bad field reported at once)."""
    f = bulk.FieldChecks(row)
    number = f.get("number", bulk.parse_number)
    country = f.get("country", parse_country)
    known = country or "US"
    state = f.get("state", parse_state, known)
    zip_code = f.get("zip", parse_zip, known)
    kind = f.get("kind", parse_kind)
    src = f.get("source", parse_source, source)
    if not f.errors and state is None and zip_code is None:
        f.errors.append(("state", "a state (or province) or a ZIP is required"))
    f.done()
    return LocationIn(
        number=number, country=country, state=state, zip=zip_code, kind=kind, source=src
    )


# -- line types -------------------------------------------------------------------------------


def add_line_type(
    *,
    session: Session,
    number: str | int,
    line_type: str,
    source: str,
    as_of: str | date | datetime | None = None,
    actor: str,
    actor_role: str,
) -> LineTypeRecord:
    """Record a data source's statement of a number's line type (audited)."""
    item = parse_line_type_row(
        {"number": number, "line_type": line_type, "source": source, "as_of": as_of}
    )
    existing = _existing_line_types(session, [item])
    key = _line_type_key(item.number, item.line_type, item.source, item.as_of)
    record = existing.get(key)
    if record is None:
        now = utcnow()
        record = LineTypeRecord(
            number=item.number,
            line_type=item.line_type,
            source=item.source,
            as_of=item.as_of,
            recorded_at=now,
            recorded_by=actor,
        )
        session.add(record)
        session.flush()
        changes.note(session, "line_type", [record.number])
    audit.record(
        session=session,
        type="numbers.line_type.recorded",
        actor=actor,
        actor_role=actor_role,
        subject=phone.parse_e164_int(item.number).e164,
        body={
            "id": record.id,
            "line_type": item.line_type,
            "source": item.source,
            "as_of": item.as_of.isoformat(),
            "duplicate": key in existing,
        },
    )
    return record


def import_line_types(
    *,
    session: Session,
    data: bytes | str,
    fmt: str | None = None,
    source: str | None = None,
    actor: str,
    actor_role: str,
) -> ImportReport:
    """Import a bulk file of line types: all rows or none (ImportRejected lists every bad one)."""
    now = utcnow()
    read = bulk.read_rows(data, fmt, aliases=LINE_TYPE_ALIASES)
    items = bulk.all_or_nothing(
        read.rows,
        read.errors,
        lambda _line, r: parse_line_type_row(r, source=source, now=now),
    )
    return _store_new(
        session,
        items,
        set(_existing_line_types(session, items)),
        lambda it: _line_type_key(it.number, it.line_type, it.source, it.as_of),
        lambda it: {
            "number": it.number,
            "line_type": it.line_type,
            "source": it.source,
            "as_of": it.as_of,
            "recorded_at": now,
            "recorded_by": actor,
        },
        LineTypeRecord,
        "line_type",
        "line_types",
        data=data,
        source=source,
        actor=actor,
        actor_role=actor_role,
    )


def _store_new(
    session: Session,
    items: Sequence[T],
    seen: set[tuple[Any, ...]],
    key: Callable[[T], tuple[Any, ...]],
    values: Callable[[T], dict[str, Any]],
    model: type[LineTypeRecord] | type[CustomerLocation],
    fact: str,
    kind: str,
    *,
    data: bytes | str,
    source: str | None,
    actor: str,
    actor_role: str,
) -> ImportReport:
    """Insert the items not already stored (by `key`), note the change, audit the import."""
    new: list[dict[str, Any]] = []
    for it in items:
        k = key(it)
        if k in seen:
            continue
        seen.add(k)
        new.append(values(it))
    if new:
        session.execute(insert(model), new)
        changes.note(session, fact, [r["number"] for r in new])
    report = ImportReport(kind, len(items), len(new), len(items) - len(new), digest(data))
    audit.record(
        session=session,
        type=f"numbers.{kind}.imported",
        actor=actor,
        actor_role=actor_role,
        subject=f"import:{source or 'file'}"[:200],
        body=report.as_dict(),
    )
    return report


def _line_type_key(number: int, line_type: str, source: str, as_of: datetime) -> tuple[Any, ...]:
    return (number, line_type, source, as_of.astimezone(UTC))


def _existing_line_types(
    session: Session, items: Sequence[LineTypeIn]
) -> dict[tuple[Any, ...], LineTypeRecord]:
    out: dict[tuple[Any, ...], LineTypeRecord] = {}
    numbers = sorted({it.number for it in items})
    for i in range(0, len(numbers), CHUNK):
        q = select(LineTypeRecord).where(LineTypeRecord.number.in_(numbers[i : i + CHUNK]))
        for r in session.scalars(q):
            out.setdefault(_line_type_key(r.number, r.line_type, r.source, r.as_of), r)
    return out


def line_type_history(*, session: Session, number: int) -> list[LineTypeRecord]:
    """Every line-type statement for a number, the one that wins first."""
    rows = session.scalars(select(LineTypeRecord).where(LineTypeRecord.number == number))
    return sorted(rows, key=lambda r: (r.as_of, r.recorded_at, r.id), reverse=True)


# -- locations --------------------------------------------------------------------------------


def add_location(
    *,
    session: Session,
    number: str | int,
    state: str | None = None,
    zip: str | None = None,
    country: str | None = None,
    kind: str | None = None,
    source: str | None = None,
    actor: str,
    actor_role: str,
) -> CustomerLocation:
    """Record a location of the customer behind a number (an identical active one is kept)."""
    item = parse_location_row(
        {
            "number": number,
            "state": state,
            "zip": zip,
            "country": country,
            "kind": kind,
            "source": source,
        },
        source="api",
    )
    existing = _existing_locations(session, [item])
    key = _location_key(item.number, item.country, item.state, item.zip, item.kind)
    record = existing.get(key)
    if record is None:
        record = CustomerLocation(
            number=item.number,
            country=item.country,
            state=item.state,
            zip=item.zip,
            kind=item.kind,
            source=item.source,
            recorded_at=utcnow(),
            recorded_by=actor,
        )
        session.add(record)
        session.flush()
        changes.note(session, "location", [record.number])
    audit.record(
        session=session,
        type="numbers.location.recorded",
        actor=actor,
        actor_role=actor_role,
        subject=phone.parse_e164_int(item.number).e164,
        body={
            "id": record.id,
            "country": item.country,
            "state": item.state,
            "zip": item.zip,
            "kind": item.kind,
            "source": item.source,
            "duplicate": key in existing,
        },
    )
    return record


def import_locations(
    *,
    session: Session,
    data: bytes | str,
    fmt: str | None = None,
    source: str | None = None,
    actor: str,
    actor_role: str,
) -> ImportReport:
    """Import a bulk file of locations: all rows or none (ImportRejected lists every bad one)."""
    read = bulk.read_rows(data, fmt, aliases=LOCATION_ALIASES)
    items = bulk.all_or_nothing(
        read.rows,
        read.errors,
        lambda _line, r: parse_location_row(r, source=source or "import"),
    )
    now = utcnow()
    return _store_new(
        session,
        items,
        set(_existing_locations(session, items)),
        lambda it: _location_key(it.number, it.country, it.state, it.zip, it.kind),
        lambda it: {
            "number": it.number,
            "country": it.country,
            "state": it.state,
            "zip": it.zip,
            "kind": it.kind,
            "source": it.source,
            "recorded_at": now,
            "recorded_by": actor,
        },
        CustomerLocation,
        "location",
        "locations",
        data=data,
        source=source,
        actor=actor,
        actor_role=actor_role,
    )


def _location_key(
    number: int, country: str, state: str | None, zip_code: str | None, kind: str
) -> tuple[Any, ...]:
    return (number, country, state, zip_code, kind)


def _existing_locations(
    session: Session, items: Sequence[LocationIn]
) -> dict[tuple[Any, ...], CustomerLocation]:
    """Active locations of the items' numbers, by their identity."""
    out: dict[tuple[Any, ...], CustomerLocation] = {}
    numbers = sorted({it.number for it in items})
    for i in range(0, len(numbers), CHUNK):
        q = select(CustomerLocation).where(
            CustomerLocation.number.in_(numbers[i : i + CHUNK]),
            CustomerLocation.removed_at.is_(None),
        )
        for r in session.scalars(q):
            out.setdefault(_location_key(r.number, r.country, r.state, r.zip, r.kind), r)
    return out


def locations(
    *, session: Session, number: int, include_removed: bool = False
) -> list[CustomerLocation]:
    """A number's customer locations, oldest first (removed ones only when asked)."""
    q = select(CustomerLocation).where(CustomerLocation.number == number)
    if not include_removed:
        q = q.where(CustomerLocation.removed_at.is_(None))
    return list(session.scalars(q.order_by(CustomerLocation.id)))


def remove_location(
    *,
    session: Session,
    location_id: int,
    reason: str | None = None,
    actor: str,
    actor_role: str,
) -> CustomerLocation:
    """Mark a location removed from now on (the row and its history stay; audited)."""
    record = session.get(CustomerLocation, location_id)
    if record is None:
        raise NotFound(f"no customer location {location_id}")
    if record.removed_at is not None:
        raise Conflict(f"location {location_id} was already removed at {record.removed_at}")
    record.removed_at = utcnow()
    session.flush()
    changes.note(session, "location", [record.number])
    audit.record(
        session=session,
        type="numbers.location.removed",
        actor=actor,
        actor_role=actor_role,
        subject=phone.parse_e164_int(record.number).e164,
        body={"id": record.id, "reason": (reason or "")[:2000]},
    )
    return record


def number_view(*, session: Session, number: int, include_removed: bool = False) -> dict[str, Any]:
    """What is known of a number: its line type (and history) and its customer locations."""
    history = line_type_history(session=session, number=number)
    return {
        "number": phone.parse_e164_int(number).e164,
        "line_type": history[0].line_type if history else None,
        "line_types": [line_type_view(r) for r in history],
        "locations": [
            location_view(r)
            for r in locations(session=session, number=number, include_removed=include_removed)
        ],
    }


def line_type_view(r: LineTypeRecord) -> dict[str, Any]:
    """A line-type row as plain data."""
    return {
        "id": r.id,
        "number": phone.parse_e164_int(r.number).e164,
        "line_type": r.line_type,
        "source": r.source,
        "as_of": r.as_of,
        "recorded_at": r.recorded_at,
        "recorded_by": r.recorded_by,
    }


def location_view(r: CustomerLocation) -> dict[str, Any]:
    """A location row as plain data."""
    return {
        "id": r.id,
        "number": phone.parse_e164_int(r.number).e164,
        "country": r.country,
        "state": r.state,
        "zip": r.zip,
        "kind": r.kind,
        "source": r.source,
        "recorded_at": r.recorded_at,
        "recorded_by": r.recorded_by,
        "removed_at": r.removed_at,
    }


# -- loaders for the gate ---------------------------------------------------------------------


def line_types_query(
    numbers: Sequence[int], *, known_at: datetime | None = None
) -> Query[dict[int, str]]:
    """`load_line_types` as a query, to be sent with other loaders' (`db.run_queries`)."""

    def parse(rows: Iterable[Any]) -> dict[int, str]:
        best: dict[int, tuple[datetime, datetime, int, str]] = {}
        for number, line_type, as_of, recorded_at, row_id in rows:
            recorded = driver_time(recorded_at)
            if known_at is not None and recorded > known_at:
                continue
            rank = (driver_time(as_of), recorded, int(row_id), str(line_type))
            if number not in best or rank > best[number]:
                best[int(number)] = rank
        return {n: r[3] for n, r in best.items()}

    sql = "SELECT number, line_type, as_of, recorded_at, id FROM number_line_types"
    return Query(in_chunks(sql + " WHERE number IN ({marks})", numbers), parse)


def load_line_types(
    session: Reader, numbers: Sequence[int], *, known_at: datetime | None = None
) -> dict[int, str]:
    """Each number's line type by the statement with the newest as_of; unknown numbers absent.

    With ``known_at``, only statements recorded by then count (replay).
    """
    return run_query(session, line_types_query(numbers, known_at=known_at))


def locations_query(
    numbers: Sequence[int], *, known_at: datetime | None = None
) -> Query[dict[int, list[LocationFact]]]:
    """`load_locations` as a query, to be sent with other loaders' (`db.run_queries`)."""
    cutoff = known_at or utcnow()

    def parse(rows: Iterable[Any]) -> dict[int, list[LocationFact]]:
        out: dict[int, list[LocationFact]] = {}
        for number, country, state, zip_code, recorded_at, removed_at in rows:
            if known_at is not None and driver_time(recorded_at) > known_at:
                continue
            if removed_at is not None and driver_time(removed_at) <= cutoff:
                continue
            fact = LocationFact(country=country, state=state, zip=zip_code)
            facts = out.setdefault(int(number), [])
            if fact not in facts:
                facts.append(fact)
        return out

    sql = "SELECT number, country, state, zip, recorded_at, removed_at FROM customer_locations"
    # by number, then in the order recorded (ids rise with it)
    return Query(in_chunks(sql + " WHERE number IN ({marks}) ORDER BY number, id", numbers), parse)


def load_locations(
    session: Reader, numbers: Sequence[int], *, known_at: datetime | None = None
) -> dict[int, list[LocationFact]]:
    """Each number's customer locations, without those removed at or before known_at (or now).

    Numbers with no location are absent. Identical locations (a mailing and a billing address
    in the same place) appear once.
    """
    return run_query(session, locations_query(numbers, known_at=known_at))
