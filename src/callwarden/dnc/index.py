"""The on-disk, memory-mapped Do-Not-Call index and its builder.

One index file holds one list (the national registry, a state list, Canada's
DNCL, the internal list...). Numbers are NANP E.164 integers (+1 404 555 0100 is
14045550100). Per area code (NPA) the file keeps one block of offsets
``local - 2_000_000`` in ``[0, 8_000_000)``, where ``local`` is the 7-digit
NXX-XXXX part: exchanges 200-999 only, since 0XX and 1XX are never assigned.

File layout (all integers little-endian)::

    offset  size   field
    0       8      magic b"CWDNCIDX"
    8       4      format version (1)
    12      4      data start = 16384 (header + table, padded to 4096)
    16      8      file size in bytes (a multiple of 4096)
    24      8      total count of numbers
    32      4      NPA table entries (1000)
    36      4      CRC-32 of bytes 0-35, 40-63 and the table
    40      24     reserved, zero
    64      16000  NPA table, entry i for NPA i (0-999), 16 bytes each:
                     u32 kind   0 absent, 1 dense, 2 sparse
                     u32 count  numbers in the block (0 when absent)
                     u64 offset byte offset of the block (0 when absent), a multiple of 4096
    16384   ...    data blocks in NPA order, each starting on a 4096-byte boundary:
                     dense:  1,000,000 bytes, bit (o & 7) of byte (o >> 3) set when o is listed
                     sparse: u32 directory[801], then count sorted, unique u32 offsets;
                             directory[x] is the u32 index, from the block start, of the
                             first offset in exchange 200 + x (directory[800] = 801 + count),
                             so a lookup searches one exchange, not the whole block

A block is written dense when it holds at least ``DENSE_THRESHOLD`` (250,000)
numbers, where the 1 MB bitmap is no larger than 4-byte offsets. Files are written
to ``<path>.tmp-<pid>``, flushed and fsynced, renamed over ``path`` and the
directory fsynced, so a reader sees either the old file or the complete new one.
Files are never modified in place: a mapped file must not change under its readers.

Opening maps the file read-only and checks only the header and table (it does no
parsing and copies nothing); :meth:`ListIndex.verify` reads every block.
"""

from __future__ import annotations

import bisect
import mmap
import os
import struct
import sys
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from callwarden.errors import CallwardenError

__all__ = [
    "DENSE_THRESHOLD",
    "IndexBuilder",
    "IndexCorrupt",
    "ListIndex",
    "MultiIndex",
    "is_valid_nanp",
]

MAGIC = b"CWDNCIDX"
VERSION = 1
NPA_ENTRIES = 1000
HEADER_SIZE = 64
DATA_START = 16384
ALIGN = 4096
DENSE_BITS = 8_000_000
DENSE_BYTES = DENSE_BITS // 8
EXCHANGES = 800  # 200-999
DIR_LEN = EXCHANGES + 1
# Dense when the 1 MB bitmap is no larger than count 4-byte offsets would be.
DENSE_THRESHOLD = 250_000

_MADV_POPULATE_READ = 22  # linux/mman.h; the mmap module names it only on newer Pythons
_BASE = 10_000_000_000  # the leading country code 1
_LOCAL_BASE = 2_000_000  # exchange 200
_HEADER = struct.Struct("<8sIIQQII24x")
_TABLE_DTYPE = np.dtype([("kind", "<u4"), ("count", "<u4"), ("offset", "<u8")])
KIND_ABSENT, KIND_DENSE, KIND_SPARSE = 0, 1, 2

if sys.byteorder != "little":  # pragma: no cover - every supported platform is little-endian
    raise ImportError("the DNC index format is little-endian; memoryview casts assume it")


class IndexCorrupt(CallwardenError, ValueError):
    """An index file that is not a complete, well-formed callwarden DNC index."""

    code = "index_corrupt"


def _valid_npa(npa: int) -> bool:
    return 200 <= npa <= 999 and npa % 100 != 11


# A readable byte for the branch-free kernels to load when a number has no block.
_SAFE = np.zeros(64, np.uint8)
_SAFE_ADDRESS = int(_SAFE.ctypes.data)

_VALID_NPA = np.array([_valid_npa(i) for i in range(NPA_ENTRIES)], dtype=np.bool_)


def is_valid_nanp(number: int) -> bool:
    """True when number is +1 NPA NXX XXXX with NPA and NXX 200-999 and neither N11."""
    npa, local = divmod(number - _BASE, 10_000_000)
    if not (200 <= npa <= 999) or npa % 100 == 11:
        return False
    nxx = local // 10_000
    return nxx >= 200 and nxx % 100 != 11


def _readonly(a: np.ndarray) -> np.ndarray:
    # numba compiles one specialization per (dtype, writeable) pair: feed it read-only arrays.
    if a.flags.writeable:
        a = a.view()
        a.flags.writeable = False
    return a


def _as_numbers(numbers: Any) -> np.ndarray:
    arr = np.asarray(numbers)
    if arr.dtype != np.int64:
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(f"numbers must be integers, not {arr.dtype}")
        arr = arr.astype(np.int64)
    return _readonly(np.ascontiguousarray(arr.reshape(-1)))


# ---------------------------------------------------------------------------
# numba kernels (compiled at first call, cached on disk)


@intrinsic
def _peek_u8(typingctx: Any, addr: Any) -> Any:  # pragma: no cover - compile time
    """Load the byte at an absolute address (numba intrinsic)."""
    sig = types.uint8(types.int64)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.load(builder.inttoptr(args[0], ir.PointerType(ir.IntType(8))))

    return sig, codegen


@intrinsic
def _peek_u32(typingctx: Any, addr: Any) -> Any:  # pragma: no cover - compile time
    """Load the aligned little-endian u32 at an absolute address (numba intrinsic)."""
    sig = types.uint32(types.int64)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.load(builder.inttoptr(args[0], ir.PointerType(ir.IntType(32))))

    return sig, codegen


# The lookup kernels address blocks through absolute-address tables (per list and NPA:
# the address of its dense bitmap / sparse block, or -1), so one compiled kernel serves
# any number of lists, each in its own mapping. The tables are built from numpy views
# of the maps, and whoever holds a table also holds those views: a map with exported
# views cannot be closed (BufferError), so a held address always stays valid.
_BATCH = 512


@njit(cache=True, nogil=True, inline="always")
def _probe_batch(
    numbers: Any, start: int, n: int, dense: Any, sparse: Any, safe: int,
    npa_b: Any, o_b: Any, addr: Any, cand: Any, res: Any,
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
        nc = 0
        for j in range(n):
            npa = npa_b[j]
            d = dense[k, npa]
            addr[j] = d + np.int64(o_b[j] >> np.uint64(3)) if d >= 0 else safe
            cand[nc] = j
            nc += np.int64(sparse[k, npa] >= 0)
        # The gather: nothing but independent loads, so many cache misses are in flight.
        for j in range(n):
            v = np.uint64(_peek_u8(addr[j])) >> (o_b[j] & np.uint64(7))
            res[j] |= (v & np.uint64(addr[j] != safe)) << np.uint64(k)
        for c in range(nc):
            j = cand[c]
            base = sparse[k, npa_b[j]]
            o = o_b[j]
            x = np.int64(o // np.uint64(10_000))
            lo = np.int64(_peek_u32(base + 4 * x))
            hi = np.int64(_peek_u32(base + 4 * x + 4))
            end = hi
            while lo < hi:
                mid = (lo + hi) >> 1
                if np.uint64(_peek_u32(base + 4 * mid)) < o:
                    lo = mid + 1
                else:
                    hi = mid
            if lo < end and np.uint64(_peek_u32(base + 4 * lo)) == o:
                res[j] |= bit


@njit(cache=True, nogil=True)
def _contains_kernel(
    numbers: Any, dense: Any, sparse: Any, safe: int, out: Any
) -> None:  # pragma: no cover - compiled
    npa_b = np.empty(_BATCH, np.int64)
    o_b = np.empty(_BATCH, np.uint64)
    addr = np.empty(_BATCH, np.int64)
    cand = np.empty(_BATCH, np.int64)
    res = np.empty(_BATCH, np.uint64)
    total = numbers.size
    for start in range(0, total, _BATCH):
        n = min(_BATCH, total - start)
        _probe_batch(numbers, start, n, dense, sparse, safe, npa_b, o_b, addr, cand, res)
        for j in range(n):
            out[start + j] = np.uint8(res[j] != 0)


@njit(cache=True, nogil=True)
def _mask_kernel(
    numbers: Any, dense: Any, sparse: Any, safe: int, out: Any
) -> None:  # pragma: no cover - compiled
    npa_b = np.empty(_BATCH, np.int64)
    o_b = np.empty(_BATCH, np.uint64)
    addr = np.empty(_BATCH, np.int64)
    cand = np.empty(_BATCH, np.int64)
    res = np.empty(_BATCH, np.uint64)
    total = numbers.size
    for start in range(0, total, _BATCH):
        n = min(_BATCH, total - start)
        _probe_batch(numbers, start, n, dense, sparse, safe, npa_b, o_b, addr, cand, res)
        for j in range(n):
            out[start + j] = res[j]


@njit(cache=True, nogil=True)
def _bucket(numbers: Any) -> Any:  # pragma: no cover - compiled
    """Validate and group numbers by NPA: (first bad index or -1, starts[1001], offsets)."""
    n = numbers.size
    hist = np.zeros(1001, np.int64)
    for i in range(n):
        v = numbers[i]
        if v < 12_000_000_000 or v >= 20_000_000_000:
            return i, hist, np.empty(0, np.uint32)
        x = v - 10_000_000_000
        npa = x // 10_000_000
        local = x - npa * 10_000_000
        nxx = local // 10_000
        if npa % 100 == 11 or nxx < 200 or nxx % 100 == 11:
            return i, hist, np.empty(0, np.uint32)
        hist[npa + 1] += 1
    starts = np.cumsum(hist)
    pos = starts[:-1].copy()
    out = np.empty(n, np.uint32)
    for i in range(n):
        x = numbers[i] - 10_000_000_000
        npa = x // 10_000_000
        out[pos[npa]] = x - npa * 10_000_000 - 2_000_000
        pos[npa] += 1
    return -1, starts, out


@njit(cache=True, nogil=True)
def _set_bits(bitmap: Any, offsets: Any) -> int:  # pragma: no cover - compiled
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
def _clear_bits(bitmap: Any, offsets: Any) -> int:  # pragma: no cover - compiled
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
def _merge_add(existing: Any, batch: Any) -> Any:  # pragma: no cover - compiled
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
def _merge_remove(existing: Any, batch: Any) -> Any:  # pragma: no cover - compiled
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
def _bitmap_offsets(bitmap: Any, count: int) -> Any:  # pragma: no cover - compiled
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


# ---------------------------------------------------------------------------
# blocks held by the builder


class _Block:
    """One NPA's numbers in the builder: a 1 MB bitmap or sorted unique u32 offsets."""

    __slots__ = ("count", "data", "dense", "owned")

    def __init__(self, dense: bool, data: np.ndarray, count: int, owned: bool) -> None:
        self.dense = dense
        self.data = data
        self.count = count
        # A block borrowed from a base index is a read-only view of its map: copy on write.
        self.owned = owned

    def own(self) -> None:
        if not self.owned:
            self.data = np.array(self.data)
            self.owned = True

    def to_dense(self) -> None:
        if self.dense:
            return
        bitmap = np.zeros(DENSE_BYTES, np.uint8)
        _set_bits(bitmap, _readonly(self.data))
        self.data, self.dense, self.owned = bitmap, True, True

    def offsets(self) -> np.ndarray:
        if not self.dense:
            return self.data
        out, k = _bitmap_offsets(_readonly(self.data), self.count)
        if k != self.count:  # pragma: no cover - would be a builder bug
            raise AssertionError(f"bitmap holds {k} numbers, expected {self.count}")
        return np.asarray(out)

    def bitmap(self) -> np.ndarray:
        if self.dense:
            return self.data
        bitmap = np.zeros(DENSE_BYTES, np.uint8)
        _set_bits(bitmap, _readonly(self.data))
        return bitmap


def _npa_base(npa: int) -> int:
    return _BASE + npa * 10_000_000 + _LOCAL_BASE


class IndexBuilder:
    """Accumulates one list's numbers in memory and writes an index file."""

    def __init__(self, base: ListIndex | None = None, *, dense_threshold: int | None = None) -> None:
        """Start empty, or from the content of base (base itself is never modified)."""
        self._threshold = dense_threshold
        self._blocks: dict[int, _Block] = {}
        if base is not None:
            self._base = base  # keeps the borrowed blocks' mapping alive
            for npa in base.npas():
                dense, view, count = base._block_view(npa)
                self._blocks[npa] = _Block(dense, view, count, owned=False)

    @property
    def dense_threshold(self) -> int:
        """Blocks with at least this many numbers are kept and written as bitmaps."""
        return DENSE_THRESHOLD if self._threshold is None else self._threshold

    def drop_npas(self, npas: Iterable[int]) -> None:
        """Forget these NPAs entirely (a full import replaces their data)."""
        for npa in npas:
            self._blocks.pop(int(npa), None)

    def _groups(self, numbers: Any) -> Iterable[tuple[int, np.ndarray]]:
        arr = _as_numbers(numbers)
        if arr.size == 0:
            return []
        bad, starts, offsets = _bucket(arr)
        if bad >= 0:
            raise ValueError(f"not a valid NANP number: {int(arr[bad])}")
        nz = np.flatnonzero(np.diff(starts))
        return [(int(npa), offsets[starts[npa] : starts[npa + 1]]) for npa in nz]

    def add(self, numbers: Any) -> int:
        """Add numbers; returns how many were not already present. Invalid numbers raise ValueError."""
        added = 0
        threshold = self.dense_threshold
        for npa, offs in self._groups(numbers):
            block = self._blocks.get(npa)
            if block is None:
                if offs.size >= threshold:
                    block = _Block(True, np.zeros(DENSE_BYTES, np.uint8), 0, owned=True)
                else:
                    block = _Block(False, np.empty(0, np.uint32), 0, owned=True)
                self._blocks[npa] = block
            if not block.dense and block.count + offs.size >= threshold:
                block.to_dense()
            if block.dense:
                block.own()
                n = int(_set_bits(block.data, _readonly(offs)))
            else:
                merged, n = _merge_add(_readonly(block.data), _readonly(np.sort(offs)))
                block.data, block.owned = merged, True
                n = int(n)
            block.count += n
            added += n
        return added

    def remove(self, numbers: Any) -> int:
        """Remove numbers; returns how many were present. Invalid numbers raise ValueError."""
        removed = 0
        for npa, offs in self._groups(numbers):
            block = self._blocks.get(npa)
            if block is None:
                continue
            if block.dense:
                block.own()
                n = int(_clear_bits(block.data, _readonly(offs)))
            else:
                rest, n = _merge_remove(_readonly(block.data), _readonly(np.sort(offs)))
                block.data, block.owned = rest, True
                n = int(n)
            block.count -= n
            removed += n
            if block.count == 0:
                del self._blocks[npa]
        return removed

    def count(self, npa: int | None = None) -> int:
        """Numbers held, in one NPA or in all."""
        if npa is not None:
            block = self._blocks.get(int(npa))
            return 0 if block is None else block.count
        return sum(b.count for b in self._blocks.values())

    def npas(self) -> list[int]:
        """NPAs holding at least one number, ascending."""
        return sorted(npa for npa, b in self._blocks.items() if b.count > 0)

    def numbers(self, npa: int) -> np.ndarray:
        """All numbers of one NPA, sorted, as int64 E.164 integers."""
        block = self._blocks.get(int(npa))
        if block is None:
            return np.empty(0, np.int64)
        return block.offsets().astype(np.int64) + _npa_base(int(npa))

    def write(self, path: Path | str) -> None:
        """Write the index atomically to path (temp file, fsync, rename, fsync directory)."""
        path = Path(path)
        threshold = self.dense_threshold
        table = np.zeros(NPA_ENTRIES, dtype=_TABLE_DTYPE)
        payloads: list[tuple[int, np.ndarray]] = []
        pos = DATA_START
        total = 0
        for npa in self.npas():
            block = self._blocks[npa]
            if block.count >= threshold:
                kind, data = KIND_DENSE, block.bitmap()
            else:
                kind, data = KIND_SPARSE, _sparse_block(block.offsets())
            table[npa] = (kind, block.count, pos)
            payloads.append((pos, data))
            pos += -(-data.nbytes // ALIGN) * ALIGN
            total += block.count
        size = pos
        header = bytearray(
            _HEADER.pack(MAGIC, VERSION, DATA_START, size, total, NPA_ENTRIES, 0)
        )
        table_bytes = table.tobytes()
        struct.pack_into("<I", header, 36, _crc(bytes(header), table_bytes))
        tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
        try:
            with open(tmp, "wb") as f:
                f.write(header)
                f.write(table_bytes)
                f.write(b"\0" * (DATA_START - HEADER_SIZE - len(table_bytes)))
                written = DATA_START
                for start, data in payloads:
                    if start > written:
                        f.write(b"\0" * (start - written))
                    f.write(memoryview(np.ascontiguousarray(data)).cast("B"))
                    written = start + data.nbytes
                if size > written:
                    f.write(b"\0" * (size - written))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(path.parent)


def _sparse_block(offsets: np.ndarray) -> np.ndarray:
    """Directory of exchange starts followed by the offsets, as written to the file."""
    starts = np.searchsorted(offsets, np.arange(DIR_LEN, dtype=np.int64) * 10_000)
    return np.concatenate([(starts + DIR_LEN).astype("<u4"), offsets.astype("<u4", copy=False)])


def _crc(header: bytes, table: bytes) -> int:
    return zlib.crc32(table, zlib.crc32(header[40:64], zlib.crc32(header[:36])))


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _Closed(dict[int, Any]):
    """Stands in for a closed index's lookup table: never answer "not listed" by mistake."""

    def get(self, key: Any, default: Any = None) -> Any:
        raise ValueError("the DNC index is closed")


class ListIndex:
    """One list's numbers, memory-mapped read-only from an index file."""

    path: Path | None

    def __init__(self) -> None:
        """Use ListIndex.open or ListIndex.empty."""
        self.path = None
        self._mm: mmap.mmap | None = None
        self._table = np.zeros(NPA_ENTRIES, dtype=_TABLE_DTYPE)
        self._total = 0
        # Lookup per NPA for the pure-Python path: dense -> byte offset (int), sparse -> u32 view.
        self._py: dict[int, Any] = {}
        self._views: list[memoryview] = []
        self._closed = False
        self._set_arrays()

    def _set_arrays(self) -> None:
        if self._mm is None:
            self._u8 = _readonly(np.zeros(ALIGN, np.uint8))
            self._u32 = _readonly(np.zeros(ALIGN // 4, np.uint32))
        else:
            self._u8 = np.frombuffer(self._mm, dtype=np.uint8)
            self._u32 = np.frombuffer(self._mm, dtype=np.uint32)
        kind = self._table["kind"]
        address = self._table["offset"].astype(np.int64) + int(self._u8.ctypes.data)
        # Absolute address of each NPA's dense / sparse block, or -1 (see _probe_batch).
        self._dense = _readonly(np.where(kind == KIND_DENSE, address, -1).reshape(1, -1))
        self._sparse = _readonly(np.where(kind == KIND_SPARSE, address, -1).reshape(1, -1))

    @classmethod
    def empty(cls) -> ListIndex:
        """An index holding no numbers, with no file behind it."""
        return cls()

    @classmethod
    def open(cls, path: Path | str) -> ListIndex:
        """Map an index file read-only, checking its header and table; IndexCorrupt if bad."""
        path = Path(path)
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size < DATA_START:
                raise IndexCorrupt(f"{path}: {size} bytes is too short for a DNC index")
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            table = _check_header(path, mm, size)
            _check_directories(path, mm, table)
        except BaseException:
            mm.close()
            raise
        self = cls()
        self.path = path
        self._mm = mm
        self._table = table
        self._total = int(table["count"].sum())
        self._set_arrays()
        base = memoryview(mm)
        self._views.append(base)
        for npa in np.flatnonzero(table["kind"]).tolist():
            kind, count, off = (int(x) for x in table[npa])
            if kind == KIND_DENSE:
                self._py[npa] = off
            else:
                view = base[off : off + 4 * (DIR_LEN + count)].cast("I")
                self._views.append(view)
                self._py[npa] = view
        return self

    def __enter__(self) -> ListIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ListIndex({str(self.path)!r}, count={self._total}, npas={len(self._py)})"

    def npas(self) -> list[int]:
        """NPAs holding at least one number, ascending."""
        return [int(x) for x in np.flatnonzero(self._table["count"])]

    def count(self, npa: int | None = None) -> int:
        """Numbers held, in one NPA or in all."""
        if npa is None:
            return self._total
        if not 0 <= npa < NPA_ENTRIES:
            return 0
        return int(self._table["count"][npa])

    def contains(self, number: int) -> bool:
        """True when the list holds number (pure Python; invalid numbers are never listed)."""
        npa, local = divmod(number - 10_000_000_000, 10_000_000)
        block = self._py.get(npa)
        if block is None:
            return False
        o = local - 2_000_000
        if o < 0:
            return False
        if block.__class__ is int:
            return self._mm[block + (o >> 3)] >> (o & 7) & 1 == 1  # type: ignore[index]
        x = o // 10_000
        lo = block[x]
        hi = block[x + 1]
        if lo == hi:
            return False
        i = bisect.bisect_left(block, o, lo, hi)
        return i < hi and block[i] == o

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError("the DNC index is closed")


    def contains_many(self, numbers: Any) -> np.ndarray:
        """Boolean array: which of numbers the list holds (invalid numbers give False)."""
        self._check_open()
        arr = _as_numbers(numbers)
        out = np.empty(arr.size, np.uint8)
        _contains_kernel(arr, self._dense, self._sparse, _SAFE_ADDRESS, out)
        return out.view(np.bool_)

    def _block_view(self, npa: int) -> tuple[bool, np.ndarray, int]:
        """(dense, read-only view of the block, count) for one NPA present in the file."""
        self._check_open()
        kind, count, off = (int(x) for x in self._table[npa])
        if kind == KIND_DENSE:
            return True, self._u8[off : off + DENSE_BYTES], count
        start = off // 4 + DIR_LEN
        return False, self._u32[start : start + count], count

    def numbers(self, npa: int) -> np.ndarray:
        """All numbers of one NPA, sorted, as int64 E.164 integers."""
        self._check_open()
        if not 0 <= npa < NPA_ENTRIES or self._table["count"][npa] == 0:
            return np.empty(0, np.int64)
        dense, view, count = self._block_view(npa)
        if dense:
            offs, _ = _bitmap_offsets(view, count)
        else:
            offs = view
        return offs.astype(np.int64) + _npa_base(npa)

    def verify(self) -> None:
        """Read every block and check it (bit counts, order, only valid exchanges); IndexCorrupt if bad."""
        self._check_open()
        for npa in self.npas():
            dense, view, count = self._block_view(npa)
            if dense:
                got = int(np.bitwise_count(view.view(np.uint64)).sum())
                offs, _ = _bitmap_offsets(view, got)
            else:
                got = count
                offs = view
                if offs.size > 1 and not bool(np.all(offs[1:] > offs[:-1])):
                    raise IndexCorrupt(f"{self.path}: NPA {npa} offsets are not sorted and unique")
                if offs.size and int(offs[-1]) >= DENSE_BITS:
                    raise IndexCorrupt(f"{self.path}: NPA {npa} has an offset out of range")
            if got != count:
                raise IndexCorrupt(f"{self.path}: NPA {npa} holds {got} numbers, table says {count}")
            if not dense:
                start = int(self._table["offset"][npa]) // 4
                stored = self._u32[start : start + DIR_LEN]
                if not bool(np.array_equal(stored, _sparse_block(offs)[:DIR_LEN])):
                    raise IndexCorrupt(f"{self.path}: NPA {npa} exchange directory is wrong")
            nxx = (offs.astype(np.int64) + _LOCAL_BASE) // 10_000
            if offs.size and bool(np.any(nxx % 100 == 11)):
                raise IndexCorrupt(f"{self.path}: NPA {npa} lists an N11 exchange")

    def prefetch(self) -> None:
        """Bring the whole file into memory now so the first lookups do not fault pages in."""
        self._check_open()
        mm = self._mm
        if mm is None:
            return
        size = len(mm)
        try:
            mm.madvise(mmap.MADV_WILLNEED)
        except (AttributeError, OSError):  # pragma: no cover - platform without madvise
            pass
        # MADV_POPULATE_READ (Linux 5.14+) maps every page in one call; touch pages otherwise.
        if sys.platform == "linux":
            try:
                mm.madvise(getattr(mmap, "MADV_POPULATE_READ", _MADV_POPULATE_READ))
                return
            except (AttributeError, OSError, ValueError):  # pragma: no cover - older kernels
                pass
        if size:  # pragma: no cover - only without MADV_POPULATE_READ
            int(self._u8[::ALIGN].sum())

    def close(self) -> None:
        """Release the mapping (still-living views keep it until they go; lookups then fail)."""
        if self._closed:
            return
        self._closed = True
        self._py = _Closed()
        for view in reversed(self._views):
            try:
                view.release()
            except BufferError:
                pass
        self._views = []
        self._u8 = _readonly(np.zeros(ALIGN, np.uint8))
        self._u32 = _readonly(np.zeros(ALIGN // 4, np.uint32))
        mm, self._mm = self._mm, None
        if mm is not None:
            try:
                mm.close()
            except BufferError:
                # A builder or MultiIndex still borrows blocks; the map goes with them.
                pass


def _check_header(path: Path, mm: mmap.mmap, size: int) -> np.ndarray:
    head = mm[:DATA_START]
    magic, version, data_start, file_size, total, entries, crc = _HEADER.unpack_from(head)
    if magic != MAGIC:
        raise IndexCorrupt(f"{path}: not a callwarden DNC index (bad magic)")
    if version != VERSION:
        raise IndexCorrupt(f"{path}: index format version {version}, expected {VERSION}")
    if data_start != DATA_START or entries != NPA_ENTRIES:
        raise IndexCorrupt(f"{path}: unexpected header layout")
    if file_size != size:
        raise IndexCorrupt(f"{path}: file is {size} bytes, header says {file_size} (truncated?)")
    table_bytes = head[HEADER_SIZE : HEADER_SIZE + NPA_ENTRIES * _TABLE_DTYPE.itemsize]
    if _crc(head[:HEADER_SIZE], table_bytes) != crc:
        raise IndexCorrupt(f"{path}: header checksum mismatch")
    table = np.frombuffer(table_bytes, dtype=_TABLE_DTYPE).copy()
    kind = table["kind"].astype(np.int64)
    count = table["count"].astype(np.int64)
    off = table["offset"].astype(np.int64)
    length = np.where(kind == KIND_DENSE, DENSE_BYTES, 4 * (DIR_LEN + count))
    present = kind != KIND_ABSENT
    bad = (
        (kind > KIND_SPARSE)
        | (present & ~_VALID_NPA)
        | (present & ((count < 1) | (count > DENSE_BITS)))
        | (~present & ((count != 0) | (off != 0)))
        | (present & ((off < DATA_START) | (off % ALIGN != 0) | (off + length > size)))
    )
    if bool(bad.any()):
        npa = int(np.flatnonzero(bad)[0])
        raise IndexCorrupt(f"{path}: bad table entry for NPA {npa}")
    if int(count.sum()) != total:
        raise IndexCorrupt(f"{path}: table counts add up to {int(count.sum())}, header says {total}")
    return table


def _check_directories(path: Path, mm: mmap.mmap, table: np.ndarray) -> None:
    # The lookup kernels trust the directories (no bounds checks), so check them up front:
    # 3.2 kB per sparse block keeps open() near-instant.
    for npa in np.flatnonzero(table["kind"] == KIND_SPARSE).tolist():
        count, off = int(table["count"][npa]), int(table["offset"][npa])
        d = np.frombuffer(mm, dtype="<u4", count=DIR_LEN, offset=off).astype(np.int64)
        if d[0] != DIR_LEN or d[-1] != DIR_LEN + count or bool(np.any(np.diff(d) < 0)):
            raise IndexCorrupt(f"{path}: bad exchange directory for NPA {npa}")


class MultiIndex:
    """Several lists at once, bit i of a mask = indexes[i] holds the number."""

    def __init__(self, indexes: Sequence[ListIndex]) -> None:
        """Precompute, per NPA, the probes of just the lists that have a block for it."""
        if len(indexes) > 64:
            raise ValueError("a MultiIndex holds at most 64 lists")
        self.indexes = list(indexes)
        dense: dict[int, list[tuple[int, mmap.mmap, int]]] = {}
        sparse: dict[int, list[tuple[int, Any]]] = {}
        for i, index in enumerate(self.indexes):
            index._check_open()
            for npa, block in index._py.items():
                if block.__class__ is int:
                    dense.setdefault(npa, []).append((1 << i, index._mm, block))  # type: ignore[arg-type]
                else:
                    sparse.setdefault(npa, []).append((1 << i, block))
        self._probes: dict[int, tuple[tuple[Any, ...], tuple[Any, ...], bytes]] = {}
        for npa in set(dense) | set(sparse):
            # Which exchanges any sparse list has numbers in: most single lookups then skip
            # the sparse lists without touching their blocks (cache misses cost ~0.2 µs each).
            present = np.zeros(EXCHANGES, np.bool_)
            for _, view in sparse.get(npa, ()):
                present |= np.diff(np.frombuffer(view[:DIR_LEN], dtype="<u4")) > 0
            self._probes[npa] = (
                tuple(dense.get(npa, ())),
                tuple(sparse.get(npa, ())),
                present.tobytes(),
            )
        # The kernel's address tables, one row per list; the views keep every map alive.
        self._views = [index._u8 for index in self.indexes]
        shape = (len(self.indexes), NPA_ENTRIES)
        self._dense = _readonly(
            np.vstack([ix._dense for ix in self.indexes]) if self.indexes else np.full(shape, -1)
        )
        self._sparse = _readonly(
            np.vstack([ix._sparse for ix in self.indexes]) if self.indexes else np.full(shape, -1)
        )

    def mask(self, number: int) -> int:
        """Bit i set when indexes[i] holds number (pure Python, for single lookups)."""
        npa, local = divmod(number - 10_000_000_000, 10_000_000)
        probes = self._probes.get(npa)
        if probes is None:
            return 0
        o = local - 2_000_000
        if o < 0:
            return 0
        m = 0
        dense, sparse, present = probes
        if dense:
            byte = o >> 3
            shift = o & 7
            for bit, mm, off in dense:
                if mm[off + byte] >> shift & 1:
                    m |= bit
        x = o // 10_000
        if present[x]:
            for bit, view in sparse:
                lo = view[x]
                hi = view[x + 1]
                if lo != hi:  # most exchanges of a small list are empty
                    i = bisect.bisect_left(view, o, lo, hi)
                    if i < hi and view[i] == o:
                        m |= bit
        return m

    def mask_many(self, numbers: Any) -> np.ndarray:
        """uint64 masks for an array of numbers (numba; invalid numbers give 0)."""
        arr = _as_numbers(numbers)
        out = np.empty(arr.size, np.uint64)
        _mask_kernel(arr, self._dense, self._sparse, _SAFE_ADDRESS, out)
        return out
