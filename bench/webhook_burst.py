"""Webhook burst benchmark: N signed ``dsync.user.created`` webhooks for one directory.

Starts a real gunicorn receiver and a real Celery worker (Redis broker, PostgreSQL by default)
and the WorkOS emulator with its rate limits on. Measures the time from the first POST until
all N users are in the mirror, the POST rate and latency (p50/p99), and the WorkOS API calls
the whole thing made. Baseline, in the same process: the same number of requests to
``GET /healthz`` at the same concurrency (the cost of the HTTP stack alone).

    python bench/webhook_burst.py --events 10000 --concurrency 16
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import redis
import requests
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import peak_rss_mib, scratch_database  # noqa: E402
from emulator import EmulatorConfig, EmulatorServer, EmulatorState  # noqa: E402
from emulator.webhooks import sign, webhook_body  # noqa: E402
from worker.db import make_engine, make_session_factory  # noqa: E402
from worker.models import DirectoryUser, SyncRun  # noqa: E402

SECRET = "whsec_bench_burst"
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("wb")
    return subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(15)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise SystemExit(f"timed out waiting for {what}")


def post_all(url: str, items: list[tuple[bytes, dict[str, str]] | None], concurrency: int):
    """POST (or GET when an item is None) every item; return statuses and latencies."""
    sessions: dict[int, requests.Session] = {}

    def one(item):
        import threading

        session = sessions.setdefault(threading.get_ident(), requests.Session())
        began = time.perf_counter()
        if item is None:
            status = session.get(url, timeout=30).status_code
        else:
            body, headers = item
            status = session.post(url, data=body, headers=headers, timeout=30).status_code
        return status, time.perf_counter() - began

    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(one, items))
    return [s for s, _ in results], [t for _, t in results]


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16, help="parallel POSTs")
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/9")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--worker-concurrency", type=int, default=4)
    args = parser.parse_args()

    redis.Redis.from_url(args.redis).flushdb()
    state = EmulatorState()
    emulator = EmulatorServer(state, EmulatorConfig(rate_limits=True))
    org = state.create_organization("Burst Inc", domains=("burst.test",))
    directory = state.create_directory(org["id"], "Burst Okta")
    for n in range(args.events):
        state.create_user(directory["id"], email=f"user{n}@burst.test", first_name=f"U{n}")
    events = state.events_since(limit=None)
    activated, created = events[0], events[1:]
    assert activated["event"] == "dsync.activated" and len(created) == args.events

    with tempfile.TemporaryDirectory() as tmp, scratch_database(args.db, tmp) as url:
        port = free_port()
        env = dict(
            os.environ,
            DATABASE_URL=url,
            CELERY_BROKER_URL=args.redis,
            WORKOS_API_KEY=emulator.config.api_key,
            WORKOS_BASE_URL=emulator.base_url,
            WORKOS_WEBHOOK_SECRET=SECRET,
            DIRSYNC_DATA_DIR=tmp,
        )
        web = start(
            [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers",
             str(args.web_workers), "--threads", "4", "web:create_app()"],
            env, Path(tmp) / "web.log",
        )  # fmt: skip
        worker = start(
            [str(BIN / "celery"), "-A", "worker.celery_app", "worker", "--beat",
             "--queues", "dirsync.events,dirsync.resync", "--concurrency",
             str(args.worker_concurrency), "--schedule", f"{tmp}/beat", "--loglevel", "INFO"],
            env, Path(tmp) / "worker.log",
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until(
                lambda: requests.get(base + "/readyz", timeout=2).ok if _port_open(port) else False,
                60,
                "the receiver",
            )
            engine = make_engine(url)
            factory = make_session_factory(engine)
            _, base_lat = post_all(base + "/healthz", [None] * args.events, args.concurrency)
            base_s = sum(base_lat) / args.concurrency

            def signed(event):
                body = webhook_body(event)
                return body, {
                    "Content-Type": "application/json",
                    "WorkOS-Signature": sign(SECRET, body),
                }

            # The directory is activated first, as WorkOS does; its resync runs alongside.
            post_all(base + "/webhooks/workos", [signed(activated)], 1)
            api_before = _api_requests(emulator)
            items = [signed(e) for e in created]
            began = time.perf_counter()
            statuses, latencies = post_all(base + "/webhooks/workos", items, args.concurrency)
            posted = time.perf_counter() - began

            def mirrored() -> int:
                with factory() as session:
                    return session.scalar(
                        select(func.count())
                        .select_from(DirectoryUser)
                        .where(DirectoryUser.directory_id == directory["id"])
                    )

            wait_until(lambda: mirrored() >= args.events, 1800, "the mirror")
            done = time.perf_counter() - began
            api_calls = _api_requests(emulator) - api_before
            with factory() as session:
                runs = session.scalars(select(SyncRun)).all()
            engine.dispose()
        finally:
            stop(web)
            stop(worker)
            if os.environ.get("BENCH_SHOW_LOGS"):
                print((Path(tmp) / "worker.log").read_text()[-6000:])
            emulator.stop()
    ok = sum(1 for s in statuses if s == 200)
    print(f"burst: {args.events} dsync.user.created webhooks, {args.concurrency} parallel, "
          f"{args.db} + Redis, emulator rate limits on")  # fmt: skip
    p50, p99 = percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000
    print(f"receiver: {ok}/{len(statuses)} answered 200 in {posted:.1f}s = "
          f"{len(statuses) / posted:,.0f} requests/s; p50 {p50:.1f} ms, "
          f"p99 {p99:.1f} ms")  # fmt: skip
    print(f"baseline GET /healthz x{args.events}: p50 {percentile(base_lat, 50) * 1000:.1f} ms, "
          f"p99 {percentile(base_lat, 99) * 1000:.1f} ms; webhook/baseline p50 ratio "
          f"x{percentile(latencies, 50) / percentile(base_lat, 50):.1f}")  # fmt: skip
    print(f"first POST -> all {args.events} users in the mirror: {done:.1f}s "
          f"({args.events / done:,.0f} events/s)")  # fmt: skip
    print(
        f"WorkOS API calls during the burst: {api_calls} "
        f"(resync runs: {[(r.trigger, r.status, r.api_requests) for r in runs]})"
    )
    print(f"bench process peak RSS: {peak_rss_mib():.0f} MiB; baseline wall {base_s:.1f}s")


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _api_requests(emulator: EmulatorServer) -> int:
    stats = requests.get(f"{emulator.base_url}/_emulator/stats", timeout=5).json()
    return int(stats["requests"]["total"])


if __name__ == "__main__":
    main()
