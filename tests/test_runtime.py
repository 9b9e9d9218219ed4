"""Process tuning for the service."""

from __future__ import annotations

import gc

from callwarden.runtime import GC_THRESHOLDS, gc_paused, tune_gc


def test_tune_gc_freezes_startup_objects_and_collects_less_often() -> None:
    before = gc.get_threshold()
    try:
        tune_gc()
        assert gc.get_threshold() == GC_THRESHOLDS
        assert gc.get_freeze_count() > 0  # what was alive is out of the collector's sight
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_gc_pauses_nest_and_resume_only_what_was_on() -> None:
    """A large batch pauses the collector; nested pauses resume it once, at the outermost end."""
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer pause still holds
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # someone else turned it off: the pause must not turn it on
    finally:
        gc.enable()


def test_only_one_process_does_a_sole_task(session_factory) -> None:
    """sole_process: the first holder of a task's lock does it; another holder is refused
    (SQLite: a second open of the lock file; PostgreSQL: a second session)."""
    from callwarden.db import sole_process

    with sole_process(session_factory, "sequencer") as first:
        with sole_process(session_factory, "sequencer") as second:
            assert (first, second) == (True, False)
        with sole_process(session_factory, "other-task") as other:
            assert other is True
    with sole_process(session_factory, "sequencer") as again:
        assert again is True  # released when the first one finished


def test_the_service_engine_leaves_wal_checkpoints_to_its_own_thread(tmp_path) -> None:
    """With checkpoint_apart, commits never copy the log back; WalCheckpointer does."""
    from sqlalchemy import text

    from callwarden.db import WalCheckpointer, make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'cw.db'}", checkpoint_apart=True)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x TEXT)"))
        for _ in range(30):  # ~1,200 pages: past the 1,000 at which a commit would copy
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO t VALUES (:x)"), [{"x": "y" * 4000}] * 40)
        wal = tmp_path / "cw.db-wal"
        assert wal.stat().st_size > 1000 * 4096  # no commit checkpointed
        checkpointer = WalCheckpointer(engine, every=3600)  # the thread waits; we call it
        busy, frames, copied = checkpointer.checkpoint()
        assert busy == 0 and frames > 1000 and copied == frames
        checkpointer.close()
    finally:
        engine.dispose()
