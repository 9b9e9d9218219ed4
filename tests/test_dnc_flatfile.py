"""Parsers for DNC flat files: area-code lists and the FTC change list."""

from __future__ import annotations

import calendar
import mmap
import time
from datetime import datetime

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callwarden.dnc.flatfile import (
    REASONS,
    ParseResult,
    bad_line_text,
    parse_area_code_flat,
    parse_change_list,
    split_chunks,
)

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

valid_npa = st.integers(200, 999).filter(lambda n: n % 100 != 11)
valid_local = st.integers(2_000_000, 9_999_999).filter(lambda n: (n // 10_000) % 100 != 11)
valid_number = st.builds(lambda a, b: 10_000_000_000 + a * 10_000_000 + b, valid_npa, valid_local)


def flat_line(number: int) -> bytes:
    npa, local = divmod(number - 10_000_000_000, 10_000_000)
    return f"{npa:03d},{local:07d}".encode()


def check_accounting(res: ParseResult) -> None:
    assert res.lines == res.numbers.size + res.bad_lines.size
    assert res.bad_lines.size == res.bad_reasons.size
    assert set(res.bad_reasons.tolist()) <= set(REASONS)


# ---------------------------------------------------------------------------
# area-code flat files


def test_sample_from_the_reference() -> None:
    res = parse_area_code_flat(b"818,5551234\n404,5550100\n")
    assert res.numbers.tolist() == [18185551234, 14045550100]
    assert res.numbers.dtype == np.int64
    assert res.lines == 2 and res.bad == 0 and res.good == 2
    assert res.ops is None and res.timestamps is None


@FAST
@given(st.lists(valid_number, max_size=200), st.booleans(), st.booleans())
def test_valid_lines_round_trip(numbers: list[int], crlf: bool, final_newline: bool) -> None:
    eol = b"\r\n" if crlf else b"\n"
    data = eol.join(flat_line(n) for n in numbers)
    if numbers and final_newline:
        data += eol
    res = parse_area_code_flat(data)
    assert res.numbers.tolist() == numbers
    assert res.lines == len(numbers)
    assert res.bad == 0


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"", 8),
        (b"20,2345678", 1),
        (b"201,234567", 1),
        (b"201,23456789", 1),
        (b"201;2345678", 1),
        (b"2012345678", 1),
        (b" 201,2345678", 1),
        (b"201,2345678 ", 1),
        (b"201,2345678\r\r", 1),  # two CRs before the LF: only one is a line ending
        (b"201,23456\xef\xbc\x97", 1),
        (b"2a1,2345678", 2),
        (b"201,234567x", 2),
        (b"201,-345678", 2),
        (b"101,2345678", 3),
        (b"011,2345678", 3),
        (b"211,2345678", 3),
        (b"911,2345678", 3),
        (b"201,1345678", 4),
        (b"201,0005678", 4),
        (b"201,4115678", 4),
        (b"201,9115678", 4),
    ],
)
def test_each_kind_of_malformed_line(line: bytes, reason: int) -> None:
    data = b"201,2345678\n" + line + b"\n404,5550100\n"
    res = parse_area_code_flat(data)
    assert res.numbers.tolist() == [12012345678, 14045550100]
    assert res.bad_lines.tolist() == [2]
    assert res.bad_reasons.tolist() == [reason]
    assert res.lines == 3
    assert REASONS[reason]


def test_reference_sentinel_line_is_reported_not_dropped() -> None:
    # formats.md shows "818,0000818" as a line of a real file: exchange 000 is not valid.
    res = parse_area_code_flat(b"818,0000818\n818,5551234\n")
    assert res.numbers.tolist() == [18185551234]
    assert res.bad_lines.tolist() == [1]
    assert REASONS[int(res.bad_reasons[0])] == "invalid exchange (NXX)"


def test_line_counting_at_the_edges() -> None:
    assert parse_area_code_flat(b"").lines == 0
    one_empty = parse_area_code_flat(b"\n")
    assert one_empty.lines == 1 and one_empty.bad_reasons.tolist() == [8]
    no_newline = parse_area_code_flat(b"201,2345678")
    assert no_newline.lines == 1 and no_newline.good == 1
    crlf_tail = parse_area_code_flat(b"201,2345678\r")
    assert crlf_tail.lines == 1 and crlf_tail.good == 1
    # An empty line before the final newline is a line, and malformed.
    blank_tail = parse_area_code_flat(b"201,2345678\n\n")
    assert blank_tail.lines == 2 and blank_tail.bad_lines.tolist() == [2]
    assert parse_area_code_flat(b"\n\n\n").bad_lines.tolist() == [1, 2, 3]


def test_a_long_garbage_line_is_one_bad_line() -> None:
    res = parse_area_code_flat(b"x" * 100_000 + b"\n201,2345678")
    assert res.bad_lines.tolist() == [1] and res.numbers.tolist() == [12012345678]


good_or_bad = st.one_of(
    valid_number.map(lambda n: (flat_line(n), n)),
    st.sampled_from(
        [b"", b"201,234567", b"2x1,2345678", b"111,2345678", b"201,1115678", b"hello"]
    ).map(lambda b: (b, None)),
    st.binary(max_size=20).filter(lambda b: b"\n" not in b).map(lambda b: (b, None)),
)


@FAST
@given(st.lists(good_or_bad, max_size=120), st.integers(1, 10**9), st.booleans())
def test_mixed_lines_are_all_accounted_for(
    items: list[tuple[bytes, int | None]], first_line: int, crlf: bool
) -> None:
    eol = b"\r\n" if crlf else b"\n"
    data = b"".join(line + eol for line, _ in items)
    res = parse_area_code_flat(data, first_line=first_line)
    check_accounting(res)
    assert res.lines == len(items)
    # A random binary line may happen to be valid; compare against the parser's own verdict
    # on the line alone, which keeps the test about positions and accounting.
    expect_good = []
    expect_bad = []
    for i, (line, _) in enumerate(items):
        alone = parse_area_code_flat(line + eol)
        if alone.good:
            expect_good.append(int(alone.numbers[0]))
        else:
            expect_bad.append(first_line + i)
    assert res.numbers.tolist() == expect_good
    assert res.bad_lines.tolist() == expect_bad
    for i, (_, number) in enumerate(items):
        if number is not None:
            assert first_line + i not in expect_bad


@pytest.mark.parametrize("kind", ["bytes", "bytearray", "memoryview", "numpy", "mmap"])
def test_any_bytes_like_input(kind: str) -> None:
    data = b"201,2345678\nbad\n404,5550100"
    chunk: object
    if kind == "bytes":
        chunk = data
    elif kind == "bytearray":
        chunk = bytearray(data)
    elif kind == "memoryview":
        chunk = memoryview(data)[0:]
    elif kind == "numpy":
        chunk = np.frombuffer(data, np.uint8).copy()
    else:
        chunk = mmap.mmap(-1, len(data))
        chunk.write(data)
    res = parse_area_code_flat(chunk)  # type: ignore[arg-type]
    assert res.numbers.tolist() == [12012345678, 14045550100]
    assert res.bad_lines.tolist() == [2]
    assert bad_line_text(chunk, 2) == "bad"  # type: ignore[arg-type]
    assert list(split_chunks(chunk, 5)) == [(0, 12), (12, 27)]  # type: ignore[arg-type]
    assert list(split_chunks(chunk, 4)) == [(0, 12), (12, 16), (16, 27)]  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# bad_line_text


def test_bad_line_text() -> None:
    data = b"201,2345678\r\n" + b"y" * 500 + b"\r\n\xff\xfebad\n\n"
    res = parse_area_code_flat(data)
    assert res.bad_lines.tolist() == [2, 3, 4]
    assert res.bad_offsets is not None
    texts = [bad_line_text(data, int(n)) for n in res.bad_lines]
    assert texts[0] == "y" * 200
    assert texts[1] == "\\xff\\xfebad"
    assert texts[2] == ""
    by_offset = [
        bad_line_text(data, int(n), offset=int(o))
        for n, o in zip(res.bad_lines, res.bad_offsets, strict=True)
    ]
    assert by_offset == texts
    assert bad_line_text(data, 1) == "201,2345678"
    with pytest.raises(ValueError):
        bad_line_text(data, 5)
    with pytest.raises(ValueError):
        bad_line_text(data, 0)


@FAST
@given(st.lists(good_or_bad, min_size=1, max_size=60), st.randoms(use_true_random=False))
def test_bad_line_text_in_any_order(items: list[tuple[bytes, int | None]], rnd: object) -> None:
    data = b"".join(line + b"\n" for line, _ in items)
    expected = [
        line.removesuffix(b"\r").decode("utf-8", errors="backslashreplace")[:200]
        for line, _ in items
    ]
    order = list(range(1, len(items) + 1))
    assert [bad_line_text(data, n) for n in order] == expected
    rnd.shuffle(order)  # type: ignore[attr-defined]
    assert [bad_line_text(data, n) for n in order] == [expected[n - 1] for n in order]
    other = bytearray(data)  # a different chunk object with the same bytes
    assert bad_line_text(other, 1) == expected[0]


def test_bad_line_text_is_linear_in_file_order() -> None:
    data = b"x\n" * 2_000_000
    res = parse_area_code_flat(data)
    start = time.perf_counter()
    for n in res.bad_lines[::1000].tolist():
        assert bad_line_text(data, n) == "x"
    # 2,000 lookups; a rescan from the top each time would take tens of seconds.
    assert time.perf_counter() - start < 2.0


# ---------------------------------------------------------------------------
# split_chunks


@FAST
@given(
    st.lists(good_or_bad, max_size=80),
    st.integers(1, 400),
    st.booleans(),
)
def test_chunks_never_split_a_line(
    items: list[tuple[bytes, int | None]], target: int, final_newline: bool
) -> None:
    data = b"\n".join(line for line, _ in items)
    if items and final_newline:
        data += b"\n"
    whole = parse_area_code_flat(data)
    ranges = list(split_chunks(data, target))
    # Contiguous, covering, and every chunk but the last ends with a newline.
    assert [s for s, _ in ranges] == ([0] + [e for _, e in ranges[:-1]] if data else [])
    assert (ranges[-1][1] if ranges else 0) == len(data)
    assert all(data[e - 1 : e] == b"\n" for _, e in ranges[:-1])
    numbers: list[int] = []
    bad: list[int] = []
    reasons: list[int] = []
    lines = 0
    for start, end in ranges:
        res = parse_area_code_flat(memoryview(data)[start:end], first_line=lines + 1)
        numbers += res.numbers.tolist()
        bad += res.bad_lines.tolist()
        reasons += res.bad_reasons.tolist()
        lines += res.lines
    assert numbers == whole.numbers.tolist()
    assert bad == whole.bad_lines.tolist()
    assert reasons == whole.bad_reasons.tolist()
    assert lines == whole.lines


def test_split_chunks_edges() -> None:
    assert list(split_chunks(b"")) == []
    assert list(split_chunks(b"abc")) == [(0, 3)]
    assert list(split_chunks(b"a\nb\nc\n", 1)) == [(0, 2), (2, 4), (4, 6)]
    assert list(split_chunks(b"aaaa\nb", 2)) == [(0, 5), (5, 6)]
    assert list(split_chunks(b"aaaa", 2)) == [(0, 4)]
    with pytest.raises(ValueError):
        list(split_chunks(b"a", 0))


# ---------------------------------------------------------------------------
# change lists

timestamps = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2999, 12, 31))


@FAST
@given(st.lists(st.tuples(valid_number, timestamps, st.booleans()), max_size=100), st.booleans())
def test_change_list_round_trip(rows: list[tuple[int, datetime, bool]], crlf: bool) -> None:
    eol = "\r\n" if crlf else "\n"
    text = "".join(
        f"{n - 10_000_000_000:010d},{t:%Y-%m-%dT%H:%M:%S},{'A' if add else 'D'}{eol}"
        for n, t, add in rows
    )
    res = parse_change_list(text.encode())
    assert res.numbers.tolist() == [n for n, _, _ in rows]
    assert res.ops is not None and res.timestamps is not None
    assert res.ops.dtype == np.int8 and res.timestamps.dtype == np.int64
    assert res.ops.tolist() == [1 if add else -1 for _, _, add in rows]
    expected = [calendar.timegm(t.replace(microsecond=0).timetuple()) for _, t, _ in rows]
    assert res.timestamps.tolist() == expected
    assert res.lines == len(rows) and res.bad == 0


def test_change_list_reference_sample() -> None:
    res = parse_change_list(b"9804327717,2022-12-07T02:20:18,A")
    assert res.numbers.tolist() == [19804327717]
    assert res.ops is not None and res.ops.tolist() == [1]
    assert res.timestamps is not None
    assert res.timestamps.tolist() == [calendar.timegm((2022, 12, 7, 2, 20, 18))]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"", 8),
        (b"garbage", 7),
        (b"98043277171,2022-12-07T02:20:18,A", 7),
        (b"980432771,2022-12-07T02:20:18,A", 7),
        (b"9804327717;2022-12-07T02:20:18;A", 7),
        (b"9804327717,2022-12-07T02:20:18", 7),
        (b"98043x7717,2022-12-07T02:20:18,A", 2),
        (b"1804327717,2022-12-07T02:20:18,A", 3),
        (b"4114327717,2022-12-07T02:20:18,A", 3),
        (b"9801327717,2022-12-07T02:20:18,A", 4),
        (b"9809117717,2022-12-07T02:20:18,A", 4),
        (b"9804327717,2022-13-07T02:20:18,A", 5),
        (b"9804327717,2022-00-07T02:20:18,A", 5),
        (b"9804327717,2023-02-29T02:20:18,A", 5),
        (b"9804327717,2100-02-29T02:20:18,A", 5),
        (b"9804327717,2022-04-31T02:20:18,A", 5),
        (b"9804327717,2022-12-07T24:20:18,A", 5),
        (b"9804327717,2022-12-07T02:60:18,A", 5),
        (b"9804327717,2022-12-07T02:20:60,A", 5),
        (b"9804327717,2022-12-07 02:20:18,A", 5),
        (b"9804327717,2022-12-07T02:20,A", 5),
        (b"9804327717,2022-12-07T02:20:18Z,A", 5),
        (b"9804327717,20x2-12-07T02:20:18,A", 5),
        (b"9804327717,2022-12-07T02:20:18,X", 6),
        (b"9804327717,2022-12-07T02:20:18,a", 6),
    ],
)
def test_change_list_malformed(line: bytes, reason: int) -> None:
    good = b"9804327717,2022-12-07T02:20:18,D"
    res = parse_change_list(good + b"\n" + line + b"\n" + good)
    assert res.numbers.tolist() == [19804327717, 19804327717]
    assert res.bad_lines.tolist() == [2]
    assert res.bad_reasons.tolist() == [reason]
    check_accounting(res)


def test_change_list_leap_days_and_first_line() -> None:
    text = b"2015550123,2024-02-29T00:00:00,A\n2015550123,2000-02-29T23:59:59,D\n"
    res = parse_change_list(text, first_line=41)
    assert res.bad == 0
    assert res.timestamps is not None
    assert res.timestamps.tolist() == [
        calendar.timegm((2024, 2, 29, 0, 0, 0)),
        calendar.timegm((2000, 2, 29, 23, 59, 59)),
    ]
    bad = parse_change_list(b"x\n" + text + b"y", first_line=41)
    assert bad.bad_lines.tolist() == [41, 44]
    assert bad.lines == 4
