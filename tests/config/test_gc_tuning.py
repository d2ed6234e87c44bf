"""config/gc_tuning.py: the collector held back during bulk work, and given back as it was."""

from __future__ import annotations

import gc

import pytest

from config.gc_tuning import BULK_THRESHOLD, collector_relaxed


def test_within_the_block_the_heap_is_frozen_and_young_collections_are_rare() -> None:
    with collector_relaxed():
        assert gc.get_threshold()[0] == BULK_THRESHOLD
        assert gc.get_freeze_count() > 0


def test_the_collector_is_given_back_as_it_was_even_when_the_work_fails() -> None:
    before = gc.get_threshold()

    with pytest.raises(ValueError), collector_relaxed():
        raise ValueError("the import failed")

    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
