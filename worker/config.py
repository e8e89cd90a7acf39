"""All configuration, read from the environment in one place and validated at start.

Web, worker, beat and the CLI all call :func:`load_settings`, so they cannot drift apart.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_DATABASE_URL = "sqlite:///dirsync.db"
DEFAULT_WORKOS_BASE_URL = "https://api.workos.com"
EMBEDDED_BROKER_URL = "filesystem://"


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable and the fix."""


def normalize_database_url(url: str) -> str:
    """Accept the common spellings of a PostgreSQL URL and pin the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@dataclass(frozen=True)
class Settings:
    """Validated settings. Secrets are kept out of ``repr`` so they never reach a log line."""

    database_url: str = DEFAULT_DATABASE_URL
    broker_url: str = EMBEDDED_BROKER_URL
    data_dir: Path = Path(".dirsync")
    workos_api_key: str | None = field(default=None, repr=False)
    workos_base_url: str = DEFAULT_WORKOS_BASE_URL
    webhook_secrets: tuple[str, ...] = field(default=(), repr=False)
    admin_token: str | None = field(default=None, repr=False)
    webhook_tolerance_seconds: int = 180
    webhook_max_bytes: int = 1024 * 1024
    # WorkOS documents 6,000 requests/min per key and 4 requests/s per directory on
    # /directory_users; we pace a little under both so a resync never bounces off a 429.
    api_requests_per_minute: int = 5400
    directory_users_per_second: float = 3.6
    api_connect_timeout: float = 5.0
    api_read_timeout: float = 30.0
    api_max_retries: int = 6
    # Redis used to share the pacing budget between workers; None means in-process pacing.
    pacing_redis_url: str | None = None
    sync_batch_size: int = 500
    resync_lease_seconds: int = 120
    inbox_sweep_seconds: int = 30
    # A pending event or queued resync not picked up this long after enqueueing is enqueued again.
    reenqueue_after_seconds: int = 120
    event_max_attempts: int = 8
    task_time_limit_seconds: int = 6 * 3600
    tombstone_retention_days: int = 35

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def broker_is_embedded(self) -> bool:
        return self.broker_url.startswith("filesystem://")

    @property
    def uses_emulator(self) -> bool:
        return not self.workos_api_key


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be > 0, got {value}")
    return value


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build :class:`Settings` from ``env`` (default: ``os.environ``); fail with a clear message."""
    env = os.environ if env is None else env
    database_url = normalize_database_url(env.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
    if not database_url.startswith(("sqlite", "postgresql+psycopg://")):
        raise ConfigError(
            "DATABASE_URL must be sqlite:///path.db or postgresql://user@host/db, "
            f"got scheme {urlsplit(database_url).scheme!r}"
        )
    broker_url = env.get("CELERY_BROKER_URL") or EMBEDDED_BROKER_URL
    if not broker_url.startswith(("redis://", "rediss://", "filesystem://", "memory://")):
        raise ConfigError(
            "CELERY_BROKER_URL must be redis://host:6379/0 (production) or unset for the "
            f"embedded broker, got scheme {urlsplit(broker_url).scheme!r}"
        )
    base_url = (env.get("WORKOS_BASE_URL") or DEFAULT_WORKOS_BASE_URL).rstrip("/")
    if not base_url.startswith(("http://", "https://")):
        raise ConfigError(f"WORKOS_BASE_URL must be an http(s) URL, got {base_url!r}")
    secrets = tuple(
        s.strip() for s in (env.get("WORKOS_WEBHOOK_SECRET") or "").split(",") if s.strip()
    )
    pacing = env.get("DIRSYNC_PACING_REDIS_URL")
    if pacing is None and broker_url.startswith(("redis://", "rediss://")):
        pacing = broker_url
    return Settings(
        database_url=database_url,
        broker_url=broker_url,
        data_dir=Path(env.get("DIRSYNC_DATA_DIR") or ".dirsync"),
        workos_api_key=(env.get("WORKOS_API_KEY") or "").strip() or None,
        workos_base_url=base_url,
        webhook_secrets=secrets,
        admin_token=(env.get("DIRSYNC_ADMIN_TOKEN") or "").strip() or None,
        webhook_tolerance_seconds=_int(env, "DIRSYNC_WEBHOOK_TOLERANCE_SECONDS", 180, 1),
        webhook_max_bytes=_int(env, "DIRSYNC_WEBHOOK_MAX_BYTES", 1024 * 1024, 1024),
        api_requests_per_minute=_int(env, "DIRSYNC_API_REQUESTS_PER_MINUTE", 5400, 1),
        directory_users_per_second=_float(env, "DIRSYNC_DIRECTORY_USERS_PER_SECOND", 3.6),
        api_connect_timeout=_float(env, "DIRSYNC_API_CONNECT_TIMEOUT", 5.0),
        api_read_timeout=_float(env, "DIRSYNC_API_READ_TIMEOUT", 30.0),
        api_max_retries=_int(env, "DIRSYNC_API_MAX_RETRIES", 6),
        pacing_redis_url=pacing or None,
        sync_batch_size=_int(env, "DIRSYNC_SYNC_BATCH_SIZE", 500, 1),
        resync_lease_seconds=_int(env, "DIRSYNC_RESYNC_LEASE_SECONDS", 120, 5),
        inbox_sweep_seconds=_int(env, "DIRSYNC_INBOX_SWEEP_SECONDS", 30, 1),
        reenqueue_after_seconds=_int(env, "DIRSYNC_REENQUEUE_AFTER_SECONDS", 120, 1),
        event_max_attempts=_int(env, "DIRSYNC_EVENT_MAX_ATTEMPTS", 8, 1),
        task_time_limit_seconds=_int(env, "DIRSYNC_TASK_TIME_LIMIT_SECONDS", 6 * 3600, 60),
        tombstone_retention_days=_int(env, "DIRSYNC_TOMBSTONE_RETENTION_DAYS", 35, 1),
    )
