"""A broker outage in the middle of a resync loses nothing.

celery 5.7.0 / kombu 5.7.0 (Redis transport) can make the worker exit when the broker drops
while it holds an unacknowledged message (task_acks_late): restoring it raises
AttributeError "'NoneType' object has no attribute 'hostname'". dirsync does not depend on
that worker surviving: a supervisor restarts it (the Procfile platform, or `make run`'s
launcher), and the sweep hands the interrupted run, whose heartbeat went stale, to a new
execution that takes over the expired lease.
"""

from __future__ import annotations

import re

from emulator import EmulatorServer
from tests.e2e.conftest import RedisServer
from tests.e2e.helpers import sync_run, wait_converged, wait_for


def test_broker_outage_during_a_resync_loses_nothing(
    start_service, pg_url: str, redis_server: RedisServer, emulator: EmulatorServer
) -> None:
    service = start_service(pg_url, DIRSYNC_RESYNC_LEASE_SECONDS="5")
    state = emulator.state
    directory_id = state.seed(users=400, groups=6)["directory_ids"][0]
    emulator.config.update(latency_ms=150)  # keep the resync busy while Redis goes away
    out = service.cli("resync", "--directory", directory_id)
    run_id = int(re.fullmatch(r"queued sync run (\d+)\n", out.stdout).group(1))  # type: ignore[union-attr]
    wait_for(
        lambda: sync_run(service, run_id).status == "running",  # type: ignore[union-attr]
        timeout=30,
        interval=0.05,
        message="resync running",
    )
    redis_server.stop()
    redis_server.start()
    emulator.config.update(latency_ms=0)
    # Whatever the worker did (reconnected, or exited), a supervisor keeps one running.
    wait_for(
        lambda: service.worker_alive() or (service.start_worker() or True),
        timeout=60,
        message="a worker running after the outage",
    )
    wait_for(
        lambda: (
            sync_run(service, run_id).status != "running"  # type: ignore[union-attr]
            or any(r.status == "succeeded" for r in service_runs(service, directory_id))
        ),
        timeout=90,
        message="the interrupted resync completed",
    )
    runs = service_runs(service, directory_id)
    assert any(r.status == "succeeded" for r in runs), [(r.id, r.status, r.error) for r in runs]
    wait_converged(service, state, directory_id, timeout=60)


def service_runs(service, directory_id: str):  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from worker.models import SyncRun

    with service.factory() as session:
        return list(session.scalars(select(SyncRun).where(SyncRun.directory_id == directory_id)))
