"""Celery tasks: thin wrappers that pass ids and call the domain code with this process's
collaborators. Every task is idempotent, acknowledged late and safe to run twice.

Tasks are bound to dirsync's Celery app explicitly (not ``shared_task``): a process that only
sends tasks, like the web app, would otherwise publish through Celery's default app and its
default broker, not ours.
"""

from __future__ import annotations

import logging
import random
from datetime import timedelta

from sqlalchemy import delete, or_, select

from worker import runtime
from worker.celery_app import celery
from worker.db import transaction, utcnow
from worker.inbox import RetryableError, due_for_enqueue, mark_enqueued, process_event
from worker.models import SyncRun, Tombstone
from worker.resync import Resyncer, create_run

log = logging.getLogger(__name__)


def _retry_delay(retries: int) -> float:
    return min(300.0, 2.0 * 2**retries) * random.uniform(0.5, 1.5)


@celery.task(bind=True, name="worker.tasks.process_event", max_retries=None)
def process_event_task(self, event_id: str) -> str:  # type: ignore[no-untyped-def]
    """Apply one inbox event; retry transient failures with backoff (the inbox counts tries)."""
    settings = runtime.settings()
    try:
        result = process_event(
            runtime.session_factory(), event_id, max_attempts=settings.event_max_attempts
        )
    except RetryableError as exc:
        raise self.retry(exc=exc, countdown=_retry_delay(self.request.retries)) from exc
    if result.resync_run_id is not None:
        enqueue_resync(result.resync_run_id)
    return result.status


def enqueue_resync(run_id: int) -> None:
    """Best effort: a run left queued is enqueued again by the sweep."""
    try:
        resync_directory_task.apply_async(args=[run_id], retry=False)
    except Exception:
        log.warning("could not enqueue resync run %s now; the sweep will", run_id, exc_info=True)


RESYNC_RETRIES = 3
TRANSIENT_PREFIXES = ("TransientError", "OperationalError", "ConnectionError", "Timeout")


@celery.task(name="worker.tasks.resync_directory")
def resync_directory_task(run_id: int, attempt: int = 0) -> str:
    """Resync one directory. A run that failed on a passing fault (WorkOS 429/5xx/timeouts
    past the client's own retries, a database hiccup) is followed by a new run later, so the
    failed one stays on record."""
    factory = runtime.session_factory()
    run = Resyncer(factory, runtime.workos_client(), runtime.settings()).run_directory(run_id)
    if (
        run.status == "failed"
        and attempt < RESYNC_RETRIES
        and (run.error or "").startswith(TRANSIENT_PREFIXES)
        and run.directory_id
    ):
        delay = 60 * 2**attempt
        retry_id = create_run(
            factory,
            scope="directory",
            trigger=run.trigger,
            directory_id=run.directory_id,
            due_in=delay,
        )
        log.warning(
            "run %s failed (%s); retrying as run %s in %ss", run_id, run.error, retry_id, delay
        )
        resync_directory_task.apply_async(args=[retry_id, attempt + 1], countdown=delay)
    return run.status


@celery.task(name="worker.tasks.resync_all")
def resync_all_task(run_id: int) -> str:
    run = Resyncer(
        runtime.session_factory(),
        runtime.workos_client(),
        runtime.settings(),
        enqueue_directory=enqueue_resync,
    ).run_all(run_id, inline=False)
    return run.status


@celery.task(name="worker.tasks.sweep")
def sweep_task() -> dict[str, int]:
    """Periodic safety net (Celery beat): enqueue what the broker may have lost.

    - pending events not enqueued recently (broker down at receipt, Redis flushed, worker killed);
    - resync runs still queued, or running with a stale heartbeat (their worker died);
    - tombstones older than the retention (no WorkOS retry can be that late).
    """
    settings = runtime.settings()
    factory = runtime.session_factory()
    stale = timedelta(seconds=settings.reenqueue_after_seconds)
    with transaction(factory) as session:
        event_ids = due_for_enqueue(session, older_than=stale)
        mark_enqueued(session, event_ids)
    for event_id in event_ids:
        process_event_task.apply_async(args=[event_id], retry=False)
    now = utcnow()
    with factory() as session:
        run_ids = list(
            session.scalars(
                select(SyncRun.id).where(
                    SyncRun.scope == "directory",
                    or_(
                        (SyncRun.status == "queued") & (SyncRun.queued_at < now - stale),
                        (SyncRun.status == "running")
                        & (
                            SyncRun.heartbeat_at
                            < now - timedelta(seconds=settings.resync_lease_seconds * 2)
                        ),
                    ),
                )
            )
        )
    for run_id in run_ids:
        with transaction(factory) as session:
            # Re-stamp so the next sweep does not enqueue it again straight away.
            run = session.get(SyncRun, run_id)
            if run is not None and run.status == "queued":
                run.queued_at = now
            elif run is not None:
                run.heartbeat_at = now
        enqueue_resync(run_id)
    with transaction(factory) as session:
        pruned = session.execute(
            delete(Tombstone).where(
                Tombstone.recorded_at < now - timedelta(days=settings.tombstone_retention_days)
            )
        ).rowcount
    if event_ids or run_ids:
        log.info("sweep: re-enqueued %d events and %d resync runs", len(event_ids), len(run_ids))
    return {"events": len(event_ids), "runs": len(run_ids), "tombstones_pruned": pruned or 0}
