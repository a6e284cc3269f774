"""Configuration: the embedded default's generated secret, and production refusing without one."""

from __future__ import annotations

import stat

import pytest

from backend.config import ConfigError, Settings, resolve_secret


def test_generated_secret_is_private_and_stable(tmp_path):
    settings = Settings(_env_file=None, TODO_AGENT_DATA_DIR=tmp_path / "d", better_auth_secret=None)
    first = resolve_secret(settings)
    path = tmp_path / "d" / "secret"
    assert len(first) >= 48
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = Settings(_env_file=None, TODO_AGENT_DATA_DIR=tmp_path / "d", better_auth_secret=None)
    assert resolve_secret(again) == first
    other = Settings(_env_file=None, TODO_AGENT_DATA_DIR=tmp_path / "e", better_auth_secret=None)
    assert resolve_secret(other) != first


def test_configured_secret_wins(tmp_path):
    settings = Settings(_env_file=None, TODO_AGENT_DATA_DIR=tmp_path, better_auth_secret="s" * 40)
    assert resolve_secret(settings) == "s" * 40
    assert not (tmp_path / "secret").exists()


def test_production_without_secret_refuses(tmp_path):
    settings = Settings(_env_file=None, TODO_AGENT_DATA_DIR=tmp_path, environment="production")
    with pytest.raises(ConfigError, match="BETTER_AUTH_SECRET"):
        resolve_secret(settings)


def test_production_with_short_secret_refuses(tmp_path):
    settings = Settings(
        _env_file=None,
        TODO_AGENT_DATA_DIR=tmp_path,
        environment="production",
        better_auth_secret="short",
    )
    with pytest.raises(ConfigError, match="shorter"):
        resolve_secret(settings)


def test_lists_accept_commas_and_json(monkeypatch):
    monkeypatch.setenv("CORS_ORIGINS", "http://a.test, http://b.test")
    assert Settings(_env_file=None).cors_origins == ["http://a.test", "http://b.test"]
    monkeypatch.setenv("CORS_ORIGINS", '["http://c.test"]')
    assert Settings(_env_file=None).cors_origins == ["http://c.test"]


def test_postgres_urls_use_psycopg2():
    settings = Settings(_env_file=None, database_url="postgres://u:p@h:5432/db")
    assert settings.resolved_database_url == "postgresql+psycopg2://u:p@h:5432/db"


def test_model_defaults_to_offline_without_key():
    assert Settings(_env_file=None, openai_api_key=None, model=None).model_name == "offline"
