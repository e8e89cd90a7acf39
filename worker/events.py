"""Apply one WorkOS ``dsync.*`` event to the mirror, order- and duplicate-proof.

Payloads are full objects, so no event needs an API call (``dsync.activated`` asks for a
resync, which the caller schedules). Every write goes through worker/mirror.py, whose version
rules make the final mirror independent of delivery order and repetition.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.db import lock_directory, utcnow
from worker.mirror import (
    ChangeLog,
    WriteCounts,
    add_tombstone,
    delete_directory_contents,
    delete_object,
    remove_edge,
    upsert_edges,
    upsert_objects,
)
from worker.models import Directory
from worker.records import InvalidObject, directory_row, group_row, user_row
from worker.workos_client import parse_time

HANDLED_EVENTS = frozenset(
    {
        "dsync.activated",
        "dsync.deleted",
        "dsync.user.created",
        "dsync.user.updated",
        "dsync.user.deleted",
        "dsync.group.created",
        "dsync.group.updated",
        "dsync.group.deleted",
        "dsync.group.user_added",
        "dsync.group.user_removed",
    }
)


@dataclass
class Outcome:
    """What applying an event did; ``resync_directory`` asks the caller for a full resync."""

    counts: WriteCounts = field(default_factory=WriteCounts)
    changes: int = 0
    resync_directory: str | None = None


def directory_of(event: dict[str, Any]) -> str | None:
    """The directory an event belongs to (used for locking and bookkeeping)."""
    data = event.get("data")
    if not isinstance(data, dict):
        return None
    kind = str(event.get("event", ""))
    if kind in ("dsync.activated", "dsync.deleted"):
        return data.get("id")
    if kind.startswith("dsync.group.user_"):
        return data.get("directory_id") or (data.get("user") or {}).get("directory_id")
    return data.get("directory_id")


def _event_time(event: dict[str, Any], data: dict[str, Any]) -> datetime:
    return parse_time(event.get("created_at")) or parse_time(data.get("updated_at")) or utcnow()


def apply_event(session: Session, event: dict[str, Any]) -> Outcome:
    """Apply ``event`` inside the caller's transaction. Raises InvalidObject on bad payloads."""
    kind = event["event"]
    data = event["data"]
    outcome = Outcome()
    if kind not in HANDLED_EVENTS:
        return outcome
    directory_id = directory_of(event)
    if not directory_id:
        raise InvalidObject(f"{kind} event {event.get('id')!r} names no directory")
    changes = ChangeLog(source="event", event_id=event.get("id"))
    lock_directory(session, directory_id)
    when = _event_time(event, data)
    counts = outcome.counts
    if kind in ("dsync.user.created", "dsync.user.updated"):
        counts += upsert_objects(session, "user", [user_row(data)], changes)
    elif kind in ("dsync.group.created", "dsync.group.updated"):
        counts += upsert_objects(session, "group", [group_row(data)], changes)
    elif kind in ("dsync.user.deleted", "dsync.group.deleted"):
        row = user_row(data) if kind == "dsync.user.deleted" else group_row(data)
        version = max(row["updated_at"], when)
        single = "user" if kind == "dsync.user.deleted" else "group"
        counts += delete_object(
            session, single, row["id"], version, changes, directory_id=row["directory_id"]
        )
    elif kind in ("dsync.group.user_added", "dsync.group.user_removed"):
        user = user_row(data.get("user") or {})
        group = group_row(data.get("group") or {})
        counts += upsert_objects(session, "user", [user], changes)
        counts += upsert_objects(session, "group", [group], changes)
        if kind == "dsync.group.user_added":
            counts += upsert_edges(
                session,
                directory_id,
                group["id"],
                [user["id"]],
                when,
                changes,
                organization_id=group["organization_id"],
            )
        else:
            counts += remove_edge(session, directory_id, group["id"], user["id"], when, changes)
    elif kind == "dsync.activated":
        counts += upsert_objects(session, "directory", [directory_row(data)], changes)
        outcome.resync_directory = directory_id
    elif kind == "dsync.deleted":
        row = directory_row(data)
        version = max(row["updated_at"], when)
        add_tombstone(session, "directory", directory_id, directory_id, version)
        current = session.scalar(select(Directory.updated_at).where(Directory.id == directory_id))
        if current is None or current <= version:
            deleted = delete_directory_contents(session, directory_id, changes)
            counts.deleted += sum(deleted.values())
            outcome.changes += sum(deleted.values())
        else:
            counts.refused += 1
    outcome.changes += changes.flush(session)
    return outcome
