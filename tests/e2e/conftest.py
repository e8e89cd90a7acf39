"""End-to-end fixtures: real processes, real sockets, no stand-ins except the WorkOS emulator.

- ``redis_server``: a private ``redis-server`` on a free port (never the shared 6379), which a
  test can stop, start again on the same port, or flush.
- ``service``: real gunicorn (``web:create_app()``) and a real Celery worker with embedded beat,
  configured only through the environment, like production. Logs go to files; the tail of each
  is attached to the report of a failing test.
- The emulator's webhook dispatcher is pointed at gunicorn, so every emulator mutation arrives as
  a real signed webhook.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from emulator import EmulatorServer
from tests.e2e.helpers import wait_for
from worker.db import make_engine, make_session_factory
from worker.models import Base, WebhookEvent

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
WEBHOOK_SECRET = "whsec_e2e_" + "9f3c1a7d"
LOG_TAIL_LINES = 60
SWEEP_DONE = re.compile(rb"Task worker\.tasks\.sweep\[[0-9a-f-]+\] succeeded in")
SERVICES_KEY = pytest.StashKey[list["Service"]]()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"({path} does not exist)"
    return "\n".join(text.splitlines()[-lines:])


def _stop_process(proc: subprocess.Popen[bytes] | None, timeout: float = 15.0) -> None:
    """SIGTERM the process (warm shutdown), then SIGKILL its whole process group."""
    if proc is None:
        return
    if proc.poll() is None:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout)
    # Celery prefork children / gunicorn workers share the group (start_new_session=True):
    # make sure none of them survives its parent.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    if proc.poll() is None:
        proc.wait(5)


# ---------------------------------------------------------------------------------- redis
class RedisServer:
    """Our own redis-server; ``stop()``/``start()`` restart it on the same port."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.log = workdir / "redis.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> Any:
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "redis is already running"
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    "redis-server",
                    "--port", str(self.port),
                    "--bind", "127.0.0.1",
                    "--save", "",
                    "--appendonly", "no",
                    "--dir", str(self.workdir),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

        def ping() -> bool:
            assert self.proc is not None and self.proc.poll() is None, tail(self.log)
            try:
                return bool(self.client().ping())
            except Exception:
                return False

        wait_for(ping, timeout=10, interval=0.05, message="redis-server answering PING")

    def stop(self) -> None:
        _stop_process(self.proc, timeout=5)

    def flushall(self) -> None:
        self.client().flushall()

    def queued_messages(self) -> dict[str, int]:
        """Length of every Redis list (Celery's Redis transport keeps one list per queue)."""
        client = self.client()
        return {
            key.decode(): int(client.llen(key))
            for key in client.scan_iter(_type="list")
            if not key.startswith(b"_kombu")
        }


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    workdir = tmp_path / "redis"
    workdir.mkdir()
    server = RedisServer(workdir)
    server.start()
    yield server
    server.stop()


# ---------------------------------------------------------------------------------- database
def _empty_database(url: str) -> None:
    engine = make_engine(url, null_pool=True)
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
    engine.dispose()


@pytest.fixture
def pg_url(postgresql_database_url: str) -> str:
    """The session's migrated PostgreSQL database, emptied for this test."""
    _empty_database(postgresql_database_url)
    return postgresql_database_url


@pytest.fixture
def sqlite_url(sqlite_database_url: str) -> str:
    _empty_database(sqlite_database_url)
    return sqlite_database_url


# ---------------------------------------------------------------------------------- service
class Service:
    """gunicorn + Celery worker (with embedded beat) against one database and one broker."""

    def __init__(
        self,
        *,
        database_url: str,
        redis_server: RedisServer,
        emulator: EmulatorServer,
        workdir: Path,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.database_url = database_url
        self.redis = redis_server
        self.emulator = emulator
        self.workdir = workdir
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.webhook_url = f"{self.base_url}/webhooks/workos"
        data_dir = workdir / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        self.env = {
            "PATH": f"{BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": os.environ.get("HOME", str(workdir)),
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": redis_server.url,
            "WORKOS_API_KEY": emulator.config.api_key,
            "WORKOS_BASE_URL": emulator.base_url,
            "WORKOS_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "DIRSYNC_INBOX_SWEEP_SECONDS": "1",
            "DIRSYNC_REENQUEUE_AFTER_SECONDS": "3",
            "DIRSYNC_DATA_DIR": str(data_dir),
            **(extra_env or {}),
        }
        self.web_log = workdir / "gunicorn.log"
        self.worker_log = workdir / "celery.log"
        self.web: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.engine: Engine = make_engine(database_url)
        self.factory: sessionmaker[Session] = make_session_factory(self.engine)

    # -- processes ---------------------------------------------------------------------
    def _spawn(self, argv: list[str], log_path: Path) -> subprocess.Popen[bytes]:
        with log_path.open("ab") as log:
            return subprocess.Popen(
                argv,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def start(self) -> None:
        self.start_web()
        self.start_worker()

    def start_web(self) -> None:
        self.web = self._spawn(
            [
                str(BIN / "gunicorn"),
                "--bind", f"127.0.0.1:{self.port}",
                "--workers", "2",
                "--access-logfile", "-",
                "web:create_app()",
            ],
            self.web_log,
        )  # fmt: skip
        self.wait_ready()

    def start_worker(self) -> None:
        assert self.worker is None or self.worker.poll() is not None, "worker already running"
        self.worker = self._spawn(
            [
                str(BIN / "celery"), "-A", "worker.celery_app", "worker", "--beat",
                "--queues", "dirsync.events,dirsync.resync",
                "--concurrency", "2",
                "--schedule", str(self.workdir / "beat"),
                "--loglevel", "INFO",
            ],
            self.worker_log,
        )  # fmt: skip
        offset = self.worker_log.stat().st_size if self.worker_log.exists() else 0

        def worker_ready() -> bool:
            assert self.worker is not None and self.worker.poll() is None, (
                f"celery worker exited with {self.worker and self.worker.returncode}\n"
                + tail(self.worker_log)
            )
            with self.worker_log.open("rb") as log:
                log.seek(offset)
                return b" ready." in log.read()

        wait_for(worker_ready, timeout=60, interval=0.2, message="celery worker ready")

    def stop_worker(self) -> None:
        _stop_process(self.worker)

    def worker_alive(self) -> bool:
        return self.worker is not None and self.worker.poll() is None

    def wait_sweep_done(self, timeout: float = 15) -> None:
        """Wait for the next beat sweep to finish: right after it, the worker holds no
        unacknowledged message for about one sweep interval."""
        offset = self.worker_log.stat().st_size

        def swept() -> bool:
            with self.worker_log.open("rb") as log:
                log.seek(offset)
                text = log.read()
            return SWEEP_DONE.search(text) is not None

        wait_for(swept, timeout=timeout, interval=0.02, message="a beat sweep completed")

    def stop(self) -> None:
        _stop_process(self.worker)
        _stop_process(self.web)
        self.engine.dispose()

    def wait_ready(self, timeout: float = 60) -> None:
        def ready() -> bool:
            assert self.web is not None and self.web.poll() is None, (
                f"gunicorn exited with {self.web and self.web.returncode}\n" + tail(self.web_log)
            )
            try:
                return requests.get(f"{self.base_url}/readyz", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_for(ready, timeout=timeout, interval=0.2, message="gunicorn /readyz 200")

    def logs(self) -> str:
        return (
            f"----- gunicorn ({self.web_log}) -----\n{tail(self.web_log)}\n"
            f"----- celery ({self.worker_log}) -----\n{tail(self.worker_log)}\n"
            f"----- redis ({self.redis.log}) -----\n{tail(self.redis.log, 15)}"
        )

    # -- helpers for tests -------------------------------------------------------------
    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run ``python -m worker ARGS`` with the service's environment."""
        env = dict(self.env)
        env.setdefault("COLUMNS", "200")  # rich tables: do not fold long ids
        return subprocess.run(
            [str(BIN / "python"), "-m", "worker", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def inbox(self) -> dict[str, int]:
        with self.factory() as session:
            rows = session.execute(
                select(WebhookEvent.status, func.count()).group_by(WebhookEvent.status)
            ).all()
        return {status: count for status, count in rows}

    def describe(self) -> str:
        """One line of diagnostics for assertion messages."""
        try:
            inbox = self.inbox()
        except Exception as exc:
            inbox = {"error": type(exc).__name__}
        return f"inbox={inbox} webhooks={self.emulator.dispatcher.stats()}"


@pytest.fixture
def start_service(
    request: pytest.FixtureRequest,
    redis_server: RedisServer,
    emulator: EmulatorServer,
    tmp_path: Path,
) -> Iterator[Callable[[str], Service]]:
    """``start_service(database_url, **extra_env)``: start web + worker and aim the emulator's
    webhooks at them."""
    services: list[Service] = []
    request.node.stash[SERVICES_KEY] = services

    def start(database_url: str, **extra_env: str) -> Service:
        service = Service(
            database_url=database_url,
            redis_server=redis_server,
            emulator=emulator,
            workdir=tmp_path / f"service{len(services)}",
            extra_env=extra_env,
        )
        services.append(service)
        try:
            service.start()
        except Exception as exc:
            raise AssertionError(f"service did not start: {exc}\n{service.logs()}") from exc
        emulator.config.update(webhook_url=service.webhook_url, webhook_secret=WEBHOOK_SECRET)
        return service

    yield start
    emulator.config.update(webhook_url=None)
    for service in services:
        service.stop()


@pytest.fixture
def service(start_service: Callable[[str], Service], pg_url: str) -> Service:
    """The service on PostgreSQL."""
    return start_service(pg_url)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for service in item.stash.get(SERVICES_KEY, []):
            report.sections.append((f"service logs ({service.workdir.name})", service.logs()))
