"""Time-ordered identifiers (UUID version 7, RFC 9562 method 3) for decisions."""

from __future__ import annotations

import itertools
import os
import threading
import time
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callwarden import ids


def test_an_id_is_a_version_7_uuid_made_now() -> None:
    """RFC 9562 §5.7: version 7, the RFC variant, Unix milliseconds in the first 48 bits."""
    before = time.time()
    made = ids.uuid7()
    after = time.time()
    parsed = uuid.UUID(made)
    assert str(parsed) == made
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122
    assert int(before * 1000) / 1000 <= ids.uuid7_time(made) <= after


def test_ids_from_many_threads_are_unique_and_each_thread_sees_them_rise() -> None:
    """Concurrent requests name decisions at once: no id twice, none out of order per thread."""
    per_thread: list[list[str]] = [[] for _ in range(4)]

    def make(out: list[str]) -> None:
        out.extend(ids.uuid7() for _ in range(5000))

    threads = [threading.Thread(target=make, args=(out,)) for out in per_thread]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [i for out in per_thread for i in out]
    assert len(set(every)) == len(every) == 20_000
    assert all(out == sorted(out) for out in per_thread)


def test_a_stopped_clock_still_gives_rising_valid_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same 244 ns slot, with the random bits all ones: the step carries into the fraction
    and the version and variant bits stay intact."""
    monkeypatch.setattr(ids.time, "time_ns", lambda: 1_790_000_000_123_456_789)
    monkeypatch.setattr(ids, "_random62", lambda: (1 << 62) - 1)
    monkeypatch.setattr(ids, "_last", 0)  # earlier tests ran at the real (later) time
    made = [ids.uuid7() for _ in range(3)]
    assert made == sorted(made) and len(set(made)) == 3
    for text in made:
        parsed = uuid.UUID(text)
        assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
        assert ids.uuid7_time(text) == 1_790_000_000.123


def test_a_clock_that_steps_back_never_reorders_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    """An NTP step backwards: ids keep rising from the last one instead of going back."""
    ahead = ids.uuid7()
    real = time.time_ns
    monkeypatch.setattr(ids.time, "time_ns", lambda: real() - 3_600 * 10**9)
    behind = ids.uuid7()
    assert behind > ahead
    assert ids.uuid7_time(behind) >= ids.uuid7_time(ahead)


@given(
    ns=st.integers(min_value=0, max_value=(1 << 48) * 1_000_000 - 1),
    rand=st.integers(min_value=0, max_value=(1 << 62) - 1),
)
def test_the_fields_are_where_the_rfc_puts_them(ns: int, rand: int) -> None:
    """Any clock reading and random draw: milliseconds and fraction decode back, bits in place."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ids.time, "time_ns", lambda: ns)
        mp.setattr(ids, "_random62", lambda: rand)
        mp.setattr(ids, "_last", 0)
        value = uuid.UUID(ids.uuid7()).int
    ms, rest = divmod(ns, 1_000_000)
    fraction = rest * 4096 // 1_000_000
    assert value >> 80 == ms
    assert (value >> 76) & 0xF == 7
    assert (value >> 64) & 0xFFF == fraction
    assert (value >> 62) & 0b11 == 0b10
    # all 122 free bits zero equals the starting point, so that one id steps to 1
    assert value & ((1 << 62) - 1) == (rand if (ms, fraction, rand) != (0, 0, 0) else 1)


def test_a_forked_child_draws_other_random_bits_than_its_parent() -> None:
    """The random pool is dropped in a forked child: parent and child, stopped at the same
    instant, still make different ids (the pool would otherwise hand both the same bits)."""
    ids.uuid7()  # the parent's pool now holds unread bits
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next draw, sent to the parent
        os.close(read)
        os.write(write, ids._random62().to_bytes(8, "big"))
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as fh:
        child = int.from_bytes(fh.read(), "big")
    os.waitpid(pid, 0)
    with ids._lock:
        parent = ids._random62()
    assert child != parent


def test_the_text_is_the_standard_uuid_form() -> None:
    """Lower-case hex in 8-4-4-4-12 groups, as `uuid.UUID` writes it."""
    for _ in range(1000):
        text = ids.uuid7()
        assert text == str(uuid.UUID(text))


def test_a_batch_of_ids_is_unique_rising_and_after_the_ids_before_it() -> None:
    """`uuid7_many`: 10,000 valid version 7 ids at once, in order, each after the last id."""
    before = ids.uuid7()
    batch = ids.uuid7_many(10_000)
    after = ids.uuid7()
    assert len(set(batch)) == 10_000
    assert [before, *batch, after] == sorted([before, *batch, after])
    assert before < batch[0] and batch[-1] < after
    for text in batch[::997]:
        parsed = uuid.UUID(text)
        assert str(parsed) == text and parsed.version == 7 and parsed.variant == uuid.RFC_4122


def test_a_batch_takes_random_bits_per_id(monkeypatch: pytest.MonkeyPatch) -> None:
    """Within one clock reading each id draws its own bits; a draw at or below the previous id
    steps past it by 1 + the draw's low 32 bits, so ids made together are not a counter."""
    draws = iter([5, 3, 900, 7, (1 << 40) + 2])
    monkeypatch.setattr(ids.time, "time_ns", lambda: 1_790_000_000_123_456_789)
    monkeypatch.setattr(ids, "_random62", lambda: next(draws))
    monkeypatch.setattr(ids, "_last", 0)
    low = [uuid.UUID(t).int & ((1 << 62) - 1) for t in ids.uuid7_many(5)]
    # 3 <= 5: 5 + 1 + 3; 7 <= 900: 900 + 1 + 7; 2**40 + 2 > 908 is taken as drawn
    assert low == [5, 9, 900, 908, (1 << 40) + 2]


def test_ids_made_in_one_instant_are_not_a_counter(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stopped clock: 1,000 ids still rise, and their steps vary (random, not +1)."""
    monkeypatch.setattr(ids.time, "time_ns", lambda: 1_790_000_000_123_456_789)
    made = [uuid.UUID(t).int for t in ids.uuid7_many(1000)]
    steps = [b - a for a, b in itertools.pairwise(made)]
    assert all(step > 0 for step in steps)
    assert len(set(steps)) > 900
