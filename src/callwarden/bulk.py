"""Bulk imports shared by every domain: reading rows, checking values, reporting bad rows.

A bulk file is CSV with a header row, JSON lines (one object per line) or a JSON list of
objects. `read_rows` never raises on bad input: what it cannot read becomes a `RowError`
(line None: the file as a whole). Lines are the file's physical line numbers (the CSV header
is line 1; a record spanning lines is numbered by its first); for a JSON list, the 1-based
position of the item. Column names are matched case-insensitively, with spaces and hyphens
read as ``_``. An empty CSV cell is an absent value; rows with no values are skipped.

Every domain validates all rows before writing anything; when any row is bad,
`ImportRejected` lists every bad row (line, field, message), the API answers 422 with
`bulk_api.rejected_response` and the CLI prints `FILE:LINE: field: message` and exits 2.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NamedTuple, NoReturn, TypeVar, cast

import typer
from pydantic import BaseModel

from callwarden import phone
from callwarden.errors import ValidationFailed

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from callwarden.security.service import Principal

T = TypeVar("T")
R = TypeVar("R")

MAX_SOURCE = 100  # longest data-source name kept
FORMAT_HELP = "csv, jsonl or json; default: from the Content-Type, else from the first character"

FORMATS = ("csv", "jsonl", "json")
MAX_ROWS = 1_000_000
MAX_BODY = 64 << 20
MAX_ERRORS_SHOWN = 1000
# A time a little in the future is clock skew between systems; beyond this it is a mistake.
CLOCK_SKEW = timedelta(minutes=5)

_KEY_SEP = re.compile(r"[\s\-]+")
_JSONL_TYPES = frozenset(
    {
        "application/x-ndjson",
        "application/ndjson",
        "application/jsonl",
        "application/x-jsonlines",
        "application/jsonlines",
        "application/json-lines",
    }
)
_CSV_TYPES = frozenset({"text/csv", "application/csv", "text/plain"})


# -- errors -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RowError:
    """One bad row of a bulk input: where (None: the input as a whole), which field, what."""

    line: int | None
    field: str | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        """Plain data for the API and `--json`."""
        return {"line": self.line, "field": self.field, "message": self.message}

    def __str__(self) -> str:
        where = "file" if self.line is None else f"line {self.line}"
        return f"{where}: {self.field + ': ' if self.field else ''}{self.message}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


class ImportRejected(ValidationFailed):
    """A bulk input with bad rows: nothing was imported; `errors` lists every problem."""

    def __init__(self, errors: Sequence[RowError], *, field: str | None = "rows") -> None:
        rows = len({e.line for e in errors})
        super().__init__(
            f"{_plural(rows, 'bad row')} ({_plural(len(errors), 'problem')}); nothing was imported",
            field=field,
        )
        self.errors = sorted(errors, key=lambda e: -1 if e.line is None else e.line)

    def as_dict(self, limit: int = MAX_ERRORS_SHOWN) -> dict[str, Any]:
        """The HTTP 422 body: the first `limit` errors and how many there are."""
        return {
            "error": self.code,
            "message": self.message,
            "field": self.field,
            "errors": [e.as_dict() for e in self.errors[:limit]],
            "errors_total": len(self.errors),
        }


class InvalidRecord(ValidationFailed):
    """One record with one or more bad fields; `errors` lists (field, message) for each."""

    def __init__(self, errors: Sequence[tuple[str | None, str]]) -> None:
        field, message = errors[0]
        if len(errors) > 1:
            message = "; ".join(f"{f or 'row'}: {m}" for f, m in errors)
        super().__init__(message, field=field)
        self.errors = list(errors)


class FieldChecks:
    """Runs field checks and keeps every failure, so a record reports all its problems at once."""

    def __init__(self, row: Mapping[str, Any] | None = None) -> None:
        self.row: Mapping[str, Any] = row or {}
        self.errors: list[tuple[str | None, str]] = []

    def __call__(self, check: Callable[[], T]) -> T | None:
        """Run one check; its value, or None (and the problem kept) when it fails."""
        try:
            return check()
        except ValidationFailed as exc:
            self.errors.append((exc.field, exc.message))
            return None

    def get(self, field: str, parse: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Parse the row's `field` with `parse(value, *args, **kwargs)`, keeping any failure.

        A failed field reads as None, which never reaches a caller: done() raises first.
        """
        return cast(T, self(lambda: parse(self.row.get(field), *args, **kwargs)))

    def fail(self, field: str, message: str) -> None:
        """Keep a problem found by a check across fields."""
        self.errors.append((field, message))

    def failed(self, *fields: str) -> bool:
        """Whether any of these fields already has a problem."""
        return any(f in fields for f, _ in self.errors)

    def done(self) -> None:
        """Raise InvalidRecord listing every problem kept, if any."""
        if self.errors:
            raise InvalidRecord(self.errors)


def check_rows(
    rows: Iterable[tuple[int, Mapping[str, Any]]],
    errors: Sequence[RowError],
    check: Callable[[int, Mapping[str, Any]], T],
) -> tuple[list[T], list[RowError]]:
    """Check every row: the good ones, and `errors` plus every bad field of every bad row."""
    bad = list(errors)
    out: list[T] = []
    for line, row in rows:
        try:
            out.append(check(line, row))
        except InvalidRecord as exc:
            bad.extend(RowError(line, f, m) for f, m in exc.errors)
        except ValidationFailed as exc:
            bad.append(RowError(line, exc.field, exc.message))
    bad.sort(key=lambda e: -1 if e.line is None else e.line)
    return out, bad


def all_or_nothing(
    rows: Iterable[tuple[int, Mapping[str, Any]]],
    errors: Sequence[RowError],
    check: Callable[[int, Mapping[str, Any]], T],
) -> list[T]:
    """Every row checked, or ImportRejected listing every bad one."""
    good, bad = check_rows(rows, errors, check)
    if bad:
        raise ImportRejected(bad)
    return good


# -- reading ----------------------------------------------------------------------------------


class Rows(NamedTuple):
    """Rows read as (line, record), the rows that could not be read, CSV columns not used."""

    rows: list[tuple[int, dict[str, Any]]]
    errors: list[RowError]
    ignored: list[str]
    columns: list[str]


def column_key(name: str, aliases: Mapping[str, str] | None = None) -> str:
    """A column or key name as matched: lower case, spaces and hyphens as `_`, aliases mapped."""
    key = _KEY_SEP.sub("_", name.strip().lower())
    return (aliases or {}).get(key, key)


def detect_format(text: str) -> str:
    """csv, jsonl or json from the first character: ``[`` a JSON list, ``{`` JSON lines."""
    head = text.lstrip()[:1]
    return "json" if head == "[" else "jsonl" if head == "{" else "csv"


def format_for(name: str | None) -> str | None:
    """The format a file name or a Content-Type names (csv, jsonl or json), else None."""
    lowered = (name or "").lower().split(";")[0].strip()
    if lowered.endswith((".jsonl", ".ndjson")) or lowered in _JSONL_TYPES:
        return "jsonl"
    if lowered.endswith(".json") or lowered == "application/json":
        return "json"
    if lowered.endswith((".csv", ".txt")) or lowered in _CSV_TYPES:
        return "csv"
    return None


def check_format(fmt: str | None, field: str = "format") -> str | None:
    """A format name given by the caller (None: not given), or 422 naming `field`."""
    if fmt is None:
        return None
    chosen = fmt.strip().lower()
    if chosen not in FORMATS:
        raise ValidationFailed(f"{field} must be one of {', '.join(FORMATS)}", field=field)
    return chosen


def decode(data: bytes | str) -> tuple[str | None, RowError | None]:
    """Bytes as UTF-8 text without a byte-order mark, or the line that is not UTF-8."""
    if isinstance(data, str):
        return data.removeprefix("\ufeff"), None
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return None, RowError(line, None, "the file is not UTF-8 text")


def read_rows(
    data: bytes | str,
    fmt: str | None = None,
    *,
    fields: Sequence[str] | None = None,
    aliases: Mapping[str, str] | None = None,
    required: Sequence[str] = (),
    strict_columns: bool = False,
    max_rows: int = MAX_ROWS,
) -> Rows:
    """Rows of a CSV, JSON-lines or JSON-list input (format guessed when None); never raises.

    With `fields`, a JSON key outside them is an error (a misspelt key must not vanish), and
    so is a CSV column when `strict_columns` (else it is ignored and listed). `required`
    columns must be in a CSV header.
    """
    chosen = check_format(fmt)
    text, bad = decode(data)
    if text is None:
        return Rows([], [bad] if bad else [], [], [])
    if not text.strip():
        return Rows([], [RowError(None, None, "the file is empty")], [], [])
    chosen = chosen or detect_format(text)
    known = None if fields is None else frozenset(fields)
    ignored: list[str] = []
    columns: list[str] = []
    items: Iterable[tuple[int, dict[str, Any] | None, RowError | None]]
    if chosen == "csv":
        items = _csv_rows(text, known, aliases, required, strict_columns, ignored, columns)
    else:
        raw = _jsonl_items(text) if chosen == "jsonl" else _json_items(text)
        items = _json_rows(raw, known, aliases)
    rows: list[tuple[int, dict[str, Any]]] = []
    errors: list[RowError] = []
    for line, row, error in items:
        if error is not None:
            errors.append(error)
        elif row is not None and not all(blank(v) for v in row.values()):
            if len(rows) >= max_rows:
                errors.append(RowError(line, None, f"more than {max_rows:,} rows; split the file"))
                break
            rows.append((line, row))
    if not rows and not errors:
        errors.append(RowError(None, None, "the file holds no rows"))
    return Rows(rows, errors, ignored, columns)


_Read = Iterator[tuple[int, dict[str, Any] | None, RowError | None]]


def _csv_rows(
    text: str,
    known: frozenset[str] | None,
    aliases: Mapping[str, str] | None,
    required: Sequence[str],
    strict: bool,
    ignored: list[str],
    columns: list[str],
) -> _Read:
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    start = 1
    try:
        for cells in reader:
            line, start = start, reader.line_num + 1
            if not cells or all(not c.strip() for c in cells):
                continue
            if header is None:
                header = [column_key(h, aliases) for h in cells]
                columns.extend(header)
                problems = list(_header_errors(header, line, known, required, strict, ignored))
                yield from ((line, None, p) for p in problems)
                if problems:
                    return
                continue
            if len(cells) > len(header) and any(c.strip() for c in cells[len(header) :]):
                msg = f"{len(cells)} fields for a header of {len(header)}"
                yield line, None, RowError(line, None, msg)
                continue
            yield (
                line,
                {
                    name: cell
                    for name, cell in zip(header, cells, strict=False)
                    if name and cell.strip() and (known is None or name in known)
                },
                None,
            )
    except csv.Error as exc:
        yield start, None, RowError(start, None, f"unreadable CSV: {exc}")
        return
    if header is None:
        yield 1, None, RowError(None, None, "the file is empty: a header row is needed")


def _header_errors(
    header: list[str],
    line: int,
    known: frozenset[str] | None,
    required: Sequence[str],
    strict: bool,
    ignored: list[str],
) -> Iterator[RowError]:
    seen: set[str] = set()
    for name in header:
        if name in seen:
            yield RowError(line, name, f"repeated column {name!r}")
        seen.add(name)
        if known is not None and name not in known:
            if strict:
                yield RowError(
                    line, name, f"unknown column {name!r}; columns are: {', '.join(sorted(known))}"
                )
            else:
                ignored.append(name)
    for name in required:
        if name not in seen:
            yield RowError(line, name, f"missing column {name!r}")


def _jsonl_items(text: str) -> Iterator[tuple[int, Any, RowError | None]]:
    for line, raw in enumerate(text.split("\n"), 1):
        if not raw.strip():
            continue
        try:
            yield line, json.loads(raw), None
        except (ValueError, RecursionError) as exc:
            yield line, None, RowError(line, None, f"not valid JSON: {exc}")


def _json_items(text: str) -> Iterator[tuple[int, Any, RowError | None]]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        line = getattr(exc, "lineno", 1)
        yield line, None, RowError(line, None, f"not valid JSON: {exc}")
        return
    if not isinstance(value, list):
        yield 1, None, RowError(None, None, "a JSON input must be a list of objects")
        return
    yield from ((i, item, None) for i, item in enumerate(value, 1))


def read_objects(
    objects: Iterable[Any],
    *,
    fields: Sequence[str] | None = None,
    aliases: Mapping[str, str] | None = None,
    first: int = 1,
) -> Rows:
    """Rows of already-decoded JSON objects (a request's list), numbered from `first`."""
    known = None if fields is None else frozenset(fields)
    rows: list[tuple[int, dict[str, Any]]] = []
    errors: list[RowError] = []
    numbered = ((i, obj, None) for i, obj in enumerate(objects, first))
    for line, row, error in _json_rows(numbered, known, aliases):
        if error is not None:
            errors.append(error)
        elif row is not None:
            rows.append((line, row))
    return Rows(rows, errors, [], [])


def _json_rows(
    items: Iterable[tuple[int, Any, RowError | None]],
    known: frozenset[str] | None,
    aliases: Mapping[str, str] | None,
) -> _Read:
    for line, obj, error in items:
        if error is not None:
            yield line, None, error
            continue
        if not isinstance(obj, dict):
            yield line, None, RowError(line, None, "each row must be a JSON object")
            continue
        row: dict[str, Any] = {}
        unknown: list[RowError] = []
        for name, value in obj.items():
            key = column_key(str(name), aliases)
            if known is not None and key not in known:
                shown = str(name)[:100]
                unknown.append(RowError(line, shown, f"unknown field {shown!r}"))
            elif key not in row or blank(row[key]):
                row[key] = value
        if unknown:
            yield from ((line, None, u) for u in unknown)
        else:
            yield line, row, None


# -- values -----------------------------------------------------------------------------------


def blank(value: Any) -> bool:
    """Whether a value is absent: None or blank text."""
    return value is None or (isinstance(value, str) and not value.strip())


def text(
    value: Any, field: str, *, required: bool = False, max_len: int = 200, strip: bool = True
) -> str | None:
    """A text value (a whole number is read as written); None when blank and optional."""
    if blank(value):
        if required:
            raise ValidationFailed(f"{field} is required", field=field)
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValidationFailed(f"{field} must be text", field=field)
    out = str(value).strip() if strip else str(value)
    if len(out) > max_len:
        raise ValidationFailed(f"{field} is at most {max_len} characters", field=field)
    return out


def required_text(value: Any, field: str, *, max_len: int = 200) -> str:
    """A text value that must be there."""
    out = text(value, field, required=True, max_len=max_len)
    assert out is not None
    return out


def choice(value: Any, allowed: Sequence[str], field: str, default: str | None = None) -> str:
    """One value from a closed vocabulary (case-insensitive)."""
    if blank(value):
        if default is not None:
            return default
        raise ValidationFailed(f"{field} is required: one of {', '.join(allowed)}", field=field)
    word = str(value).strip().lower()
    if word not in allowed:
        raise ValidationFailed(f"{field} must be one of {', '.join(allowed)}", field=field)
    return word


def items(value: Any, field: str) -> list[str]:
    """A list given as a JSON array or as text separated by semicolons (CSV cells)."""
    if blank(value):
        return []
    if isinstance(value, str):
        parts: list[Any] = value.split(";")
    elif isinstance(value, list | tuple | set | frozenset):
        parts = list(value)
    else:
        raise ValidationFailed(f"{field} must be a list (or text separated by ;)", field=field)
    out = []
    for p in parts:
        if not isinstance(p, str):
            raise ValidationFailed(f"every item of {field} must be text", field=field)
        if p.strip():
            out.append(p.strip())
    return out


def choices(value: Any, allowed: Sequence[str], field: str) -> tuple[str, ...]:
    """A non-empty subset of a closed vocabulary."""
    picked = [i.lower() for i in items(value, field)]
    if not picked:
        raise ValidationFailed(f"{field} needs at least one of {', '.join(allowed)}", field=field)
    bad = [i for i in picked if i not in allowed]
    if bad:
        raise ValidationFailed(
            f"{field}: {', '.join(map(repr, bad))} not allowed; use {', '.join(allowed)}",
            field=field,
        )
    return tuple(sorted(set(picked)))


def parse_number(value: Any, field: str = "number") -> int:
    """A phone number in any common written form (a JSON number as written), as E.164 digits."""
    raw = text(value, field, required=True, max_len=64)
    assert raw is not None
    try:
        return phone.parse(raw).digits
    except phone.InvalidPhoneNumber as exc:
        raise ValidationFailed(exc.message, field=field) from None


def instant(
    value: Any,
    field: str,
    *,
    required: bool = True,
    allow_date: bool = False,
    not_after: datetime | None = None,
) -> datetime | None:
    """An aware instant (a datetime, or ISO text with a zone) in UTC; None when blank and optional.

    With `allow_date`, a bare date is 00:00 UTC. With `not_after`, later than it (beyond
    CLOCK_SKEW) is refused.
    """
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, date):
        if not allow_date:
            raise ValidationFailed(f"{field} needs a time and a time zone", field=field)
        when = datetime.combine(value, time(0), UTC)
    elif blank(value):
        if required:
            raise ValidationFailed(f"{field} is required (ISO date-time with zone)", field=field)
        return None
    elif isinstance(value, str):
        when = _iso_instant(value.strip(), field, allow_date=allow_date)
    else:
        raise ValidationFailed(f"{field} must be an ISO date-time", field=field)
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValidationFailed(
            f"{field} needs a time zone, e.g. 2026-11-28T14:00:00-05:00 or ...Z", field=field
        )
    when = when.astimezone(UTC)
    if not_after is not None and when > not_after + CLOCK_SKEW:
        raise ValidationFailed(f"{field} is in the future", field=field)
    return when


def required_instant(value: Any, field: str, **kwargs: Any) -> datetime:
    """An instant that must be there (see `instant`)."""
    when = instant(value, field, required=True, **kwargs)
    assert when is not None
    return when


def _iso_instant(raw: str, field: str, *, allow_date: bool) -> datetime:
    if len(raw) <= 10:
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            pass
        else:
            if not allow_date:
                raise ValidationFailed(
                    f"{field} needs a time and a time zone, e.g. {raw}T00:00:00-05:00", field=field
                )
            return datetime.combine(day, time(0), UTC)
    try:
        return datetime.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed(
            f"{field} must be an ISO date-time such as 2026-11-28T14:00:00-05:00, not {raw!r}",
            field=field,
        ) from None


def day(value: Any, field: str, *, required: bool = True) -> date | None:
    """A calendar date (a date, or YYYY-MM-DD text); None when blank and optional."""
    if blank(value):
        if required:
            raise ValidationFailed(f"{field} is required (YYYY-MM-DD)", field=field)
        return None
    if isinstance(value, datetime):
        raise ValidationFailed(f"{field} must be a date (YYYY-MM-DD), not a date-time", field=field)
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValidationFailed(f"{field} must be a date as YYYY-MM-DD, not {value!r}", field=field)


def required_day(value: Any, field: str) -> date:
    """A calendar date that must be there."""
    out = day(value, field)
    assert out is not None
    return out


# -- CLI: the options every import command shares ------------------------------------------

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output")]
FileArg = Annotated[
    Path, typer.Argument(help="CSV (with a header), JSON lines or a JSON list; - = stdin")
]
FormatOpt = Annotated[
    str | None,
    typer.Option("--format", help="csv, jsonl or json (default: file name, else content)"),
]


def read_input(path: Path, fmt: str | None = None) -> tuple[bytes, str | None]:
    """A file's bytes (`-` reads stdin) and its format: --format, else from the file name,
    else None (guessed from the content); or a clear error (exit 2)."""
    import sys

    chosen = check_format(fmt, "--format")
    try:
        data = sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
    except OSError as exc:
        raise ValidationFailed(f"cannot read {path}: {exc.strerror or exc}", field="file") from None
    return data, chosen or format_for(path.name)


def report_rejected(path: Path, exc: ImportRejected, *, as_json: bool = False) -> NoReturn:
    """Print every bad row as `FILE:LINE: field: message` (and the 422 body with --json); exit 2."""
    import typer

    from callwarden import cli

    if as_json:
        cli.print_json(exc.as_dict(limit=len(exc.errors)))
    for e in exc.errors:
        where = f"{path}" if e.line is None else f"{path}:{e.line}"
        field = f" {e.field}:" if e.field else ""
        cli.err.print(f"{where}:{field} {e.message}", soft_wrap=True, markup=False, highlight=False)
    cli.err.print(f"[red]error (rows):[/red] {exc.message}")
    raise typer.Exit(2)


def read_checked(
    path: Path,
    fmt: str | None,
    check: Callable[[bytes, str | None], tuple[list[R], Sequence[RowError]]],
    *,
    as_json: bool = False,
) -> list[R]:
    """A file's rows checked by `check(data, format)`; any bad row listed on stderr (exit 2)."""
    data, chosen = read_input(path, fmt)
    rows, errors = check(data, chosen)
    if errors:
        report_rejected(path, ImportRejected(errors), as_json=as_json)
    return rows


def run_cli_import(
    path: Path, work: Callable[[Session, Principal], T], *, as_json: bool = False
) -> T:
    """`work(session, operator)` in one transaction; ImportRejected lists every bad row (exit 2)."""
    from callwarden import cli
    from callwarden.db import transaction

    _, factory = cli.open_db(upgrade_if_empty=True)
    who = cli.operator()
    try:
        with transaction(factory) as session:
            return work(session, who)
    except ImportRejected as exc:
        report_rejected(path, exc, as_json=as_json)


# -- the report of an import that adds facts (line types, locations, RND answers) ------------


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What a bulk import did."""

    kind: str
    rows: int
    added: int
    duplicates: int
    sha256: str

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return asdict(self)


class ImportOut(BaseModel):
    """What a bulk import did (rows already stored identically count as duplicates)."""

    kind: str
    rows: int
    added: int
    duplicates: int
    sha256: str


def digest(data: bytes | str) -> str:
    """SHA-256 of a file's bytes (evidence of exactly what was imported)."""
    raw = data.encode() if isinstance(data, str) else data
    return hashlib.sha256(raw).hexdigest()


def print_import(
    path: Path, work: Callable[[Session, Principal], ImportReport], *, as_json: bool
) -> None:
    """Run `work(session, operator)` as one all-or-nothing import and print its report."""
    from callwarden import cli

    report = run_cli_import(path, work, as_json=as_json)
    if as_json:
        cli.print_json(report.as_dict())
    else:
        cli.console.print(
            f"imported {path.name}: {report.rows:,} rows, {report.added:,} added, "
            f"{report.duplicates:,} already recorded"
        )
