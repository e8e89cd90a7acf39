"""``python -m worker run``: the whole service on one machine, for laptops and demos.

It applies migrations, starts the built-in WorkOS emulator when no ``WORKOS_API_KEY`` is set,
then runs web (gunicorn), a Celery worker with embedded beat, and supervises them until
Ctrl-C. Production runs the Procfile's processes separately instead.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from worker.config import load_settings

ROOT = Path(__file__).resolve().parent.parent
EMULATOR_PORT = 4100
EMULATOR_KEY = "sk_test_dirsync"


def upgrade_database(database_url: str) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["database_url"] = database_url
    config.attributes["configure_logging"] = False
    command.upgrade(config, "head")


def _banner(lines: list[str]) -> None:
    width = max(len(line) for line in lines) + 4
    print("*" * width, flush=True)
    for line in lines:
        print(f"* {line.ljust(width - 4)} *", flush=True)
    print("*" * width, flush=True)


def _wait_http(url: str, timeout: float, procs: list[subprocess.Popen[bytes]]) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            return False
        try:
            if requests.get(url, timeout=1).status_code < 500:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.2)
    return False


def launch(port: int | None = None) -> int:
    port = port or int(os.environ.get("PORT", "8000"))
    env = dict(os.environ)
    settings = load_settings(env)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade_database(settings.database_url)
    procs: list[subprocess.Popen[bytes]] = []
    python = sys.executable
    bindir = Path(python).parent
    emulator = not settings.workos_api_key
    if emulator:
        secret = env.get("WORKOS_WEBHOOK_SECRET") or "whsec_demo_" + secrets.token_hex(12)
        env.update(
            WORKOS_API_KEY=EMULATOR_KEY,
            WORKOS_BASE_URL=f"http://127.0.0.1:{EMULATOR_PORT}",
            WORKOS_WEBHOOK_SECRET=secret,
        )
        procs.append(
            subprocess.Popen(
                [
                    python, "-m", "emulator", "--port", str(EMULATOR_PORT),
                    "--api-key", EMULATOR_KEY, "--seed-users", "300", "--seed-groups", "12",
                    "--webhook-url", f"http://127.0.0.1:{port}/webhooks/workos",
                    "--webhook-secret", secret.split(",")[0], "--demo-activity", "10",
                ],
                cwd=ROOT, env=env,
            )
        )  # fmt: skip
        _banner(
            [
                "WORKOS_API_KEY is not set: running against the BUILT-IN WORKOS EMULATOR",
                f"emulator: http://127.0.0.1:{EMULATOR_PORT} (sample org, 300 users, 12 groups)",
                "it changes the directory every 10 s, like a real identity provider would,",
                "it sends signed webhooks to this service; set WORKOS_API_KEY for real WorkOS",
            ]
        )
        if not _wait_http(f"http://127.0.0.1:{EMULATOR_PORT}/health", 30, procs):
            print("the emulator did not start", file=sys.stderr)
            return _stop(procs, 1)
    procs.append(
        subprocess.Popen(
            [
                str(bindir / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "2",
                "--access-logfile", "-", "web:create_app()",
            ],
            cwd=ROOT, env=env,
        )
    )  # fmt: skip
    procs.append(
        subprocess.Popen(
            [
                str(bindir / "celery"), "-A", "worker.celery_app", "worker", "--beat",
                "--queues", "dirsync.events,dirsync.resync", "--concurrency", "2",
                "--loglevel", "INFO",
                "--schedule", str(settings.data_dir / "celerybeat-schedule"),
            ],
            cwd=ROOT, env=env,
        )
    )  # fmt: skip
    if not _wait_http(f"http://127.0.0.1:{port}/readyz", 60, procs):
        print("the web process did not become ready", file=sys.stderr)
        return _stop(procs, 1)
    print(f"dirsync is up: http://127.0.0.1:{port}/readyz  (Ctrl-C stops everything)", flush=True)
    # Fill the mirror once at start; later changes arrive as webhooks.
    subprocess.run([python, "-m", "worker", "resync", "--all"], cwd=ROOT, env=env, check=False)
    stopping = False

    def _terminate(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _terminate)
    restarts: list[float] = []
    try:
        while not stopping:
            for index, proc in enumerate(procs):
                if proc.poll() is None:
                    continue
                # Like a process manager would: a crashed process is started again (the
                # Celery worker exits on some broker outages; the inbox sweep then catches
                # up), unless it keeps crashing.
                restarts = [t for t in restarts if t > time.monotonic() - 60] + [time.monotonic()]
                print(f"process {proc.args[0]} exited ({proc.returncode})", file=sys.stderr)
                if len(restarts) > 5:
                    print("too many restarts in a minute; stopping", file=sys.stderr)
                    return _stop(procs, 1)
                procs[index] = subprocess.Popen(proc.args, cwd=ROOT, env=env)
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    return _stop(procs, 0)


def _stop(procs: list[subprocess.Popen[bytes]], code: int) -> int:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
    return code
