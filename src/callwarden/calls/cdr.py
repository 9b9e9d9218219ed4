"""Call detail records (CDRs) as CSV or JSON lines: rows in, call records or row errors out.

Parsing is pure (no database, no clock); files are read by `callwarden.bulk`. Every bad row is
reported with its line number and field, so an import can refuse the whole file and say exactly
what to fix. The parsers never raise on bad input: anything they cannot read becomes a
`RowError`. The only exception they raise is `ValidationFailed` for an unknown format name.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, NamedTuple

from callwarden import bulk, phone
from callwarden.bulk import FieldChecks, InvalidRecord, RowError
from callwarden.errors import ValidationFailed

CHANNELS = ("voice", "sms")
PURPOSES = ("telemarketing", "informational", "debt_collection")
TECHNOLOGIES = ("manual", "autodialer", "prerecorded", "artificial_voice")
# busy is kept as its own word (dialers report it) but, like not_connected, it never reached
# the dialed number: Reg F does not count it as a call placed (12 CFR 1006.14(b)(3)).
OUTCOMES = ("not_connected", "busy", "no_answer", "voicemail", "answered", "abandoned")
NOT_CONNECTED = frozenset({"not_connected", "busy"})
BY_PERSON = frozenset({"answered", "abandoned"})
FORMATS = ("csv", "jsonl")

FIELDS = (
    "number",
    "at",
    "seller",
    "campaign",
    "subject",
    "debt_id",
    "channel",
    "purpose",
    "technology",
    "outcome",
    "conversation",
    "dnc_request",
    "disposition",
    "duration_seconds",
    "caller_id",
    "external_id",
    "decision_id",
)
ALIASES = {
    "to": "number",
    "called_number": "number",
    "start_time": "at",
    "call_id": "external_id",
}
# A record confirming a gate reservation (decision_id) may leave these to the reservation.
REQUIRED_WITHOUT_DECISION = ("number", "at", "seller", "channel", "purpose", "technology")
MAX_TEXT = {
    "seller": 200,
    "campaign": 200,
    "subject": 200,
    "debt_id": 200,
    "disposition": 100,
    "external_id": 200,
    "decision_id": 36,
}
MAX_DURATION = 2_147_483_647  # the column is a 32-bit integer

_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})
# Unix seconds have 9 to 11 digits from 1973 to 5138; fewer digits are a mistake ("2026").
_UNIX = re.compile(r"^[0-9]{9,11}(\.[0-9]{1,9})?$")
_UNIX_MIN = 100_000_000


@dataclass(frozen=True, slots=True, kw_only=True)
class CallRecord:
    """One parsed call record; `line` is where it came from (file line, or list position)."""

    line: int
    outcome: str
    number: int | None = None
    at: datetime | None = None
    seller: str | None = None
    campaign: str | None = None
    subject: str | None = None
    debt_id: str | None = None
    channel: str | None = None
    purpose: str | None = None
    technology: str | None = None
    conversation: bool = False
    dnc_request: bool = False
    disposition: str | None = None
    duration_seconds: int | None = None
    caller_id: str | None = None
    external_id: str | None = None
    decision_id: str | None = None


class Parsed(NamedTuple):
    """The records read, the errors found, and CSV columns that were not used."""

    rows: list[CallRecord]
    errors: list[RowError]
    ignored_columns: list[str]


def flags(outcome: str | None) -> dict[str, bool]:
    """The outcome's derived flags; an unknown (pending) outcome is connected (fail closed)."""
    return {
        "connected": outcome not in NOT_CONNECTED,
        "answered_by_person": outcome in BY_PERSON,
        "abandoned": outcome == "abandoned",
        "voicemail": outcome == "voicemail",
    }


def parse(data: bytes | str, fmt: str, *, max_rows: int = bulk.MAX_ROWS) -> Parsed:
    """Parse a CDR file in `fmt` (csv or jsonl)."""
    if fmt == "csv":
        return parse_csv(data, max_rows=max_rows)
    if fmt == "jsonl":
        return parse_jsonl(data, max_rows=max_rows)
    raise ValidationFailed(f"format must be one of {', '.join(FORMATS)}", field="format")


_KNOWN = (*FIELDS, *ALIASES)


# An ignored column that looks like a Do-Not-Call flag is refused, not ignored: a request
# under another name must not vanish from the internal list (64.1200(d)(3)).
_DNC_LIKE = re.compile(r"dnc|do_?not_?call|opt_?out|optout|unsubscribe|stop_?request")


def parse_csv(data: bytes | str, *, max_rows: int = bulk.MAX_ROWS) -> Parsed:
    """Parse a CSV with a header row; unknown columns are ignored (and listed)."""
    read = bulk.read_rows(data, "csv", fields=_KNOWN, max_rows=max_rows)
    missing = _missing_columns(read.columns)
    missing += [
        RowError(1, name, f"column {name!r} looks like a Do-Not-Call flag: name it dnc_request")
        for name in read.ignored
        if _DNC_LIKE.search(name)
    ]
    if missing:
        return Parsed([], [*read.errors, *missing], read.ignored)
    return _records(read, read.ignored)


def _missing_columns(columns: Sequence[str]) -> list[RowError]:
    """The header's missing columns: outcome, and the rest unless a decision_id column."""
    if not columns:
        return []
    out = [] if "outcome" in columns else [RowError(1, "outcome", "missing column 'outcome'")]
    if "decision_id" in columns:
        return out
    for field in REQUIRED_WITHOUT_DECISION:
        names = [field, *(a for a, f in ALIASES.items() if f == field)]
        if not any(n in columns for n in names):
            out.append(RowError(1, field, f"missing column {' or '.join(map(repr, names))}"))
    return out


def parse_jsonl(data: bytes | str, *, max_rows: int = bulk.MAX_ROWS) -> Parsed:
    """Parse JSON lines: one call object per line; blank lines are skipped."""
    return _records(bulk.read_rows(data, "jsonl", fields=_KNOWN, max_rows=max_rows), [])


def parse_objects(items: Sequence[Any]) -> Parsed:
    """Parse decoded JSON call objects; each record's `line` is its position from 1."""
    return _records(bulk.read_objects(items, fields=_KNOWN), [])


def parse_object(obj: Any, *, line: int) -> tuple[CallRecord | None, list[RowError]]:
    """One JSON call object; unknown keys are errors (a misspelt dnc_request must not vanish)."""
    rows, errors, _ = _records(bulk.read_objects([obj], fields=_KNOWN, first=line), [])
    return (rows[0] if rows else None), errors


def _records(read: bulk.Rows, ignored: list[str]) -> Parsed:
    rows, errors = bulk.check_rows(read.rows, read.errors, lambda line, obj: parse_row(obj, line))
    return Parsed(rows, errors, ignored)


def parse_record(obj: Mapping[str, Any], *, line: int) -> tuple[CallRecord | None, list[RowError]]:
    """Validate one row (CSV strings or JSON values); all of its errors at once."""
    try:
        return parse_row(obj, line), []
    except InvalidRecord as exc:
        return None, [RowError(line, f, m) for f, m in exc.errors]


def parse_row(obj: Mapping[str, Any], line: int) -> CallRecord:
    """One row as a call record, or InvalidRecord listing every bad field."""
    c = FieldChecks()
    raw: dict[str, Any] = {}
    for key, value in obj.items():
        name = ALIASES.get(key, key)
        if bulk.blank(value):
            continue
        if name in raw and raw[name] != value:
            c.fail(name, f"{name} is given twice with different values")
            continue
        raw[name] = value

    values: dict[str, Any] = {}

    def check(name: str, parse: Callable[[Any], Any]) -> None:
        if name in raw:
            got = c(lambda: parse(raw[name]))
            if got is not None:
                values[name] = got

    for name, limit in MAX_TEXT.items():
        check(name, partial(bulk.text, field=name, max_len=limit))
    for name, allowed in (
        ("channel", CHANNELS),
        ("purpose", PURPOSES),
        ("technology", TECHNOLOGIES),
    ):
        check(name, partial(bulk.choice, allowed=allowed, field=name))
    if "outcome" in raw:
        check("outcome", _outcome)
    else:
        c.fail("outcome", f"outcome is required: one of {', '.join(OUTCOMES)}")
    check("number", bulk.parse_number)
    check("caller_id", partial(bulk.parse_number, field="caller_id"))
    check("at", _time)
    for name in ("conversation", "dnc_request"):
        values[name] = False
        check(name, partial(_bool, name=name))
    check("duration_seconds", _duration)

    if "decision_id" not in raw:
        for name in REQUIRED_WITHOUT_DECISION:
            if name not in raw:
                c.fail(name, f"{name} is required (unless the record names a decision_id)")
    outcome = values.get("outcome")
    if values.get("conversation") and outcome is not None and outcome not in BY_PERSON:
        c.fail("conversation", "a conversation needs a live person: outcome answered or abandoned")
    c.done()
    if "caller_id" in values:
        values["caller_id"] = phone.parse_e164_int(values["caller_id"]).e164
    return CallRecord(line=line, **values)


def _outcome(value: Any) -> str:
    word = bulk.column_key(value) if isinstance(value, str) else value
    return bulk.choice(word, OUTCOMES, "outcome")


def _time(value: Any) -> datetime:
    message = "at must be an ISO 8601 date-time with a UTC offset, or Unix seconds"
    seconds: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and _UNIX.match(value.strip()):
        seconds = float(value.strip())
    elif isinstance(value, str):
        try:
            stamp = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValidationFailed(message, field="at") from None
        if stamp.tzinfo is None or stamp.utcoffset() is None:
            raise ValidationFailed(
                "at needs a UTC offset, e.g. 2026-11-28T14:00:00-05:00", field="at"
            )
        try:
            return stamp.astimezone(UTC)
        except (OverflowError, ValueError):
            raise ValidationFailed("at is out of range", field="at") from None
    if seconds is None or not math.isfinite(seconds) or seconds < _UNIX_MIN:
        raise ValidationFailed(message, field="at")
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise ValidationFailed(
            "at is out of range (Unix seconds, not milliseconds)", field="at"
        ) from None


def _bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower() if isinstance(value, str | int) else None
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValidationFailed(f"{name} must be true or false", field=name)


def _duration(value: Any) -> int:
    number: int | None = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        number = int(value.strip())
    if number is None or not 0 <= number <= MAX_DURATION:
        raise ValidationFailed(
            "duration_seconds must be a whole number of seconds, 0 or more",
            field="duration_seconds",
        )
    return number


# -- writing (exports, tests) -------------------------------------------------


def to_object(record: CallRecord) -> dict[str, Any]:
    """A record as a JSON call object (the fields that are set)."""
    out: dict[str, Any] = {}
    for name in FIELDS:
        value = getattr(record, name)
        if value is None:
            continue
        if name == "number":
            value = phone.parse_e164_int(value).e164
        elif name == "at":
            value = value.isoformat()
        out[name] = value
    return out


def to_csv(records: Iterable[CallRecord]) -> str:
    """Records as CSV with every column."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(FIELDS)
    for obj in map(to_object, records):
        writer.writerow(["" if obj.get(n) is None else _csv_value(obj[n]) for n in FIELDS])
    return buf.getvalue()


def _csv_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def to_jsonl(records: Iterable[CallRecord]) -> str:
    """Records as JSON lines."""
    return "".join(json.dumps(obj) + "\n" for obj in map(to_object, records))
