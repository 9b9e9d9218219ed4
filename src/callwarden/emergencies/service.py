"""Declared states of emergency and seller registrations: record, list, end, and the loaders.

Emergencies feed the Louisiana ban on telemarketing during a declared state of emergency
(La. R.S. 45:844.31; LPSC GO R-29617 §V(A)): an operator records it as posted by the LPSC
(https://lpsc.louisiana.gov/DNC_Emergency), from ``starts_at`` until ``ends_at`` (open-ended
until ended). Registrations feed rules such as Texas's registration before telephone
solicitation (Tex. Bus. & Com. Code ch. 302, texts included since 2025-09-01), valid on
``[valid_from, valid_to)``.

A jurisdiction is a country (``US``) or a country and subdivision (``US-LA``, ``CA-ON``); for
US and CA the subdivision must exist.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from callwarden import bulk
from callwarden.audit import service as audit
from callwarden.db import Reader, driver_time, fetch_all, utcnow
from callwarden.emergencies.models import Emergency, EmergencyEnd, SellerRegistration
from callwarden.errors import Conflict, NotFound, ValidationFailed
from callwarden.gate import changes
from callwarden.gate.facts import EmergencyFact, RegistrationFact
from callwarden.numbers.service import SUBDIVISIONS

_JURISDICTION = re.compile(r"[A-Z]{2}(?:-[A-Z]{2})?")
MAX_DESCRIPTION = 2000
MAX_REFERENCE = 300
MAX_NAME = 200


def parse_jurisdiction(value: Any, field: str = "jurisdiction") -> str:
    """``CC`` or ``CC-SS`` (upper-cased), with a known subdivision for US and CA."""
    raw = bulk.text(value, field, max_len=8)
    if raw is None:
        raise ValidationFailed(f"{field} is required, e.g. US-LA", field=field)
    code = raw.upper()
    if not _JURISDICTION.fullmatch(code):
        raise ValidationFailed(
            f"{field} must be a country (US) or country-subdivision code (US-LA), not {raw!r}",
            field=field,
        )
    country, _, sub = code.partition("-")
    if sub and country in SUBDIVISIONS and sub not in SUBDIVISIONS[country]:
        raise ValidationFailed(f"{field}: {sub!r} is not a subdivision of {country}", field=field)
    return code


def _aware(value: datetime, field: str) -> datetime:
    if not isinstance(value, datetime):
        raise ValidationFailed(f"{field} must be a date-time", field=field)
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationFailed(
            f"{field} needs a time zone, e.g. 2026-08-28T00:00:00-05:00", field=field
        )
    return value.astimezone(UTC)


# -- emergencies ------------------------------------------------------------------------------


def add_emergency(
    *,
    session: Session,
    jurisdiction: str,
    starts_at: datetime,
    ends_at: datetime | None = None,
    description: str,
    reference: str | None = None,
    actor: str,
    actor_role: str,
) -> Emergency:
    """Record a declared state of emergency (audited)."""
    code = parse_jurisdiction(jurisdiction)
    start = _aware(starts_at, "starts_at")
    end = _aware(ends_at, "ends_at") if ends_at is not None else None
    if end is not None and end <= start:
        raise ValidationFailed("ends_at must be after starts_at", field="ends_at")
    text = bulk.required_text(description, "description", max_len=MAX_DESCRIPTION)
    ref = bulk.text(reference, "reference", max_len=MAX_REFERENCE)
    row = Emergency(
        jurisdiction=code,
        starts_at=start,
        ends_at=end,
        description=text,
        reference=ref,
        recorded_at=utcnow(),
        recorded_by=actor,
    )
    session.add(row)
    session.flush()
    changes.note(session, "emergency")
    audit.record(
        session=session,
        type="emergencies.added",
        actor=actor,
        actor_role=actor_role,
        subject=f"emergency:{row.id}",
        body=emergency_view(row),
    )
    return row


def list_emergencies(
    *, session: Session, active_at: datetime | None = None, jurisdiction: str | None = None
) -> list[Emergency]:
    """Recorded emergencies, the latest start first; only those active at `active_at` if given."""
    q = select(Emergency).order_by(Emergency.starts_at.desc(), Emergency.id.desc())
    if jurisdiction is not None:
        q = q.where(Emergency.jurisdiction == parse_jurisdiction(jurisdiction))
    rows = list(session.scalars(q))
    if active_at is not None:
        at = _aware(active_at, "active_at")
        rows = [r for r in rows if _active(r.starts_at, r.ends_at, at)]
    return rows


def end_emergency(
    *,
    session: Session,
    emergency_id: int,
    at: datetime | None = None,
    actor: str,
    actor_role: str,
) -> Emergency:
    """End an emergency at `at` (default now); it may end early, not be extended (audited)."""
    row = session.get(Emergency, emergency_id)
    if row is None:
        raise NotFound(f"no emergency {emergency_id}")
    now = utcnow()
    end = _aware(at, "at") if at is not None else now
    if end <= row.starts_at:
        raise ValidationFailed(
            f"the end must be after the start ({row.starts_at.isoformat()})", field="at"
        )
    previous = row.ends_at
    if previous is not None and previous <= now:
        raise Conflict(f"emergency {emergency_id} already ended at {previous.isoformat()}")
    if previous is not None and end > previous:
        raise Conflict(
            f"emergency {emergency_id} ends at {previous.isoformat()}; "
            "record a new emergency for an extension"
        )
    row.ends_at = end
    session.add(
        EmergencyEnd(
            emergency_id=row.id,
            ends_at=end,
            previous_ends_at=previous,
            recorded_at=now,
            recorded_by=actor,
        )
    )
    session.flush()
    changes.note(session, "emergency")
    audit.record(
        session=session,
        type="emergencies.ended",
        actor=actor,
        actor_role=actor_role,
        subject=f"emergency:{row.id}",
        body={
            "id": row.id,
            "jurisdiction": row.jurisdiction,
            "ends_at": end.isoformat(),
            "previous_ends_at": previous.isoformat() if previous else None,
        },
    )
    return row


def emergency_view(r: Emergency) -> dict[str, Any]:
    """An emergency as plain data."""
    return {
        "id": r.id,
        "jurisdiction": r.jurisdiction,
        "starts_at": r.starts_at,
        "ends_at": r.ends_at,
        "description": r.description,
        "reference": r.reference,
        "recorded_at": r.recorded_at,
        "recorded_by": r.recorded_by,
    }


def _active(starts_at: datetime, ends_at: datetime | None, at: datetime) -> bool:
    return starts_at <= at and (ends_at is None or at < ends_at)


def load_emergencies(
    session: Reader, *, at: datetime | None, known_at: datetime | None = None
) -> list[EmergencyFact]:
    """Emergencies active at `at` (starts_at <= at < ends_at, or no end; None: all), oldest first.

    With ``known_at`` (replay), only emergencies recorded by then count, each with the end that
    was on record then: an end brought forward later is not seen.
    """
    at = _aware(at, "at") if at is not None else None
    rows = fetch_all(
        session,
        "SELECT id, jurisdiction, starts_at, ends_at, description, recorded_at FROM emergencies",
    )
    ends = _ends_known_at(session, known_at) if known_at is not None else {}
    out: list[EmergencyFact] = []
    for row_id, code, starts, ends_now, text, recorded in rows:
        if known_at is not None and driver_time(recorded) > known_at:
            continue
        start = driver_time(starts)
        end = driver_time(ends_now) if ends_now is not None else None
        end = ends.get(int(row_id), end)
        if at is None or _active(start, end, at):
            out.append(EmergencyFact(int(row_id), str(code), start, end, str(text)))
    out.sort(key=lambda e: (e.starts_at, e.id))
    return out


def _ends_known_at(session: Reader, known_at: datetime) -> dict[int, datetime | None]:
    # Each changed emergency's end as it stood at known_at: the last end recorded by then,
    # or, when every change came later, the end it had before the first of them.
    history = fetch_all(
        session,
        "SELECT emergency_id, ends_at, previous_ends_at, recorded_at FROM emergency_ends"
        " ORDER BY emergency_id, recorded_at, id",
    )
    out: dict[int, datetime | None] = {}
    for emergency_id, ends_at, previous, recorded in history:
        key = int(emergency_id)
        if driver_time(recorded) <= known_at:
            out[key] = driver_time(ends_at)
        elif key not in out:
            out[key] = driver_time(previous) if previous is not None else None
    return out


# -- seller registrations ---------------------------------------------------------------------


def add_registration(
    *,
    session: Session,
    seller: str,
    jurisdiction: str,
    registration_id: str,
    valid_from: date,
    valid_to: date | None = None,
    actor: str,
    actor_role: str,
) -> SellerRegistration:
    """Record a seller's registration in a jurisdiction (an identical one is kept; audited)."""
    name = bulk.required_text(seller, "seller", max_len=MAX_NAME)
    code = parse_jurisdiction(jurisdiction)
    reg_id = bulk.required_text(registration_id, "registration_id", max_len=MAX_NAME)
    for field, value in (("valid_from", valid_from), ("valid_to", valid_to)):
        if value is not None and (isinstance(value, datetime) or not isinstance(value, date)):
            raise ValidationFailed(f"{field} must be a date", field=field)
    if valid_to is not None and valid_to <= valid_from:
        raise ValidationFailed("valid_to must be after valid_from", field="valid_to")
    q = select(SellerRegistration).where(
        SellerRegistration.seller == name,
        SellerRegistration.jurisdiction == code,
        SellerRegistration.registration_id == reg_id,
        SellerRegistration.valid_from == valid_from,
        SellerRegistration.valid_to.is_(None)
        if valid_to is None
        else SellerRegistration.valid_to == valid_to,
    )
    row = session.scalars(q).first()
    duplicate = row is not None
    if row is None:
        row = SellerRegistration(
            seller=name,
            jurisdiction=code,
            registration_id=reg_id,
            valid_from=valid_from,
            valid_to=valid_to,
            recorded_at=utcnow(),
            recorded_by=actor,
        )
        session.add(row)
        session.flush()
        changes.note(session, "registration")
    audit.record(
        session=session,
        type="registrations.added",
        actor=actor,
        actor_role=actor_role,
        subject=f"seller:{name}"[:200],
        body={**registration_view(row), "duplicate": duplicate},
    )
    return row


def list_registrations(
    *, session: Session, seller: str | None = None, jurisdiction: str | None = None
) -> list[SellerRegistration]:
    """Recorded registrations by seller, then jurisdiction, the latest first."""
    q = select(SellerRegistration).order_by(
        SellerRegistration.seller,
        SellerRegistration.jurisdiction,
        SellerRegistration.valid_from.desc(),
        SellerRegistration.id.desc(),
    )
    if seller is not None:
        q = q.where(SellerRegistration.seller == seller.strip())
    if jurisdiction is not None:
        q = q.where(SellerRegistration.jurisdiction == parse_jurisdiction(jurisdiction))
    return list(session.scalars(q))


def registration_view(r: SellerRegistration) -> dict[str, Any]:
    """A registration as plain data."""
    return {
        "id": r.id,
        "seller": r.seller,
        "jurisdiction": r.jurisdiction,
        "registration_id": r.registration_id,
        "valid_from": r.valid_from,
        "valid_to": r.valid_to,
        "recorded_at": r.recorded_at,
        "recorded_by": r.recorded_by,
    }


def load_registrations(
    session: Reader, sellers: Sequence[str], *, known_at: datetime | None = None
) -> list[RegistrationFact]:
    """Every registration of the sellers (whatever its validity dates; the gate checks them).

    With ``known_at``, only registrations recorded by then count (replay).
    """
    names = sorted({s.strip() for s in sellers if s and s.strip()})
    out: list[RegistrationFact] = []
    for i in range(0, len(names), 500):
        chunk = names[i : i + 500]
        marks = ", ".join("?" * len(chunk))
        rows = fetch_all(
            session,
            "SELECT seller, jurisdiction, registration_id, valid_from, valid_to, recorded_at"
            f" FROM seller_registrations WHERE seller IN ({marks}) ORDER BY id",
            tuple(chunk),
        )
        for seller, code, reg_id, valid_from, valid_to, recorded in rows:
            if known_at is not None and driver_time(recorded) > known_at:
                continue
            fact = RegistrationFact(
                seller=str(seller),
                jurisdiction=str(code),
                registration_id=str(reg_id),
                valid_from=_day(valid_from),
                valid_to=_day(valid_to) if valid_to is not None else None,
            )
            if fact not in out:
                out.append(fact)
    return out


def _day(value: Any) -> date:
    """A date read through the driver (SQLite gives text)."""
    if isinstance(value, str):
        return date.fromisoformat(value)
    if not isinstance(value, date):
        raise TypeError(f"not a date: {value!r}")
    return value


# -- bulk -------------------------------------------------------------------------------------

EMERGENCY_FIELDS = ("jurisdiction", "starts_at", "ends_at", "description", "reference")
REGISTRATION_FIELDS = ("seller", "jurisdiction", "registration_id", "valid_from", "valid_to")


def _emergency_row(row: Mapping[str, Any]) -> dict[str, Any]:
    c = bulk.FieldChecks(row)
    out = {
        "jurisdiction": c.get("jurisdiction", parse_jurisdiction),
        "starts_at": c.get("starts_at", bulk.required_instant, "starts_at"),
        "ends_at": c.get("ends_at", bulk.instant, "ends_at", required=False),
        "description": c.get("description", bulk.required_text, "description"),
        "reference": c.get("reference", bulk.text, "reference", max_len=300),
    }
    c.done()
    return out


def _registration_row(row: Mapping[str, Any]) -> dict[str, Any]:
    c = bulk.FieldChecks(row)
    out = {
        "seller": c.get("seller", bulk.required_text, "seller"),
        "jurisdiction": c.get("jurisdiction", parse_jurisdiction),
        "registration_id": c.get("registration_id", bulk.required_text, "registration_id"),
        "valid_from": c.get("valid_from", bulk.required_day, "valid_from"),
        "valid_to": c.get("valid_to", bulk.day, "valid_to", required=False),
    }
    c.done()
    return out


def import_emergencies(
    *, session: Session, data: bytes | str, fmt: str | None = None, actor: str, actor_role: str
) -> int:
    """Record every emergency of a file, or none (ImportRejected lists each bad row)."""
    rows = _checked_rows(data, fmt, EMERGENCY_FIELDS, _emergency_row)
    for row in rows:
        add_emergency(session=session, actor=actor, actor_role=actor_role, **row)
    return len(rows)


def import_registrations(
    *, session: Session, data: bytes | str, fmt: str | None = None, actor: str, actor_role: str
) -> int:
    """Record every registration of a file, or none (ImportRejected lists each bad row)."""
    rows = _checked_rows(data, fmt, REGISTRATION_FIELDS, _registration_row)
    for row in rows:
        add_registration(session=session, actor=actor, actor_role=actor_role, **row)
    return len(rows)


def _checked_rows(
    data: bytes | str,
    fmt: str | None,
    fields: Sequence[str],
    check: Callable[[Mapping[str, Any]], dict[str, Any]],
) -> list[dict[str, Any]]:
    # every row of the file checked, or ImportRejected listing each bad one
    read = bulk.read_rows(data, fmt, fields=fields)
    return bulk.all_or_nothing(read.rows, read.errors, lambda _line, r: check(r))
