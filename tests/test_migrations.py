"""Alembic owns the schema: migrations and models agree, and upgrade/downgrade round-trips."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from tests.conftest import _create_pg_database, _drop_pg_database
from worker.db import make_engine
from worker.launcher import ROOT
from worker.models import Base

MIRROR_TABLES = {
    "workos_organizations",
    "workos_directories",
    "workos_directory_users",
    "workos_directory_groups",
    "workos_directory_group_memberships",
}


def alembic_config(url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["database_url"] = url
    config.attributes["configure_logging"] = False
    return config


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/migrations.db"
        return
    name = f"dirsync_migrations_{tmp_path.name[-8:].replace('-', '_')}"
    yield _create_pg_database(name)
    _drop_pg_database(name)


@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based")
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
def test_migrations_match_models_and_round_trip(empty_database):
    config = alembic_config(empty_database)
    command.upgrade(config, "head")
    engine = make_engine(empty_database, null_pool=True)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={"compare_type": True, "compare_server_default": True},
            )
            diff = compare_metadata(context, Base.metadata)
            assert diff == [], f"models and migrations disagree: {diff}"
            tables = set(inspect(conn).get_table_names())
            assert tables >= MIRROR_TABLES | {
                "dirsync_sync_runs",
                "dirsync_changes",
                "dirsync_webhook_events",
            }
            if conn.dialect.name == "sqlite":  # cannot reflect expression indexes
                indexes = set(
                    conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'index'")
                    .scalars()
                    .all()
                )
            else:
                indexes = {i["name"] for i in inspect(conn).get_indexes("workos_directory_users")}
            assert "ix_workos_directory_users_org_email" in indexes
        command.downgrade(config, "base")
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
        command.upgrade(config, "head")
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) >= MIRROR_TABLES
        if empty_database.startswith("postgresql"):
            with engine.connect() as conn:
                json_types = {
                    c["name"]: str(c["type"])
                    for c in inspect(conn).get_columns("workos_directory_users")
                }
                assert json_types["custom_attributes"] == "JSONB"
    finally:
        engine.dispose()
