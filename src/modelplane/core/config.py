"""Settings: where modelplane keeps its state and which backends it talks to.

Values come from ``MODELPLANE_*`` environment variables, overridden by
:func:`configure`. Every value is checked when settings are first built, so a bad
value fails at once with the variable named and the accepted forms listed, instead of
deep inside a backend later.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from modelplane.core.errors import ConfigurationError

__all__ = ["Settings", "configure", "get_settings", "reset_settings"]

DATABASE_SCHEMES = {
    "sqlite": "sqlite",
    "sqlite+pysqlite": "sqlite",
    "postgresql": "postgresql+psycopg",
    "postgresql+psycopg": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
}
DATABASE_FORMS = "sqlite:///PATH, sqlite:///:memory:, postgresql+psycopg://USER@HOST:PORT/DB"
ONLINE_STORE_SCHEMES = ("sqlite", "redis", "rediss", "unix")
ONLINE_STORE_FORMS = "sqlite:///PATH, redis://HOST:PORT/DB, rediss://HOST:PORT/DB"
SERVER_URL_FORMS = "http://HOST:PORT or https://HOST"


class Settings(BaseSettings):
    """Resolved configuration. Build it with :func:`get_settings`, not directly."""

    model_config = SettingsConfigDict(env_prefix="MODELPLANE_", extra="forbid", frozen=True)

    home: Path = Path("~/.modelplane")
    database_url: str = ""
    artifact_root: str = ""
    online_store_url: str = ""
    server_url: str = ""
    token: str | None = Field(default=None, repr=False)  # a remote client's bearer token
    max_request_bytes: int = 10 * 1024 * 1024
    max_upload_bytes: int = 5 * 1024 * 1024 * 1024
    serving_poll_seconds: float = 2.0
    prediction_log: bool = True
    prediction_log_storage: Literal["database", "parquet"] = "database"
    prediction_log_process: bool = True  # write the log in a child process (servers)
    alert_interval_seconds: float = 30.0
    metrics_refresh_seconds: float = 15.0  # /metrics' monitoring gauges are this fresh
    deployment_poll_seconds: float = 1.0
    allow_pickle: bool = False  # load pickle-stored models in this process (runs their code)
    run_heartbeat_seconds: float = 10.0  # an ActiveRun says it is alive this often
    run_stale_seconds: float = 120.0  # a running run silent this long is marked failed
    artifact_tmp_max_age_seconds: float = 3600.0  # partial uploads untouched this long go
    auth: bool = False  # a server checks tokens (always on beyond loopback; see cli/server)
    auth_cache_seconds: float = 10.0  # a checked token is trusted this long per replica
    webhook_allow: str = ""  # hosts alert webhooks may call: "hooks.slack.com,*.corp,10.0.0.0/8"
    oidc_issuer: str = ""  # accept this identity provider's JWTs too (auth/oidc.py)
    oidc_audience: str = ""
    oidc_jwks_url: str = ""  # default: <issuer>/.well-known/jwks.json
    oidc_role_claim: str = "modelplane_role"
    # fault isolation (docs/operations.md#timeouts): bounded calls to every backend
    db_statement_timeout_ms: int = 30_000  # PostgreSQL statement_timeout; 0: no limit
    db_connect_timeout_seconds: float = 5.0
    redis_timeout_seconds: float = 2.0  # Redis socket read/write timeout
    redis_connect_timeout_seconds: float = 2.0
    breaker_reset_seconds: float = 5.0  # a backend's open circuit fails fast this long

    @field_validator("home", mode="after")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser().absolute()

    @field_validator("database_url", mode="after")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        if not value:
            return value
        scheme = urlsplit(value).scheme.lower()
        if scheme not in DATABASE_SCHEMES:
            shown = scheme or "(none)"
            raise ValueError(f"unsupported scheme {shown!r}; expected {DATABASE_FORMS}")
        return DATABASE_SCHEMES[scheme] + value[len(scheme) :]

    @field_validator("artifact_root", mode="after")
    @classmethod
    def _check_artifact_root(cls, value: str) -> str:
        if not value or "://" not in value:
            return value
        protocol = value.split("://", 1)[0].lower()
        from fsspec.registry import known_implementations, registry

        if protocol not in known_implementations and protocol not in registry:
            raise ValueError(
                f"unknown storage protocol {protocol!r}; expected a local path or an fsspec "
                "URL such as file:///PATH, s3://BUCKET/PREFIX, gs://BUCKET, memory://NAME"
            )
        return value

    @field_validator("online_store_url", mode="after")
    @classmethod
    def _check_online_store_url(cls, value: str) -> str:
        if value and urlsplit(value).scheme.lower() not in ONLINE_STORE_SCHEMES:
            raise ValueError(f"unsupported scheme; expected {ONLINE_STORE_FORMS}")
        return value

    @field_validator("server_url", mode="after")
    @classmethod
    def _check_server_url(cls, value: str) -> str:
        if value and urlsplit(value).scheme.lower() not in ("http", "https"):
            raise ValueError(f"expected {SERVER_URL_FORMS}")
        return value.rstrip("/")

    @field_validator("token", mode="after")
    @classmethod
    def _check_token(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if any(c.isspace() for c in value.strip()) or not value.strip().isprintable():
            raise ValueError("expected a token without spaces or control characters")
        return value.strip()

    @field_validator("prediction_log_storage", mode="before")
    @classmethod
    def _check_prediction_log_storage(cls, value: Any) -> Any:
        text = str(value).strip().lower()
        if text not in ("database", "parquet"):
            raise ValueError(f"expected database or parquet, got {value!r}")
        return text

    @field_validator("alert_interval_seconds", "serving_poll_seconds", "deployment_poll_seconds",
                     "metrics_refresh_seconds",
                     "run_heartbeat_seconds", "run_stale_seconds",
                     "artifact_tmp_max_age_seconds", "auth_cache_seconds",
                     "db_connect_timeout_seconds", "redis_timeout_seconds",
                     "redis_connect_timeout_seconds", "breaker_reset_seconds", mode="after")
    @classmethod
    def _check_poll(cls, value: float) -> float:
        if not value > 0:
            raise ValueError("expected a positive number of seconds")
        return value

    @field_validator("max_request_bytes", "max_upload_bytes", mode="after")
    @classmethod
    def _check_positive(cls, value: int) -> int:
        if value <= 0:
            raise ValueError("expected a positive number of bytes")
        return value

    @field_validator("db_statement_timeout_ms", mode="after")
    @classmethod
    def _check_timeout_ms(cls, value: int) -> int:
        if value < 0:
            raise ValueError("expected milliseconds, 0 for no limit")
        return value

    @model_validator(mode="after")
    def _fill_defaults(self) -> Settings:
        # frozen model: defaults that depend on `home` are filled through __dict__
        if not self.database_url:
            self.__dict__["database_url"] = f"sqlite:///{self.home / 'modelplane.db'}"
        if not self.artifact_root:
            self.__dict__["artifact_root"] = str(self.home / "artifacts")
        if not self.online_store_url:
            self.__dict__["online_store_url"] = f"sqlite:///{self.home / 'online.db'}"
        return self

    @property
    def is_remote(self) -> bool:
        return bool(self.server_url)

    def redacted(self, url: str) -> str:
        """``url`` with any password replaced by ``***`` (for display)."""
        parts = urlsplit(url)
        if parts.password:
            netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
            return parts._replace(netloc=netloc).geturl()
        return url


_lock = threading.Lock()
_overrides: dict[str, Any] = {}
_current: Settings | None = None


def _build(overrides: dict[str, Any]) -> Settings:
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else "settings"
        source = "argument" if field in overrides else "variable"
        name = field if field in overrides else f"MODELPLANE_{field.upper()}"
        message = str(error["msg"]).removeprefix("Value error, ")
        raise ConfigurationError(
            f"{name}: {message}", details={"field": name, "source": source}
        ) from None


def get_settings() -> Settings:
    """The settings in force: environment plus :func:`configure` overrides (cached)."""
    global _current
    current = _current
    if current is not None:
        return current
    with _lock:
        if _current is None:
            _current = _build(_overrides)
        return _current


def configure(**values: Any) -> Settings:
    """Override settings for this process, e.g. ``configure(home="/tmp/mp")``.

    Accepts the field names of :class:`Settings`; ``None`` removes an override.
    Returns the new settings; a bad value raises :class:`ConfigurationError` and
    leaves the previous settings in force.
    """
    global _current
    unknown = sorted(set(values) - set(Settings.model_fields))
    if unknown:
        raise ConfigurationError(
            f"configure() got unknown setting {unknown[0]!r}; expected one of "
            f"{', '.join(sorted(Settings.model_fields))}",
            details={"field": unknown[0]},
        )
    with _lock:
        merged = {**_overrides, **values}
        merged = {k: v for k, v in merged.items() if v is not None}
        settings = _build(merged)
        _overrides.clear()
        _overrides.update(merged)
        _current = settings
    _notify_reset()
    return settings


def reset_settings() -> None:
    """Forget overrides and cached settings (the environment is read again)."""
    global _current
    with _lock:
        _overrides.clear()
        _current = None
    _notify_reset()


_reset_hooks: list[Any] = []


def on_reset(hook: Any) -> Any:
    """Register ``hook()`` to run when settings change (lower layers drop caches)."""
    _reset_hooks.append(hook)
    return hook


def _notify_reset() -> None:
    for hook in list(_reset_hooks):
        hook()


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")
