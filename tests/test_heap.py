"""The app's long-lived objects are exempt from garbage collection while it runs (backend.heap)."""

from __future__ import annotations

import gc

from fastapi.testclient import TestClient

from backend.config import Settings
from backend.heap import long_lived_heap_frozen


def test_the_heap_is_frozen_inside_the_block_and_handed_back_after() -> None:
    built_before = [object()]
    with long_lived_heap_frozen():
        assert gc.get_freeze_count() > 0
        assert not any(obj is built_before for obj in gc.get_objects())  # frozen: not scanned
    assert gc.get_freeze_count() == 0
    assert any(obj is built_before for obj in gc.get_objects())


def test_a_running_app_has_frozen_what_its_lifespan_built(settings: Settings) -> None:
    from backend.main import create_app

    app = create_app(settings)
    with TestClient(app):
        assert gc.get_freeze_count() > 0
        scanned = {id(obj) for obj in gc.get_objects()}
        assert id(app.state.model_provider) not in scanned  # built before the freeze
    assert gc.get_freeze_count() == 0
