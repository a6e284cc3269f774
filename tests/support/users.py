"""Small helpers for tests."""

from __future__ import annotations

import random
import string


def random_lower_string(length: int = 12) -> str:
    return "".join(random.choices(string.ascii_lowercase, k=length))


def random_user() -> str:
    return "user-" + random_lower_string(8)
