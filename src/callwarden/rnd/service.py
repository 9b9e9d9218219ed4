"""Reassigned Numbers Database results: record, import, list, and the gate's loader.

An RND query is a number plus a date (when consent was obtained); the FCC database answers
``yes`` (the number was permanently disconnected on or after that date: the consent no longer
reaches the consumer), ``no``, or ``no data`` (47 CFR 64.1200(m); FCC DA 21-1649). The safe
harbor needs a ``no`` from the most recent data, so every answer is kept with when it was
obtained (``queried_at``) and from where (``source``).

Results file layout
-------------------
The FCC's own bulk-query output layout is not public (subscriber-only), so a results file is
CSV with a header row, JSON lines or a JSON list (see ``callwarden.bulk`` for the common
rules: all rows or none, every bad row reported). Columns, case-insensitive:

- ``number`` (or ``phone``, ``phone_number``, ``tn``, ``telephone_number``)
- ``consent_date`` (or ``date``, ``query_date``): ``YYYY-MM-DD``, ``MM/DD/YYYY`` or
  ``YYYYMMDD``, the date formats the RND interfaces take
- ``result`` (or ``answer``, ``response``): ``yes``, ``no`` or ``no data`` (also ``no_data``,
  ``nodata``, ``Y``/``N``, ``true``/``false``); or instead ``is_reassigned`` as resellers
  return it: ``true`` = yes, ``false`` = no, ``null`` = no data
- ``queried_at`` (or ``query_time``, ``queried``): ISO date-time with an offset; when the file
  has none, the import's ``queried_at`` (the moment the operator ran the query) is used
- ``source`` (optional): overrides the import's source for the row
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from callwarden import bulk, phone
from callwarden.audit import service as audit
from callwarden.bulk import CLOCK_SKEW, MAX_SOURCE, FieldChecks, ImportReport, digest
from callwarden.db import Query, Reader, driver_time, in_chunks, run_query, utcnow
from callwarden.errors import ValidationFailed
from callwarden.gate import changes
from callwarden.gate.facts import RndFact
from callwarden.numbers.service import CHUNK
from callwarden.rnd.models import RndResult

__all__ = [
    "RESULTS",
    "RndAnswer",
    "add_result",
    "add_results",
    "import_results",
    "load_rnd",
    "parse_consent_date",
    "parse_result",
    "parse_result_row",
    "parse_results",
    "record_results",
    "result_view",
    "results",
]

RESULTS = ("yes", "no", "no_data")

_RESULT_WORDS = {
    "yes": "yes",
    "y": "yes",
    "true": "yes",
    "no": "no",
    "n": "no",
    "false": "no",
    "no data": "no_data",
    "nodata": "no_data",
}
_REASSIGNED_WORDS = {"true": "yes", "false": "no", "null": "no_data", "none": "no_data"}
_WORD_SEP = re.compile(r"[\s_\-]+")
_US_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_COMPACT_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})")
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")

ALIASES = {
    "phone": "number",
    "phone_number": "number",
    "phonenumber": "number",
    "tn": "number",
    "telephone_number": "number",
    "date": "consent_date",
    "query_date": "consent_date",
    "consentdate": "consent_date",
    "answer": "result",
    "response": "result",
    "isreassigned": "is_reassigned",
    "reassigned": "is_reassigned",
    "query_time": "queried_at",
    "queried": "queried_at",
    "queriedat": "queried_at",
}


@dataclass(frozen=True, slots=True)
class RndAnswer:
    """One answer of the database for (number, consent date); source None = the caller's."""

    number: int
    consent_date: date
    result: str  # yes | no | no_data
    queried_at: datetime
    source: str | None = None


def parse_result(value: Any, field: str = "result") -> str:
    """yes, no or no_data from the words the RND and its resellers use."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    raw = bulk.text(value, field, max_len=32)
    if raw is None:
        raise ValidationFailed(f"{field} is required (yes, no or no data)", field=field)
    word = _RESULT_WORDS.get(_WORD_SEP.sub(" ", raw.lower()))
    if word is None:
        raise ValidationFailed(f"{field} must be yes, no or no data, not {raw!r}", field=field)
    return word


def _parse_reassigned(value: Any, field: str = "is_reassigned") -> str:
    # Resellers' IsReassigned: null is the database's "no data" (formats.md §3).
    if value is None:
        return "no_data"
    if isinstance(value, bool):
        return "yes" if value else "no"
    raw = bulk.text(value, field, max_len=16)
    word = _REASSIGNED_WORDS.get((raw or "").lower())
    if word is None:
        raise ValidationFailed(f"{field} must be true, false or null, not {raw!r}", field=field)
    return word


def parse_consent_date(
    value: Any, field: str = "consent_date", *, today: date | None = None
) -> date:
    """A date as YYYY-MM-DD, MM/DD/YYYY or YYYYMMDD, not in the future."""
    if isinstance(value, datetime):
        raise ValidationFailed(f"{field} must be a date, not a date-time", field=field)
    if isinstance(value, date):
        day = value
    else:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        raw = bulk.text(value, field, max_len=16)
        if raw is None:
            raise ValidationFailed(f"{field} is required", field=field)
        day = _date(raw, field)
    if today is not None and day > today:
        raise ValidationFailed(f"{field} is in the future", field=field)
    return day


def _date(raw: str, field: str) -> date:
    parts: tuple[int, int, int] | None = None
    if m := _ISO_DATE.fullmatch(raw):
        parts = (int(m[1]), int(m[2]), int(m[3]))
    elif m := _US_DATE.fullmatch(raw):
        parts = (int(m[3]), int(m[1]), int(m[2]))
    elif m := _COMPACT_DATE.fullmatch(raw):
        parts = (int(m[1]), int(m[2]), int(m[3]))
    if parts is not None:
        try:
            return date(*parts)
        except ValueError:
            pass
    raise ValidationFailed(
        f"{field} must be a date as YYYY-MM-DD, MM/DD/YYYY or YYYYMMDD, not {raw!r}", field=field
    )


def _parse_source(value: Any, field: str = "source") -> str | None:
    return bulk.text(value, field, max_len=MAX_SOURCE)


def parse_result_row(
    row: Mapping[str, Any], *, queried_at: datetime | None = None, now: datetime | None = None
) -> RndAnswer:
    """Validate one result record (every bad field reported at once)."""
    now = now or utcnow()
    # a consent date "today" in another zone may be tomorrow in UTC
    today = (now + CLOCK_SKEW).astimezone(UTC).date()
    f = FieldChecks(row)
    number = f.get("number", bulk.parse_number)
    consent = f.get("consent_date", parse_consent_date, today=today)
    if row.get("result") in (None, "") and "is_reassigned" in row:
        result = f.get("is_reassigned", _parse_reassigned)
    else:
        result = f.get("result", parse_result)
    if row.get("queried_at") in (None, "") and queried_at is not None:
        when = queried_at
    else:
        when = f.get("queried_at", bulk.required_instant, "queried_at", not_after=now)
    source = f.get("source", _parse_source)
    f.done()
    return RndAnswer(number, consent, result, when, source)


def parse_results(
    data: bytes | str,
    *,
    fmt: str | None = None,
    queried_at: datetime | None = None,
    now: datetime | None = None,
) -> list[RndAnswer]:
    """Every answer of a results file, or ImportRejected listing every bad row."""
    now = now or utcnow()
    if queried_at is not None:
        queried_at = bulk.required_instant(queried_at, "queried_at", not_after=now)
    read = bulk.read_rows(data, fmt, aliases=ALIASES)
    return bulk.all_or_nothing(
        read.rows,
        read.errors,
        lambda _line, r: parse_result_row(r, queried_at=queried_at, now=now),
    )


# -- writes -----------------------------------------------------------------------------------


def _key(
    number: int, consent: date, result: str, queried_at: datetime, source: str
) -> tuple[Any, ...]:
    return (number, consent, result, queried_at.astimezone(UTC), source)


def _plan(
    session: Session, answers: Sequence[RndAnswer], source: str, actor: str
) -> tuple[list[RndResult], list[RndResult]]:
    """Rows for the answers in order (stored ones reused), and those of them that are new."""
    source = source.strip()[:MAX_SOURCE] or "unknown"
    for a in answers:
        if a.result not in RESULTS:
            raise ValidationFailed(
                f"result must be yes, no or no_data, not {a.result!r}", field="result"
            )
        if a.queried_at.tzinfo is None:
            raise ValidationFailed("queried_at needs a time zone", field="queried_at")
    now = utcnow()
    existing = _existing(session, {a.number for a in answers})
    out: list[RndResult] = []
    new: list[RndResult] = []
    for a in answers:
        src = (a.source or source)[:MAX_SOURCE]
        key = _key(a.number, a.consent_date, a.result, a.queried_at, src)
        row = existing.get(key)
        if row is None:
            row = RndResult(
                number=a.number,
                consent_date=a.consent_date,
                result=a.result,
                queried_at=a.queried_at.astimezone(UTC),
                source=src,
                recorded_at=now,
                recorded_by=actor,
            )
            existing[key] = row
            new.append(row)
        out.append(row)
    return out, new


def record_results(
    *,
    session: Session,
    answers: Sequence[RndAnswer],
    source: str,
    actor: str,
    actor_role: str,
) -> list[RndResult]:
    """Store answers in order (an identical stored answer is reused, not repeated).

    The caller audits: it knows whether this is one entry, an import or a provider refresh.
    """
    out, new = _plan(session, answers, source, actor)
    session.add_all(new)
    session.flush()
    changes.note(session, "rnd", [r.number for r in new])
    return out


def _row_dict(r: RndResult) -> dict[str, Any]:
    return {
        "number": r.number,
        "consent_date": r.consent_date,
        "result": r.result,
        "queried_at": r.queried_at,
        "source": r.source,
        "recorded_at": r.recorded_at,
        "recorded_by": r.recorded_by,
    }


def _existing(session: Session, numbers: set[int]) -> dict[tuple[Any, ...], RndResult]:
    out: dict[tuple[Any, ...], RndResult] = {}
    ordered = sorted(numbers)
    for i in range(0, len(ordered), CHUNK):
        q = select(RndResult).where(RndResult.number.in_(ordered[i : i + CHUNK]))
        for r in session.scalars(q):
            out.setdefault(_key(r.number, r.consent_date, r.result, r.queried_at, r.source), r)
    return out


def add_result(
    *,
    session: Session,
    number: str | int,
    consent_date: str | date,
    result: str | bool,
    queried_at: str | datetime | None = None,
    source: str = "api",
    actor: str,
    actor_role: str,
) -> RndResult:
    """Record one RND answer (queried_at defaults to now: the query was just made); audited."""
    now = utcnow()
    answer = parse_result_row(
        {
            "number": number,
            "consent_date": consent_date,
            "result": result,
            "queried_at": queried_at,
            "source": source,
        },
        queried_at=now,
        now=now,
    )
    row = record_results(
        session=session, answers=[answer], source=source, actor=actor, actor_role=actor_role
    )[0]
    audit.record(
        session=session,
        type="rnd.result.recorded",
        actor=actor,
        actor_role=actor_role,
        subject=phone.parse_e164_int(answer.number).e164,
        body={
            "id": row.id,
            "consent_date": answer.consent_date.isoformat(),
            "result": answer.result,
            "queried_at": answer.queried_at.isoformat(),
            "source": row.source,
        },
    )
    return row


def add_results(
    *,
    session: Session,
    rows: Sequence[Mapping[str, Any]],
    source: str = "api",
    actor: str,
    actor_role: str,
) -> list[RndResult]:
    """Record several answers given as records: all or none (ImportRejected lists bad ones).

    A record without queried_at was queried just now, as for ``add_result``.
    """
    now = utcnow()
    answers = bulk.all_or_nothing(
        enumerate(rows, 1),
        [],
        lambda _line, r: parse_result_row(r, queried_at=now, now=now),
    )
    stored = record_results(
        session=session, answers=answers, source=source, actor=actor, actor_role=actor_role
    )
    audit.record_many(
        session=session,
        type="rnd.result.recorded",
        actor=actor,
        actor_role=actor_role,
        subjects=sorted({phone.parse_e164_int(a.number).e164 for a in answers}),
        body={"batch": len(answers), "source": source},
    )
    return stored


def import_results(
    *,
    session: Session,
    data: bytes | str,
    fmt: str | None = None,
    source: str,
    queried_at: datetime | None = None,
    actor: str,
    actor_role: str,
) -> ImportReport:
    """Import a results file: all rows or none (ImportRejected lists every bad one)."""
    answers = parse_results(data, fmt=fmt, queried_at=queried_at)
    _, new = _plan(session, answers, source, actor)
    if new:
        # one executemany: an import can hold many thousands of rows, and nobody needs their ids
        session.execute(insert(RndResult), [_row_dict(r) for r in new])
        changes.note(session, "rnd", [r.number for r in new])
    report = ImportReport(
        "rnd_results", len(answers), len(new), len(answers) - len(new), digest(data)
    )
    audit.record(
        session=session,
        type="rnd.results.imported",
        actor=actor,
        actor_role=actor_role,
        subject=f"import:{source}"[:200],
        body=report.as_dict(),
    )
    return report


# -- reads ------------------------------------------------------------------------------------


def results(*, session: Session, number: int, consent_date: date | None = None) -> list[RndResult]:
    """A number's stored answers, the newest query first."""
    q = select(RndResult).where(RndResult.number == number)
    if consent_date is not None:
        q = q.where(RndResult.consent_date == consent_date)
    return list(session.scalars(q.order_by(RndResult.queried_at.desc(), RndResult.id.desc())))


def result_view(r: RndResult) -> dict[str, Any]:
    """A stored answer as plain data."""
    return {
        "id": r.id,
        "number": phone.parse_e164_int(r.number).e164,
        "consent_date": r.consent_date,
        "result": r.result,
        "queried_at": r.queried_at,
        "source": r.source,
        "recorded_at": r.recorded_at,
        "recorded_by": r.recorded_by,
    }


def rnd_query(
    numbers: Sequence[int], *, known_at: datetime | None = None
) -> Query[dict[int, list[RndFact]]]:
    """`load_rnd` as a query, to be sent with other loaders' (`db.run_queries`)."""

    def parse(rows: Iterable[Any]) -> dict[int, list[RndFact]]:
        out: dict[int, list[RndFact]] = {}
        for number, consent, result, queried, recorded in rows:
            if known_at is not None and driver_time(recorded) > known_at:
                continue
            day = date.fromisoformat(consent) if isinstance(consent, str) else consent
            fact = RndFact(consent_date=day, result=str(result), queried_at=driver_time(queried))
            facts = out.setdefault(int(number), [])
            if fact not in facts:
                facts.append(fact)
        for facts in out.values():
            facts.sort(key=lambda f: (f.queried_at, f.consent_date), reverse=True)
        return out

    sql = "SELECT number, consent_date, result, queried_at, recorded_at FROM rnd_results"
    return Query(in_chunks(sql + " WHERE number IN ({marks})", numbers), parse)


def load_rnd(
    session: Reader, numbers: Sequence[int], *, known_at: datetime | None = None
) -> dict[int, list[RndFact]]:
    """Each number's RND answers, newest query first; numbers never queried are absent.

    With ``known_at``, only answers recorded by then count (replay). A ``yes`` is permanent
    (numbers are never removed from the database), so readers should not let a later answer
    for the same consent date hide it.
    """
    return run_query(session, rnd_query(numbers, known_at=known_at))
