"""Scrubbing call lists: CSV in, clean rows and rejects (with reasons) out, in bounded memory.

The CSV is read in batches with every column as text, so the columns other than
the phone column are written back exactly as they were. Numbers are normalised
with a vectorised fast path for the usual NANP spellings; anything else goes
through `phone.parse`, which gives the precise reason an input is not a number.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import polars as pl

from callwarden import phone
from callwarden.dnc.runtime import DncRuntime, LoadedList, is_stale
from callwarden.errors import ValidationFailed

PHONE_HEADERS = (
    "phone",
    "phone_number",
    "phonenumber",
    "phone number",
    "number",
    "telephone",
    "tel",
    "mobile",
    "cell",
    "cell_phone",
    "mobile_phone",
    "msisdn",
    "dial",
    "to",
    "ani",
    "dnis",
)
REASON_COLUMN = "scrub_reason"
LISTS_COLUMN = "scrub_lists"
STATUS_COLUMN = "scrub_status"
BATCH_ROWS = 250_000

# per-list answer codes in the vectorised path
_MISS, _HIT, _NOT_COVERED, _STALE, _OUT_OF_SCOPE = 0, 1, 2, 3, 4


@dataclass(frozen=True)
class ScrubPlan:
    """A CSV file and the column that holds the phone numbers."""

    path: Path
    column: str
    columns: tuple[str, ...]


@dataclass
class ScrubSummary:
    """Counts of a scrub, per outcome and per list."""

    rows: int = 0
    clean: int = 0
    rejected: int = 0
    invalid: int = 0
    unknown: int = 0
    listed: int = 0
    per_list: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly view."""
        return {
            "rows": self.rows,
            "clean": self.clean,
            "rejected": self.rejected,
            "invalid": self.invalid,
            "unknown": self.unknown,
            "listed": self.listed,
            "per_list": dict(self.per_list),
        }


def _header(path: Path) -> list[str]:
    with path.open("r", encoding="utf-8-sig", errors="replace", newline="") as fh:
        row = next(csv.reader(fh), None)
    if not row:
        raise ValidationFailed(
            f"{path.name}: the CSV file is empty (a header row is needed)", field="input"
        )
    return row


def plan(path: Path, *, column: str | None = None) -> ScrubPlan:
    """Find the phone column: the one named, a usual phone header, or the one whose values parse."""
    header = _header(path)
    if len(set(header)) != len(header):
        raise ValidationFailed(f"{path.name}: the header repeats a column name", field="input")
    if column is not None:
        if column not in header:
            matches = [h for h in header if h.strip().lower() == column.strip().lower()]
            if len(matches) != 1:
                raise ValidationFailed(
                    f"no column named {column!r}; columns are: {', '.join(header)}", field="column"
                )
            column = matches[0]
        return ScrubPlan(path, column, tuple(header))
    for h in header:
        if h.strip().lower() in PHONE_HEADERS:
            return ScrubPlan(path, h, tuple(header))
    sample = pl.read_csv(path, infer_schema=False, n_rows=200, empty_string_is_null=False)
    best, best_share = None, 0.0
    for h in header:
        values = [v for v in sample[h].to_list() if v]
        if not values:
            continue
        _, reasons = phone.normalize_many(values)
        share = sum(r is None for r in reasons) / len(values)
        if share > best_share:
            best, best_share = h, share
    if best is None or best_share < 0.5:
        raise ValidationFailed(
            f"could not tell which column holds phone numbers; name it with --column "
            f"(columns: {', '.join(header)})",
            field="column",
        )
    return ScrubPlan(path, best, tuple(header))


@lru_cache(maxsize=1)
def _in_service_table() -> np.ndarray:
    table = np.zeros(1000, dtype=bool)
    for npa in range(200, 1000):
        info = phone.area_code_info(npa)
        table[npa] = info is not None and info.status == "in_service"
    return table


def normalize(values: pl.Series) -> tuple[np.ndarray, list[str | None]]:
    """E.164 integers (0 when invalid) and per-row error reasons, vectorised where possible.

    The vectorised path accepts exactly what `phone.fast_nanp_digits` accepts (plain NANP
    spellings of in-service area codes); every other value goes through `phone.parse`.
    """
    n = values.len()
    text = values.fill_null("")
    s = text.str.replace_all(r"[ \-().]", "")
    d10 = (
        pl.select(
            pl.when(s.str.contains(r"^[0-9]{10}$"))
            .then(s)
            .when(s.str.contains(r"^1[0-9]{10}$"))
            .then(s.str.slice(1))
            .when(s.str.contains(r"^\+1[0-9]{10}$"))
            .then(s.str.slice(2))
            .otherwise(None)
        )
        .to_series()
        .cast(pl.Int64, strict=False)
    )
    arr = d10.fill_null(0).to_numpy().astype(np.int64)
    npa = arr // 10_000_000
    nxx = (arr // 10_000) % 1000
    fast = (arr > 0) & _in_service_table()[npa % 1000] & (nxx >= 200) & ((nxx % 100) != 11)
    out = np.where(fast, arr + 10_000_000_000, 0).astype(np.int64)
    reasons: list[str | None] = [None] * n
    slow = np.flatnonzero(~fast)
    if slow.size:
        raw = text.gather(slow).to_list()
        for i, value in zip(slow.tolist(), raw, strict=True):
            try:
                out[i] = phone.parse(value).digits
            except phone.InvalidPhoneNumber as exc:
                out[i] = 0
                reasons[i] = exc.reason
    return out, reasons


def _codes(lst: LoadedList, npas: np.ndarray, hits: np.ndarray, at: datetime) -> np.ndarray:
    """Per-row answer code of one list, from tables built once per list per batch."""
    table = np.full(1000, _NOT_COVERED, dtype=np.int8)
    all_cov = lst.coverage.get(None)
    for code in range(200, 1000):
        cov = lst.coverage.get(code) or all_cov
        if cov is None:
            continue
        table[code] = _STALE if is_stale(cov.obtained_at, at, lst.max_age_days) else _MISS
    if lst.scope is not None:
        in_scope = np.zeros(1000, dtype=bool)
        in_scope[list(lst.scope)] = True
        table[~in_scope] = _OUT_OF_SCOPE
    safe = np.clip(npas, 0, 999)
    codes = table[safe]
    codes[(npas < 200) | (npas > 999)] = _OUT_OF_SCOPE
    codes = np.where((codes == _MISS) & hits, _HIT, codes)
    return codes


def _internal_applies(rt: DncRuntime, number: int, seller: str | None, channel: str | None) -> bool:
    for e in rt.internal_entries(number):
        seller_ok = seller is None or e.seller in ("*", seller)
        channel_ok = channel is None or e.channel in ("all", channel)
        if seller_ok and channel_ok:
            return True
    return False


def _assess(
    rt: DncRuntime,
    nums: np.ndarray,
    reasons: list[str | None],
    *,
    at: datetime,
    seller: str | None,
    channel: str | None,
    only: Sequence[str] | None,
    summary: ScrubSummary,
) -> tuple[np.ndarray, list[str], list[str]]:
    """Per row: rejected?, the reason text and the lists involved."""
    n = nums.shape[0]
    valid = nums > 0
    lists = [lst for lst in rt.lists if only is None or lst.key in only]
    positions = {lst.key: i for i, lst in enumerate(rt.lists)}
    masks = rt.masks(nums) if n else np.zeros(0, dtype=np.uint64)
    nanp = (nums >= 10_000_000_000) & (nums < 20_000_000_000)
    npas = np.where(nanp, (nums - 10_000_000_000) // 10_000_000, -1)
    hit_any = np.zeros(n, dtype=bool)
    unknown_any = np.zeros(n, dtype=bool)
    per_list_codes: list[tuple[str, np.ndarray]] = []
    for lst in lists:
        bit = np.uint64(1) << np.uint64(positions[lst.key])
        hits = (masks & bit) != 0
        codes = _codes(lst, npas, hits, at)
        codes[~valid] = _OUT_OF_SCOPE
        codes[valid & ~nanp] = _OUT_OF_SCOPE
        per_list_codes.append((lst.key, codes))
        hit_any |= codes == _HIT
        unknown_any |= (codes == _NOT_COVERED) | (codes == _STALE)
    internal = np.zeros(n, dtype=bool)
    if only is None or "internal" in only:
        candidates = np.flatnonzero(valid & rt.internal_hits(nums))
        for i in candidates.tolist():
            internal[i] = _internal_applies(rt, int(nums[i]), seller, channel)
        hit_any |= internal
    rejected = ~valid | hit_any | unknown_any
    reason_text = np.full(n, "", dtype=object)
    list_text = np.full(n, "", dtype=object)
    bad = np.flatnonzero(~valid)
    summary.invalid += int(bad.size)
    for i in bad.tolist():
        reason_text[i] = f"invalid number: {reasons[i]}"
    # Rows rejected for list reasons share few distinct combinations of answers: describe each
    # combination once and hand its text to every row that has it (a Python loop per row
    # would cost more than the whole lookup).
    listed = np.flatnonzero(valid & rejected)
    if listed.size:
        table = np.column_stack([c[listed] for _, c in per_list_codes] + [internal[listed]])
        combos, inverse = np.unique(table, axis=0, return_inverse=True)
        texts, names = [], []
        for combo in combos.tolist():
            hit_names = [k for (k, _), c in zip(per_list_codes, combo, strict=False) if c == _HIT]
            if combo[-1]:
                hit_names.append("internal")
            unknown = [
                (k, "stale data" if c == _STALE else "area code not covered")
                for (k, _), c in zip(per_list_codes, combo, strict=False)
                if c in (_STALE, _NOT_COVERED)
            ]
            parts = []
            if hit_names:
                parts.append("listed: " + ", ".join(hit_names))
            if unknown:
                parts.append("unknown coverage: " + ", ".join(f"{k} ({why})" for k, why in unknown))
            texts.append("; ".join(parts))
            names.append(",".join(hit_names + [k for k, _ in unknown]))
            rows = int(np.count_nonzero(inverse.ravel() == len(texts) - 1))
            if hit_names:
                summary.listed += rows
                for k in hit_names:
                    summary.per_list[k] = summary.per_list.get(k, 0) + rows
            else:
                summary.unknown += rows
        inv = inverse.ravel()
        reason_text[listed] = np.array(texts, dtype=object)[inv]
        list_text[listed] = np.array(names, dtype=object)[inv]
    return rejected, reason_text.tolist(), list_text.tolist()


def _batches(path: Path, rows: int) -> Any:
    return pl.scan_csv(
        path, infer_schema=False, empty_string_is_null=False, encoding="utf8-lossy"
    ).collect_batches(chunk_size=rows)


def scrub_stream(
    rt: DncRuntime,
    scrub_plan: ScrubPlan,
    *,
    output: str,
    at: datetime,
    seller: str | None = None,
    channel: str | None = None,
    only: Sequence[str] | None = None,
    batch_rows: int = BATCH_ROWS,
) -> Generator[bytes, None, ScrubSummary]:
    """Yield one CSV (clean, rejects or annotated) batch by batch; return the summary."""
    summary = ScrubSummary()
    first = True
    for batch in _batches(scrub_plan.path, batch_rows):
        rejected, reason, lists = _scrub_batch(
            rt, batch, scrub_plan, at, seller, channel, only, summary
        )
        if output == "clean":
            part = batch.filter(pl.Series(~rejected))
        elif output == "rejects":
            mask = pl.Series(rejected)
            part = batch.filter(mask).with_columns(
                pl.Series(REASON_COLUMN, [r for r, m in zip(reason, rejected, strict=True) if m]),
                pl.Series(LISTS_COLUMN, [x for x, m in zip(lists, rejected, strict=True) if m]),
            )
        else:
            part = batch.with_columns(
                pl.Series(STATUS_COLUMN, np.where(rejected, "reject", "clean")),
                pl.Series(REASON_COLUMN, reason),
                pl.Series(LISTS_COLUMN, lists),
            )
        if part.height or first:
            yield part.write_csv(include_header=first).encode()
            first = False
    return summary


def _scrub_batch(
    rt: DncRuntime,
    batch: pl.DataFrame,
    scrub_plan: ScrubPlan,
    at: datetime,
    seller: str | None,
    channel: str | None,
    only: Sequence[str] | None,
    summary: ScrubSummary,
) -> tuple[np.ndarray, list[str], list[str]]:
    nums, reasons = normalize(batch[scrub_plan.column])
    rejected, reason, lists = _assess(
        rt, nums, reasons, at=at, seller=seller, channel=channel, only=only, summary=summary
    )
    summary.rows += batch.height
    summary.rejected += int(rejected.sum())
    summary.clean += int(batch.height - rejected.sum())
    return rejected, reason, lists


def scrub_file(
    rt: DncRuntime,
    scrub_plan: ScrubPlan,
    *,
    clean_out: BinaryIO,
    rejects_out: BinaryIO | None,
    at: datetime,
    seller: str | None = None,
    channel: str | None = None,
    only: Sequence[str] | None = None,
    batch_rows: int = BATCH_ROWS,
    progress: Callable[[int], None] | None = None,
) -> ScrubSummary:
    """Write clean rows and rejects (with reasons) to two files in one pass."""
    summary = ScrubSummary()
    first = True
    for batch in _batches(scrub_plan.path, batch_rows):
        rejected, reason, lists = _scrub_batch(
            rt, batch, scrub_plan, at, seller, channel, only, summary
        )
        clean_out.write(batch.filter(pl.Series(~rejected)).write_csv(include_header=first).encode())
        if rejects_out is not None:
            part = batch.filter(pl.Series(rejected)).with_columns(
                pl.Series(REASON_COLUMN, [r for r, m in zip(reason, rejected, strict=True) if m]),
                pl.Series(LISTS_COLUMN, [x for x, m in zip(lists, rejected, strict=True) if m]),
            )
            rejects_out.write(part.write_csv(include_header=first).encode())
        first = False
        if progress:
            progress(batch.height)
    return summary
