"""One place for every setting. Values come from the environment, then a `.env` file.

The embedded default needs no configuration: a data directory holds the SQLite file and a
generated signing secret. A configured `BETTER_AUTH_SECRET` always wins.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Lists read from the environment as "a,b" (what people type in .env files) or a JSON list.
StrList = Annotated[list[str], NoDecode]


class ConfigError(RuntimeError):
    """The configuration cannot work; the message says what to set."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_ignore_empty=True, extra="ignore")

    environment: Literal["development", "production"] = "development"
    data_dir: Path = Field(
        default_factory=lambda: Path.home() / ".todo-agent", validation_alias="TODO_AGENT_DATA_DIR"
    )
    database_url: str | None = None

    better_auth_secret: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    # Better Auth's `jwt` plugin publishes its public keys here: {BETTER_AUTH_URL}/api/auth/jwks
    jwt_jwks_url: str | None = None

    mcp_server_url: str = "http://127.0.0.1:8001/mcp"
    # Hosts/origins the MCP server accepts (DNS-rebinding protection). Empty: loopback only.
    mcp_allowed_hosts: StrList = []
    mcp_allowed_origins: StrList = []
    mcp_timeout_seconds: float = 10.0

    model: str | None = None
    openai_api_key: str | None = None
    openai_base_url: str | None = None
    model_timeout_seconds: float = 60.0
    tracing: bool = False
    # The whole turn, every model call and retry included (proxies give up at ~60 s).
    turn_timeout_seconds: float = Field(default=40.0, gt=0, le=600)
    # Estimated tokens per model request (history trimmed to fit); see docs/models-and-providers.md
    context_tokens: int = Field(default=16000, ge=1000)
    # OpenAI keeps "stored completions" of every request when true.
    openai_store: bool = False

    cors_origins: StrList = []
    history_limit: int = Field(default=50, ge=2, le=1000)
    turn_claim_seconds: float = 120.0  # the longest a turn may run
    # A turn's claim on its conversation lasts this long and is renewed while the turn runs
    # (backend/chat/lease.py): a crashed turn's conversation is free again within it.
    turn_lease_seconds: float = Field(default=10.0, ge=1)
    chat_rate_limit: int = 20  # chat requests per user per minute; 0 disables
    # Deletes a chat turn may make without asking, when its message names fewer (see
    # backend/chat/delete_guard.py); an explicit "all"/"every" request is never limited.
    delete_confirm_threshold: int = Field(default=1, ge=0)
    redis_url: str | None = None
    # How long the rate limiter waits for Redis before it fails open (allows the request and
    # stops asking for a while, backend/ratelimit.py): a slow Redis must not stall requests.
    redis_timeout_seconds: float = Field(default=0.5, gt=0)
    # Chat cancel and the WebSocket channel (docs/websocket.md). A running turn looks for a
    # cancel made on another replica (`POST .../cancel` sets a flag on the conversation row)
    # this often; a cancel made on its own process stops it at once.
    turn_cancel_poll_seconds: float = Field(default=1.0, gt=0)
    ws_max_message_bytes: int = Field(default=32 * 1024, ge=1024)
    ws_idle_timeout_seconds: float = Field(default=60.0, gt=0)
    ws_auth_timeout_seconds: float = Field(default=5.0, gt=0)
    ws_max_connections_per_user: int = Field(default=5, ge=1)
    max_body_bytes: int = 64 * 1024
    # Slow clients (backend/serving.py) and stopping (SIGTERM lets running turns finish).
    header_timeout_seconds: float = Field(default=10.0, gt=0)
    body_timeout_seconds: float = Field(default=30.0, gt=0)
    shutdown_grace_seconds: float = Field(default=25.0, ge=0)
    # Load: per-user REST/MCP requests per minute (0 disables), requests one user may have in
    # flight at once, and how long database work may queue for a connection before a 503.
    api_rate_limit: int = Field(default=300, ge=0)
    user_concurrency: int = Field(default=8, ge=1)
    db_queue_timeout_seconds: float = Field(default=5.0, gt=0)
    log_level: str = "INFO"
    # Prometheus /metrics (backend.observability). METRICS_PORT: on a port of its own instead.
    metrics_enabled: bool = True
    metrics_port: int | None = Field(default=None, ge=1, le=65535)

    @field_validator("cors_origins", "mcp_allowed_hosts", "mcp_allowed_origins", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            if value.strip().startswith("["):
                return json.loads(value)
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("jwt_jwks_url")
    @classmethod
    def _jwks_url(cls, value: str | None) -> str | None:
        # Only the operator's own http(s) endpoint is ever fetched (never file:, never a URL
        # taken from a token such as `jku`).
        if value is not None and urlsplit(value).scheme.lower() not in ("http", "https"):
            raise ValueError("JWT_JWKS_URL must be an http:// or https:// URL")
        return value

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            url = self.database_url
            # Plain postgresql:// (what most providers print) means psycopg2 here.
            if url.startswith("postgres://"):
                url = "postgresql://" + url[len("postgres://") :]
            if url.startswith("postgresql://"):
                url = "postgresql+psycopg2://" + url[len("postgresql://") :]
            return url
        return f"sqlite:///{self.data_dir / 'todo.db'}"

    @property
    def model_name(self) -> str:
        """The model to run: explicit MODEL, else a real default when a key exists, else offline."""
        if self.model:
            return self.model
        return "gpt-4.1-mini" if self.openai_api_key else "offline"

    @property
    def jwt_secret(self) -> str:
        return resolve_secret(self)


@lru_cache(maxsize=8)
def _secret_for(configured: str | None, environment: str, data_dir: Path) -> str:
    from backend.secret import check_strength, read_or_create_secret

    if configured:
        return check_strength(configured) if environment == "production" else configured
    if environment == "production":
        raise ConfigError(
            "ENVIRONMENT=production needs BETTER_AUTH_SECRET (the secret your Better Auth frontend "
            "signs tokens with); refusing to start with a generated one"
        )
    return read_or_create_secret(data_dir)


def resolve_secret(settings: Settings) -> str:
    return _secret_for(settings.better_auth_secret, settings.environment, settings.data_dir)


@lru_cache
def get_settings() -> Settings:
    return Settings()
