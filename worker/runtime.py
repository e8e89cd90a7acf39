"""Per-process singletons (settings, engine, session factory, WorkOS client), built lazily.

Celery tasks, the CLI and the web app all get their collaborators here, so a process opens one
connection pool and one HTTP session however many tasks it runs.
"""

from __future__ import annotations

import threading
from functools import lru_cache

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from worker.config import ConfigError, Settings, load_settings
from worker.db import make_engine, make_session_factory
from worker.workos_client import WorkOSClient

_lock = threading.Lock()
_state = threading.local()  # per-thread WorkOS client


@lru_cache(maxsize=1)
def settings() -> Settings:
    return load_settings()


@lru_cache(maxsize=1)
def engine() -> Engine:
    return make_engine(settings().database_url)


@lru_cache(maxsize=1)
def session_factory() -> sessionmaker[Session]:
    return make_session_factory(engine())


def workos_client() -> WorkOSClient:
    """A WorkOS client per thread (requests.Session is not shared across threads)."""
    client = getattr(_state, "client", None)
    if client is None:
        current = settings()
        if not current.workos_api_key:
            raise ConfigError(
                "WORKOS_API_KEY is not set: set it to your WorkOS secret key (sk_...), or start "
                "the service with `make run`, which runs the built-in emulator when no key is set"
            )
        client = WorkOSClient.from_settings(
            current, current.workos_api_key, current.workos_base_url
        )
        _state.client = client
    return client


def reset() -> None:
    """Forget cached objects (tests change the environment between cases)."""
    with _lock:
        if engine.cache_info().currsize:
            engine().dispose()
        settings.cache_clear()
        engine.cache_clear()
        session_factory.cache_clear()
        _state.__dict__.clear()
