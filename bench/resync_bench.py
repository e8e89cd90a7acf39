"""Full-resync benchmark against the in-process emulator (rate limits off).

Prints, for each database: time and rows/s of a first resync (everything inserted), of a
second one (nothing changed), and the baseline: the same API enumeration with no database
work, run in this process, so the ratio shows what the mirror writes cost. Also the peak
Python heap during a resync at two directory sizes, to show memory stays flat.

    python bench/resync_bench.py --users 10000 --groups 20 --db sqlite --db postgresql
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import Timer, scratch_database
from emulator import EmulatorConfig, EmulatorServer, EmulatorState
from worker.config import Settings
from worker.db import make_engine, make_session_factory
from worker.models import SyncRun
from worker.resync import Resyncer, create_run
from worker.workos_client import WorkOSClient


def client_for(server: EmulatorServer) -> WorkOSClient:
    return WorkOSClient(
        server.config.api_key,
        server.base_url,
        requests_per_minute=10_000_000,
        directory_users_per_second=1_000_000,
    )


def baseline(server: EmulatorServer, directory_id: str) -> tuple[float, int]:
    """Enumerate exactly what a resync reads, without writing anything."""
    client = client_for(server)
    with Timer() as t:
        client.get_directory(directory_id)
        group_ids = [g["id"] for page in client.groups(directory=directory_id) for g in page]
        rows = sum(len(p) for p in client.users(directory=directory_id))
        for gid in group_ids:
            rows += sum(len(p) for p in client.users(group=gid, paced_as=directory_id))
    return t.seconds, client.request_count


def resync(url: str, server: EmulatorServer, directory_id: str, trace: bool = False):
    engine = make_engine(url)
    factory = make_session_factory(engine)
    settings = Settings(database_url=url, workos_api_key="x")
    run_id = create_run(factory, scope="directory", trigger="bench", directory_id=directory_id)
    if trace:
        tracemalloc.start()
    with Timer() as t:
        Resyncer(factory, client_for(server), settings).run_directory(run_id)
    peak = 0
    if trace:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    with factory() as session:
        run = session.get(SyncRun, run_id)
    engine.dispose()
    assert run.status == "succeeded", run.error
    return t.seconds, run, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--groups", type=int, default=20)
    parser.add_argument("--memberships", type=int, default=2, help="per user")
    parser.add_argument("--db", action="append", choices=["sqlite", "postgresql"])
    parser.add_argument("--no-memory", action="store_true", help="skip the heap measurement")
    args = parser.parse_args()
    kinds = args.db or ["sqlite", "postgresql"]
    state = EmulatorState()
    seeded = state.seed(users=args.users, groups=args.groups, memberships_per_user=args.memberships)
    directory_id = seeded["directory_ids"][0]
    small = state.seed(users=max(1, args.users // 4), groups=args.groups, seed=7)
    small_id = small["directory_ids"][0]
    server = EmulatorServer(state, EmulatorConfig(rate_limits=False))
    edges = args.users * min(args.memberships, args.groups)
    rows = args.users + args.groups + edges
    print(f"directory: {args.users} users, {args.groups} groups, {edges} memberships")
    base_s, base_requests = baseline(server, directory_id)
    print(
        f"baseline (API enumeration only): {base_s:.2f}s, {base_requests} requests, "
        f"{rows / base_s:,.0f} rows/s"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            with scratch_database(kind, tmp) as url:
                first_s, run, _ = resync(url, server, directory_id)
                second_s, run2, _ = resync(url, server, directory_id)
                print(
                    f"{kind:10s} first resync:  {first_s:6.2f}s  {rows / first_s:9,.0f} rows/s  "
                    f"x{first_s / base_s:.2f} baseline  ({run.api_requests} API requests, "
                    f"+{run.users_inserted} users +{run.memberships_inserted} memberships)"
                )
                changed = run2.users_inserted + run2.users_updated + run2.users_deleted
                print(
                    f"{kind:10s} second resync: {second_s:6.2f}s  {rows / second_s:9,.0f} rows/s  "
                    f"x{second_s / base_s:.2f} baseline  ({changed} user changes)"
                )
                if not args.no_memory:
                    _, _, peak_small = resync(url, server, small_id, trace=True)
                    _, _, peak_big = resync(url, server, directory_id, trace=True)
                    print(
                        f"{kind:10s} peak heap during a resync: {peak_small / 2**20:.1f} MiB at "
                        f"{max(1, args.users // 4)} users, {peak_big / 2**20:.1f} MiB at "
                        f"{args.users} users (x{peak_big / max(peak_small, 1):.2f} for 4x rows)"
                    )
    server.stop()


if __name__ == "__main__":
    main()
