"""Shared fixtures: real SQLite and PostgreSQL databases migrated with Alembic, and the
WorkOS emulator on a real socket (the only stand-in we allow, for WorkOS itself)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from emulator import EmulatorConfig, EmulatorServer, EmulatorState
from tests.support import mirror_snapshot
from worker.config import Settings
from worker.db import make_engine, make_session_factory
from worker.launcher import upgrade_database
from worker.models import Base
from worker.workos_client import WorkOSClient

PG_ADMIN_URL = os.environ.get(
    "DIRSYNC_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("DIRSYNC_TEST_REDIS_URL", "redis://127.0.0.1:6379")


def _create_pg_database(name: str) -> str:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def _drop_pg_database(name: str) -> None:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def postgresql_database_url() -> Iterator[str]:
    name = f"dirsync_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    url = _create_pg_database(name)
    upgrade_database(url)
    yield url
    _drop_pg_database(name)


@pytest.fixture(scope="session")
def sqlite_database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("sqlite") / "dirsync.db"
    url = f"sqlite:///{path}"
    upgrade_database(url)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test using this runs twice: on SQLite and on PostgreSQL, from an empty mirror."""
    url = request.getfixturevalue(f"{request.param}_database_url")
    engine = make_engine(url, null_pool=True)
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
    engine.dispose()
    return url


@pytest.fixture
def engine(database_url: str):  # type: ignore[no-untyped-def]
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def factory(engine) -> sessionmaker[Session]:  # type: ignore[no-untyped-def]
    return make_session_factory(engine)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        broker_url="memory://",
        workos_api_key="sk_test_dirsync",
        webhook_secrets=("whsec_test_primary",),
        sync_batch_size=100,
    )


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    """A fresh emulator per test, rate limits off unless a test turns them on."""
    server = EmulatorServer(EmulatorState(), EmulatorConfig(rate_limits=False))
    yield server
    server.stop()


@pytest.fixture
def client(emulator: EmulatorServer) -> WorkOSClient:
    return WorkOSClient(
        emulator.config.api_key,
        emulator.base_url,
        max_retries=3,
        backoff_base=0.01,
        backoff_cap=0.05,
        requests_per_minute=600_000,
        directory_users_per_second=1000,
    )


@pytest.fixture
def snapshot(factory: sessionmaker[Session]):  # type: ignore[no-untyped-def]
    return lambda directory_id: mirror_snapshot(factory, directory_id)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    root = Path(__file__).parent
    for item in items:
        if (root / "e2e") in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)
