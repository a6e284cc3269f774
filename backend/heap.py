"""The garbage collector told to leave alone the objects that live as long as the app.

Once the app has started, most of its heap is modules, classes, pydantic schemas and clients
that stay until the process ends: a few hundred thousand objects. CPython's full collection
(of the oldest generation) walks all of them each time; under load the API spent about a tenth
of a turn's CPU there, in pauses of a few hundred milliseconds that stall every turn at once.
`gc.freeze()` moves the objects alive at that moment to a generation that is never collected,
so later collections walk only what the requests made.

No collection runs first (a full one is what this avoids; startup leaves little garbage, and
what it left is kept only until shutdown, when the objects are handed back to the collector:
an app started again in the same process, as in the tests, freezes its own).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def long_lived_heap_frozen() -> Iterator[None]:
    """Exempt the objects alive now from garbage collection until the block ends."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
