"""`resync --all` and the operator CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from tests.support import assert_mirror_matches
from worker import runtime
from worker.cli import cli
from worker.models import Directory, DirectoryUser, Organization, SyncRun
from worker.resync import Resyncer, create_run


def run_all(factory, client, settings):
    run_id = create_run(factory, scope="all", trigger="test")
    Resyncer(factory, client, settings).run_all(run_id, inline=True)
    with factory() as session:
        run = session.get(SyncRun, run_id)
        children = session.scalars(select(SyncRun).where(SyncRun.parent_id == run_id)).all()
        return run, children


def test_all_mirrors_organizations_directories_and_removes_vanished(
    emulator, client, factory, settings
):
    state = emulator.state
    seeded = state.seed(organizations=2, directories=2, users=40, groups=4)
    run, children = run_all(factory, client, settings)
    assert run.status == "succeeded", run.error
    assert (run.organizations_inserted, run.directories_inserted) == (2, 4)
    assert sorted(c.directory_id for c in children) == sorted(seeded["directory_ids"])
    assert all(c.status == "succeeded" for c in children)
    for directory_id in seeded["directory_ids"]:
        assert_mirror_matches(factory, state, directory_id)

    gone = seeded["directory_ids"][0]
    with state.silent():
        state.delete_directory(gone)
    run, children = run_all(factory, client, settings)
    assert run.status == "succeeded"
    assert run.directories_deleted == 1 and run.users_deleted == 40
    with factory() as session:
        assert session.get(Directory, gone) is None
        left = session.scalars(select(DirectoryUser.directory_id).distinct()).all()
        assert gone not in left
        assert session.scalar(select(Organization).limit(1)) is not None
    assert len(children) == 3


def test_all_that_fails_listing_directories_removes_nothing(emulator, client, factory, settings):
    state = emulator.state
    seeded = state.seed(organizations=1, directories=2, users=10, groups=2)
    run_all(factory, client, settings)
    with state.silent():
        state.delete_directory(seeded["directory_ids"][0])
    emulator.config.update(fail_next=10_000)
    run, children = run_all(factory, client, settings)
    assert run.status == "failed" and children == []
    with factory() as session:
        assert session.get(Directory, seeded["directory_ids"][0]) is not None


@pytest.fixture
def cli_env(monkeypatch, database_url, emulator):
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("WORKOS_API_KEY", emulator.config.api_key)
    monkeypatch.setenv("WORKOS_BASE_URL", emulator.base_url)
    monkeypatch.setenv("DIRSYNC_API_MAX_RETRIES", "1")
    runtime.reset()
    yield
    runtime.reset()


def test_cli_resync_wait_status_and_failure_exit_code(cli_env, emulator, factory):
    directory_id = emulator.state.seed(users=120, groups=3)["directory_ids"][0]
    runner = CliRunner()
    result = runner.invoke(cli, ["resync", "--directory", directory_id, "--wait"])
    assert result.exit_code == 0, result.output
    assert "succeeded" in result.output and "users: +120" in result.output
    assert_mirror_matches(factory, emulator.state, directory_id)

    result = runner.invoke(cli, ["status"])
    assert result.exit_code == 0, result.output
    assert directory_id in result.output and "120" in result.output

    emulator.config.update(fail_next=10_000)
    result = runner.invoke(cli, ["resync", "--directory", directory_id, "--wait"])
    assert result.exit_code == 1
    assert "failed" in result.output and "error:" in result.output

    emulator.config.update(fail_next=0)
    result = runner.invoke(cli, ["resync", "--all", "--wait"])
    assert result.exit_code == 0, result.output


def test_cli_usage_errors(cli_env):
    result = CliRunner().invoke(cli, ["resync"])
    assert result.exit_code == 2 and "exactly one of" in result.output
    result = CliRunner().invoke(cli, ["replay"])
    assert result.exit_code == 2
