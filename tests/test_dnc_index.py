"""The memory-mapped DNC index: builder, file format, lookups."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callwarden.dnc import index as ix
from callwarden.dnc.index import (
    IndexBuilder,
    IndexCorrupt,
    ListIndex,
    MultiIndex,
    is_valid_nanp,
)
from callwarden.errors import CallwardenError

FAST = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

NPAS = [201, 404, 818, 999]
valid_exchange = st.integers(200, 999).filter(lambda x: x % 100 != 11)
# A few exchanges and lines only, so random operations collide (duplicates, re-adds).
number = st.builds(
    lambda npa, nxx, line: 10_000_000_000 + npa * 10_000_000 + nxx * 10_000 + line,
    st.sampled_from(NPAS),
    st.sampled_from([200, 201, 555, 999]),
    st.integers(0, 12),
)
INVALID = [
    0,
    -1,
    12_345,
    10_000_000_000,
    11_999_999_999,  # NPA 199
    12_001_999_999,  # exchange 199
    12_011_000_000,  # exchange 100
    14_115_550_100,  # NPA 411
    12_014_115_555,  # exchange 411
    12_019_115_555,  # exchange 911
    20_000_000_000,
    2**62,
    -(2**62),
]


def nums(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def expected_mask(number: int, models: list[set[int]]) -> int:
    return sum(1 << i for i, m in enumerate(models) if number in m)


def assert_matches(index: ListIndex, model: set[int], probes: Iterable[int] = ()) -> None:
    """Every way of asking the index agrees with the Python set model."""
    assert index.count() == len(model)
    by_npa: dict[int, list[int]] = {}
    for n in model:
        by_npa.setdefault((n - 10_000_000_000) // 10_000_000, []).append(n)
    assert index.npas() == sorted(by_npa)
    for npa, values in by_npa.items():
        assert index.count(npa) == len(values)
        assert index.numbers(npa).tolist() == sorted(values)
    queries = sorted(model) + list(probes) + INVALID
    got = index.contains_many(nums(*queries))
    assert got.dtype == np.bool_
    want = [q in model for q in queries]
    assert got.tolist() == want
    assert [index.contains(q) for q in queries] == want
    multi = MultiIndex([ListIndex.empty(), index])
    masks = multi.mask_many(nums(*queries))
    assert masks.dtype == np.uint64
    assert masks.tolist() == [2 * w for w in want]
    assert [multi.mask(q) for q in queries] == [2 * w for w in want]


# ---------------------------------------------------------------------------
# builder


def test_add_remove_and_duplicate_counts() -> None:
    b = IndexBuilder()
    assert b.add(nums(12012345678, 12012345678, 14045550100)) == 2
    assert b.add(nums(12012345678)) == 0
    assert b.count() == 2 and b.count(201) == 1 and b.count(202) == 0
    assert b.npas() == [201, 404]
    assert b.remove(nums(14045550100, 14045550100, 14045550101)) == 1
    assert b.remove(nums(14045550100)) == 0
    assert b.npas() == [201]
    assert b.add(nums()) == 0 and b.remove(nums()) == 0
    assert b.add([12012345679]) == 1  # any integer sequence works
    assert b.numbers(201).tolist() == [12012345678, 12012345679]


@FAST
@given(st.lists(number, max_size=60), st.lists(number, max_size=60))
def test_sorted_and_unsorted_batches_agree(first: list[int], second: list[int]) -> None:
    # Strictly increasing input (how registry files come) skips sorting inside the builder.
    a = IndexBuilder(dense_threshold=10**9)
    b = IndexBuilder(dense_threshold=10**9)
    for batch in (first, second):
        assert a.add(nums(*sorted(set(batch)))) == b.add(nums(*batch))
    assert a.remove(nums(*sorted(set(second)))) == b.remove(nums(*reversed(second)))
    for npa in NPAS:
        assert a.numbers(npa).tolist() == b.numbers(npa).tolist()


@pytest.mark.parametrize("bad", INVALID)
def test_invalid_numbers_are_the_callers_bug(bad: int) -> None:
    b = IndexBuilder()
    with pytest.raises(ValueError, match="not a valid NANP number"):
        b.add(nums(12012345678, bad))
    with pytest.raises(ValueError):
        b.remove(nums(bad))
    assert b.count() == 0  # validation happens before anything changes
    assert not is_valid_nanp(bad)


def test_non_integer_numbers_are_refused() -> None:
    with pytest.raises(TypeError):
        IndexBuilder().add(np.array([1.5e10]))


def test_is_valid_nanp() -> None:
    assert is_valid_nanp(12012000000)
    assert is_valid_nanp(19999999999)
    assert not is_valid_nanp(12011999999)


def test_dense_threshold_crossing_both_ways(tmp_path: Path) -> None:
    b = IndexBuilder(dense_threshold=10)
    values = [12012000000 + i * 7 for i in range(12)]
    b.add(nums(*values[:5]))
    b.add(nums(*values[5:]))  # 5 + 7 >= 10: the block becomes a bitmap
    b.write(tmp_path / "a.idx")
    with ListIndex.open(tmp_path / "a.idx") as a:
        assert int(a._table["kind"][201]) == ix.KIND_DENSE
        assert_matches(a, set(values))
    b.remove(nums(*values[:4]))  # 8 left: written as offsets again
    b.write(tmp_path / "b.idx")
    with ListIndex.open(tmp_path / "b.idx") as c:
        assert int(c._table["kind"][201]) == ix.KIND_SPARSE
        assert_matches(c, set(values[4:]))
        c.verify()


def test_module_threshold_can_be_monkeypatched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ix, "DENSE_THRESHOLD", 3)
    b = IndexBuilder()
    b.add(nums(12012000000, 12012000001, 12012000002, 14045550100))
    b.write(tmp_path / "t.idx")
    with ListIndex.open(tmp_path / "t.idx") as t:
        assert int(t._table["kind"][201]) == ix.KIND_DENSE
        assert int(t._table["kind"][404]) == ix.KIND_SPARSE


def test_real_threshold_block_sizes(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    offsets = rng.choice(np.arange(0, 8_000_000, 3), 260_000, replace=False)
    valid = ((offsets + 2_000_000) // 10_000) % 100 != 11
    values = 10_000_000_000 + 818 * 10_000_000 + 2_000_000 + offsets[valid]
    b = IndexBuilder()
    assert b.add(values) == values.size
    b.add(nums(19995550100))
    b.write(tmp_path / "big.idx")
    size = (tmp_path / "big.idx").stat().st_size
    with ListIndex.open(tmp_path / "big.idx") as big:
        dense = values.size >= ix.DENSE_THRESHOLD
        assert int(big._table["kind"][818]) == (ix.KIND_DENSE if dense else ix.KIND_SPARSE)
        assert int(big._table["kind"][999]) == ix.KIND_SPARSE
        assert big.count() == values.size + 1
        assert big.numbers(818).tolist() == sorted(values.tolist())
        assert big.contains_many(values).all()
        big.prefetch()
        big.verify()
    assert size % ix.ALIGN == 0


@FAST
@given(
    st.lists(
        st.tuples(st.sampled_from(["add", "remove", "drop"]), st.lists(number, max_size=30)),
        max_size=12,
    ),
    st.integers(1, 12),
)
def test_random_operations_match_a_set_model(
    tmp_path_factory: pytest.TempPathFactory, ops: list[tuple[str, list[int]]], threshold: int
) -> None:
    tmp = tmp_path_factory.mktemp("ops")
    b = IndexBuilder(dense_threshold=threshold)
    model: set[int] = set()
    for op, values in ops:
        if op == "add":
            assert b.add(nums(*values)) == len(set(values) - model)
            model |= set(values)
        elif op == "remove":
            assert b.remove(nums(*values)) == len(set(values) & model)
            model -= set(values)
        else:
            npas = {(v - 10_000_000_000) // 10_000_000 for v in values}
            b.drop_npas(npas)
            model = {m for m in model if (m - 10_000_000_000) // 10_000_000 not in npas}
        assert b.count() == len(model)
    b.write(tmp / "x.idx")
    with ListIndex.open(tmp / "x.idx") as index:
        assert_matches(index, model, probes=[12012000005, 19999999999, 18182015555])
        index.verify()


@FAST
@given(
    st.lists(number, max_size=40),
    st.lists(number, max_size=20),
    st.lists(number, max_size=20),
    st.integers(1, 12),
)
def test_builder_from_base_leaves_base_alone(
    tmp_path_factory: pytest.TempPathFactory,
    first: list[int],
    more: list[int],
    less: list[int],
    threshold: int,
) -> None:
    tmp = tmp_path_factory.mktemp("base")
    b = IndexBuilder(dense_threshold=threshold)
    b.add(nums(*first))
    b.write(tmp / "base.idx")
    before = (tmp / "base.idx").read_bytes()
    base = ListIndex.open(tmp / "base.idx")
    child = IndexBuilder(base, dense_threshold=threshold)
    assert child.count() == len(set(first))
    child.add(nums(*more))
    child.remove(nums(*less))
    child.write(tmp / "child.idx")
    assert_matches(base, set(first))
    with ListIndex.open(tmp / "child.idx") as c:
        assert_matches(c, (set(first) | set(more)) - set(less))
    # Replacing the base file under an open reader: the reader keeps its snapshot.
    child.write(tmp / "base.idx")
    assert_matches(base, set(first))
    base.close()
    same = (set(first) | set(more)) - set(less) == set(first)
    assert (before == (tmp / "base.idx").read_bytes()) == same


@FAST
@given(
    st.sets(st.integers(0, 9_999), min_size=20, max_size=3_000),
    st.sampled_from(["uniform", "low", "high", "square"]),
)
def test_long_sparse_exchanges(
    tmp_path_factory: pytest.TempPathFactory, lines: set[int], shape: str
) -> None:
    # Many numbers in one exchange exercise the interpolated search window; bunching them
    # at one end puts the first guess far before or after the number sought.
    spread = {
        "uniform": lambda v: v,
        "low": lambda v: v // 10,
        "high": lambda v: 9_999 - v // 10,
        "square": lambda v: v * v % 10_000,
    }[shape]
    base = 10_000_000_000 + 404 * 10_000_000 + 555 * 10_000
    values = sorted({base + spread(v) for v in lines})
    tmp = tmp_path_factory.mktemp("long")
    b = IndexBuilder()
    b.add(nums(*values, 12015550100))
    b.write(tmp / "x.idx")
    with ListIndex.open(tmp / "x.idx") as x:
        assert int(x._table["kind"][404]) == ix.KIND_SPARSE
        every = list(range(base - 3, base + 10_003))
        want = set(values)
        got = [x.contains(n) for n in every]
        assert got == [n in want for n in every]
        assert x.contains_many(nums(*every)).tolist() == got
        multi = MultiIndex([x, x])
        assert [multi.mask(n) for n in every] == [3 * g for g in got]
        x.verify()


def test_drop_npas_replaces_an_area_code(tmp_path: Path) -> None:
    b = IndexBuilder()
    b.add(nums(12012345678, 12012345679, 14045550100))
    base_path = tmp_path / "b.idx"
    b.write(base_path)
    with ListIndex.open(base_path) as base:
        full_import = IndexBuilder(base)
        full_import.drop_npas([201, 555])
        full_import.add(nums(12015550000))
        assert full_import.count() == 2
        full_import.write(tmp_path / "c.idx")
    with ListIndex.open(tmp_path / "c.idx") as c:
        assert_matches(c, {12015550000, 14045550100})


def test_write_is_atomic_and_leaves_no_temp_file(tmp_path: Path) -> None:
    b = IndexBuilder()
    b.add(nums(12012345678))
    b.write(tmp_path / "x.idx")
    b.write(tmp_path / "x.idx")
    assert [p.name for p in tmp_path.iterdir()] == ["x.idx"]


def test_failed_write_removes_its_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    b = IndexBuilder()
    b.add(nums(12012345678))

    def boom(fd: int) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(ix.os, "fsync", boom)
    with pytest.raises(OSError, match="disk on fire"):
        b.write(tmp_path / "x.idx")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------
# reading


def test_empty_index(tmp_path: Path) -> None:
    e = ListIndex.empty()
    assert e.path is None and e.count() == 0 and e.npas() == []
    assert not e.contains(12012345678)
    assert e.contains_many(nums(12012345678, 0)).tolist() == [False, False]
    assert e.numbers(201).size == 0
    e.prefetch()
    e.verify()
    IndexBuilder().write(tmp_path / "e.idx")
    with ListIndex.open(tmp_path / "e.idx") as f:
        assert_matches(f, set())
        assert f.count(5000) == 0 and f.numbers(5000).size == 0
    assert MultiIndex([]).mask_many(nums(12012345678)).tolist() == [0]
    assert MultiIndex([]).mask(12012345678) == 0


def test_lookups_accept_other_integer_inputs(tmp_path: Path) -> None:
    b = IndexBuilder()
    b.add(nums(12012345678, 14045550100))
    b.write(tmp_path / "x.idx")
    with ListIndex.open(tmp_path / "x.idx") as x:
        assert x.contains_many([12012345678, 1]).tolist() == [True, False]
        strided = nums(12012345678, 0, 14045550100, 0)[::2]
        assert x.contains_many(strided).tolist() == [True, True]
        assert x.contains_many(np.array([12012345678], dtype=np.uint64)).tolist() == [True]
        assert x.contains_many(np.zeros(0, np.int32)).tolist() == []
        assert x.contains(np.int64(12012345678))  # type: ignore[arg-type]


def test_multi_index_bits_and_single_lookups(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    models: list[set[int]] = []
    lists = []
    for i, (n, threshold) in enumerate([(3000, 100), (200, 10**9), (50, 10**9), (0, 1)]):
        npa = rng.choice(np.array(NPAS), n)
        nxx = rng.choice(np.array([200, 201, 202, 555, 999]), n)
        values = 10_000_000_000 + npa * 10_000_000 + nxx * 10_000 + rng.integers(0, 300, n)
        b = IndexBuilder(dense_threshold=threshold)
        b.add(values)
        b.write(tmp_path / f"{i}.idx")
        lists.append(ListIndex.open(tmp_path / f"{i}.idx"))
        models.append(set(values.tolist()))
    multi = MultiIndex([*lists, ListIndex.empty()])
    pool = sorted(set().union(*models))
    extra = (
        10_000_000_000
        + rng.choice(np.array(NPAS), 2000) * 10_000_000
        + rng.integers(2_000_000, 10_000_000, 2000)
    )
    queries = nums(*pool, *extra.tolist(), *INVALID)
    masks = multi.mask_many(queries)
    want = [expected_mask(q, models) for q in queries.tolist()]
    assert masks.tolist() == want
    assert [multi.mask(q) for q in queries.tolist()] == want
    for i, li in enumerate(lists):
        assert li.contains_many(queries).tolist() == [bool(w >> i & 1) for w in want]
    assert multi.mask_many(queries[:0]).tolist() == []


def test_bulk_lookups_split_over_threads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ix, "PARALLEL_MIN", 16)
    rng = np.random.default_rng(9)
    values = (
        10_000_000_000
        + rng.choice(np.array(NPAS), 500) * 10_000_000
        + rng.integers(2_000_000, 10_000_000, 500)
    )
    values = values[[is_valid_nanp(int(v)) for v in values]]
    b = IndexBuilder(dense_threshold=100)
    b.add(values[::2])
    b.write(tmp_path / "x.idx")
    with ListIndex.open(tmp_path / "x.idx") as x:
        multi = MultiIndex([x, x])
        want = [v in set(values[::2].tolist()) for v in values.tolist()]
        for threads in (None, 1, 2, 3, 7, 0):
            assert x.contains_many(values, threads=threads).tolist() == want
            assert multi.mask_many(values, threads=threads).tolist() == [3 * w for w in want]


def test_multi_index_limit() -> None:
    with pytest.raises(ValueError, match="64"):
        MultiIndex([ListIndex.empty()] * 65)
    assert MultiIndex([ListIndex.empty()] * 64).mask(12012345678) == 0


def test_close_makes_lookups_fail_loudly(tmp_path: Path) -> None:
    b = IndexBuilder(dense_threshold=1)
    b.add(nums(12012345678, 14045550100))
    b.write(tmp_path / "x.idx")
    x = ListIndex.open(tmp_path / "x.idx")
    multi = MultiIndex([x])
    x.close()
    x.close()
    # A closed index must never answer "not listed".
    with pytest.raises(ValueError, match="closed"):
        x.contains(12012345678)
    with pytest.raises(ValueError, match="closed"):
        x.contains_many(nums(12012345678))
    with pytest.raises(ValueError, match="closed"):
        x.numbers(201)
    with pytest.raises(ValueError, match="closed"):
        MultiIndex([x])
    # A MultiIndex made before the close keeps the mapping alive and keeps working.
    assert multi.mask(12012345678) == 1
    assert multi.mask_many(nums(12012345678, 14045550100)).tolist() == [1, 1]


def test_repr_and_path(tmp_path: Path) -> None:
    IndexBuilder().write(tmp_path / "x.idx")
    with ListIndex.open(str(tmp_path / "x.idx")) as x:
        assert x.path == tmp_path / "x.idx"
        assert "count=0" in repr(x)


# ---------------------------------------------------------------------------
# corrupt files


@pytest.fixture
def good_file(tmp_path: Path) -> Path:
    b = IndexBuilder(dense_threshold=3)
    b.add(nums(12012345678, 12012345679, 12012345680, 14045550100, 14045550200))
    path = tmp_path / "good.idx"
    b.write(path)
    return path


def corrupt(path: Path, offset: int, data: bytes) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset : offset + len(data)] = data
    path.write_bytes(bytes(raw))


def test_corrupt_error_type() -> None:
    assert issubclass(IndexCorrupt, ValueError)
    assert issubclass(IndexCorrupt, CallwardenError)


def test_truncated_files(good_file: Path) -> None:
    raw = good_file.read_bytes()
    for size in (0, 10, 100, ix.DATA_START - 1, ix.DATA_START, len(raw) - 1, len(raw) - 4096):
        good_file.write_bytes(raw[:size])
        with pytest.raises(IndexCorrupt):
            ListIndex.open(good_file)
    good_file.write_bytes(raw + b"\0" * 4096)
    with pytest.raises(IndexCorrupt, match="header says"):
        ListIndex.open(good_file)


def test_bad_magic_version_and_checksum(good_file: Path) -> None:
    raw = good_file.read_bytes()
    corrupt(good_file, 0, b"NOTANIDX")
    with pytest.raises(IndexCorrupt, match="magic"):
        ListIndex.open(good_file)
    good_file.write_bytes(raw)
    corrupt(good_file, 8, struct.pack("<I", 99))
    with pytest.raises(IndexCorrupt, match="version"):
        ListIndex.open(good_file)
    good_file.write_bytes(raw)
    corrupt(good_file, ix.HEADER_SIZE + 16 * 201 + 4, struct.pack("<I", 9))  # NPA 201's count
    with pytest.raises(IndexCorrupt, match="checksum"):
        ListIndex.open(good_file)
    good_file.write_bytes(raw)
    corrupt(good_file, 24, struct.pack("<Q", 6))  # total count
    with pytest.raises(IndexCorrupt):
        ListIndex.open(good_file)


def test_table_entries_are_checked_even_with_a_valid_checksum(good_file: Path) -> None:
    def rewrite_entry(npa: int, kind: int, count: int, offset: int) -> None:
        raw = bytearray(good_file.read_bytes())
        struct.pack_into("<IIQ", raw, ix.HEADER_SIZE + 16 * npa, kind, count, offset)
        table = bytes(raw[ix.HEADER_SIZE : ix.HEADER_SIZE + 16_000])
        struct.pack_into("<I", raw, 36, ix._crc(bytes(raw[:64]), table))
        good_file.write_bytes(bytes(raw))

    raw = good_file.read_bytes()
    with ListIndex.open(good_file) as g:
        kind, count, off = (int(v) for v in g._table[404])
    for entry in [
        (404, 7, count, off),  # unknown kind
        (404, kind, count, off + 1),  # unaligned
        (404, kind, count, 1 << 40),  # beyond the end
        (404, kind, 0, off),  # present but empty
        (411, kind, count, off),  # an N11 area code
        (405, 0, 3, 0),  # absent with a count
    ]:
        good_file.write_bytes(raw)
        rewrite_entry(*entry)
        with pytest.raises(IndexCorrupt):
            ListIndex.open(good_file)


def test_sparse_directory_is_checked_on_open(good_file: Path) -> None:
    with ListIndex.open(good_file) as g:
        off = int(g._table["offset"][404])
        assert int(g._table["kind"][404]) == ix.KIND_SPARSE
    corrupt(good_file, off + 4 * 100, struct.pack("<I", 10**6))
    with pytest.raises(IndexCorrupt, match="directory"):
        ListIndex.open(good_file)


def test_verify_reads_the_blocks(good_file: Path) -> None:
    with ListIndex.open(good_file) as g:
        dense_off = int(g._table["offset"][201])
        sparse_off = int(g._table["offset"][404])
        g.verify()
    raw = good_file.read_bytes()
    corrupt(good_file, dense_off + 5, b"\x01")
    with ListIndex.open(good_file) as g, pytest.raises(IndexCorrupt, match="holds"):
        g.verify()
    good_file.write_bytes(raw)
    data = sparse_off + 4 * ix.DIR_LEN
    corrupt(good_file, data, struct.pack("<II", 5, 5))  # not increasing
    with ListIndex.open(good_file) as g, pytest.raises(IndexCorrupt, match="sorted"):
        g.verify()


def test_open_does_not_leave_descriptors(good_file: Path) -> None:
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        ListIndex.open(good_file).close()
    assert len(os.listdir("/proc/self/fd")) == before


def test_loading_lists_warms_the_bulk_kernel_a_batch_then_uses(tmp_path: Path) -> None:
    """The runtime's background warm-up (after page prefetch) leaves the bulk lookup kernel
    loaded with the very specialisation a real batch calls, so the first batch of a fresh
    process compiles or loads nothing (a fresh interpreter: nothing is loaded before)."""
    code = f"""
import numpy as np
from callwarden.dnc import index, kernels, runtime
b = index.IndexBuilder()
b.add(np.array([14045550100, 12125550123], dtype=np.int64))
b.write({str(tmp_path / "list.idx")!r})
ix = index.ListIndex.open({str(tmp_path / "list.idx")!r})
multi = index.MultiIndex([ix])
print(len(kernels.lookup_kernel.signatures))
runtime._prefetch([ix], multi)
print(len(kernels.lookup_kernel.signatures))
masks = multi.mask_many(np.array([14045550100, 14045550101] * 9, dtype=np.int64))
print(len(kernels.lookup_kernel.signatures), masks.tolist())
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert out[:3] == ["0", "1", "1 " + str([1, 0] * 9)]
