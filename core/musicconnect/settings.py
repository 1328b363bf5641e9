"""Platform settings: ``MC_*`` environment variables over an optional TOML file over defaults.

The TOML file is named by ``MC_CONFIG`` (or passed explicitly). Its top-level keys are core settings;
its ``[plugins.<id>]`` tables configure plugins (see :mod:`musicconnect.plugin_settings`).
"""
from __future__ import annotations

import os
import secrets
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MC_", extra="ignore", validate_default=True)

    env: Literal["development", "test", "production"] = "development"
    platform_name: str = "MusicConnect"
    base_url: str = "http://127.0.0.1:8000"
    allowed_origins: str = Field(default="", description=(
        "comma-separated origins (https://app.example.com) that, besides base_url, client-supplied return "
        "URLs may point at (musicconnect.redirects)"))
    cors_origins: str = Field(default="", description=(
        "comma-separated exact origins (https://player.example.com) whose web pages may call the API "
        "cross-origin (musicconnect.cors); empty: no CORS headers; '*' is refused"))
    data_dir: Path = Path("data")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; SQLite in data_dir if unset")
    redis_url: str | None = None
    secret_key: SecretStr | None = Field(default=None, description="signing key; generated once into data_dir if unset")

    # plugins: None = every installed plugin may load; "" = none; "a,b" = only these (rescue switch)
    plugins: str | None = None

    # identity
    access_token_ttl: int = 900
    refresh_token_ttl: int = 30 * 24 * 3600
    login_failures_limit: str = "5/minute"  # per account and client address
    login_account_limit: str = "100/hour"  # per account over every address (a distributed guesser)
    login_ip_failures_limit: str = "30/minute"
    argon2_time_cost: int = 3
    argon2_memory_cost: int = 65536
    register_ip_limit: str = "10/hour"  # sign-ups per client address
    refresh_ip_limit: str = "60/minute"  # refresh-token exchanges per client address
    comp_limit: str = "300/hour"  # comps per artist (each looks an account up by email)
    password_hash_concurrency: int = Field(default=0, ge=0, description=(
        "argon2 hashes computed at once per process (each takes argon2_memory_cost KiB); 0 = CPU count"))
    cache_ttl: float = 30.0

    # HTTP API guard rails (docs/security.md)
    max_header_bytes: int = Field(default=64 * 1024, ge=8192, description="a request head larger than this is a 431")
    forwarded_allow_ips: str = Field(default="127.0.0.1", description=(
        "proxies whose X-Forwarded-For/-Proto are trusted (comma-separated; '*' for any: only behind a proxy)"))
    keep_alive_seconds: int = Field(default=75, ge=1, description=(
        "idle keep-alive per connection: longer than a player's 6 s segment interval and than a load "
        "balancer's idle timeout (AWS ALB 60 s), so players and proxies reuse connections"))
    listen_backlog: int = Field(default=2048, ge=64, description=(
        "pending connections the socket queues (a crowd arriving at once); the OS caps it at somaxconn"))
    max_body_bytes: int = Field(default=1 << 20, ge=1024, description="request body cap; routes may declare more")
    rate_limits_enabled: bool = True
    rate_limit_anonymous: str = "300/minute"  # per client address
    rate_limit_fan: str = "600/minute"  # per signed-in user
    rate_limit_member: str = "1800/minute"  # per user holding a paid tier of any artist
    rate_limit_artist: str = "1800/minute"  # artists and admins
    rate_limit_token: str = "600/minute"  # per user, over all of their personal API tokens
    metrics_token: SecretStr | None = Field(default=None, description=(
        "bearer token for /metrics; unset: /metrics answers loopback clients and admins only"))
    fast_path: bool = True  # serve hot routes before FastAPI (see musicconnect.fastpath)

    # real-time sockets (musicconnect.realtime; docs/plugins.md, "Real-time sockets")
    realtime_ping_seconds: float = Field(default=20.0, gt=0, description=(
        "the server pings each socket this often; one that does not answer within as long is closed"))
    realtime_send_queue: int = Field(default=256, ge=1, description=(
        "messages queued per socket; a client that falls this far behind is dropped (close 1013)"))
    realtime_max_frame_bytes: int = Field(default=64 * 1024, ge=1024, description=(
        "the largest client frame the server reads (1009 past it); routes declare smaller caps"))
    realtime_ticket_seconds: int = Field(default=30, ge=1, description="lifetime of a socket ticket")
    realtime_ws: Literal["websockets-sansio", "websockets", "wsproto"] = Field(default="websockets-sansio", description=(
        "uvicorn's WebSocket implementation"))
    realtime_compression: bool = Field(default=False, description=(
        "permessage-deflate: less traffic for tens of KiB more memory per socket"))

    # storage
    storage_backend: Literal["local", "s3"] | None = None  # None: s3 when s3_bucket is set
    media_dir: Path | None = None
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    cdn_base_url: str | None = None
    signed_url_ttl: int = 3600

    # concurrency (docs/operations.md, "Sizing"): each request or job holds at most one pooled
    # connection, so the pool is the request threads + the job threads + a few for the process
    request_threads: int = Field(default=16, ge=1, description="threads serving synchronous routes per process")
    db_pool_size: int = Field(default=0, ge=0, description="0: request_threads + worker_threads + 4")
    db_pool_timeout: float = Field(default=10.0, gt=0, description="seconds to wait for a pooled connection")
    max_pending_requests: int = Field(default=2048, ge=1, description=(
        "requests admitted at once per process beyond the fast path; more answer 503 with Retry-After"))

    # jobs
    worker_threads: int = 2
    # a worker that stops heart-beating for this long is dead: its unfinished messages are re-queued
    redis_heartbeat_timeout_ms: int = 60_000
    redis_maintenance_chance: int = 1000  # per million fetches: how often a worker looks for dead ones
    job_lease_seconds: int = 60  # a running job silent this long may be taken over by a re-delivery
    # a queued job untouched this long (or a running one silent this long and past its lease) is
    # sent to the broker again by a worker: its message was lost (Redis restarted without
    # persistence, or Redis was down when the job was enqueued). A duplicate delivery is harmless.
    job_resend_seconds: int = Field(default=600, ge=1)

    # logging
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"

    # observability (docs/operations.md, "Observability")
    sentry_dsn: SecretStr | None = Field(default=None, description="Sentry DSN; unset: no error reporting")
    sentry_environment: str | None = Field(default=None, description="Sentry environment tag; default MC_ENV")
    release: str | None = Field(default=None, description="release tag (Sentry, build_info); default the version")
    sentry_traces_sample_rate: float = Field(default=0.0, ge=0, le=1, description="Sentry performance sampling")
    tracing: bool = Field(default=False, description=(
        "OpenTelemetry traces (also on when OTEL_EXPORTER_OTLP_ENDPOINT is set)"))
    worker_metrics_port: int = Field(default=0, ge=0, le=65535, description=(
        "`musicconnect worker` serves /metrics and /healthz on this port; 0 = off"))

    # raw TOML tables for plugins, filled from the config file
    plugin_config: dict[str, dict[str, Any]] = Field(default_factory=dict, exclude=True)

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _origins(cls, value: Any) -> str:
        from .redirects import parse_origin

        values = value if isinstance(value, (list, tuple)) else str(value or "").split(",")
        return ",".join(parse_origin(v) for v in values if v.strip())

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _cors_origins(cls, value: Any) -> str:
        from .cors import parse_cors_origins

        return ",".join(parse_cors_origins(value))

    @model_validator(mode="after")
    def _derive(self) -> "Settings":
        self.data_dir = Path(self.data_dir).expanduser().resolve()
        if self.media_dir is None:
            self.media_dir = self.data_dir / "media"
        if self.storage_backend is None:
            self.storage_backend = "s3" if self.s3_bucket else "local"
        if self.storage_backend == "s3" and not self.s3_bucket:
            raise ValueError("MC_STORAGE_BACKEND=s3 needs MC_S3_BUCKET")
        if not self.db_pool_size:
            self.db_pool_size = self.request_threads + self.worker_threads + 4
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlSource(settings_cls))

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'musicconnect.db'}"

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    def signing_key(self) -> bytes:
        """The platform's secret; generated once and kept in the data directory if not configured."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        path = self.data_dir / "secret.key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48))
            try:
                os.link(tmp, path)  # atomic: the first writer wins
            except FileExistsError:
                pass
            finally:
                tmp.unlink(missing_ok=True)
        self.secret_key = SecretStr(path.read_text().strip())
        return self.secret_key.get_secret_value().encode()


class _TomlSource(PydanticBaseSettingsSource):
    """Reads the TOML file named by ``MC_CONFIG``; ``[plugins.*]`` goes to ``plugin_config``."""

    def __init__(self, settings_cls: type[BaseSettings]):
        super().__init__(settings_cls)
        path = os.environ.get("MC_CONFIG")
        self._data: dict[str, Any] = {}
        if path:
            p = Path(path)
            if not p.is_file():
                raise ValueError(f"MC_CONFIG points at {p}, which is not a file")
            with p.open("rb") as fh:
                data = tomllib.load(fh)
            plugins = data.pop("plugins", {})
            if not isinstance(plugins, dict):
                raise ValueError("[plugins] in the config file must be a table of tables")
            data["plugin_config"] = plugins
            self._data = data

    def get_field_value(self, field, field_name):  # pragma: no cover - unused by __call__
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)
