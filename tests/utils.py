"""Moved to `tests.support.users`; this name stays importable for code not yet moved."""

from tests.support.users import random_lower_string, random_user  # noqa: F401
