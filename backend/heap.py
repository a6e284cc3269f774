"""The garbage collector set for a serving process: the app's long-lived objects left alone, and
the youngest generation collected less often.

Once the app has started, most of its heap is modules, classes, pydantic schemas and clients
that stay until the process ends: a few hundred thousand objects. CPython's full collection
(of the oldest generation) walks all of them each time; under load the API spent about a tenth
of a turn's CPU there, in pauses of a few hundred milliseconds that stall every turn at once.
`gc.freeze()` moves the objects alive at that moment to a generation that is never collected,
so later collections walk only what the requests made.

A chat turn allocates tens of thousands of short-lived objects (the Agents SDK's and the
clients' pydantic models, dicts, events); with CPython's default of a young collection every
700 allocations, most of them were walked, and the survivors promoted, several times before
they died. `YOUNG_COLLECTION_EVERY` allocations lets most of them die first.

No collection runs first (a full one is what this avoids; startup leaves little garbage, and
what it left is kept only until shutdown, when the objects are handed back to the collector
and the thresholds restored: an app started again in the same process, as in the tests, sets
its own).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG_COLLECTION_EVERY = 10_000  # net allocations between collections of the youngest generation


@contextmanager
def collector_set_for_serving() -> Iterator[None]:
    """Freeze the objects alive now and collect the young less often, until the block ends."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
