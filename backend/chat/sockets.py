"""How many WebSocket chat channels each user has open in this process (a bound per user).

Counted per process, like the in-memory rate limit: behind N replicas a user may hold up to N
times `WS_MAX_CONNECTIONS_PER_USER`. The bound is against one client (or a runaway tab loop)
holding open sockets without end, which a per-process count already stops.
"""

from __future__ import annotations

from collections import Counter


class SocketConnections:
    def __init__(self) -> None:
        self._open: Counter[str] = Counter()

    def open(self, user_id: str, limit: int) -> bool:
        """Count one more channel for `user_id`, unless that would make more than `limit`."""
        if self._open[user_id] >= limit:
            return False
        self._open[user_id] += 1
        return True

    def close(self, user_id: str) -> None:
        self._open[user_id] -= 1
        if self._open[user_id] <= 0:
            del self._open[user_id]

    def count(self, user_id: str) -> int:
        return self._open[user_id]
