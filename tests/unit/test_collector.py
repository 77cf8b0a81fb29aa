"""Bulk work (an extract run, a rebuild) keeps the cycle collector off the heap it started
with, and gives it back."""

from __future__ import annotations

import gc

import pytest

from hub.collector import GC_THRESHOLD, fewer_collections


def test_the_heap_before_the_run_is_frozen_during_it_and_thawed_after() -> None:
    before = gc.get_threshold()
    with fewer_collections():
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (GC_THRESHOLD, before[1], before[2])
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before


def test_a_run_that_fails_gives_the_collector_back_all_the_same() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), fewer_collections():
        raise RuntimeError("broker gone")
    assert (gc.get_freeze_count(), gc.get_threshold()) == (0, before)
