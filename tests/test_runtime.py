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
