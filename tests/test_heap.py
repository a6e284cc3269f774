"""The garbage collector is set for serving while the app runs (backend.heap)."""

from __future__ import annotations

import gc

from fastapi.testclient import TestClient

from backend.config import Settings
from backend.heap import YOUNG_COLLECTION_EVERY, collector_set_for_serving


def test_the_heap_is_frozen_inside_the_block_and_handed_back_after() -> None:
    built_before = [object()]
    with collector_set_for_serving():
        assert gc.get_freeze_count() > 0
        assert not any(obj is built_before for obj in gc.get_objects())  # frozen: not scanned
    assert gc.get_freeze_count() == 0
    assert any(obj is built_before for obj in gc.get_objects())


def test_the_young_are_collected_less_often_inside_the_block_only() -> None:
    before = gc.get_threshold()
    with collector_set_for_serving():
        assert gc.get_threshold() == (YOUNG_COLLECTION_EVERY, *before[1:])
    assert gc.get_threshold() == before


def test_a_running_app_has_frozen_what_its_lifespan_built(settings: Settings) -> None:
    from backend.main import create_app

    app = create_app(settings)
    with TestClient(app):
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] == YOUNG_COLLECTION_EVERY
        scanned = {id(obj) for obj in gc.get_objects()}
        assert id(app.state.model_provider) not in scanned  # built before the freeze
    assert gc.get_freeze_count() == 0
