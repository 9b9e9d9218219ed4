"""The Do-Not-Call index's numba kernels: bulk lookups and index building.

Apart from `index` so that loading an index, and single lookups (pure Python), do not load
numba: its import and its compiled-kernel cache cost a command a quarter of a second.
`index` imports this module the first time a bulk operation runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic


def _peek_u8_typer(typingctx: Any, addr: Any) -> Any:  # pragma: no cover - compile time
    """Numba intrinsic: load the byte at an absolute address."""
    sig = types.uint8(types.int64)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.load(builder.inttoptr(args[0], ir.PointerType(ir.IntType(8))))

    return sig, codegen


def _peek_u32_typer(typingctx: Any, addr: Any) -> Any:  # pragma: no cover - compile time
    """Numba intrinsic: load the aligned little-endian u32 at an absolute address."""
    sig = types.uint32(types.int64)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.load(builder.inttoptr(args[0], ir.PointerType(ir.IntType(32))))

    return sig, codegen


_peek_u8: Any = intrinsic(_peek_u8_typer)
_peek_u32: Any = intrinsic(_peek_u32_typer)

# The lookup kernels address blocks through absolute-address tables (per list and NPA:
# the address of its dense bitmap / sparse block, or -1), so one compiled kernel serves
# any number of lists, each in its own mapping. The tables are built from numpy views
# of the maps, and whoever holds a table also holds those views: a map with exported
# views cannot be closed (BufferError), so a held address always stays valid.
_BATCH = 512


@njit(cache=True, nogil=True, inline="always")
def probe_batch(
    numbers: Any,
    start: int,
    n: int,
    dense: Any,
    sparse: Any,
    safe: int,
    npa_b: Any,
    o_b: Any,
    addr: Any,
    cand: Any,
    lo_c: Any,
    pos_c: Any,
    end_c: Any,
    has: Any,
    res: Any,
) -> None:  # pragma: no cover - compiled
    """res[j] = bit k set when list k holds numbers[start + j], for j < n."""
    # Passes over a small batch so the random bitmap reads are independent, branch-free
    # loads the CPU overlaps: one number at a time waits out every cache miss
    # (measured 4x slower). Unsigned math: signed // and % cost extra instructions.
    for j in range(n):
        x = np.uint64(numbers[start + j] - 12_000_000_000)
        local = x % np.uint64(10_000_000)
        ok = (x < np.uint64(8_000_000_000)) & (local >= np.uint64(2_000_000))
        # Invalid numbers look up NPA 0, which never has a block.
        npa_b[j] = (np.int64(x // np.uint64(10_000_000)) + 200) if ok else 0
        o_b[j] = (local - np.uint64(2_000_000)) if ok else np.uint64(0)
        res[j] = 0
    for k in range(dense.shape[0]):
        bit = np.uint64(1) << np.uint64(k)
        if has[k] & 1:
            for j in range(n):
                d = dense[k, npa_b[j]]
                addr[j] = d + np.int64(o_b[j] >> np.uint64(3)) if d >= 0 else safe
            # The gather: nothing but independent loads, so many cache misses are in flight.
            for j in range(n):
                v = np.uint64(_peek_u8(addr[j])) >> (o_b[j] & np.uint64(7))
                res[j] |= (v & np.uint64(addr[j] != safe)) << np.uint64(k)
        if not has[k] & 2:
            continue
        nc = np.int64(0)
        for j in range(n):
            cand[nc] = j
            nc += np.int64(sparse[k, npa_b[j]] >= 0)
        # Sparse blocks, in passes that keep cache misses independent: each candidate's
        # exchange range from the directory; then a first guess where its offset would sit
        # (lines are spread evenly over an exchange's 10,000); then a short walk from there.
        for c in range(nc):
            j = cand[c]
            base = sparse[k, npa_b[j]]
            dir_at = base + 4 * np.int64(o_b[j] // np.uint64(10_000))
            first = np.int64(_peek_u32(dir_at))
            ln = np.int64(_peek_u32(dir_at + 4)) - first
            lo_c[c] = base + 4 * first
            end_c[c] = lo_c[c] + 4 * ln
            guess = (np.int64(o_b[j] % np.uint64(10_000)) * ln) // 10_000
            pos_c[c] = lo_c[c] + 4 * guess
        for c in range(nc):
            # The guessed entries, loaded together (addr is free again: reuse it).
            # An empty exchange reads the harmless safe address instead.
            addr[c] = np.int64(_peek_u32(pos_c[c] if pos_c[c] < end_c[c] else safe))
        for c in range(nc):
            j = cand[c]
            o = o_b[j]
            lo = lo_c[c]
            end = end_c[c]
            pos = pos_c[c]
            if pos >= end:
                continue  # empty exchange
            if np.uint64(addr[c]) < o:
                pos += 4
                while pos < end and np.uint64(_peek_u32(pos)) < o:
                    pos += 4
            else:
                while pos > lo and np.uint64(_peek_u32(pos - 4)) >= o:
                    pos -= 4
            if pos < end and np.uint64(_peek_u32(pos)) == o:
                res[j] |= bit


@njit(cache=True, nogil=True)
def has_blocks(dense: Any, sparse: Any) -> Any:  # pragma: no cover - compiled
    """Per list: bit 0 if it has a dense block anywhere, bit 1 if a sparse one."""
    has = np.zeros(dense.shape[0], np.int64)
    for k in range(dense.shape[0]):
        for npa in range(dense.shape[1]):
            has[k] |= np.int64(dense[k, npa] >= 0) | (np.int64(sparse[k, npa] >= 0) << 1)
    return has


@njit(cache=True, nogil=True)
def lookup_kernel(
    numbers: Any, dense: Any, sparse: Any, safe: int, flags: bool, out: Any
) -> None:  # pragma: no cover - compiled
    """Masks (bit i = list i holds the number) into out, or 0/1 flags when flags is set."""
    npa_b = np.empty(_BATCH, np.int64)
    o_b = np.empty(_BATCH, np.uint64)
    addr = np.empty(_BATCH, np.int64)
    cand = np.empty(_BATCH, np.int64)
    lo_c = np.empty(_BATCH, np.int64)
    pos_c = np.empty(_BATCH, np.int64)
    end_c = np.empty(_BATCH, np.int64)
    res = np.empty(_BATCH, np.uint64)
    has = has_blocks(dense, sparse)
    total = numbers.size
    for start in range(0, total, _BATCH):
        n = min(_BATCH, total - start)
        probe_batch(
            numbers,
            start,
            n,
            dense,
            sparse,
            safe,
            npa_b,
            o_b,
            addr,
            cand,
            lo_c,
            pos_c,
            end_c,
            has,
            res,
        )
        if flags:
            for j in range(n):
                out[start + j] = res[j] != 0
        else:
            for j in range(n):
                out[start + j] = res[j]


@njit(cache=True, nogil=True)
def bucket(numbers: Any) -> Any:  # pragma: no cover - compiled
    """Validate and group numbers by NPA.

    Returns (first bad index or -1, starts[1001], offsets grouped by NPA, whether the
    input was strictly increasing: then every group is sorted and unique already).
    """
    n = numbers.size
    hist = np.zeros(1001, np.int64)
    out = np.empty(n, np.uint32)
    first = np.uint64(0)
    single = True
    increasing = True
    for i in range(n):
        x = np.uint64(numbers[i] - 12_000_000_000)
        if x >= np.uint64(8_000_000_000):
            return i, hist, out, False
        p = x // np.uint64(10_000_000)  # NPA - 200
        local = x % np.uint64(10_000_000)
        nxx = local // np.uint64(10_000)
        if p % np.uint64(100) == np.uint64(11) or nxx < np.uint64(200):
            return i, hist, out, False
        if nxx % np.uint64(100) == np.uint64(11):
            return i, hist, out, False
        hist[np.int64(p) + 201] += 1
        out[i] = np.uint32(local - np.uint64(2_000_000))
        if i == 0:
            first = p
        else:
            single &= p == first
            increasing &= numbers[i] > numbers[i - 1]
    starts = np.cumsum(hist)
    if single:
        # One area code (one file of a per-area-code download): already grouped.
        return -1, starts, out, increasing
    pos = starts[:-1].copy()
    grouped = np.empty(n, np.uint32)
    for i in range(n):
        npa = np.int64(np.uint64(numbers[i] - 12_000_000_000) // np.uint64(10_000_000)) + 200
        grouped[pos[npa]] = out[i]
        pos[npa] += 1
    return -1, starts, grouped, increasing


@njit(cache=True, nogil=True)
def set_bits(bitmap: Any, offsets: Any) -> int:  # pragma: no cover - compiled
    """Set the offsets' bits in a dense bitmap; the number of bits that were clear."""
    added = 0
    for i in range(offsets.size):
        o = offsets[i]
        b = o >> 3
        m = np.uint8(1 << (o & 7))
        old = bitmap[b]
        if old & m == 0:
            bitmap[b] = old | m
            added += 1
    return added


@njit(cache=True, nogil=True)
def clear_bits(bitmap: Any, offsets: Any) -> int:  # pragma: no cover - compiled
    """Clear the offsets' bits in a dense bitmap; the number of bits that were set."""
    removed = 0
    for i in range(offsets.size):
        o = offsets[i]
        b = o >> 3
        m = np.uint8(1 << (o & 7))
        old = bitmap[b]
        if old & m != 0:
            bitmap[b] = old & ~m
            removed += 1
    return removed


@njit(cache=True, nogil=True)
def merge_add(existing: Any, batch: Any) -> Any:  # pragma: no cover - compiled
    """Union of sorted unique existing and sorted batch (may repeat): (merged, added)."""
    out = np.empty(existing.size + batch.size, np.uint32)
    i = 0
    j = 0
    k = 0
    added = 0
    while j < batch.size:
        b = batch[j]
        while i < existing.size and existing[i] < b:
            out[k] = existing[i]
            k += 1
            i += 1
        if (i < existing.size and existing[i] == b) or (k > 0 and out[k - 1] == b):
            j += 1
            continue
        out[k] = b
        k += 1
        added += 1
        j += 1
    while i < existing.size:
        out[k] = existing[i]
        k += 1
        i += 1
    return out[:k], added


@njit(cache=True, nogil=True)
def merge_remove(existing: Any, batch: Any) -> Any:  # pragma: no cover - compiled
    """existing minus sorted batch: (remaining, removed)."""
    out = np.empty(existing.size, np.uint32)
    j = 0
    k = 0
    for i in range(existing.size):
        e = existing[i]
        while j < batch.size and batch[j] < e:
            j += 1
        if j < batch.size and batch[j] == e:
            continue
        out[k] = e
        k += 1
    return out[:k], existing.size - k


@njit(cache=True, nogil=True)
def bitmap_offsets(bitmap: Any, count: int) -> Any:  # pragma: no cover - compiled
    """(the first `count` offsets of a dense bitmap's set bits, ascending; how many are set)."""
    out = np.empty(count, np.uint32)
    k = 0
    for b in range(bitmap.size):
        v = bitmap[b]
        if v != 0:
            for t in range(8):
                if (v >> t) & 1:
                    if k < count:
                        out[k] = b * 8 + t
                    k += 1
    return out, k
