"""Identifiers that sort by the time they were made (UUID version 7, RFC 9562).

The gate names every decision. A random (version 4) id lands anywhere in the indexes on the
decision id (reservations, the audit subject), so a batch of 10,000 touched thousands of
index pages; a time-ordered id appends. The `uuid6` package drifts its timestamp ahead by a
millisecond for every id beyond one per millisecond, and Python's own `uuid.uuid7` arrives in
3.14, so this is the RFC's method 3 in a few lines: 48 bits of Unix milliseconds, 12 bits of
sub-millisecond fraction, 62 random bits, and a random step (1 to 2**32) past the previous id
whenever the clock has not moved.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last = 0  # the last id's 122 free bits: milliseconds, fraction, random, in that order
_RANDOM = (1 << 62) - 1
_STEP = (1 << 32) - 1
# Random bits drawn from the OS 4 KB at a time: one system call per 512 ids, not per id.
_pool = b""
_taken = 0


def _random62() -> int:
    # 62 bits from the pool (the caller holds _lock)
    global _pool, _taken
    if _taken >= len(_pool):
        _pool, _taken = os.urandom(4096), 0
    bits = int.from_bytes(_pool[_taken : _taken + 8], "big") & _RANDOM
    _taken += 8
    return bits


def _forget_pool() -> None:
    # a forked child must not draw the random bits its parent draws next
    global _pool, _taken
    _pool, _taken = b"", 0


os.register_at_fork(after_in_child=_forget_pool)


def uuid7() -> str:
    """A new UUID version 7 as text: later calls in this process sort after earlier ones."""
    return uuid7_many(1)[0]


def uuid7_many(count: int) -> list[str]:
    """`count` new ids in rising order, as `count` calls of `uuid7` would give (a batch's).

    One clock reading and one lock for all of them: each still takes its own random bits,
    and steps past the previous one when the clock has not moved.
    """
    global _last
    ms, rest = divmod(time.time_ns(), 1_000_000)
    fraction = rest * 4096 // 1_000_000  # 12 bits: about 244 ns
    stamp = (ms << 74) | (fraction << 62)
    made = []
    with _lock:
        last = _last
        for _ in range(count):
            drawn = _random62()
            bits = stamp | drawn
            if bits <= last:
                # the same 244 ns slot (or a clock step back): keep the order, stay unique, and
                # step by a random amount (up to 2**32), so ids made together are not a counter;
                # a carry runs from the random bits into the fraction and the milliseconds
                bits = last + 1 + (drawn & _STEP)
            made.append(bits)
            last = bits
        _last = last
    return [_text(bits) for bits in made]


def _text(bits: int) -> str:
    # the 122 free bits laid out with the version and variant (RFC 9562 §5.7)
    value = (
        ((bits >> 74) << 80)  # unix_ts_ms
        | (0x7 << 76)  # version
        | (((bits >> 62) & 0xFFF) << 64)  # rand_a: the sub-millisecond fraction
        | (0b10 << 62)  # variant
        | (bits & _RANDOM)  # rand_b
    )
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def uuid7_time(text: str) -> float:
    """The Unix time (seconds) a version 7 id was made at, to the millisecond."""
    return (uuid.UUID(text).int >> 80) / 1000
