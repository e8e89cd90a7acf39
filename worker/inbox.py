"""The durable inbox of events (``dirsync_webhook_events``) and its state machine.

pending --process--> processed | ignored
pending --error--> pending (attempts+1, retried) --too many--> failed (a dead letter)
failed  --replay--> pending

Recording is idempotent on the WorkOS event id. Processing applies the event and marks the row
in the same transaction, so an event's effect lands exactly once however often it is delivered.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from worker.db import dialect_insert, transaction, utcnow
from worker.events import HANDLED_EVENTS, apply_event, directory_of
from worker.models import SyncRun, WebhookEvent
from worker.records import InvalidObject
from worker.workos_client import parse_time

log = logging.getLogger(__name__)


def record_event(session: Session, event: dict[str, Any], *, source: str = "webhook") -> str:
    """Store ``event`` in the inbox unless its id is already there.

    Returns "recorded" (new, to be processed), "ignored" (new, a type we do not handle) or
    "duplicate". A new event is stamped as enqueued now: the caller enqueues it right after
    commit, and if that fails the sweep enqueues it once the stamp is old.
    """
    kind = str(event["event"])
    try:
        created = parse_time(event.get("created_at"))
    except ValueError:
        created = None
    values = {
        "id": str(event["id"]),
        "event_type": kind[:64],
        "payload": event,
        "directory_id": _short_str(directory_of(event)),
        "event_created_at": created,
        "received_at": utcnow(),
        "status": "pending" if kind in HANDLED_EVENTS else "ignored",
        "attempts": 0,
        "enqueued_at": utcnow(),
        "source": source,
    }
    insert = dialect_insert(session, WebhookEvent)
    # RETURNING, not rowcount: psycopg reports -1 for INSERT ... ON CONFLICT DO NOTHING.
    inserted = session.execute(
        insert.values(**values).on_conflict_do_nothing().returning(WebhookEvent.id)
    ).first()
    if inserted is None:
        return "duplicate"
    return "recorded" if values["status"] == "pending" else "ignored"


def _short_str(value: Any) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= 64 else None


@dataclass
class ProcessResult:
    status: str
    resync_run_id: int | None = None
    error: str | None = None


class RetryableError(Exception):
    """Processing failed for a reason that may pass (database, lock, network)."""


def process_event(
    factory: sessionmaker[Session], event_id: str, *, max_attempts: int
) -> ProcessResult:
    """Apply one inbox event. Raises RetryableError when the caller should try again later."""
    try:
        with transaction(factory) as session:
            # FOR UPDATE: a duplicate delivery of the same id waits here, then sees "processed".
            row = session.get(WebhookEvent, event_id, with_for_update=True)
            if row is None:
                return ProcessResult("missing")
            if row.status in ("processed", "ignored"):
                return ProcessResult(row.status)
            outcome = apply_event(session, row.payload)
            run_id = None
            if outcome.resync_directory:
                # Created in the same transaction: the inbox sweep enqueues queued runs, so the
                # resync a dsync.activated asks for cannot be lost between commit and enqueue.
                session.add(
                    run := SyncRun(
                        scope="directory",
                        directory_id=outcome.resync_directory,
                        trigger="event",
                        status="queued",
                        queued_at=utcnow(),
                    )
                )
                session.flush()
                run_id = run.id
            row.status = "processed"
            row.attempts += 1
            row.processed_at = utcnow()
            row.last_error = None
            return ProcessResult("processed", resync_run_id=run_id)
    except (InvalidObject, KeyError, TypeError, ValueError) as exc:
        # The payload itself is unusable: retrying cannot help, park it as a dead letter.
        message = f"{type(exc).__name__}: {exc}"
        _mark_error(factory, event_id, message, dead=True, max_attempts=max_attempts)
        return ProcessResult("failed", error=message)
    except Exception as exc:
        message = f"{type(exc).__name__}: {exc}"[:2000]
        status = _mark_error(factory, event_id, message, dead=False, max_attempts=max_attempts)
        if status == "failed":
            return ProcessResult("failed", error=message)
        raise RetryableError(message) from exc


def _mark_error(
    factory: sessionmaker[Session], event_id: str, message: str, *, dead: bool, max_attempts: int
) -> str:
    try:
        with transaction(factory) as session:
            row = session.get(WebhookEvent, event_id)
            if row is None:
                return "missing"
            row.attempts += 1
            row.last_error = message[:2000]
            if dead or row.attempts >= max_attempts:
                row.status = "failed"
                log.error(
                    "event %s failed for good after %d attempts: %s",
                    event_id,
                    row.attempts,
                    message,
                )
            return row.status
    except Exception:
        log.exception("could not record the failure of event %s", event_id)
        return "pending"


def due_for_enqueue(session: Session, *, older_than: timedelta, limit: int = 1000) -> list[str]:
    """Pending events nobody enqueued recently (broker down, message lost, worker killed)."""
    cutoff = utcnow() - older_than
    ids = list(
        session.scalars(
            select(WebhookEvent.id)
            .where(
                WebhookEvent.status == "pending",
                or_(WebhookEvent.enqueued_at.is_(None), WebhookEvent.enqueued_at < cutoff),
            )
            .order_by(WebhookEvent.received_at)
            .limit(limit)
        )
    )
    return ids


def mark_enqueued(session: Session, event_ids: list[str]) -> None:
    if event_ids:
        session.execute(
            update(WebhookEvent).where(WebhookEvent.id.in_(event_ids)).values(enqueued_at=utcnow())
        )


def requeue_failed(session: Session, event_ids: list[str] | None = None) -> list[str]:
    """Move failed events (all, or the given ids) back to pending for a replay."""
    query = select(WebhookEvent.id).where(WebhookEvent.status == "failed")
    if event_ids:
        query = select(WebhookEvent.id).where(WebhookEvent.id.in_(event_ids))
    ids = list(session.scalars(query))
    if ids:
        session.execute(
            update(WebhookEvent)
            .where(WebhookEvent.id.in_(ids))
            .values(status="pending", attempts=0, enqueued_at=None)
        )
    return ids


__all__ = [
    "ProcessResult",
    "RetryableError",
    "due_for_enqueue",
    "mark_enqueued",
    "process_event",
    "record_event",
    "requeue_failed",
]
