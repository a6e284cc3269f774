"""Keep a server-sent event stream alive while the turn waits (model thinking, a retry).

Proxies and browsers close a connection that stays silent for long (nginx: 60 s by default).
Every `KEEPALIVE_SECONDS` without an event, the stream gets an SSE comment line, which clients
ignore by definition.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TypeVar

KEEPALIVE_SECONDS = 10.0
KEEPALIVE = ": keep-alive\n\n"

T = TypeVar("T")


async def with_keepalive(
    items: AsyncIterator[T], interval: float | None = None
) -> AsyncIterator[T | None]:
    """The items of `items`, with None whenever `interval` seconds pass without one."""
    seconds = KEEPALIVE_SECONDS if interval is None else interval
    iterator = aiter(items)
    next_item: asyncio.Future[T] | None = None
    try:
        while True:
            if next_item is None:
                next_item = asyncio.ensure_future(anext(iterator))
            done, _ = await asyncio.wait({next_item}, timeout=seconds)
            if not done:
                yield None
                continue
            try:
                item = next_item.result()
            except StopAsyncIteration:
                return
            next_item = None
            yield item
    finally:
        if next_item is not None and not next_item.done():
            next_item.cancel()
