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
import contextlib
import itertools
import mmap
import os
import struct
import sys
import threading
import zlib
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

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


def _kernels() -> Any:
    # numba loads on the first bulk operation, not with the index (see `kernels`)
    from callwarden.dnc import kernels

    return kernels


def _as_numbers(numbers: Any) -> np.ndarray:
    arr = np.asarray(numbers)
    if arr.dtype != np.int64:
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(f"numbers must be integers, not {arr.dtype}")
        arr = arr.astype(np.int64)
    return _readonly(np.ascontiguousarray(arr.reshape(-1)))


# Bulk lookups split big inputs over a thread pool instead of using numba's prange:
# measured here, prange kernels ran 20-40% slower than the same loop compiled serially,
# and numba's threading layers bring fork-safety (OpenMP) or concurrent-call (workqueue)
# hazards into a server process. The kernels release the GIL, so threads scale.
PARALLEL_MIN = 1 << 18  # below this many numbers one thread is as fast
_pool: ThreadPoolExecutor | None = None
_pool_pid = 0
_pool_size = 0
_pool_lock = threading.Lock()


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _get_pool(size: int) -> ThreadPoolExecutor:
    global _pool, _pool_pid, _pool_size
    with _pool_lock:
        # A forked child inherits the pool object but not its threads: make a new one.
        if _pool is None or _pool_pid != os.getpid() or _pool_size < size:
            _pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="callwarden-dnc")
            _pool_pid, _pool_size = os.getpid(), size
        return _pool


def _run_split(
    kernel: Callable[..., None],
    arr: np.ndarray,
    args: tuple[Any, ...],
    out: np.ndarray,
    threads: int | None,
) -> None:
    n = arr.size
    parts = min(_cpus() if threads is None else max(1, threads), max(1, n // PARALLEL_MIN))
    if parts == 1:
        kernel(arr, *args, out)
        return
    cuts = [n * i // parts for i in range(parts + 1)]
    pool = _get_pool(parts - 1)
    futures = [
        pool.submit(kernel, arr[a:b], *args, out[a:b]) for a, b in itertools.pairwise(cuts[1:])
    ]
    kernel(arr[: cuts[1]], *args, out[: cuts[1]])  # the caller's thread takes the first part
    for f in futures:
        f.result()


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
        _kernels().set_bits(bitmap, _readonly(self.data))
        self.data, self.dense, self.owned = bitmap, True, True

    def offsets(self) -> np.ndarray:
        if not self.dense:
            return self.data
        out, k = _kernels().bitmap_offsets(_readonly(self.data), self.count)
        if k != self.count:  # pragma: no cover - would be a builder bug
            raise AssertionError(f"bitmap holds {k} numbers, expected {self.count}")
        return np.asarray(out)

    def bitmap(self) -> np.ndarray:
        if self.dense:
            return self.data
        bitmap = np.zeros(DENSE_BYTES, np.uint8)
        _kernels().set_bits(bitmap, _readonly(self.data))
        return bitmap


def _npa_base(npa: int) -> int:
    return _BASE + npa * 10_000_000 + _LOCAL_BASE


class IndexBuilder:
    """Accumulates one list's numbers in memory and writes an index file."""

    def __init__(
        self, base: ListIndex | None = None, *, dense_threshold: int | None = None
    ) -> None:
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

    def replace_npas(self, other: IndexBuilder, npas: Iterable[int]) -> None:
        """Take these NPAs' content from other (which must not be used afterwards)."""
        keep = getattr(other, "_base", None)
        if keep is not None:  # other's borrowed blocks need their mapping alive
            self._keepalive = [*getattr(self, "_keepalive", []), keep]
        for npa in npas:
            npa = int(npa)
            self._blocks.pop(npa, None)
            block = other._blocks.get(npa)
            if block is not None:
                self._blocks[npa] = block

    def _groups(self, numbers: Any) -> tuple[list[tuple[int, np.ndarray]], bool]:
        """Offsets per NPA, and whether each group is already sorted and unique."""
        arr = _as_numbers(numbers)
        if arr.size == 0:
            return [], True
        bad, starts, offsets, increasing = _kernels().bucket(arr)
        if bad >= 0:
            raise ValueError(f"not a valid NANP number: {int(arr[bad])}")
        nz = np.flatnonzero(np.diff(starts))
        return [(int(npa), offsets[starts[npa] : starts[npa + 1]]) for npa in nz], increasing

    def add(self, numbers: Any) -> int:
        """Add numbers; returns how many were not yet present. Invalid numbers: ValueError."""
        added = 0
        threshold = self.dense_threshold
        groups, ordered = self._groups(numbers)
        for npa, offs in groups:
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
                n = int(_kernels().set_bits(block.data, _readonly(offs)))
            else:
                batch = offs if ordered else np.sort(offs)  # registry files come sorted
                merged, n = _kernels().merge_add(_readonly(block.data), _readonly(batch))
                block.data, block.owned = merged, True
                n = int(n)
            block.count += n
            added += n
        return added

    def remove(self, numbers: Any) -> int:
        """Remove numbers; returns how many were present. Invalid numbers raise ValueError."""
        removed = 0
        groups, ordered = self._groups(numbers)
        for npa, offs in groups:
            block = self._blocks.get(npa)
            if block is None:
                continue
            if block.dense:
                block.own()
                n = int(_kernels().clear_bits(block.data, _readonly(offs)))
            else:
                batch = offs if ordered else np.sort(offs)
                rest, n = _kernels().merge_remove(_readonly(block.data), _readonly(batch))
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
        header = bytearray(_HEADER.pack(MAGIC, VERSION, DATA_START, size, total, NPA_ENTRIES, 0))
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
                    f.write(np.ascontiguousarray(data).data.cast("B"))
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


def _sparse_has(block: memoryview, o: int) -> bool:
    """Whether the sparse block (a u32 view: directory, then offsets) holds offset o."""
    x = o // 10_000
    lo = block[x]
    hi = block[x + 1]
    n = hi - lo
    if n > 24:
        # Offsets spread evenly over an exchange, so first look near where o should sit:
        # a bisection over a whole long exchange touches several cache lines.
        g = lo + (o - x * 10_000) * n // 10_000
        a = g - 8 if g - 8 > lo else lo
        b = g + 8 if g + 8 < hi else hi
        if a > lo and block[a] > o:
            a, b = lo, a
        elif b < hi and block[b - 1] < o:
            a, b = b, hi
        lo, hi = a, b
    elif n == 0:
        return False
    i = bisect.bisect_left(block, o, lo, hi)
    return i < hi and block[i] == o


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
        # The pure-Python path, keyed by number // 10**7 (1NPA, e.g. 1404 for +1 404):
        # (number - offset of the NPA's first slot, block), the block being the byte offset
        # of a dense bitmap (an int) or a u32 view of a sparse block.
        self._py: dict[int, tuple[int, Any]] = {}
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
        # Absolute address of each NPA's dense / sparse block, or -1 (see kernels.probe_batch).
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
                block: Any = off
            else:
                block = base[off : off + 4 * (DIR_LEN + count)].cast("I")
                self._views.append(block)
            self._py[1000 + npa] = (_npa_base(npa), block)
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
        entry = self._py.get(number // 10_000_000)
        if entry is None:
            return False
        o = number - entry[0]
        if o < 0:
            return False
        block = entry[1]
        if block.__class__ is int:
            return self._mm[block + (o >> 3)] >> (o & 7) & 1 == 1  # type: ignore[index]
        return _sparse_has(block, o)

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError("the DNC index is closed")

    def contains_many(self, numbers: Any, *, threads: int | None = None) -> np.ndarray:
        """Boolean array: which of numbers the list holds (invalid numbers give False).

        Large inputs are split over ``threads`` threads (default: every CPU this process
        may use); the numba kernel releases the GIL.
        """
        # Holding the map's view for the call keeps a concurrent close() from unmapping
        # memory the kernel is reading (the map cannot close while a view exists).
        u8 = self._u8
        self._check_open()
        arr = _as_numbers(numbers)
        out = np.empty(arr.size, np.uint8)
        _run_split(
            _kernels().lookup_kernel,
            arr,
            (self._dense, self._sparse, _SAFE_ADDRESS, True),
            out,
            threads,
        )
        del u8
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
            offs, _ = _kernels().bitmap_offsets(view, count)
        else:
            offs = view
        return np.asarray(offs.astype(np.int64) + _npa_base(npa))

    def verify(self) -> None:
        """Read every block and check it (counts, order, valid exchanges); IndexCorrupt if bad."""
        self._check_open()
        for npa in self.npas():
            dense, view, count = self._block_view(npa)
            if dense:
                got = int(np.bitwise_count(view.view(np.uint64)).sum())
                offs, _ = _kernels().bitmap_offsets(view, got)
            else:
                got = count
                offs = view
                if offs.size > 1 and not bool(np.all(offs[1:] > offs[:-1])):
                    raise IndexCorrupt(f"{self.path}: NPA {npa} offsets are not sorted and unique")
                if offs.size and int(offs[-1]) >= DENSE_BITS:
                    raise IndexCorrupt(f"{self.path}: NPA {npa} has an offset out of range")
            if got != count:
                raise IndexCorrupt(
                    f"{self.path}: NPA {npa} holds {got} numbers, table says {count}"
                )
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
        with contextlib.suppress(AttributeError, OSError):  # platforms without madvise
            mm.madvise(mmap.MADV_WILLNEED)
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
            with contextlib.suppress(BufferError):
                view.release()
        self._views = []
        self._u8 = _readonly(np.zeros(ALIGN, np.uint8))
        self._u32 = _readonly(np.zeros(ALIGN // 4, np.uint32))
        mm, self._mm = self._mm, None
        if mm is not None:
            # A builder or MultiIndex may still borrow blocks: the map then goes with them.
            with contextlib.suppress(BufferError):
                mm.close()


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
        raise IndexCorrupt(
            f"{path}: table counts add up to {int(count.sum())}, header says {total}"
        )
    return table


def _check_directories(path: Path, mm: mmap.mmap, table: np.ndarray) -> None:
    # The lookup kernels trust the directories (no bounds checks), so check them up front:
    # 3.2 kB per sparse block keeps open() near-instant.
    for npa in np.flatnonzero(table["kind"] == KIND_SPARSE).tolist():
        count, off = int(table["count"][npa]), int(table["offset"][npa])
        d = np.frombuffer(mm, dtype="<u4", count=DIR_LEN, offset=off).astype(np.int64)
        if d[0] != DIR_LEN or d[-1] != DIR_LEN + count or bool(np.any(np.diff(d) < 0)):
            raise IndexCorrupt(f"{path}: bad exchange directory for NPA {npa}")


_RUN_SHIFT = 7  # MultiIndex's sparse filters have a bit per run of 128 offsets (see mask)


def _run_filter(views: Iterable[Any]) -> bytes:
    """Bit per run of 128 offsets (7.8 kB per NPA): set if any of these blocks has one there.

    Single lookups test it before touching a sparse block, whose cache misses cost
    0.2-0.4 µs each on this kind of machine; the filter is fine-grained so that well
    under 1% of lookups go on to small lists (a coarser one put those misses into p99).
    """
    present = np.zeros(DENSE_BITS >> _RUN_SHIFT, np.bool_)
    for view in views:
        present[np.frombuffer(view[DIR_LEN:], dtype="<u4") >> _RUN_SHIFT] = True
    return np.packbits(present, bitorder="little").tobytes()


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
            for key, (_, block) in index._py.items():
                npa = key - 1000
                if block.__class__ is int:
                    dense.setdefault(npa, []).append((1 << i, index._mm, block))  # type: ignore[arg-type]
                else:
                    sparse.setdefault(npa, []).append((1 << i, block))
        # Keyed by number // 10**7 like ListIndex._py: (offset base, dense probes,
        # sparse probes, filter of the sparse lists).
        self._probes: dict[int, tuple[int, tuple[Any, ...], tuple[Any, ...], bytes]] = {}
        for npa in set(dense) | set(sparse):
            lists = sparse.get(npa, [])
            self._probes[1000 + npa] = (
                _npa_base(npa),
                tuple(dense.get(npa, ())),
                # With several sparse lists, each also gets its own filter, so that one
                # busy list does not send every lookup through all the others.
                tuple(
                    (bit, view, _run_filter([view]) if len(lists) > 1 else None)
                    for bit, view in lists
                ),
                _run_filter(view for _, view in lists) if lists else b"",
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
        probes = self._probes.get(number // 10_000_000)
        if probes is None:
            return 0
        o = number - probes[0]
        if o < 0:
            return 0
        m = 0
        _, dense, sparse, present = probes
        byte = o >> 3
        shift = o & 7
        for bit, mm, off in dense:
            if mm[off + byte] >> shift & 1:
                m |= bit
        # Literal shifts, not _RUN_SHIFT: a global lookup costs more than the test itself.
        if sparse and present[o >> 10] >> (o >> 7 & 7) & 1:
            for bit, view, own in sparse:
                if (own is None or own[o >> 10] >> (o >> 7 & 7) & 1) and _sparse_has(view, o):
                    m |= bit
        return m

    def mask_many(self, numbers: Any, *, threads: int | None = None) -> np.ndarray:
        """uint64 masks for an array of numbers (numba; invalid numbers give 0)."""
        arr = _as_numbers(numbers)
        out = np.empty(arr.size, np.uint64)
        _run_split(
            _kernels().lookup_kernel,
            arr,
            (self._dense, self._sparse, _SAFE_ADDRESS, False),
            out,
            threads,
        )
        return out
