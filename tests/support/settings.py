"""What the deployment files may name: the environment variables `Settings` reads."""

from __future__ import annotations

from backend.config import Settings


def setting_names() -> set[str]:
    names = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        names.add(alias if isinstance(alias, str) else name.upper())
    return names
