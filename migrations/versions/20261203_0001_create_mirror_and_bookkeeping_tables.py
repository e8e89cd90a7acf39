"""create mirror and bookkeeping tables

Revision ID: 0001
Revises:
Create Date: 2026-12-03 19:02:29.431500

Backward compatibility: the previous release keeps serving while this runs, and host
applications read the workos_* tables directly. Never drop or rename a public column here
without a deprecation period documented in the README.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import worker.db

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "dirsync_changes",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("occurred_at", worker.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "kind",
            sa.String(length=16),
            nullable=False,
            comment="organization, directory, user, group, membership",
        ),
        sa.Column(
            "object_id",
            sa.String(length=64),
            nullable=False,
            comment="for membership: the group id",
        ),
        sa.Column(
            "related_id", sa.String(length=64), nullable=True, comment="membership: the user id"
        ),
        sa.Column("directory_id", sa.String(length=64), nullable=True),
        sa.Column("organization_id", sa.String(length=64), nullable=True),
        sa.Column(
            "action", sa.String(length=8), nullable=False, comment="created, updated, deleted"
        ),
        sa.Column("source", sa.String(length=8), nullable=False, comment="event or resync"),
        sa.Column("event_id", sa.String(length=64), nullable=True),
        sa.Column("sync_run_id", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_dirsync_changes")),
    )
    with op.batch_alter_table("dirsync_changes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dirsync_changes_directory_id"), ["directory_id"], unique=False
        )

    op.create_table(
        "dirsync_resync_leases",
        sa.Column("directory_id", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "holder", sa.String(length=64), nullable=False, comment="one execution of the run"
        ),
        sa.Column("expires_at", worker.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("directory_id", name=op.f("pk_dirsync_resync_leases")),
    )
    op.create_table(
        "dirsync_sync_runs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("parent_id", sa.BigInteger(), nullable=True, comment="the --all run"),
        sa.Column("scope", sa.String(length=16), nullable=False, comment="directory or all"),
        sa.Column("directory_id", sa.String(length=64), nullable=True),
        sa.Column(
            "trigger", sa.String(length=32), nullable=False, comment="cli, event, schedule, api"
        ),
        sa.Column(
            "status",
            sa.String(length=16),
            nullable=False,
            comment="queued, running, succeeded, failed, skipped",
        ),
        sa.Column("queued_at", worker.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", worker.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", worker.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", worker.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("organizations_inserted", sa.Integer(), server_default="0", nullable=False),
        sa.Column("organizations_updated", sa.Integer(), server_default="0", nullable=False),
        sa.Column("organizations_deleted", sa.Integer(), server_default="0", nullable=False),
        sa.Column("directories_inserted", sa.Integer(), server_default="0", nullable=False),
        sa.Column("directories_updated", sa.Integer(), server_default="0", nullable=False),
        sa.Column("directories_deleted", sa.Integer(), server_default="0", nullable=False),
        sa.Column("users_inserted", sa.Integer(), server_default="0", nullable=False),
        sa.Column("users_updated", sa.Integer(), server_default="0", nullable=False),
        sa.Column("users_deleted", sa.Integer(), server_default="0", nullable=False),
        sa.Column("groups_inserted", sa.Integer(), server_default="0", nullable=False),
        sa.Column("groups_updated", sa.Integer(), server_default="0", nullable=False),
        sa.Column("groups_deleted", sa.Integer(), server_default="0", nullable=False),
        sa.Column("memberships_inserted", sa.Integer(), server_default="0", nullable=False),
        sa.Column("memberships_updated", sa.Integer(), server_default="0", nullable=False),
        sa.Column("memberships_deleted", sa.Integer(), server_default="0", nullable=False),
        sa.Column("users_seen", sa.Integer(), server_default="0", nullable=False),
        sa.Column("groups_seen", sa.Integer(), server_default="0", nullable=False),
        sa.Column("memberships_seen", sa.Integer(), server_default="0", nullable=False),
        sa.Column("api_requests", sa.Integer(), server_default="0", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dirsync_sync_runs")),
    )
    with op.batch_alter_table("dirsync_sync_runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dirsync_sync_runs_directory_id"), ["directory_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_dirsync_sync_runs_parent_id"), ["parent_id"], unique=False
        )

    op.create_table(
        "dirsync_tombstones",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column(
            "object_id",
            sa.String(length=140),
            nullable=False,
            comment="membership: group_id:user_id",
        ),
        sa.Column("directory_id", sa.String(length=64), nullable=True),
        sa.Column(
            "version",
            worker.db.UTCDateTime(timezone=True),
            nullable=False,
            comment="WorkOS time at which the object was gone",
        ),
        sa.Column("recorded_at", worker.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", "object_id", name=op.f("pk_dirsync_tombstones")),
    )
    with op.batch_alter_table("dirsync_tombstones", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dirsync_tombstones_directory_id"), ["directory_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_dirsync_tombstones_recorded_at"), ["recorded_at"], unique=False
        )

    op.create_table(
        "dirsync_webhook_events",
        sa.Column("id", sa.String(length=64), nullable=False, comment="WorkOS event id"),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("directory_id", sa.String(length=64), nullable=True),
        sa.Column("event_created_at", worker.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("received_at", worker.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "status",
            sa.String(length=16),
            nullable=False,
            comment="pending, processed, ignored, failed",
        ),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("processed_at", worker.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("enqueued_at", worker.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("source", sa.String(length=16), server_default="webhook", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dirsync_webhook_events")),
    )
    with op.batch_alter_table("dirsync_webhook_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_dirsync_webhook_events_status_received", ["status", "received_at"], unique=False
        )

    op.create_table(
        "workos_directories",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("organization_id", sa.String(length=64), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("domain", sa.Text(), nullable=True),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column(
            "state",
            sa.Text(),
            nullable=False,
            comment="REST vocabulary: linked, validating, invalid_credentials, unlinked, deleting",
        ),
        sa.Column("external_key", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            worker.db.UTCDateTime(timezone=True),
            nullable=True,
            comment="WorkOS created_at",
        ),
        sa.Column(
            "updated_at",
            worker.db.UTCDateTime(timezone=True),
            nullable=False,
            comment="WorkOS updated_at: the version used to order writes",
        ),
        sa.Column(
            "synced_at",
            worker.db.UTCDateTime(timezone=True),
            nullable=False,
            comment="when dirsync last wrote or confirmed this row",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workos_directories")),
    )
    with op.batch_alter_table("workos_directories", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_workos_directories_organization_id"), ["organization_id"], unique=False
        )

    op.create_table(
        "workos_directory_group_memberships",
        sa.Column("group_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("directory_id", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at",
            worker.db.UTCDateTime(timezone=True),
            nullable=True,
            comment="WorkOS created_at",
        ),
        sa.Column(
            "updated_at",
            worker.db.UTCDateTime(timezone=True),
            nullable=False,
            comment="WorkOS updated_at: the version used to order writes",
        ),
        sa.Column(
            "synced_at",
            worker.db.UTCDateTime(timezone=True),
            nullable=False,
            comment="when dirsync last wrote or confirmed this row",
        ),
        sa.PrimaryKeyConstraint(
            "group_id", "user_id", name=op.f("pk_workos_directory_group_memberships")
        ),
    )
    with op.batch_alter_table("workos_directory_group_memberships", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_workos_directory_group_memberships_directory_id"),
            ["directory_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_workos_directory_group_memberships_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "workos_directory_groups",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("directory_id", sa.String(length=64), nullable=False),
        sa.Column("organization_id", sa.String(length=64), nullable=True),
        sa.Column("idp_id", sa.Text(), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column(
            "raw_attributes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            worker.db.UTCDateTime(timezone=True),
            nullable=True,
            comment="WorkOS created_at",
        ),
        sa.Column(
            "updated_at",
            worker.db.UTCDateTime(timezone=True),
            nullable=False,
            comment="WorkOS updated_at: the version used to order writes",
        ),
        sa.Column(
            "synced_at",
            worker.db.UTCDateTime(timezone=True),
            nullable=False,
            comment="when dirsync last wrote or confirmed this row",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workos_directory_groups")),
    )
    with op.batch_alter_table("workos_directory_groups", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_workos_directory_groups_directory_id"), ["directory_id"], unique=False
        )

    op.create_table(
        "workos_directory_users",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("directory_id", sa.String(length=64), nullable=False),
        sa.Column("organization_id", sa.String(length=64), nullable=True),
        sa.Column("idp_id", sa.Text(), nullable=True),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("first_name", sa.Text(), nullable=True),
        sa.Column("last_name", sa.Text(), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("state", sa.Text(), nullable=False, comment="active, suspended or inactive"),
        sa.Column("role", sa.Text(), nullable=True, comment="slug of the primary role"),
        sa.Column(
            "roles",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
            comment="slugs of all roles",
        ),
        sa.Column(
            "custom_attributes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "raw_attributes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            worker.db.UTCDateTime(timezone=True),
            nullable=True,
            comment="WorkOS created_at",
        ),
        sa.Column(
            "updated_at",
            worker.db.UTCDateTime(timezone=True),
            nullable=False,
            comment="WorkOS updated_at: the version used to order writes",
        ),
        sa.Column(
            "synced_at",
            worker.db.UTCDateTime(timezone=True),
            nullable=False,
            comment="when dirsync last wrote or confirmed this row",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workos_directory_users")),
    )
    with op.batch_alter_table("workos_directory_users", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_workos_directory_users_directory_id"), ["directory_id"], unique=False
        )
    # Host apps look users up by organization and case-insensitive email.
    op.create_index(
        "ix_workos_directory_users_org_email",
        "workos_directory_users",
        ["organization_id", sa.text("lower(email)")],
    )

    op.create_table(
        "workos_organizations",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column(
            "domains",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
            comment="WorkOS organization_domain objects",
        ),
        sa.Column("external_id", sa.Text(), nullable=True),
        sa.Column(
            "metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            worker.db.UTCDateTime(timezone=True),
            nullable=True,
            comment="WorkOS created_at",
        ),
        sa.Column(
            "updated_at",
            worker.db.UTCDateTime(timezone=True),
            nullable=False,
            comment="WorkOS updated_at: the version used to order writes",
        ),
        sa.Column(
            "synced_at",
            worker.db.UTCDateTime(timezone=True),
            nullable=False,
            comment="when dirsync last wrote or confirmed this row",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workos_organizations")),
    )


def downgrade() -> None:

    op.drop_table("workos_organizations")
    op.drop_index("ix_workos_directory_users_org_email", table_name="workos_directory_users")
    with op.batch_alter_table("workos_directory_users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workos_directory_users_directory_id"))

    op.drop_table("workos_directory_users")
    with op.batch_alter_table("workos_directory_groups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workos_directory_groups_directory_id"))

    op.drop_table("workos_directory_groups")
    with op.batch_alter_table("workos_directory_group_memberships", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workos_directory_group_memberships_user_id"))
        batch_op.drop_index(batch_op.f("ix_workos_directory_group_memberships_directory_id"))

    op.drop_table("workos_directory_group_memberships")
    with op.batch_alter_table("workos_directories", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workos_directories_organization_id"))

    op.drop_table("workos_directories")
    with op.batch_alter_table("dirsync_webhook_events", schema=None) as batch_op:
        batch_op.drop_index("ix_dirsync_webhook_events_status_received")

    op.drop_table("dirsync_webhook_events")
    with op.batch_alter_table("dirsync_tombstones", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dirsync_tombstones_recorded_at"))
        batch_op.drop_index(batch_op.f("ix_dirsync_tombstones_directory_id"))

    op.drop_table("dirsync_tombstones")
    with op.batch_alter_table("dirsync_sync_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dirsync_sync_runs_parent_id"))
        batch_op.drop_index(batch_op.f("ix_dirsync_sync_runs_directory_id"))

    op.drop_table("dirsync_sync_runs")
    op.drop_table("dirsync_resync_leases")
    with op.batch_alter_table("dirsync_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dirsync_changes_directory_id"))

    op.drop_table("dirsync_changes")
