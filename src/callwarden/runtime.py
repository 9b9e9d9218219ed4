"""Process-wide tuning for the long-running service (and benchmarks that measure it)."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# Young-generation collections every 50,000 net allocations instead of 700: a batch of
# decisions allocates millions of short-lived objects, and the default ran the collector a
# thousand times per 10,000 attempts (a fifth of the time, measured).
GC_THRESHOLDS = (50_000, 20, 100)


def tune_gc() -> None:
    """Move what startup loaded out of the collector's sight and collect less often.

    Rule packs, the DNC index and the phone-number tables live as long as the process;
    `gc.freeze` keeps every later full collection from walking them again.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


_pause_lock = threading.Lock()
_pauses = 0
_resume = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic collection while the block runs (a large batch of decisions).

    A batch's millions of objects are acyclic and die by reference count; the collector would
    only walk the survivors again and again (a tenth of a 10,000-attempt batch, measured).
    Nested and concurrent pauses share one: collection resumes when the last one ends, if
    it was on before the first began.
    """
    global _pauses, _resume
    with _pause_lock:
        if _pauses == 0:
            _resume = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _pause_lock:
            _pauses -= 1
            if _pauses == 0 and _resume:
                gc.enable()
