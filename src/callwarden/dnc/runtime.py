"""The per-process view of every Do-Not-Call list, kept in step with the database.

Each service process memory-maps the current index file of every list (so a
restart is ready in milliseconds: nothing is parsed) and holds the internal
list in memory. Before answering, it runs `sync`: one small query tells whether
another process (on this host or another) imported a snapshot or changed the
internal list since the last look; only then does it reload what changed. The
database and the archived source files stay the source of truth.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from callwarden import phone
from callwarden.config import Settings
from callwarden.db import Reader, fetch_all, utcnow
from callwarden.dnc.index import ListIndex, MultiIndex
from callwarden.dnc.models import (
    DncCoverage,
    DncInternalEntry,
    DncInternalEvent,
    DncList,
)
from callwarden.logging import get_logger

log = get_logger("callwarden.dnc")

NANP_BASE = 10_000_000_000
NANP_END = 20_000_000_000
INTERNAL_KEY = "internal"


def is_stale(obtained_at: datetime, at: datetime, max_age_days: int | None) -> bool:
    """16 CFR 310.4(b)(3)(iv): data obtained more than max_age_days calendar days before."""
    if max_age_days is None:
        return False
    return (at.astimezone(UTC).date() - obtained_at.astimezone(UTC).date()).days > max_age_days


_SCOPE_COUNTRY = {"national": "US", "canada": "CA"}


@lru_cache(maxsize=8)
def scope_for(kind: str) -> frozenset[int] | None:
    """Area codes a kind of list can hold: US ones for the FTC registry, Canadian for the DNCL."""
    country = _SCOPE_COUNTRY.get(kind)
    if country is None:
        return None
    out = set()
    for npa in range(200, 1000):
        info = phone.area_code_info(npa)
        if info is not None and info.country == country:
            out.add(npa)
    return frozenset(out)


def npa_of(number: int) -> int | None:
    """The NANP area code of an E.164 integer, or None for non-NANP numbers."""
    if NANP_BASE <= number < NANP_END:
        return (number - NANP_BASE) // 10_000_000
    return None


@dataclass(frozen=True, slots=True)
class Coverage:
    """As of when a list's data covers one area code (or every one)."""

    obtained_at: datetime
    snapshot_id: int
    count: int


@dataclass(frozen=True, slots=True)
class InternalEntry:
    """An internal Do-Not-Call entry as the lookups see it."""

    id: int
    number: int
    channel: str
    seller: str
    source: str
    added_at: datetime
    added_by: str


@dataclass(slots=True)
class LoadedList:
    """One file-backed list in memory: its index and its coverage."""

    id: int
    key: str
    kind: str
    code: str
    title: str
    max_age_days: int | None
    index: ListIndex
    generation: int
    coverage: dict[int | None, Coverage] = field(default_factory=dict)
    scope: frozenset[int] | None = None  # area codes the list can hold; None = every NANP one

    def coverage_for(self, npa: int | None) -> Coverage | None:
        """The coverage that applies to an area code (its own, else the list-wide one)."""
        if npa is not None and npa in self.coverage:
            return self.coverage[npa]
        return self.coverage.get(None)


@dataclass(frozen=True, slots=True)
class ListAnswer:
    """One list's answer for one number: hit, miss or unknown (and why)."""

    list_key: str
    kind: str
    status: str  # hit | miss | unknown
    reason: str | None = None  # not_covered | stale | not_nanp | no_data (for unknown)
    as_of: datetime | None = None  # when the data answering was obtained
    snapshot_id: int | None = None
    in_stale_data: bool = False
    entries: tuple[InternalEntry, ...] = ()


# the internal list's answer for a number with no entry (shared: answers are immutable)
_INTERNAL_MISS = ListAnswer(INTERNAL_KEY, "internal", "miss")


def covered_answer(lst: LoadedList, cov: Coverage, listed: bool, at: datetime) -> ListAnswer:
    """A covered number's answer at `at`: unknown when the copy is stale, else hit or miss."""
    if is_stale(cov.obtained_at, at, lst.max_age_days):
        return ListAnswer(
            lst.key,
            lst.kind,
            "unknown",
            "stale",
            as_of=cov.obtained_at,
            snapshot_id=cov.snapshot_id,
            in_stale_data=listed,
        )
    return ListAnswer(
        lst.key,
        lst.kind,
        "hit" if listed else "miss",
        as_of=cov.obtained_at,
        snapshot_id=cov.snapshot_id,
    )


@dataclass(frozen=True, slots=True)
class _State:
    lists: tuple[LoadedList, ...]
    multi: MultiIndex
    generation: int


# The two change markers a process compares with what it holds; other per-process caches
# (the gate's) read them in the same statement so a decision costs one round trip.
SYNC_MARKERS = (
    "(SELECT generation FROM dnc_sync WHERE id = 1), (SELECT max(seq) FROM dnc_internal_events)"
)
_SYNC_SQL = "SELECT " + SYNC_MARKERS


class DncRuntime:
    """Every DNC list as one process sees it; thread-safe; re-synced cheaply per request."""

    def __init__(
        self, *, settings: Settings, session_factory: sessionmaker[Session], warm: bool = True
    ) -> None:
        self.settings = settings
        self.session_factory = session_factory
        # map pages in and load the bulk kernel in the background after a load: for the
        # service and bulk work, not a command that answers a few numbers and exits
        self.warm = warm
        self._lock = threading.RLock()
        self._state = _State(lists=(), multi=MultiIndex([]), generation=-1)
        self._internal: dict[int, dict[int, InternalEntry]] = {}
        self._internal_seq = 0
        self._internal_sorted: np.ndarray | None = None
        self.loaded = False

    # -- synchronisation -------------------------------------------------

    def load(self) -> None:
        """Load everything from the database and map the index files."""
        with self._lock:
            self._state = _State(lists=(), multi=MultiIndex([]), generation=-1)
            self._internal = {}
            self._internal_seq = 0
            self._internal_sorted = None
            self.sync()
            self.loaded = True

    def sync(self, session: Session | None = None) -> None:
        """Catch up with imports and internal-list changes made by any process."""
        own = session is None
        s = self.session_factory() if own else session
        assert s is not None
        try:
            # one round trip: this runs before every lookup of every process
            row = fetch_all(s, _SYNC_SQL)[0]
            self.catch_up(s, row[0], row[1])
        finally:
            if own:
                s.close()

    def catch_up(self, session: Reader, generation: int | None, seq: int | None) -> None:
        """Reload what changed since the markers this process last saw (read by the caller)."""
        generation, seq = generation or 0, seq or 0
        if generation == self._state.generation and seq == self._internal_seq:
            return
        if not isinstance(session, Session):
            # a plain connection (the gate's reads): the reload reads ORM rows, in a session
            with self.session_factory() as own:
                self.catch_up(own, generation, seq)
            return
        with self._lock:
            if generation != self._state.generation:
                self._reload_lists(session, generation)
            if seq != self._internal_seq:
                self._apply_internal_events(session)

    def _reload_lists(self, s: Session, generation: int) -> None:
        current = {lst.key: lst for lst in self._state.lists}
        loaded: list[LoadedList] = []
        rows = s.scalars(select(DncList).where(DncList.kind != "internal").order_by(DncList.id))
        for row in rows:
            old = current.get(row.key)
            if old is not None and old.generation == row.index_generation:
                index = old.index
            elif row.index_path:
                index = ListIndex.open(self._index_file(row.index_path))
            else:
                index = ListIndex.empty()
            lst = LoadedList(
                id=row.id,
                key=row.key,
                kind=row.kind,
                code=row.code,
                title=row.title,
                max_age_days=row.max_age_days,
                index=index,
                generation=row.index_generation,
                scope=scope_for(row.kind),
            )
            for cov in s.scalars(select(DncCoverage).where(DncCoverage.list_id == row.id)):
                lst.coverage[cov.npa] = Coverage(cov.obtained_at, cov.snapshot_id, cov.count)
            loaded.append(lst)
        self._state = _State(
            lists=tuple(loaded),
            multi=MultiIndex([lst.index for lst in loaded]),
            generation=generation,
        )
        fresh = [
            lst.index
            for lst in loaded
            if lst.key not in current or current[lst.key].index is not lst.index
        ]
        if fresh and self.warm:
            # Map pages in behind the scenes so the first bulk scrub does not pay page faults,
            # and load the compiled bulk kernel (a quarter second the first batch would wait);
            # lookups are already answered meanwhile (straight from the page cache or disk).
            multi = self._state.multi
            threading.Thread(target=_prefetch, args=(fresh, multi), daemon=True).start()
        log.info("dnc_lists_loaded", lists=[lst.key for lst in loaded], generation=generation)

    def _index_file(self, rel: str) -> Path:
        path = Path(rel)
        return path if path.is_absolute() else self.settings.dnc_dir / path

    def _apply_internal_events(self, s: Session) -> None:
        events = list(
            s.execute(
                select(
                    DncInternalEvent.seq,
                    DncInternalEvent.entry_id,
                    DncInternalEvent.number,
                    DncInternalEvent.op,
                )
                .where(DncInternalEvent.seq > self._internal_seq)
                .order_by(DncInternalEvent.seq)
            )
        )
        added = [e.entry_id for e in events if e.op == "add"]
        rows = {}
        for chunk in _chunks(added, 5000):
            for r in s.scalars(select(DncInternalEntry).where(DncInternalEntry.id.in_(chunk))):
                rows[r.id] = r
        for ev in events:
            if ev.op == "add" and ev.entry_id in rows:
                r = rows[ev.entry_id]
                self._internal.setdefault(r.number, {})[r.id] = InternalEntry(
                    id=r.id,
                    number=r.number,
                    channel=r.channel,
                    seller=r.seller,
                    source=r.source,
                    added_at=r.added_at,
                    added_by=r.added_by,
                )
            elif ev.op == "remove":
                entries = self._internal.get(ev.number)
                if entries is not None:
                    entries.pop(ev.entry_id, None)
                    if not entries:
                        del self._internal[ev.number]
            self._internal_seq = ev.seq
        self._internal_sorted = None

    def close(self) -> None:
        """Drop the mapped files."""
        with self._lock:
            for lst in self._state.lists:
                lst.index.close()
            self._state = _State(lists=(), multi=MultiIndex([]), generation=-1)
            self.loaded = False

    # -- answers ----------------------------------------------------------

    @property
    def lists(self) -> tuple[LoadedList, ...]:
        """The file-backed lists currently loaded."""
        return self._state.lists

    def internal_entries(self, number: int) -> tuple[InternalEntry, ...]:
        """Active internal entries for a number (any channel, any seller)."""
        entries = self._internal.get(number)
        return tuple(entries.values()) if entries else ()

    def _answer(self, lst: LoadedList, number: int, hit: bool, at: datetime) -> ListAnswer:
        npa = npa_of(number)
        if npa is None:
            return ListAnswer(lst.key, lst.kind, "unknown", "not_nanp")
        if lst.scope is not None and npa not in lst.scope:
            # The US registry cannot hold a Canadian number, and the DNCL no US one.
            return ListAnswer(lst.key, lst.kind, "miss", "out_of_scope")
        cov = lst.coverage_for(npa)
        if cov is None:
            return ListAnswer(lst.key, lst.kind, "unknown", "not_covered", in_stale_data=hit)
        return covered_answer(lst, cov, hit, at)

    def lookup_one(self, number: int, *, at: datetime | None = None) -> list[ListAnswer]:
        """Every list's answer for one number (E.164 integer) at a moment (default now)."""
        at = at or utcnow()
        state = self._state
        mask = state.multi.mask(number) if npa_of(number) is not None else 0
        answers = [
            self._answer(lst, number, bool(mask >> i & 1), at) for i, lst in enumerate(state.lists)
        ]
        answers.append(self._internal_answer(number))
        return answers

    def _internal_answer(self, number: int) -> ListAnswer:
        entries = self.internal_entries(number)
        if not entries:
            return _INTERNAL_MISS
        return ListAnswer(INTERNAL_KEY, "internal", "hit", entries=entries)

    def masks(self, numbers: np.ndarray) -> np.ndarray:
        """Bulk hit masks (bit i = file-backed list i) for int64 E.164 numbers."""
        return self._state.multi.mask_many(numbers)

    def internal_hits(self, numbers: np.ndarray) -> np.ndarray:
        """Bulk: which numbers have at least one active internal entry."""
        with self._lock:
            if self._internal_sorted is None:
                self._internal_sorted = np.array(sorted(self._internal), dtype=np.int64)
            ref = self._internal_sorted
        if ref.size == 0:
            return np.zeros(numbers.shape[0], dtype=bool)
        pos = np.searchsorted(ref, numbers)
        pos[pos >= ref.size] = 0
        return np.asarray(ref[pos] == numbers)

    def lookup_many(
        self, numbers: Sequence[int] | np.ndarray, *, at: datetime | None = None
    ) -> list[list[ListAnswer]]:
        """Every list's answer for each number, with one bulk pass per list."""
        at = at or utcnow()
        arr = np.asarray(numbers, dtype=np.int64)
        state = self._state
        masks = state.multi.mask_many(arr) if arr.size else np.zeros(0, dtype=np.uint64)
        out: list[list[ListAnswer]] = []
        # A file-backed list's answer depends on the number only through its area code (and
        # whether it is listed): a batch's numbers share a few hundred answers, made once.
        made: dict[tuple[int, int | None, bool], ListAnswer] = {}
        lists = tuple(enumerate(state.lists))
        for n, m in zip(arr.tolist(), masks.tolist(), strict=True):
            npa = npa_of(n)
            row = []
            for i, lst in lists:
                hit = bool(m >> i & 1)
                ans = made.get((i, npa, hit))
                if ans is None:
                    ans = made[(i, npa, hit)] = self._answer(lst, n, hit, at)
                row.append(ans)
            row.append(self._internal_answer(n))
            out.append(row)
        return out


def _prefetch(indexes: Sequence[ListIndex], multi: MultiIndex) -> None:
    for index in indexes:
        try:
            index.prefetch()
        except Exception as exc:  # a closed or replaced index: nothing to warm
            log.debug("prefetch_skipped", error=repr(exc))
    try:
        multi.mask_many(np.zeros(1, dtype=np.int64))  # loads (or compiles) the bulk kernel
    except Exception as exc:
        log.debug("kernel_warm_skipped", error=repr(exc))


def _chunks(items: Sequence[int], size: int) -> Iterable[Sequence[int]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
