"""Fast parsers for Do-Not-Call registry flat files.

Two layouts are understood (see shared/reference/formats.md §1.2 and §2.3):

* area-code flat files, ``AAA,NNNNNNN`` per line: the FTC full list and Canada's
  National DNCL flat download;
* the FTC change list, ``NNNNNNNNNN,YYYY-MM-DDThh:mm:ss,A|D`` per line.

The parsers are pure: they take a bytes-like chunk (``bytes``, ``memoryview``,
``mmap`` or a ``uint8`` array) and return arrays. A line ends with LF; one CR
before the LF is tolerated, and so is a last line without a newline. The newline
ending the last line does not start another line, but an empty line anywhere
else is malformed. Every malformed line is reported with its line number and a
reason code; none is dropped silently, so ``lines == len(numbers) + len(bad_lines)``.

Huge files are parsed in bounded memory by cutting them with :func:`split_chunks`
and parsing each chunk (the kernels release the GIL, so chunks can be parsed on
several threads). Line numbers in a result count from the ``first_line`` passed in.
"""

from __future__ import annotations

import mmap
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit

__all__ = [
    "REASONS",
    "ParseResult",
    "bad_line_text",
    "parse_area_code_flat",
    "parse_change_list",
    "split_chunks",
]

BytesLike = bytes | bytearray | memoryview | mmap.mmap | np.ndarray

R_AREA_CODE_LAYOUT = 1
R_NON_DIGIT = 2
R_AREA_CODE = 3
R_EXCHANGE = 4
R_TIMESTAMP = 5
R_ACTION = 6
R_CHANGE_LAYOUT = 7
R_EMPTY = 8

REASONS: dict[int, str] = {
    R_AREA_CODE_LAYOUT: "expected AAA,NNNNNNN",
    R_NON_DIGIT: "non-digit character",
    R_AREA_CODE: "invalid area code",
    R_EXCHANGE: "invalid exchange (NXX)",
    R_TIMESTAMP: "bad timestamp",
    R_ACTION: "action must be A or D",
    R_CHANGE_LAYOUT: "expected NNNNNNNNNN,YYYY-MM-DDThh:mm:ss,A|D",
    R_EMPTY: "empty line",
}

_MAX_TEXT = 200
_LF = 10
_CR = 13
_COMMA = 44


@dataclass(frozen=True)
class ParseResult:
    """What one chunk held: the good numbers in file order and every malformed line."""

    numbers: np.ndarray
    ops: np.ndarray | None
    timestamps: np.ndarray | None
    bad_lines: np.ndarray
    bad_reasons: np.ndarray
    lines: int
    # Byte offset of each bad line inside the chunk, so bad_line_text need not rescan.
    bad_offsets: np.ndarray | None = None

    @property
    def good(self) -> int:
        """How many lines parsed cleanly."""
        return int(self.numbers.size)

    @property
    def bad(self) -> int:
        """How many lines were malformed."""
        return int(self.bad_lines.size)


# ---------------------------------------------------------------------------
# numba kernels (compiled at first call, cached on disk)


@njit(cache=True, nogil=True)
def _grow_i64(a: Any) -> Any:  # pragma: no cover - compiled
    b = np.empty(a.size * 2, np.int64)
    b[: a.size] = a
    return b


@njit(cache=True, nogil=True)
def _grow_i8(a: Any) -> Any:  # pragma: no cover - compiled
    b = np.empty(a.size * 2, np.int8)
    b[: a.size] = a
    return b


@njit(cache=True, nogil=True)
def _digits(buf: Any, i: int, k: int) -> Any:  # pragma: no cover - compiled
    """Value of k ASCII digits at buf[i:], or -1 if any is not a digit."""
    v = np.int64(0)
    for p in range(i, i + k):
        d = np.int64(buf[p]) - 48
        if d < 0 or d > 9:
            return -1
        v = v * 10 + d
    return v


@njit(cache=True, nogil=True)
def _nanp_code(npa: int, local: int) -> int:  # pragma: no cover - compiled
    """0 if NPA and exchange are structurally valid, else the reason code."""
    if npa < 200 or npa % 100 == 11:
        return R_AREA_CODE
    nxx = local // 10000
    if nxx < 200 or nxx % 100 == 11:
        return R_EXCHANGE
    return 0


@njit(cache=True, nogil=True)
def _fast_flat(buf: Any, i: int) -> Any:  # pragma: no cover - compiled
    """The number on a well-formed line ``AAA,NNNNNNN`` at buf[i:i+11], or -1."""
    # Branch-free digit checks: (byte - 48) wraps above 9 for every non-digit byte.
    d0 = np.uint8(buf[i] - 48)
    d1 = np.uint8(buf[i + 1] - 48)
    d2 = np.uint8(buf[i + 2] - 48)
    e0 = np.uint8(buf[i + 4] - 48)
    e1 = np.uint8(buf[i + 5] - 48)
    e2 = np.uint8(buf[i + 6] - 48)
    l0 = np.uint8(buf[i + 7] - 48)
    l1 = np.uint8(buf[i + 8] - 48)
    l2 = np.uint8(buf[i + 9] - 48)
    l3 = np.uint8(buf[i + 10] - 48)
    bad = (d0 > 9) | (d1 > 9) | (d2 > 9) | (e0 > 9) | (e1 > 9) | (e2 > 9)
    bad = bad | (l0 > 9) | (l1 > 9) | (l2 > 9) | (l3 > 9) | (buf[i + 3] != _COMMA)
    # NPA and exchange: first digit 2-9 and not N11.
    bad = bad | (d0 < 2) | ((d1 == 1) & (d2 == 1)) | (e0 < 2) | ((e1 == 1) & (e2 == 1))
    if bad:
        return -1
    npa = np.int64(d0) * 100 + np.int64(d1) * 10 + np.int64(d2)
    local = (
        np.int64(e0) * 1_000_000
        + np.int64(e1) * 100_000
        + np.int64(e2) * 10_000
        + np.int64(l0) * 1000
        + np.int64(l1) * 100
        + np.int64(l2) * 10
        + np.int64(l3)
    )
    return 10_000_000_000 + npa * 10_000_000 + local


@njit(cache=True, nogil=True)
def _classify_flat(buf: Any, i: int, e: int) -> int:  # pragma: no cover - compiled
    """Reason code for the line buf[i:e] (0 if it is valid)."""
    if e == i:
        return R_EMPTY
    if e - i != 11 or buf[i + 3] != _COMMA:
        return R_AREA_CODE_LAYOUT
    npa = _digits(buf, i, 3)
    local = _digits(buf, i + 4, 7)
    if npa < 0 or local < 0:
        return R_NON_DIGIT
    return _nanp_code(npa, local)


@njit(cache=True, nogil=True)
def _parse_flat_kernel(buf: Any) -> Any:  # pragma: no cover - compiled
    n = buf.size
    nums = np.empty(n // 12 + 2, np.int64)
    bad_l = np.empty(16, np.int64)
    bad_r = np.empty(16, np.int8)
    bad_o = np.empty(16, np.int64)
    ng = 0
    nb = 0
    line = 0
    i = 0
    while i < n:
        line += 1
        # Fast path: a well-formed line is exactly 12 bytes (13 with CRLF).
        if i + 11 < n:
            c = buf[i + 11]
            if c == _LF:
                v = _fast_flat(buf, i)
                if v >= 0:
                    nums[ng] = v
                    ng += 1
                    i += 12
                    continue
            elif c == _CR and i + 12 < n and buf[i + 12] == _LF:
                v = _fast_flat(buf, i)
                if v >= 0:
                    nums[ng] = v
                    ng += 1
                    i += 13
                    continue
        j = i
        while j < n and buf[j] != _LF:
            j += 1
        e = j
        if e > i and buf[e - 1] == _CR:
            e -= 1
        code = _classify_flat(buf, i, e)
        if code == 0:
            nums[ng] = 10_000_000_000 + _digits(buf, i, 3) * 10_000_000 + _digits(buf, i + 4, 7)
            ng += 1
        else:
            if nb == bad_l.size:
                bad_l = _grow_i64(bad_l)
                bad_o = _grow_i64(bad_o)
                bad_r = _grow_i8(bad_r)
            bad_l[nb] = line
            bad_r[nb] = code
            bad_o[nb] = i
            nb += 1
        i = j + 1
    return nums, ng, bad_l[:nb], bad_r[:nb], bad_o[:nb], line


@njit(cache=True, nogil=True)
def _days_from_civil(y: int, m: int, d: int) -> int:  # pragma: no cover - compiled
    # Howard Hinnant's algorithm: proleptic Gregorian date -> days since 1970-01-01.
    if m <= 2:
        y -= 1
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    mp = m - 3 if m > 2 else m + 9
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


@njit(cache=True, nogil=True)
def _timestamp(buf: Any, i: int) -> Any:  # pragma: no cover - compiled
    """Seconds since the epoch of YYYY-MM-DDThh:mm:ss at buf[i:], or -1 if invalid."""
    if (
        buf[i + 4] != 45
        or buf[i + 7] != 45
        or buf[i + 10] != 84
        or buf[i + 13] != 58
        or buf[i + 16] != 58
    ):
        return -1
    y = _digits(buf, i, 4)
    mo = _digits(buf, i + 5, 2)
    d = _digits(buf, i + 8, 2)
    h = _digits(buf, i + 11, 2)
    mi = _digits(buf, i + 14, 2)
    s = _digits(buf, i + 17, 2)
    if y < 1 or mo < 1 or mo > 12 or d < 1 or h < 0 or h > 23 or mi < 0 or mi > 59:
        return -1
    if s < 0 or s > 59:
        return -1
    if mo == 2:
        leap = (y % 4 == 0 and y % 100 != 0) or y % 400 == 0
        dim = 29 if leap else 28
    elif mo == 4 or mo == 6 or mo == 9 or mo == 11:
        dim = 30
    else:
        dim = 31
    if d > dim:
        return -1
    return _days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s


@njit(cache=True, nogil=True)
def _change_line(buf: Any, i: int, e: int) -> Any:  # pragma: no cover - compiled
    """(reason, number, op, seconds) for the change-list line buf[i:e]; reason 0 = valid."""
    length = e - i
    if length == 0:
        return R_EMPTY, 0, 0, 0
    if length < 14 or buf[i + 10] != _COMMA or buf[e - 2] != _COMMA:
        return R_CHANGE_LAYOUT, 0, 0, 0
    num = _digits(buf, i, 10)
    if num < 0:
        return R_NON_DIGIT, 0, 0, 0
    code = _nanp_code(num // 10_000_000, num % 10_000_000)
    if code != 0:
        return code, 0, 0, 0
    t = _timestamp(buf, i + 11) if length == 32 else -1
    if t < 0:
        return R_TIMESTAMP, 0, 0, 0
    a = buf[e - 1]
    if a == 65:
        return 0, 10_000_000_000 + num, 1, t
    if a == 68:
        return 0, 10_000_000_000 + num, -1, t
    return R_ACTION, 0, 0, 0


@njit(cache=True, nogil=True)
def _parse_change_kernel(buf: Any) -> Any:  # pragma: no cover - compiled
    n = buf.size
    cap = n // 33 + 2
    nums = np.empty(cap, np.int64)
    ops = np.empty(cap, np.int8)
    ts = np.empty(cap, np.int64)
    bad_l = np.empty(16, np.int64)
    bad_r = np.empty(16, np.int8)
    bad_o = np.empty(16, np.int64)
    ng = 0
    nb = 0
    line = 0
    i = 0
    while i < n:
        line += 1
        code = -1
        j = i + 32
        # Fast path: a well-formed line is exactly 33 bytes; a valid line cannot hold a LF,
        # so a bad verdict here only means "look for the real end of the line".
        if j < n and buf[j] == _LF:
            code, num, op, t = _change_line(buf, i, j)
        if code != 0:
            j = i
            while j < n and buf[j] != _LF:
                j += 1
            e = j
            if e > i and buf[e - 1] == _CR:
                e -= 1
            code, num, op, t = _change_line(buf, i, e)
        if code == 0:
            nums[ng] = num
            ops[ng] = op
            ts[ng] = t
            ng += 1
        else:
            if nb == bad_l.size:
                bad_l = _grow_i64(bad_l)
                bad_o = _grow_i64(bad_o)
                bad_r = _grow_i8(bad_r)
            bad_l[nb] = line
            bad_r[nb] = code
            bad_o[nb] = i
            nb += 1
        i = j + 1
    return nums, ops, ts, ng, bad_l[:nb], bad_r[:nb], bad_o[:nb], line


@njit(cache=True, nogil=True)
def _line_start(buf: Any, offset: int, k: int) -> int:  # pragma: no cover - compiled
    """Offset of the k-th line (1-based) counted from the line starting at offset, or -1."""
    if offset >= buf.size:
        return -1
    if k == 1:
        return offset
    seen = 1
    for p in range(offset, buf.size):
        if buf[p] == _LF:
            seen += 1
            if seen == k:
                return p + 1 if p + 1 < buf.size else -1
    return -1


# Where the last bad_line_text call found its line, per thread: callers report bad lines
# in file order, so the next search starts there instead of at the top of the chunk
# (otherwise a file of malformed lines costs a full scan per line). It holds the last
# chunk alive until the thread asks about another one.
_cursor = threading.local()


# ---------------------------------------------------------------------------
# public API


def _as_u8(chunk: BytesLike) -> np.ndarray:
    arr = np.frombuffer(chunk, dtype=np.uint8)
    # Always hand numba a read-only array so one compiled specialization serves all inputs.
    if arr.flags.writeable:
        arr = arr.view()
        arr.flags.writeable = False
    return arr


def _trim(a: np.ndarray, n: int) -> np.ndarray:
    # Copy when the preallocated buffer is mostly unused, so it is not kept alive.
    return a[:n].copy() if n < a.size // 2 else a[:n]


def _bad(bad_l: np.ndarray, first_line: int) -> np.ndarray:
    if first_line != 1:
        bad_l = bad_l + (first_line - 1)
    return bad_l


def parse_area_code_flat(chunk: BytesLike, first_line: int = 1) -> ParseResult:
    """Parse ``AAA,NNNNNNN`` lines (FTC full list, Canada DNCL flat) into E.164 integers."""
    buf = _as_u8(chunk)
    nums, ng, bad_l, bad_r, bad_o, lines = _parse_flat_kernel(buf)
    return ParseResult(
        numbers=_trim(nums, ng),
        ops=None,
        timestamps=None,
        bad_lines=_bad(bad_l, first_line),
        bad_reasons=bad_r,
        lines=int(lines),
        bad_offsets=bad_o,
    )


def parse_change_list(chunk: BytesLike, first_line: int = 1) -> ParseResult:
    """Parse FTC change-list lines ``NNNNNNNNNN,YYYY-MM-DDThh:mm:ss,A|D`` (naive times as UTC)."""
    buf = _as_u8(chunk)
    nums, ops, ts, ng, bad_l, bad_r, bad_o, lines = _parse_change_kernel(buf)
    return ParseResult(
        numbers=_trim(nums, ng),
        ops=_trim(ops, ng),
        timestamps=_trim(ts, ng),
        bad_lines=_bad(bad_l, first_line),
        bad_reasons=bad_r,
        lines=int(lines),
        bad_offsets=bad_o,
    )


def _find_lf(data: BytesLike, pos: int, end: int) -> int:
    """Index of the first LF in data[pos:end], or -1."""
    if isinstance(data, bytes | bytearray | mmap.mmap):
        return data.find(b"\n", pos, end)
    arr = _as_u8(data)
    step = 1 << 16
    while pos < end:
        stop = min(pos + step, end)
        k = arr[pos:stop].tobytes().find(b"\n")
        if k >= 0:
            return pos + k
        pos = stop
    return -1


def split_chunks(data: BytesLike, target: int = 64 << 20) -> Iterator[tuple[int, int]]:
    """Cut data into (start, end) byte ranges of about target bytes, each ending after a LF."""
    if target < 1:
        raise ValueError("target must be positive")
    size = len(data) if isinstance(data, bytes | bytearray | mmap.mmap) else _as_u8(data).size
    start = 0
    while start < size:
        cut = start + target
        if cut >= size:
            yield start, size
            return
        # The chunk ends just after the first LF at or beyond its target length.
        lf = _find_lf(data, cut - 1, size)
        end = size if lf < 0 else lf + 1
        yield start, end
        start = end


def bad_line_text(chunk: BytesLike, line_no_in_chunk: int, offset: int | None = None) -> str:
    """Raw text of one line of chunk (1-based), for error reports; at most 200 characters.

    Pass ``offset=result.bad_offsets[i]`` to skip the search for the line's start;
    without it, calls for increasing line numbers of one chunk resume where the last
    one stopped, so reporting every bad line of a chunk costs one pass over it.
    """
    arr = _as_u8(chunk)
    if offset is None:
        if line_no_in_chunk < 1:
            raise ValueError("line numbers start at 1")
        last = getattr(_cursor, "last", None)
        if last is not None and last[0] is chunk and last[1] <= line_no_in_chunk:
            _, from_line, from_offset = last
        else:
            from_line, from_offset = 1, 0
        start = int(_line_start(arr, from_offset, line_no_in_chunk - from_line + 1))
        if start < 0:
            raise ValueError(f"the chunk has no line {line_no_in_chunk}")
        _cursor.last = (chunk, line_no_in_chunk, start)
    else:
        start = int(offset)
    # Read a bounded window: a broken file may have no newline for megabytes.
    raw = arr[start : start + 4 * _MAX_TEXT + 2].tobytes()
    lf = raw.find(b"\n")
    if lf >= 0:
        raw = raw[:lf]
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    return raw.decode("utf-8", errors="backslashreplace")[:_MAX_TEXT]
