"""Process tuning for the service."""

from __future__ import annotations

import gc

from callwarden.runtime import GC_THRESHOLDS, tune_gc


def test_tune_gc_freezes_startup_objects_and_collects_less_often() -> None:
    before = gc.get_threshold()
    try:
        tune_gc()
        assert gc.get_threshold() == GC_THRESHOLDS
        assert gc.get_freeze_count() > 0  # what was alive is out of the collector's sight
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_only_one_process_does_a_sole_task(tmp_path) -> None:
    """sole_process: the first holder of a task's lock does it; another open of it is refused."""
    from callwarden.db import make_engine, make_session_factory, sole_process

    engine = make_engine(f"sqlite:///{tmp_path / 'cw.db'}")
    factory = make_session_factory(engine)
    try:
        with sole_process(factory, "sequencer") as first:
            with sole_process(factory, "sequencer") as second:  # a second open file: another
                assert (first, second) == (True, False)  # process in all but name
            with sole_process(factory, "other-task") as other:
                assert other is True
        with sole_process(factory, "sequencer") as again:
            assert again is True  # released when the first one finished
    finally:
        engine.dispose()


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
