"""Do-Not-Call service functions: lists, imports (snapshots), the internal list, status.

Imports are atomic: the new index is written to a new file and becomes current
in one database transaction, together with its snapshot record and coverage.
A failed or killed import leaves the previous snapshot answering.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import zipfile
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import IO, Any

import numpy as np
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from callwarden import phone
from callwarden.audit import service as audit
from callwarden.config import Settings
from callwarden.db import dialect_name, driver_time, fetch_all, utcnow
from callwarden.dnc.coverage import CoverageMode, coverage_change, coverage_mode
from callwarden.dnc.enums import Channel, ImportFormat, Source
from callwarden.dnc.index import IndexBuilder, ListIndex
from callwarden.dnc.models import (
    DncCoverage,
    DncInternalEntry,
    DncInternalEvent,
    DncList,
    DncNumberChange,
    DncSnapshot,
    DncSnapshotError,
    DncSync,
)
from callwarden.dnc.runtime import DncRuntime, is_stale
from callwarden.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from callwarden.security.roles import Role
from callwarden.security.service import Principal

CHANNELS = tuple(c.value for c in Channel)
SOURCES = tuple(c.value for c in Source)
FORMATS = tuple(c.value for c in ImportFormat)
US_STATES = frozenset(
    [
        "AL",
        "AK",
        "AZ",
        "AR",
        "CA",
        "CO",
        "CT",
        "DE",
        "DC",
        "FL",
        "GA",
        "HI",
        "ID",
        "IL",
        "IN",
        "IA",
        "KS",
        "KY",
        "LA",
        "ME",
        "MD",
        "MA",
        "MI",
        "MN",
        "MS",
        "MO",
        "MT",
        "NE",
        "NV",
        "NH",
        "NJ",
        "NM",
        "NY",
        "NC",
        "ND",
        "OH",
        "OK",
        "OR",
        "PA",
        "RI",
        "SC",
        "SD",
        "TN",
        "TX",
        "UT",
        "VT",
        "VA",
        "WA",
        "WV",
        "WI",
        "WY",
        "PR",
        "VI",
        "GU",
        "AS",
        "MP",
    ]
)
MAX_ERRORS_KEPT = 10_000
CHUNK_BYTES = 32 << 20
PARSE_THREADS = 2
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")

Progress = Callable[[int], None]


# -- lists -----------------------------------------------------------------


@dataclass(frozen=True)
class ListSpec:
    """What a list key means: its kind, code, title and freshness limit."""

    key: str
    kind: str
    code: str
    title: str
    max_age_days: int | None


def list_spec(key: str, *, max_age_days: int = 31) -> ListSpec:
    """Validate a list key (national, canada, internal, state:XX, custom:name)."""
    key = key.strip()
    if key == "national":
        return ListSpec(key, "national", "US", "US National Do Not Call Registry", max_age_days)
    if key == "canada":
        return ListSpec(key, "canada", "CA", "Canada National DNCL", max_age_days)
    if key == "internal":
        return ListSpec(key, "internal", "internal", "Internal Do-Not-Call list", None)
    kind, _, code = key.partition(":")
    if kind == "state":
        code = code.upper()
        if code not in US_STATES:
            raise ValidationFailed(f"unknown state code {code!r}", field="list")
        return ListSpec(
            f"state:{code}", "state", code, f"{code} state Do-Not-Call list", max_age_days
        )
    if kind == "custom":
        code = code.lower()
        if not _SLUG.match(code):
            raise ValidationFailed(
                "custom list names are 1-63 lowercase letters, digits, _ or -", field="list"
            )
        return ListSpec(
            f"custom:{code}", "custom", code, f"Custom suppression list {code}", max_age_days
        )
    raise ValidationFailed(
        f"unknown list {key!r}: use national, canada, state:XX or custom:NAME", field="list"
    )


def ensure_list(*, session: Session, spec: ListSpec) -> DncList:
    """The list row for a spec, created on first use."""
    row = session.scalar(select(DncList).where(DncList.key == spec.key))
    if row is None:
        now = utcnow()
        row = DncList(
            key=spec.key,
            kind=spec.kind,
            code=spec.code,
            title=spec.title,
            max_age_days=spec.max_age_days,
            index_generation=0,
            entries=0,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        session.flush()
    return row


def _bump_sync(session: Session) -> None:
    updated = session.execute(
        update(DncSync).where(DncSync.id == 1).values(generation=DncSync.generation + 1)
    )
    if updated.rowcount == 0:  # type: ignore[attr-defined]
        session.add(DncSync(id=1, generation=1))
        session.flush()


def parse_obtained(value: str | date | datetime) -> datetime:
    """When the data was obtained: a date means the start of that day (UTC), the safe end."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValidationFailed(
                "obtained time needs a time zone (or give a date)", field="obtained"
            )
        return value.astimezone(UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(0), tzinfo=UTC)
    try:
        if len(value.strip()) == 10:
            return datetime.combine(date.fromisoformat(value.strip()), time(0), tzinfo=UTC)
        return parse_obtained(datetime.fromisoformat(value.strip()))
    except ValueError:
        raise ValidationFailed(
            f"obtained must be an ISO date (YYYY-MM-DD) or date-time, not {value!r}",
            field="obtained",
        ) from None


# -- imports ---------------------------------------------------------------


@dataclass
class ImportReport:
    """What an import did, for the CLI and the API."""

    snapshot_id: int
    list_key: str
    kind: str
    format: str
    area_codes: list[int] | None
    obtained_at: datetime
    lines_read: int = 0
    added: int = 0
    deleted: int = 0
    rejected: int = 0
    duplicates: int = 0
    total_after: int = 0
    seconds: float = 0.0
    errors: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Tally:
    lines: int = 0
    added: int = 0
    deleted: int = 0
    rejected: int = 0
    duplicates: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    changes: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)

    def keeps_more(self) -> bool:
        """Whether another rejected line would still be kept in detail."""
        return len(self.errors) < MAX_ERRORS_KEPT

    def bad(self, file: str, line_no: int, content: str, reason: str) -> None:
        self.rejected += 1
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append(
                {"file": file, "line_no": line_no, "content": content[:200], "reason": reason}
            )


def _iter_sources(
    paths: Sequence[Path], archive_dir: Path | None, infos: list[dict[str, Any]]
) -> Iterator[tuple[str, Iterator[bytes]]]:
    """(display name, byte stream) for every plain file and every member of every zip.

    Plain files are hashed (and archived) in the same single pass that parses them; a zip is
    hashed and archived whole first (it is compressed, so that pass is short), and its CRC
    guards the members against truncation.
    """
    for path in paths:
        if zipfile.is_zipfile(path):
            infos.append(_file_info(path, archive_dir))
            with zipfile.ZipFile(path) as zf:
                members = [m for m in zf.infolist() if not m.is_dir()]
                if not members:
                    raise ValidationFailed(f"{path.name}: the zip archive holds no file")
                for m in members:
                    with zf.open(m) as fh:
                        yield f"{path.name}:{m.filename}", _blocks(fh)
        else:
            info: dict[str, Any] = {"name": path.name}
            yield path.name, _teed_blocks(path, archive_dir, info)
            infos.append(info)


def _blocks(fh: IO[bytes]) -> Iterator[bytes]:
    while block := fh.read(CHUNK_BYTES):
        yield block


def _teed_blocks(path: Path, archive_dir: Path | None, info: dict[str, Any]) -> Iterator[bytes]:
    """The file's blocks, hashing them and copying them to the archive on the way."""
    sha = hashlib.sha256()
    size = 0
    dest = None
    if archive_dir is not None:
        archive_dir.mkdir(parents=True, exist_ok=True)
        dest = archive_dir / path.name
    with path.open("rb") as src, dest.open("wb") if dest else open(os.devnull, "wb") as dst:
        while block := src.read(CHUNK_BYTES):
            sha.update(block)
            size += len(block)
            if dest is not None:
                dst.write(block)
            yield block
        if dest is not None:
            dst.flush()
            os.fsync(dst.fileno())
    info.update(bytes=size, sha256=sha.hexdigest(), archived=str(dest) if dest else None)


def _line_chunks(stream: Iterator[bytes]) -> Iterator[bytes | memoryview]:
    """Re-cut a byte stream into pieces of whole lines (the last may lack its newline).

    Big blocks are passed on as views, not copied: only the line that straddles two blocks is
    joined into a small piece of its own.
    """
    carry = b""
    for block in stream:
        start = 0
        if carry:
            nl = block.find(b"\n")
            if nl < 0:
                carry += block
                continue
            yield carry + block[: nl + 1]
            carry = b""
            start = nl + 1
        cut = block.rfind(b"\n")
        if cut < start:
            carry = block[start:]
            continue
        yield memoryview(block)[start : cut + 1]
        carry = block[cut + 1 :]
    if carry:
        yield carry


def _file_info(path: Path, archive_dir: Path | None) -> dict[str, Any]:
    info: dict[str, Any] = {"name": path.name}
    for _ in _teed_blocks(path, archive_dir, info):
        pass
    return info


def _parse_flat(
    paths: Sequence[Path],
    builder: IndexBuilder,
    tally: _Tally,
    *,
    changes: bool,
    progress: Progress | None,
    archive_dir: Path | None,
    infos: list[dict[str, Any]],
) -> None:
    """Parse on worker threads (the parser releases the GIL) and apply in file order here."""
    # imported here: its numba kernels load with it, which commands that import nothing
    # should not wait for
    from callwarden.dnc import flatfile

    parser = flatfile.parse_change_list if changes else flatfile.parse_area_code_flat
    pending: deque[tuple[str, bytes | memoryview, Future[flatfile.ParseResult]]] = deque()
    first: dict[str, int] = {}

    def consume() -> None:
        name, chunk, fut = pending.popleft()
        res = fut.result()
        base = first.get(name, 1) - 1  # chunks were parsed with line numbers from 1
        lines = res.bad_lines.tolist()
        for i, (ln, code) in enumerate(zip(lines, res.bad_reasons.tolist(), strict=True)):
            if not tally.keeps_more():
                tally.rejected += len(lines) - i
                break
            offset = int(res.bad_offsets[i]) if res.bad_offsets is not None else None
            tally.bad(
                name,
                base + ln,
                flatfile.bad_line_text(chunk, ln, offset),
                flatfile.REASONS.get(code, "malformed line"),
            )
        nums = res.numbers
        if changes:
            assert res.ops is not None and res.timestamps is not None
            _apply_changes(builder, nums, res.ops, tally)
            tally.changes.append((nums, res.ops, res.timestamps))
        elif nums.size:
            added = builder.add(nums)
            tally.added += added
            tally.duplicates += int(nums.size) - added
        tally.lines += res.lines
        first[name] = base + 1 + res.lines
        if progress:
            progress(len(chunk))

    with ThreadPoolExecutor(max_workers=PARSE_THREADS) as pool:
        for name, stream in _iter_sources(paths, archive_dir, infos):
            for chunk in _line_chunks(stream):
                pending.append((name, chunk, pool.submit(parser, chunk, 1)))
                if len(pending) > PARSE_THREADS:  # bounded read-ahead keeps memory flat
                    consume()
        while pending:
            consume()


def _apply_changes(builder: IndexBuilder, nums: np.ndarray, ops: np.ndarray, tally: _Tally) -> None:
    """Apply adds and deletes in file order (a number added then deleted ends deleted)."""
    if nums.size == 0:
        return
    bounds = np.flatnonzero(np.diff(ops)) + 1
    for seg_n, seg_o in zip(np.split(nums, bounds), np.split(ops, bounds), strict=True):
        if seg_o[0] > 0:
            tally.added += builder.add(seg_n)
        else:
            tally.deleted += builder.remove(seg_n)


def _parse_numbers(
    paths: Sequence[Path],
    builder: IndexBuilder,
    tally: _Tally,
    *,
    column: str | None,
    progress: Progress | None,
    archive_dir: Path | None,
    infos: list[dict[str, Any]],
) -> None:
    """One number per line (any common format), or a CSV file with the named column."""
    for name, stream in _iter_sources(paths, archive_dir, infos):
        if column is None:
            first = 1
            for chunk in _line_chunks(stream):
                lines = str(chunk, "utf-8", errors="replace").splitlines()
                _add_values(builder, tally, name, lines, first)
                first += len(lines)
                tally.lines += len(lines)
                if progress:
                    progress(len(chunk))
        else:
            data = b"".join(stream)
            _parse_csv_bytes(builder, tally, name, data, column)
            if progress:
                progress(len(data))


def _parse_csv_bytes(
    builder: IndexBuilder, tally: _Tally, name: str, data: bytes, column: str
) -> None:
    import csv
    import io

    reader = csv.reader(io.StringIO(data.decode("utf-8-sig", errors="replace")))
    header = next(reader, None)
    if header is None:
        return
    tally.lines += 1
    names = [h.strip().lower() for h in header]
    if column.strip().lower() not in names:
        raise ValidationFailed(
            f"{name}: no column named {column!r} (columns: {', '.join(header)})", field="column"
        )
    idx = names.index(column.strip().lower())
    values: list[str] = []
    line_nos: list[int] = []
    for row in reader:
        tally.lines += 1
        line_nos.append(reader.line_num)
        values.append(row[idx] if idx < len(row) else "")
    _add_values(builder, tally, name, values, 0, line_nos=line_nos)


def _add_values(
    builder: IndexBuilder,
    tally: _Tally,
    name: str,
    values: Sequence[str],
    first: int,
    *,
    line_nos: Sequence[int] | None = None,
) -> None:
    nums, reasons = phone.normalize_many(values)
    good = np.zeros(len(values), dtype=bool)
    for i, (value, reason) in enumerate(zip(values, reasons, strict=True)):
        ln = line_nos[i] if line_nos is not None else first + i
        if reason is not None:
            tally.bad(name, ln, value, f"invalid number: {reason}")
        elif not (10_000_000_000 <= int(nums[i]) < 20_000_000_000):
            tally.bad(name, ln, value, "not a NANP (+1) number")
        else:
            good[i] = True
    picked = nums[good]
    if picked.size:
        added = builder.add(picked)
        tally.added += added
        tally.duplicates += int(picked.size) - added


def _reap_dead_imports(session: Session, list_id: int) -> None:
    """Mark imports left 'importing' by a process on this host that no longer exists."""
    host = socket.gethostname()
    for snap in session.scalars(
        select(DncSnapshot).where(DncSnapshot.list_id == list_id, DncSnapshot.status == "importing")
    ):
        worker_host, _, pid = (snap.worker or "").rpartition(":")
        if worker_host == host and pid.isdigit() and not _pid_alive(int(pid)):
            snap.status = "failed"
            snap.finished_at = utcnow()
            snap.error = f"the importing process (pid {pid}) ended before finishing"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def import_files(
    *,
    session_factory: sessionmaker[Session],
    settings: Settings,
    list_key: str,
    fmt: str,
    paths: Sequence[Path],
    obtained: str | date | datetime,
    actor: Principal,
    area_codes: Sequence[int] | None = None,
    column: str | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Import registry files as a new snapshot of a list; all or nothing."""
    started = utcnow()
    if fmt not in FORMATS:
        raise ValidationFailed(
            f"unknown format {fmt!r}; one of {', '.join(FORMATS)}", field="format"
        )
    spec = list_spec(list_key, max_age_days=settings.dnc_max_age_days)
    if spec.kind == "internal":
        raise ValidationFailed(
            "the internal list is changed entry by entry, not imported", field="list"
        )
    if fmt == "csv" and not column:
        raise ValidationFailed("a CSV import needs --column NAME", field="column")
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValidationFailed("no files given", field="files")
    for p in paths:
        if not p.is_file():
            raise ValidationFailed(f"{p}: no such file", field="files")
    codes = sorted({int(a) for a in area_codes}) if area_codes else None
    for a in codes or ():
        if not 200 <= a <= 999:
            raise ValidationFailed(f"area code {a} is not a NANP area code", field="area_codes")
    obtained_at = parse_obtained(obtained)
    if obtained_at > started + timedelta(days=1):
        raise ValidationFailed("obtained date is in the future", field="obtained")
    changes = fmt == "ftc_changes"

    with session_factory() as session:
        lst = ensure_list(session=session, spec=spec)
        _reap_dead_imports(session, lst.id)
        base_generation = lst.index_generation
        base_path = lst.index_path
        snap = DncSnapshot(
            list_id=lst.id,
            kind="changes" if changes else "full",
            format=fmt,
            area_codes=json.dumps(codes) if codes is not None else None,
            obtained_at=obtained_at,
            started_at=started,
            status="importing",
            files="[]",
            imported_by=actor.name,
            worker=f"{socket.gethostname()}:{os.getpid()}",
        )
        session.add(snap)
        session.commit()
        snapshot_id = snap.id
        list_id = lst.id

    index_dir = settings.dnc_dir / "index" / spec.key.replace(":", "_")
    index_dir.mkdir(parents=True, exist_ok=True)
    index_file = index_dir / f"{snapshot_id:08d}.idx"
    try:
        archive = (
            settings.dnc_dir / "sources" / f"{snapshot_id:08d}"
            if settings.dnc_archive_sources
            else None
        )
        files: list[dict[str, Any]] = []  # filled while reading: name, bytes, sha256, archived
        base = ListIndex.open(settings.dnc_dir / base_path) if base_path else None
        tally = _Tally()
        if changes:
            if base is None:
                raise ValidationFailed(
                    "a change list needs a full snapshot of the list first", field="format"
                )
            builder = IndexBuilder(base)
            _parse_flat(
                paths,
                builder,
                tally,
                changes=True,
                progress=progress,
                archive_dir=archive,
                infos=files,
            )
            covered = codes
        elif fmt in ("ftc_flat", "canada_flat"):
            fresh = IndexBuilder()
            _parse_flat(
                paths,
                fresh,
                tally,
                changes=False,
                progress=progress,
                archive_dir=archive,
                infos=files,
            )
            covered = sorted(set(codes or ()) | set(fresh.npas()))
            # a full file of some area codes replaces those and keeps the others as they were
            builder = IndexBuilder(base)
            builder.replace_npas(fresh, covered)
        else:
            builder = IndexBuilder()
            _parse_numbers(
                paths,
                builder,
                tally,
                column=column,
                progress=progress,
                archive_dir=archive,
                infos=files,
            )
            covered = codes  # None: a state or custom list answers for every number
        builder.write(index_file)
        total = builder.count()
        report = ImportReport(
            snapshot_id=snapshot_id,
            list_key=spec.key,
            kind="changes" if changes else "full",
            format=fmt,
            area_codes=covered,
            obtained_at=obtained_at,
            lines_read=tally.lines,
            added=tally.added,
            deleted=tally.deleted,
            rejected=tally.rejected,
            duplicates=tally.duplicates,
            total_after=total,
            errors=tally.errors,
            files=files,
        )
        _commit_snapshot(
            session_factory=session_factory,
            list_id=list_id,
            snapshot_id=snapshot_id,
            base_generation=base_generation,
            index_rel=str(index_file.relative_to(settings.dnc_dir)),
            report=report,
            builder=builder,
            changes=tally.changes,
            actor=actor,
            coverage_mode=coverage_mode(fmt),
        )
        if base is not None:
            base.close()
    except BaseException as exc:
        index_file.unlink(missing_ok=True)
        with session_factory() as session:
            session.execute(
                update(DncSnapshot)
                .where(DncSnapshot.id == snapshot_id)
                .values(
                    status="failed",
                    finished_at=utcnow(),
                    error=f"{type(exc).__name__}: {exc}"[:2000],
                )
            )
            session.commit()
        raise
    report.seconds = (utcnow() - started).total_seconds()
    _collect_garbage(session_factory=session_factory, settings=settings, list_id=list_id)
    return report


def _commit_snapshot(
    *,
    session_factory: sessionmaker[Session],
    list_id: int,
    snapshot_id: int,
    base_generation: int,
    index_rel: str,
    report: ImportReport,
    builder: IndexBuilder,
    changes: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    actor: Principal,
    coverage_mode: CoverageMode,
) -> None:
    """Make the new snapshot current in one transaction (or not at all)."""
    now = utcnow()
    with session_factory() as session:
        lst = session.scalar(select(DncList).where(DncList.id == list_id).with_for_update())
        assert lst is not None
        if lst.index_generation != base_generation:
            raise Conflict(
                f"another import of {lst.key} finished while this one ran; run this import again"
            )
        lst.index_path = index_rel
        lst.index_generation = base_generation + 1
        lst.entries = report.total_after
        lst.updated_at = now
        existing: dict[int | None, DncCoverage] = {}
        covered = select(DncCoverage).where(DncCoverage.list_id == list_id)
        for c in session.scalars(covered.order_by(DncCoverage.id)):
            if c.npa in existing:
                # the unique index does not stop a second list-wide row (NULLs are distinct):
                # keep the first, as a lookup would
                session.delete(c)
            else:
                existing[c.npa] = c
        ended, npas = coverage_change(coverage_mode, report.area_codes, existing)
        for npa in ended:
            session.delete(existing.pop(npa))
        session.flush()
        for npa in npas:
            count = builder.count(npa) if npa is not None else builder.count()
            cov = existing.get(npa)
            if cov is None:
                session.add(
                    DncCoverage(
                        list_id=list_id,
                        npa=npa,
                        snapshot_id=snapshot_id,
                        obtained_at=report.obtained_at,
                        count=count,
                    )
                )
            else:
                cov.snapshot_id = snapshot_id
                cov.obtained_at = report.obtained_at
                cov.count = count
        snap = session.get(DncSnapshot, snapshot_id)
        assert snap is not None
        snap.status = "complete"
        snap.finished_at = now
        snap.files = json.dumps(report.files)
        snap.area_codes = json.dumps(report.area_codes) if report.area_codes is not None else None
        snap.lines_read = report.lines_read
        snap.added = report.added
        snap.deleted = report.deleted
        snap.rejected = report.rejected
        snap.duplicates = report.duplicates
        snap.total_after = report.total_after
        snap.index_path = index_rel
        snap.error = None
        if report.errors:
            session.execute(
                insert(DncSnapshotError), [{"snapshot_id": snapshot_id, **e} for e in report.errors]
            )
        for nums, ops, stamps in changes:
            rows = [
                {
                    "list_id": list_id,
                    "snapshot_id": snapshot_id,
                    "number": n,
                    "op": "A" if o > 0 else "D",
                    "changed_at": datetime.fromtimestamp(t, UTC) if t >= 0 else None,
                }
                for n, o, t in zip(nums.tolist(), ops.tolist(), stamps.tolist(), strict=True)
            ]
            for i in range(0, len(rows), 10_000):
                session.execute(insert(DncNumberChange), rows[i : i + 10_000])
        _bump_sync(session)
        audit.record(
            session=session,
            type="dnc.snapshot.imported",
            actor=actor.name,
            actor_role=actor.role.value,
            subject=lst.key,
            body={
                "snapshot_id": snapshot_id,
                "kind": report.kind,
                "format": report.format,
                "obtained_at": report.obtained_at.isoformat(),
                "area_codes": report.area_codes,
                "lines_read": report.lines_read,
                "added": report.added,
                "deleted": report.deleted,
                "rejected": report.rejected,
                "files": [{k: f[k] for k in ("name", "bytes", "sha256")} for f in report.files],
            },
        )
        session.commit()


def _collect_garbage(
    *, session_factory: sessionmaker[Session], settings: Settings, list_id: int
) -> None:
    """Delete index files but the newest `dnc_keep_indexes` (at least the current and the
    previous one, which other processes may still map; older ones serve replays)."""
    with session_factory() as session:
        paths = list(
            session.scalars(
                select(DncSnapshot.index_path)
                .where(DncSnapshot.list_id == list_id, DncSnapshot.status == "complete")
                .order_by(DncSnapshot.id.desc())
                .offset(max(2, settings.dnc_keep_indexes))
            )
        )
    for rel in paths:
        if rel:
            (settings.dnc_dir / rel).unlink(missing_ok=True)


# -- the internal list -----------------------------------------------------


def _check_choice(value: str, allowed: Sequence[str], field_name: str) -> str:
    v = value.strip().lower()
    if v not in allowed:
        raise ValidationFailed(
            f"{field_name} must be one of {', '.join(allowed)}", field=field_name
        )
    return v


def _serialize_internal_writers(session: Session) -> None:
    # PostgreSQL can commit sequence values out of order; a transaction-scoped
    # advisory lock makes feed order equal commit order, so no reader skips an event.
    if dialect_name(session) == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(7242024)"))


def add_internal(
    *,
    session: Session,
    number: phone.PhoneNumber,
    channel: str = "all",
    seller: str = "*",
    source: str = "api",
    note: str | None = None,
    actor: Principal,
) -> DncInternalEntry:
    """Record a consumer's Do-Not-Call request; it applies from the next lookup on."""
    channel = _check_choice(channel, CHANNELS, "channel")
    source = _check_choice(source, SOURCES, "source")
    seller = seller.strip() or "*"
    if len(seller) > 200:
        raise ValidationFailed("seller is at most 200 characters", field="seller")
    _serialize_internal_writers(session)
    ensure_list(session=session, spec=list_spec("internal"))
    now = utcnow()
    entry = DncInternalEntry(
        number=number.digits,
        channel=channel,
        seller=seller,
        source=source,
        note=note,
        added_at=now,
        added_by=actor.name,
        added_role=actor.role.value,
        active=True,
    )
    session.add(entry)
    session.flush()
    session.add(DncInternalEvent(entry_id=entry.id, number=entry.number, op="add", at=now))
    audit.record(
        session=session,
        type="dnc.internal.added",
        actor=actor.name,
        actor_role=actor.role.value,
        subject=number.e164,
        body={"entry_id": entry.id, "channel": channel, "seller": seller, "source": source},
    )
    session.flush()
    return entry


def remove_internal(
    *, session: Session, entry_id: int, reason: str, actor: Principal
) -> DncInternalEntry:
    """Take an entry off the internal list (compliance officers only; audited; kept as history)."""
    if actor.role is not Role.COMPLIANCE:
        raise PermissionDenied("only the compliance role may remove internal Do-Not-Call entries")
    if not reason or not reason.strip():
        raise ValidationFailed("a reason is required to remove an entry", field="reason")
    _serialize_internal_writers(session)
    entry = session.get(DncInternalEntry, entry_id)
    if entry is None:
        raise NotFound(f"no internal entry {entry_id}")
    if not entry.active:
        raise Conflict(f"entry {entry_id} was already removed")
    now = utcnow()
    entry.active = False
    entry.removed_at = now
    entry.removed_by = actor.name
    entry.removal_reason = reason.strip()
    session.add(DncInternalEvent(entry_id=entry.id, number=entry.number, op="remove", at=now))
    audit.record(
        session=session,
        type="dnc.internal.removed",
        actor=actor.name,
        actor_role=actor.role.value,
        subject=phone.parse_e164_int(entry.number).e164,
        body={"entry_id": entry.id, "reason": entry.removal_reason},
    )
    session.flush()
    return entry


def internal_entries(
    *, session: Session, number: int, include_removed: bool = False
) -> list[DncInternalEntry]:
    """The internal entries of one number, newest first."""
    q = select(DncInternalEntry).where(DncInternalEntry.number == number)
    if not include_removed:
        q = q.where(DncInternalEntry.active.is_(True))
    return list(session.scalars(q.order_by(DncInternalEntry.id.desc())))


# -- status and history ----------------------------------------------------


def listed_since(
    *, session: Session, list_ids: Sequence[int], numbers: Sequence[int]
) -> dict[tuple[int, int], datetime]:
    """For change-list additions: when each list last added each number, by (list id, number)."""
    since: dict[tuple[int, int], datetime] = {}
    if not list_ids or not numbers:
        return since
    if len(numbers) == 1:  # the hot path, one lookup per call attempt: straight to the driver
        marks = ", ".join("?" * len(list_ids))
        rows: Any = fetch_all(
            session,
            "SELECT list_id, number, op, changed_at FROM dnc_number_changes"
            f" WHERE number = ? AND list_id IN ({marks}) ORDER BY id",
            (int(numbers[0]), *map(int, list_ids)),
        )
        _fold_changes(since, rows)
        return since
    cols = select(
        DncNumberChange.list_id,
        DncNumberChange.number,
        DncNumberChange.op,
        DncNumberChange.changed_at,
    ).order_by(DncNumberChange.id)
    for i in range(0, len(numbers), 5000):
        chunk = numbers[i : i + 5000]
        where = (DncNumberChange.number.in_(chunk), DncNumberChange.list_id.in_(list_ids))
        _fold_changes(since, session.execute(cols.where(*where)))
    return since


def _fold_changes(since: dict[tuple[int, int], datetime], rows: Any) -> None:
    for list_id, number, op, changed_at in rows:
        if op == "A" and changed_at is not None:
            since[(list_id, number)] = driver_time(changed_at)
        elif op == "D":
            since.pop((list_id, number), None)


def entry_view(e: Any) -> dict[str, Any]:
    """An internal entry (row or in-memory view) as plain data for the API and the CLI."""
    return {
        "id": e.id,
        "number": phone.parse_e164_int(e.number).e164,
        "channel": e.channel,
        "seller": e.seller,
        "source": e.source,
        "added_at": e.added_at,
        "added_by": e.added_by,
        "note": getattr(e, "note", None),
        "active": getattr(e, "active", True),
        "removed_at": getattr(e, "removed_at", None),
        "removed_by": getattr(e, "removed_by", None),
        "removal_reason": getattr(e, "removal_reason", None),
    }


def lookup_reports(
    *,
    session: Session,
    rt: DncRuntime,
    inputs: Sequence[str],
    at: datetime,
) -> list[dict[str, Any]]:
    """Every list's answer, since when, and the internal entries, for each input as typed."""
    values, reasons = phone.normalize_many(inputs)
    valid = [i for i, r in enumerate(reasons) if r is None]
    if len(valid) <= 8:  # a few numbers: the pure-Python path beats a compiled-kernel call
        answers = [rt.lookup_one(int(values[i]), at=at) for i in valid]
    else:
        answers = rt.lookup_many(values[valid], at=at)
    ids = {lst.key: lst.id for lst in rt.lists}
    hits = sorted(
        {
            int(values[i])
            for i, ans in zip(valid, answers, strict=True)
            if any(a.status == "hit" and a.list_key in ids for a in ans)
        }
    )
    since = listed_since(session=session, list_ids=list(ids.values()), numbers=hits)
    by_index = dict(zip(valid, answers, strict=True))
    out: list[dict[str, Any]] = []
    for i, raw in enumerate(inputs):
        if reasons[i] is not None:
            out.append(
                {
                    "input": raw,
                    "number": None,
                    "valid": False,
                    "error": reasons[i],
                    "listed": False,
                    "unknown": False,
                    "lists": [],
                    "internal": [],
                }
            )
            continue
        n = int(values[i])
        ans = by_index[i]
        out.append(
            {
                "input": raw,
                "number": phone.parse_e164_int(n).e164,
                "valid": True,
                "listed": any(a.status == "hit" for a in ans),
                "unknown": any(a.status == "unknown" for a in ans),
                "lists": [
                    {
                        "list": a.list_key,
                        "kind": a.kind,
                        "status": a.status,
                        "reason": a.reason,
                        "as_of": a.as_of,
                        "since": since.get((ids.get(a.list_key, -1), n))
                        or (min(e.added_at for e in a.entries) if a.entries else None),
                        "snapshot_id": a.snapshot_id,
                        "in_stale_data": a.in_stale_data,
                    }
                    for a in ans
                ],
                "internal": [entry_view(e) for a in ans for e in a.entries],
            }
        )
    return out


def list_status(*, session: Session, at: datetime | None = None) -> list[dict[str, Any]]:
    """Per list: entries, coverage, the age of its data, and its last snapshot."""
    at = at or utcnow()
    out: list[dict[str, Any]] = []
    for lst in session.scalars(select(DncList).order_by(DncList.id)):
        last = session.scalar(
            select(DncSnapshot)
            .where(DncSnapshot.list_id == lst.id)
            .order_by(DncSnapshot.id.desc())
            .limit(1)
        )
        item: dict[str, Any] = {
            "list": lst.key,
            "kind": lst.kind,
            "title": lst.title,
            "max_age_days": lst.max_age_days,
            "last_import": None,
        }
        if lst.kind == "internal":
            item["entries"] = session.scalar(
                select(func.count())
                .select_from(DncInternalEntry)
                .where(DncInternalEntry.active.is_(True))
            )
            item.update(coverage="all", oldest_data_at=None, age_days=0, stale=False)
        else:
            covs = list(session.scalars(select(DncCoverage).where(DncCoverage.list_id == lst.id)))
            oldest = min((c.obtained_at for c in covs), default=None)
            newest = max((c.obtained_at for c in covs), default=None)
            stale_codes = sorted(
                c.npa
                for c in covs
                if c.npa is not None and is_stale(c.obtained_at, at, lst.max_age_days)
            )
            item["entries"] = lst.entries
            item["coverage"] = (
                "all"
                if any(c.npa is None for c in covs)
                else sorted(c.npa for c in covs if c.npa is not None)
            )
            item["oldest_data_at"] = oldest
            item["newest_data_at"] = newest
            item["age_days"] = (at.date() - oldest.date()).days if oldest else None
            item["stale"] = bool(oldest and is_stale(oldest, at, lst.max_age_days)) or not covs
            item["stale_area_codes"] = stale_codes
        if last is not None:
            item["last_import"] = {
                "snapshot_id": last.id,
                "status": last.status,
                "kind": last.kind,
                "started_at": last.started_at,
                "finished_at": last.finished_at,
                "obtained_at": last.obtained_at,
            }
        out.append(item)
    return out


def snapshots(
    *, session: Session, list_key: str | None = None, limit: int = 50
) -> list[DncSnapshot]:
    """Recent snapshots, newest first."""
    q = select(DncSnapshot).order_by(DncSnapshot.id.desc()).limit(limit)
    if list_key:
        lst = session.scalar(select(DncList).where(DncList.key == list_key))
        if lst is None:
            raise NotFound(f"no list {list_key!r}")
        q = q.where(DncSnapshot.list_id == lst.id)
    return list(session.scalars(q))


def snapshot_errors(
    *, session: Session, snapshot_id: int, limit: int = 1000
) -> list[DncSnapshotError]:
    """The malformed lines kept for one snapshot."""
    if session.get(DncSnapshot, snapshot_id) is None:
        raise NotFound(f"no snapshot {snapshot_id}")
    return list(
        session.scalars(
            select(DncSnapshotError)
            .where(DncSnapshotError.snapshot_id == snapshot_id)
            .order_by(DncSnapshotError.id)
            .limit(limit)
        )
    )


def list_ids(*, session: Session) -> dict[str, int]:
    """List key → id."""
    return {k: i for k, i in session.execute(select(DncList.key, DncList.id))}
