"""The schema. ``workos_*`` tables are the mirror host applications read (a public contract,
documented column by column in the README); ``dirsync_*`` tables are our bookkeeping.

Mirror tables carry no foreign keys between each other on purpose: WorkOS promises no delivery
order, so a user may legitimately arrive before its directory.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from sqlalchemy import BigInteger, Index, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from worker.db import Base, JSONType, UTCDateTime

ts = Annotated[datetime, mapped_column(UTCDateTime())]
ts_opt = Annotated[datetime | None, mapped_column(UTCDateTime())]
json_obj = Annotated[dict[str, Any], mapped_column(JSONType, nullable=False)]
json_list = Annotated[list[Any], mapped_column(JSONType, nullable=False)]
counter = Annotated[int, mapped_column(Integer, nullable=False, server_default="0")]

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a real bigint.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


class MirrorTimestamps:
    """WorkOS's own timestamps plus ours."""

    created_at: Mapped[ts_opt] = mapped_column(comment="WorkOS created_at")
    updated_at: Mapped[ts] = mapped_column(
        comment="WorkOS updated_at: the version used to order writes"
    )
    synced_at: Mapped[ts] = mapped_column(comment="when dirsync last wrote or confirmed this row")


class Organization(MirrorTimestamps, Base):
    __tablename__ = "workos_organizations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    domains: Mapped[json_list] = mapped_column(comment="WorkOS organization_domain objects")
    external_id: Mapped[str | None] = mapped_column(Text)
    metadata_: Mapped[json_obj] = mapped_column("metadata")


class Directory(MirrorTimestamps, Base):
    __tablename__ = "workos_directories"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[str | None] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(Text)
    domain: Mapped[str | None] = mapped_column(Text)
    type: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(
        Text, comment="REST vocabulary: linked, validating, invalid_credentials, unlinked, deleting"
    )
    external_key: Mapped[str | None] = mapped_column(Text)


class DirectoryUser(MirrorTimestamps, Base):
    __tablename__ = "workos_directory_users"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    directory_id: Mapped[str] = mapped_column(String(64), index=True)
    organization_id: Mapped[str | None] = mapped_column(String(64))
    idp_id: Mapped[str | None] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(Text)
    first_name: Mapped[str | None] = mapped_column(Text)
    last_name: Mapped[str | None] = mapped_column(Text)
    name: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(Text, comment="active, suspended or inactive")
    role: Mapped[str | None] = mapped_column(Text, comment="slug of the primary role")
    roles: Mapped[json_list] = mapped_column(comment="slugs of all roles")
    custom_attributes: Mapped[json_obj]
    raw_attributes: Mapped[json_obj]

    __table_args__ = (
        Index("ix_workos_directory_users_org_email", "organization_id", func.lower(email)),
    )


class DirectoryGroup(MirrorTimestamps, Base):
    __tablename__ = "workos_directory_groups"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    directory_id: Mapped[str] = mapped_column(String(64), index=True)
    organization_id: Mapped[str | None] = mapped_column(String(64))
    idp_id: Mapped[str | None] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    raw_attributes: Mapped[json_obj]


class GroupMembership(MirrorTimestamps, Base):
    """One row per (group, user) edge. ``updated_at`` is the WorkOS time of the newest
    add event (or of the resync read) that confirmed the edge."""

    __tablename__ = "workos_directory_group_memberships"

    group_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    directory_id: Mapped[str] = mapped_column(String(64), index=True)


class SyncRun(Base):
    """One row per resync, written also when it fails."""

    __tablename__ = "dirsync_sync_runs"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    parent_id: Mapped[int | None] = mapped_column(BigInteger, index=True, comment="the --all run")
    scope: Mapped[str] = mapped_column(String(16), comment="directory or all")
    directory_id: Mapped[str | None] = mapped_column(String(64), index=True)
    trigger: Mapped[str] = mapped_column(String(32), comment="cli, event, schedule, api")
    status: Mapped[str] = mapped_column(
        String(16), comment="queued, running, succeeded, failed, skipped"
    )
    queued_at: Mapped[ts]
    started_at: Mapped[ts_opt]
    finished_at: Mapped[ts_opt]
    heartbeat_at: Mapped[ts_opt]
    organizations_inserted: Mapped[counter]
    organizations_updated: Mapped[counter]
    organizations_deleted: Mapped[counter]
    directories_inserted: Mapped[counter]
    directories_updated: Mapped[counter]
    directories_deleted: Mapped[counter]
    users_inserted: Mapped[counter]
    users_updated: Mapped[counter]
    users_deleted: Mapped[counter]
    groups_inserted: Mapped[counter]
    groups_updated: Mapped[counter]
    groups_deleted: Mapped[counter]
    memberships_inserted: Mapped[counter]
    memberships_updated: Mapped[counter]
    memberships_deleted: Mapped[counter]
    users_seen: Mapped[counter]
    groups_seen: Mapped[counter]
    memberships_seen: Mapped[counter]
    api_requests: Mapped[counter]
    error: Mapped[str | None] = mapped_column(Text)


class Change(Base):
    """The change feed: one row per real insert, update or delete of a mirrored row."""

    __tablename__ = "dirsync_changes"

    seq: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    occurred_at: Mapped[ts]
    kind: Mapped[str] = mapped_column(
        String(16), comment="organization, directory, user, group, membership"
    )
    object_id: Mapped[str] = mapped_column(String(64), comment="for membership: the group id")
    related_id: Mapped[str | None] = mapped_column(String(64), comment="membership: the user id")
    directory_id: Mapped[str | None] = mapped_column(String(64), index=True)
    organization_id: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(8), comment="created, updated, deleted")
    source: Mapped[str] = mapped_column(String(8), comment="event or resync")
    event_id: Mapped[str | None] = mapped_column(String(64))
    sync_run_id: Mapped[int | None] = mapped_column(BigInteger)


class Tombstone(Base):
    """Remembers deletions so a late or repeated older event cannot bring a row back."""

    __tablename__ = "dirsync_tombstones"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    object_id: Mapped[str] = mapped_column(
        String(140), primary_key=True, comment="membership: group_id:user_id"
    )
    directory_id: Mapped[str | None] = mapped_column(String(64), index=True)
    version: Mapped[ts] = mapped_column(comment="WorkOS time at which the object was gone")
    recorded_at: Mapped[ts] = mapped_column(index=True)


class ResyncLease(Base):
    """At most one resync per directory: a lease renewed by heartbeats, taken over on expiry."""

    __tablename__ = "dirsync_resync_leases"

    directory_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    run_id: Mapped[int] = mapped_column(BigInteger)
    holder: Mapped[str] = mapped_column(String(64), comment="one execution of the run")
    expires_at: Mapped[ts]


class WebhookEvent(Base):
    """The durable inbox: every acknowledged event, whether from a webhook or the Events API."""

    __tablename__ = "dirsync_webhook_events"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, comment="WorkOS event id")
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[json_obj]
    directory_id: Mapped[str | None] = mapped_column(String(64))
    event_created_at: Mapped[ts_opt]
    received_at: Mapped[ts]
    status: Mapped[str] = mapped_column(String(16), comment="pending, processed, ignored, failed")
    attempts: Mapped[counter]
    last_error: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[ts_opt]
    enqueued_at: Mapped[ts_opt]
    source: Mapped[str] = mapped_column(String(16), server_default="webhook")

    __table_args__ = (Index("ix_dirsync_webhook_events_status_received", "status", "received_at"),)
