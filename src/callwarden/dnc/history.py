"""A list's answers as they stood at a past moment, for replays (`check --as-of`).

The runtime answers from the current index. A replay as of ``known_at`` needs what callwarden
knew then: the coverage and its dates as the snapshots completed by then left them, and each
number's membership then. Membership comes, in this order, from
- the index file of the snapshot that was current then, while it is still on disk (the import
  keeps the newest `dnc_keep_indexes`, at least two);
- the dated change-list records (`dnc_number_changes`) that decide it: the last one imported
  after the area code's last full import and by then, or a deletion imported after then (and
  before any later full import: it was listed);
- the current index, when nothing about the number or its area code was imported since;
- nothing else: the answer is unknown (`history_unavailable`), and the gate fails closed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from callwarden.db import (
    Query,
    Reader,
    driver_time,
    fetch_all,
    in_chunks,
    run_query,
    time_binder,
)
from callwarden.dnc.coverage import coverage_change, coverage_mode
from callwarden.dnc.index import ListIndex
from callwarden.dnc.runtime import Coverage, ListAnswer, LoadedList, covered_answer, npa_of
from callwarden.gate.facts import InternalDncFact
from callwarden.logging import get_logger

log = get_logger("callwarden.dnc")

# Answers that do not depend on the data: a non-NANP number, or one the list cannot hold.
_TIMELESS = frozenset({"not_nanp", "out_of_scope"})


@dataclass
class ListThen:
    """One list as it stood at `known_at`."""

    coverage: dict[int | None, Coverage] = field(default_factory=dict)
    index_path: str | None = None  # the index file of the snapshot current then
    # when full imports replaced an area code's numbers (None: every area code): the last one
    # completed by known_at, and the first one completed after it
    full_before: dict[int | None, datetime] = field(default_factory=dict)
    full_after: dict[int | None, datetime] = field(default_factory=dict)

    def coverage_for(self, npa: int | None) -> Coverage | None:
        """The coverage then for an area code (its own, else the list-wide one)."""
        if npa is not None and npa in self.coverage:
            return self.coverage[npa]
        return self.coverage.get(None)

    def last_full_before(self, npa: int | None) -> datetime | None:
        """When a full import last replaced this area code's numbers by `known_at`."""
        found = [t for t in (self.full_before.get(npa), self.full_before.get(None)) if t]
        return max(found) if found else None

    def first_full_after(self, npa: int | None) -> datetime | None:
        """When a full import first replaced this area code's numbers after `known_at`."""
        found = [t for t in (self.full_after.get(npa), self.full_after.get(None)) if t]
        return min(found) if found else None


_SNAPSHOTS_SQL = (
    "SELECT id, kind, format, area_codes, obtained_at, finished_at, index_path"
    " FROM dnc_snapshots WHERE list_id = ? AND status = 'complete' ORDER BY finished_at, id"
)


def list_then(session: Reader, list_id: int, known_at: datetime) -> ListThen:
    """Replay a list's completed snapshots up to `known_at`, as `_commit_snapshot` applied them."""
    out = ListThen()
    for snap_id, kind, fmt, codes_text, obtained, finished_at, index_path in fetch_all(
        session, _SNAPSHOTS_SQL, (list_id,)
    ):
        if finished_at is None:
            continue
        finished = driver_time(finished_at)
        codes: list[int] | None = json.loads(codes_text) if codes_text else None
        replaced: list[int | None] = list(codes) if codes is not None else [None]
        if finished > known_at:
            if kind == "full":
                for npa in replaced:
                    out.full_after.setdefault(npa, finished)
            continue
        cov = Coverage(obtained_at=driver_time(obtained), snapshot_id=int(snap_id), count=0)
        out.index_path = index_path
        mode = coverage_mode(fmt)
        ended, renewed = coverage_change(mode, codes, out.coverage)
        for npa in ended:
            del out.coverage[npa]
        for npa in renewed:
            out.coverage[npa] = cov
        if mode != "refresh":  # a full import replaced these area codes' numbers
            for npa in replaced:
                out.full_before[npa] = finished
    return out


_CHANGES_SQL = (
    "SELECT c.number, c.op, s.finished_at FROM dnc_number_changes c"
    " JOIN dnc_snapshots s ON s.id = c.snapshot_id"
    " WHERE c.number IN ({marks}) AND c.list_id = ? ORDER BY s.finished_at, c.id"
)


def _changes(
    session: Reader, list_id: int, numbers: Sequence[int]
) -> dict[int, list[tuple[datetime, bool]]]:
    # Each number's change-list records: (when their import completed, added?), in order.
    def parse(rows: Iterable[Any]) -> dict[int, list[tuple[datetime, bool]]]:
        out: dict[int, list[tuple[datetime, bool]]] = {}
        for number, op, finished in rows:
            out.setdefault(int(number), []).append((driver_time(finished), op == "A"))
        return out

    return run_query(session, Query(in_chunks(_CHANGES_SQL, numbers, (list_id,)), parse))


def _listed_from_changes(
    lst: LoadedList,
    then: ListThen,
    changes: list[tuple[datetime, bool]],
    number: int,
    known_at: datetime,
) -> bool | None:
    # Without the index file current then: a change imported after the last full import and
    # by known_at decides (after an addition it is listed, after a deletion it is not); else a
    # deletion after known_at (before any later full import) means it was listed; an addition
    # there proves nothing (change lists may add a number already listed), so it is unknown;
    # with no change since and no full import since, the number is as it is now.
    npa = npa_of(number)
    before, after = then.last_full_before(npa), then.first_full_after(npa)
    settled = [added for t, added in changes if (before is None or t > before) and t <= known_at]
    if settled:
        return settled[-1]
    undone = [added for t, added in changes if t > known_at and (after is None or t < after)]
    if undone:
        return True if not undone[0] else None
    if after is None:
        return lst.index.contains(number)
    return None


def answers_then(
    session: Reader,
    lists: Sequence[LoadedList],
    numbers: Sequence[int],
    answers: Sequence[Sequence[ListAnswer]],
    *,
    dnc_dir: Path,
    known_at: datetime,
    at: datetime,
) -> list[list[ListAnswer]]:
    """The runtime's answers (one row per number) rewritten as they stood at `known_at`:
    each file-backed list's coverage, dates and membership then (the internal list's answer
    is left to `internal_then`)."""
    by_key = {lst.key: lst for lst in lists}
    keys = {a.list_key for row in answers for a in row if a.list_key in by_key}
    out = [list(row) for row in answers]
    for key in sorted(keys):
        lst = by_key[key]
        then = list_then(session, lst.id, known_at)
        old = _open(dnc_dir, then.index_path, lst)
        try:
            changes = {} if old is not None else _changes(session, lst.id, numbers)
            for row, n in zip(out, numbers, strict=True):
                for j, a in enumerate(row):
                    if a.list_key != key:
                        continue
                    listed = (
                        old.contains(int(n))
                        if old is not None
                        else _listed_from_changes(
                            lst, then, changes.get(int(n), []), int(n), known_at
                        )
                    )
                    row[j] = _answer_then(lst, then, listed, int(n), a, at)
        finally:
            if old is not None and old is not lst.index:
                old.close()
    return out


_INTERNAL_SQL = (
    "SELECT number, id, seller, channel, added_at FROM dnc_internal_entries"
    " WHERE number IN ({marks}) AND added_at <= ? AND (removed_at IS NULL OR removed_at > ?)"
    " ORDER BY id"
)


def internal_then(
    session: Reader, numbers: Sequence[int], known_at: datetime
) -> dict[int, tuple[InternalDncFact, ...]]:
    """Each number's internal entries in force at `known_at`, including those removed since."""
    keys = [int(n) for n in numbers]

    def parse(rows: Iterable[Any]) -> dict[int, tuple[InternalDncFact, ...]]:
        out: dict[int, list[InternalDncFact]] = {n: [] for n in keys}
        for number, id_, seller, channel, added in rows:
            out[int(number)].append(
                InternalDncFact(int(id_), str(seller), str(channel), driver_time(added))
            )
        return {n: tuple(v) for n, v in out.items()}

    when = time_binder(session)
    tail = (when(known_at), when(known_at))
    return run_query(session, Query(in_chunks(_INTERNAL_SQL, keys, tail), parse))


def _open(dnc_dir: Path, rel: str | None, lst: LoadedList) -> ListIndex | None:
    if rel is None:
        return None
    path = dnc_dir / rel
    if lst.index.path is not None and Path(lst.index.path).resolve() == path.resolve():
        return lst.index  # the snapshot current then is still the current one
    if not path.exists():
        return None  # collected: membership comes from the change records, or is unknown
    try:
        return ListIndex.open(path)
    except Exception as exc:  # a damaged old file: treated as gone
        log.warning("dnc_history_index_unreadable", path=str(path), error=repr(exc))
        return None


def _answer_then(
    lst: LoadedList,
    then: ListThen,
    listed: bool | None,
    number: int,
    now: ListAnswer,
    at: datetime,
) -> ListAnswer:
    if now.reason in _TIMELESS:
        return now
    cov = then.coverage_for(npa_of(number))
    if cov is None:
        return ListAnswer(lst.key, lst.kind, "unknown", "not_covered")
    if listed is None:
        return replace(
            now,
            status="unknown",
            reason="history_unavailable",
            as_of=cov.obtained_at,
            snapshot_id=cov.snapshot_id,
            in_stale_data=False,
        )
    return covered_answer(lst, cov, listed, at)
