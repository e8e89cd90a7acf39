"""Versioned writes to the mirror: the only code that inserts, updates or deletes mirror rows.

Rules (the same for webhook events and resyncs, so neither can undo the other):
- An object is overwritten only by a version at least as new: ``incoming.updated_at >=
  stored.updated_at``. On a tie the incoming write wins, so a redelivered event is a no-op and a
  resync (WorkOS's current state) repairs a same-timestamp divergence; writes whose content is
  unchanged append nothing to the change feed.
- A delete leaves a tombstone whose version is the WorkOS time the object was gone. An upsert
  with ``updated_at <= tombstone`` is refused, so a late or repeated older event cannot bring a
  row back. A tombstoned directory refuses everything inside it up to its version.
- A membership edge's version is the WorkOS time of the add event (or the resync read) that last
  confirmed it; a remove applies only when at least as new as that, and leaves a tombstone.
Callers hold :func:`worker.db.lock_directory` for the directory they write (see worker/db.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, insert, literal, select, tuple_, update
from sqlalchemy.orm import Session

from worker.db import dialect_insert, lock_change_feed, utcnow
from worker.models import (
    Change,
    Directory,
    DirectoryGroup,
    DirectoryUser,
    GroupMembership,
    Organization,
    Tombstone,
)
from worker.records import CONTENT_COLUMNS, same_content

MODELS: dict[str, Any] = {
    "organization": Organization,
    "directory": Directory,
    "user": DirectoryUser,
    "group": DirectoryGroup,
}


@dataclass
class ChangeLog:
    """Change-feed rows buffered during a transaction and written last, under the feed lock."""

    source: str
    event_id: str | None = None
    sync_run_id: int | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)

    def add(
        self,
        kind: str,
        action: str,
        object_id: str,
        *,
        directory_id: str | None,
        organization_id: str | None,
        related_id: str | None = None,
    ) -> None:
        self.rows.append(
            {
                "occurred_at": utcnow(),
                "kind": kind,
                "object_id": object_id,
                "related_id": related_id,
                "directory_id": directory_id,
                "organization_id": organization_id,
                "action": action,
                "source": self.source,
                "event_id": self.event_id,
                "sync_run_id": self.sync_run_id,
            }
        )

    def flush(self, session: Session) -> int:
        """Write buffered rows; call it as the last statement before commit."""
        count = len(self.rows)
        if self.rows:
            lock_change_feed(session)
            session.execute(insert(Change), self.rows)
            self.rows.clear()
        return count


@dataclass
class WriteCounts:
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    refused: int = 0  # older than what we hold or than a tombstone

    def __iadd__(self, other: WriteCounts) -> WriteCounts:
        self.inserted += other.inserted
        self.updated += other.updated
        self.deleted += other.deleted
        self.unchanged += other.unchanged
        self.refused += other.refused
        return self


def _tombstones(session: Session, kind: str, ids: Iterable[str]) -> dict[str, datetime]:
    ids = list(ids)
    if not ids:
        return {}
    rows = session.execute(
        select(Tombstone.object_id, Tombstone.version).where(
            Tombstone.kind == kind, Tombstone.object_id.in_(ids)
        )
    )
    return {object_id: version for object_id, version in rows}


def add_tombstone(
    session: Session, kind: str, object_id: str, directory_id: str | None, version: datetime
) -> None:
    """Record (or move forward) the time at which ``object_id`` was gone."""
    stmt = dialect_insert(session, Tombstone).values(
        kind=kind,
        object_id=object_id,
        directory_id=directory_id,
        version=version,
        recorded_at=utcnow(),
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["kind", "object_id"],
        set_={"version": stmt.excluded.version, "recorded_at": stmt.excluded.recorded_at},
        where=Tombstone.__table__.c.version < stmt.excluded.version,
    )
    session.execute(stmt)


def _max_time(*values: datetime | None) -> datetime | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def upsert_objects(
    session: Session,
    kind: str,
    rows: Sequence[dict[str, Any]],
    changes: ChangeLog,
    *,
    touch_unchanged: bool = False,
) -> WriteCounts:
    """Insert or update ``rows`` of one kind, each only if at least as new as what is stored.

    ``touch_unchanged`` also stamps ``synced_at`` on rows that were seen but not written (a
    resync uses it to know which rows WorkOS still has).
    """
    counts = WriteCounts()
    if not rows:
        return counts
    model = MODELS[kind]
    columns = CONTENT_COLUMNS[kind]
    # De-duplicate within the batch, keeping the newest version of each id.
    by_id: dict[str, dict[str, Any]] = {}
    for row in rows:
        seen = by_id.get(row["id"])
        if seen is None or row["updated_at"] >= seen["updated_at"]:
            by_id[row["id"]] = row
    ids = list(by_id)
    existing = {
        r["id"]: r
        for r in session.execute(
            select(model.id, *(getattr(model, c) for c in columns)).where(model.id.in_(ids))
        ).mappings()
    }
    tombs = _tombstones(session, kind, ids)
    dir_tombs: dict[str, datetime] = {}
    if kind in ("user", "group"):
        dir_tombs = _tombstones(session, "directory", {r["directory_id"] for r in by_id.values()})

    now = utcnow()
    writes: list[dict[str, Any]] = []
    touched: list[str] = []
    for object_id, row in by_id.items():
        barrier = _max_time(tombs.get(object_id), dir_tombs.get(row.get("directory_id", "")))
        if barrier is not None and row["updated_at"] <= barrier:
            counts.refused += 1
            continue
        current = existing.get(object_id)
        if current is None:
            counts.inserted += 1
            action = "created"
        elif row["updated_at"] < current["updated_at"]:
            counts.refused += 1
            touched.append(object_id)
            continue
        elif same_content(kind, current, row):
            counts.unchanged += 1
            touched.append(object_id)
            continue
        else:
            counts.updated += 1
            action = "updated"
        writes.append({**row, "synced_at": now})
        changes.add(
            kind,
            action,
            object_id,
            directory_id=row["id"] if kind == "directory" else row.get("directory_id"),
            organization_id=row["id"] if kind == "organization" else row.get("organization_id"),
        )
    if writes:
        stmt = dialect_insert(session, model)
        excluded = stmt.excluded
        keys = [_column_key(model, c) for c in (*columns, "synced_at")]
        set_ = {k: getattr(excluded, k) for k in keys}
        stmt = stmt.on_conflict_do_update(
            index_elements=["id"],
            set_=set_,
            where=model.__table__.c.updated_at <= excluded.updated_at,
        )
        session.execute(stmt, [_to_db_keys(model, w) for w in writes])
    if touch_unchanged and touched:
        session.execute(update(model).where(model.id.in_(touched)).values(synced_at=now))
    return counts


def _column_key(model: Any, attr: str) -> str:
    """The database column name behind a mapped attribute (``metadata_`` -> ``metadata``)."""
    return model.__mapper__.attrs[attr].columns[0].name


def _to_db_keys(model: Any, row: dict[str, Any]) -> dict[str, Any]:
    attrs = model.__mapper__.attrs.keys()
    return {_column_key(model, k) if k in attrs else k: v for k, v in row.items()}


def _delete_edges(
    session: Session, condition: Any, changes: ChangeLog, directory_id: str | None
) -> int:
    edges = session.execute(
        select(GroupMembership.group_id, GroupMembership.user_id).where(condition)
    ).all()
    if not edges:
        return 0
    session.execute(delete(GroupMembership).where(condition))
    _log_edge_deletes(session, edges, changes, directory_id)
    return len(edges)


def _log_edge_deletes(
    session: Session, edges: Sequence[Any], changes: ChangeLog, directory_id: str | None
) -> None:
    org = _organization_of(session, directory_id)
    for group_id, user_id in edges:
        changes.add(
            "membership",
            "deleted",
            group_id,
            related_id=user_id,
            directory_id=directory_id,
            organization_id=org,
        )


def _organization_of(session: Session, directory_id: str | None) -> str | None:
    if directory_id is None:
        return None
    return session.scalar(select(Directory.organization_id).where(Directory.id == directory_id))


def delete_object(
    session: Session,
    kind: str,
    object_id: str,
    version: datetime,
    changes: ChangeLog,
    *,
    directory_id: str | None = None,
) -> WriteCounts:
    """Delete a user or group (and its memberships) unless a newer version is stored."""
    counts = WriteCounts()
    model = MODELS[kind]
    add_tombstone(session, kind, object_id, directory_id, version)
    current = session.execute(
        select(model.updated_at, model.directory_id, model.organization_id).where(
            model.id == object_id
        )
    ).first()
    if current is None:
        return counts
    if current.updated_at > version:
        counts.refused += 1
        return counts
    edge_column = GroupMembership.user_id if kind == "user" else GroupMembership.group_id
    _delete_edges(session, edge_column == object_id, changes, current.directory_id)
    session.execute(delete(model).where(model.id == object_id))
    changes.add(
        kind,
        "deleted",
        object_id,
        directory_id=current.directory_id,
        organization_id=current.organization_id,
    )
    counts.deleted += 1
    return counts


def upsert_edges(
    session: Session,
    directory_id: str,
    group_id: str,
    user_ids: Sequence[str],
    version: datetime,
    changes: ChangeLog,
    *,
    organization_id: str | None = None,
    touch_unchanged: bool = False,
) -> WriteCounts:
    """Record that each user in ``user_ids`` is a member of ``group_id`` as of ``version``."""
    counts = WriteCounts()
    user_ids = list(dict.fromkeys(user_ids))
    if not user_ids:
        return counts
    existing = dict(
        session.execute(
            select(GroupMembership.user_id, GroupMembership.updated_at).where(
                GroupMembership.group_id == group_id, GroupMembership.user_id.in_(user_ids)
            )
        ).all()
    )
    edge_tombs = _tombstones(session, "membership", [f"{group_id}:{u}" for u in user_ids])
    user_tombs = _tombstones(session, "user", user_ids)
    barrier_all = _max_time(
        _tombstones(session, "group", [group_id]).get(group_id),
        _tombstones(session, "directory", [directory_id]).get(directory_id),
    )
    now = utcnow()
    new_rows: list[dict[str, Any]] = []
    bump: list[str] = []
    touched: list[str] = []
    for user_id in user_ids:
        barrier = _max_time(
            barrier_all, edge_tombs.get(f"{group_id}:{user_id}"), user_tombs.get(user_id)
        )
        if barrier is not None and version <= barrier:
            counts.refused += 1
            continue
        current = existing.get(user_id)
        if current is None:
            new_rows.append(
                {
                    "group_id": group_id,
                    "user_id": user_id,
                    "directory_id": directory_id,
                    "created_at": version,
                    "updated_at": version,
                    "synced_at": now,
                }
            )
            counts.inserted += 1
        elif current < version:
            bump.append(user_id)
            counts.unchanged += 1
        else:
            touched.append(user_id)
            counts.unchanged += 1
    if new_rows:
        organization_id = organization_id or _organization_of(session, directory_id)
        stmt = dialect_insert(session, GroupMembership).on_conflict_do_nothing()
        session.execute(stmt, new_rows)
        for row in new_rows:
            changes.add(
                "membership",
                "created",
                group_id,
                related_id=row["user_id"],
                directory_id=directory_id,
                organization_id=organization_id,
            )
    if bump:
        session.execute(
            update(GroupMembership)
            .where(GroupMembership.group_id == group_id, GroupMembership.user_id.in_(bump))
            .values(updated_at=version, synced_at=now)
        )
    if touch_unchanged and touched:
        session.execute(
            update(GroupMembership)
            .where(GroupMembership.group_id == group_id, GroupMembership.user_id.in_(touched))
            .values(synced_at=now)
        )
    return counts


def remove_edge(
    session: Session,
    directory_id: str,
    group_id: str,
    user_id: str,
    version: datetime,
    changes: ChangeLog,
) -> WriteCounts:
    """Remove one membership edge unless a newer add confirmed it; leave a tombstone."""
    counts = WriteCounts()
    add_tombstone(session, "membership", f"{group_id}:{user_id}", directory_id, version)
    current = session.scalar(
        select(GroupMembership.updated_at).where(
            GroupMembership.group_id == group_id, GroupMembership.user_id == user_id
        )
    )
    if current is None:
        return counts
    if current > version:
        counts.refused += 1
        return counts
    counts.deleted += _delete_edges(
        session,
        and_(GroupMembership.group_id == group_id, GroupMembership.user_id == user_id),
        changes,
        directory_id,
    )
    return counts


def delete_directory_contents(
    session: Session, directory_id: str, changes: ChangeLog, *, delete_directory: bool = True
) -> dict[str, int]:
    """Remove a directory's memberships, users and groups (and the directory row) in bulk.

    The change rows are produced by ``INSERT ... SELECT`` so a 100,000-user directory does not
    pass through Python. Buffered changes are flushed first to keep ``seq`` in write order.
    """
    changes.flush(session)
    lock_change_feed(session)
    org = _organization_of(session, directory_id)
    now = utcnow()
    deleted: dict[str, int] = {}
    specs: list[tuple[str, Any, Any, Any]] = [
        ("membership", GroupMembership, GroupMembership.group_id, GroupMembership.user_id),
        ("user", DirectoryUser, DirectoryUser.id, None),
        ("group", DirectoryGroup, DirectoryGroup.id, None),
    ]
    if delete_directory:
        specs.append(("directory", Directory, Directory.id, None))
    for kind, model, id_col, related_col in specs:
        where = (
            model.id == directory_id if kind == "directory" else model.directory_id == directory_id
        )
        source = select(
            literal(now, type_=Change.occurred_at.type),
            literal(kind),
            id_col,
            related_col if related_col is not None else literal(None, type_=Change.related_id.type),
            literal(directory_id),
            literal(org, type_=Change.organization_id.type),
            literal("deleted"),
            literal(changes.source),
            literal(changes.event_id, type_=Change.event_id.type),
            literal(changes.sync_run_id, type_=Change.sync_run_id.type),
        ).where(where)
        if kind == "membership":
            source = source.order_by(GroupMembership.group_id, GroupMembership.user_id)
        else:
            source = source.order_by(id_col)
        session.execute(
            insert(Change).from_select(
                [
                    "occurred_at",
                    "kind",
                    "object_id",
                    "related_id",
                    "directory_id",
                    "organization_id",
                    "action",
                    "source",
                    "event_id",
                    "sync_run_id",
                ],
                source,
            )
        )
        # DELETE's rowcount is exact on both drivers (INSERT ... SELECT's is not on psycopg).
        deleted[kind] = session.execute(delete(model).where(where)).rowcount or 0
    return deleted


SWEEPABLE = {"membership": GroupMembership, "user": DirectoryUser, "group": DirectoryGroup}


def sweep_unconfirmed(
    session: Session,
    kind: str,
    directory_id: str,
    mark: datetime,
    changes: ChangeLog,
    *,
    limit: int,
) -> int:
    """Delete up to ``limit`` rows of ``kind`` in the directory that no write confirmed since
    ``mark`` (a resync's start), leaving tombstones at ``mark``. Returns how many went.

    Only call this after a complete enumeration: an unconfirmed row is then one WorkOS no
    longer has. Rows that events wrote during the resync carry a newer ``synced_at``.
    """
    model = SWEEPABLE[kind]
    stale = (model.directory_id == directory_id) & (model.synced_at < mark)
    if kind == "membership":
        edges = session.execute(
            select(GroupMembership.group_id, GroupMembership.user_id).where(stale).limit(limit)
        ).all()
        for group_id, user_id in edges:
            add_tombstone(session, "membership", f"{group_id}:{user_id}", directory_id, mark)
        if edges:
            session.execute(
                delete(GroupMembership).where(
                    tuple_(GroupMembership.group_id, GroupMembership.user_id).in_(
                        [tuple(e) for e in edges]
                    )
                )
            )
        _log_edge_deletes(session, edges, changes, directory_id)
        return len(edges)
    ids = list(session.scalars(select(model.id).where(stale).limit(limit)))
    org = _organization_of(session, directory_id)
    for object_id in ids:
        add_tombstone(session, kind, object_id, directory_id, mark)
        changes.add(kind, "deleted", object_id, directory_id=directory_id, organization_id=org)
    if ids:
        session.execute(delete(model).where(model.id.in_(ids)))
    return len(ids)


def delete_organizations(
    session: Session, org_ids: Sequence[str], version: datetime, changes: ChangeLog
) -> int:
    """Remove organizations WorkOS no longer lists, leaving tombstones at ``version``."""
    for org_id in org_ids:
        add_tombstone(session, "organization", org_id, None, version)
        changes.add("organization", "deleted", org_id, directory_id=None, organization_id=org_id)
    if org_ids:
        session.execute(delete(Organization).where(Organization.id.in_(org_ids)))
    return len(org_ids)
