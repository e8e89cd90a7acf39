"""Full resync against the emulator, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from emulator import EmulatorServer
from tests.support import assert_mirror_matches, changes
from worker.models import Directory, SyncRun, Tombstone
from worker.resync import Resyncer, create_run


def resync(factory, client, settings, directory_id, **kwargs):
    run_id = create_run(factory, scope="directory", trigger="test", directory_id=directory_id)
    Resyncer(factory, client, settings, **kwargs).run_directory(run_id)
    with factory() as session:
        return session.get(SyncRun, run_id)


def seed(emulator: EmulatorServer, **kwargs) -> str:
    params = {"users": 250, "groups": 12, "memberships_per_user": 2} | kwargs
    return emulator.state.seed(**params)["directory_ids"][0]


def test_multi_page_directory_is_mirrored_exactly(emulator, client, factory, settings):
    directory_id = seed(emulator)
    run = resync(factory, client, settings, directory_id)
    assert run.status == "succeeded", run.error
    assert_mirror_matches(factory, emulator.state, directory_id)
    assert (run.users_inserted, run.groups_inserted, run.memberships_inserted) == (250, 12, 500)
    assert run.users_seen == 250 and run.memberships_seen == 500
    # users: 3 pages; groups: 1 page; members: 12 groups x >= 1 page; + the directory.
    assert run.api_requests >= 1 + 1 + 3 + 12
    with factory() as session:
        directory = session.get(Directory, directory_id)
        assert directory.state == "linked"
    feed = changes(factory, sync_run_id=run.id)
    assert len(feed) == 1 + 250 + 12 + 500
    assert all(c.action == "created" for c in feed)
    assert [c.seq for c in feed] == sorted(c.seq for c in feed)


def test_second_resync_of_unchanged_directory_writes_no_changes(
    emulator, client, factory, settings
):
    directory_id = seed(emulator, users=120)
    first = resync(factory, client, settings, directory_id)
    before = len(changes(factory))
    second = resync(factory, client, settings, directory_id)
    assert second.status == "succeeded"
    assert len(changes(factory)) == before
    counts = [
        getattr(second, f"{k}_{w}")
        for k in ("users", "groups", "memberships")
        for w in ("inserted", "updated", "deleted")
    ]
    assert counts == [0] * 9
    assert second.users_seen == first.users_seen == 120
    assert_mirror_matches(factory, emulator.state, directory_id)


def test_drift_is_repaired_and_change_feed_records_exactly_the_drift(
    emulator, client, factory, settings
):
    directory_id = seed(emulator, users=150)
    resync(factory, client, settings, directory_id)
    state = emulator.state
    users = state.list_users(directory_id)
    groups = state.list_groups(directory_id)
    with state.silent():  # no events: only a resync can notice
        added = state.create_user(directory_id, email="new.person@acme-1.test", first_name="New")
        state.update_user(users[0]["id"], last_name="Changed", state="suspended")
        state.delete_user(users[1]["id"])
        member_of_removed = set(state.groups_of(users[1]["id"]))
        state.add_member(groups[0]["id"], added["id"])
        victim = next(u for u in state.members(groups[1]["id"]) if u != users[1]["id"])
        state.remove_member(groups[1]["id"], victim)
        state.delete_group(groups[2]["id"])
    run = resync(factory, client, settings, directory_id)
    assert run.status == "succeeded", run.error
    assert_mirror_matches(factory, emulator.state, directory_id)
    feed = changes(factory, sync_run_id=run.id)
    summary = sorted((c.kind, c.action) for c in feed)
    assert ("user", "created") in summary and ("user", "updated") in summary
    assert summary.count(("user", "deleted")) == 1
    assert summary.count(("group", "deleted")) == 1
    assert summary.count(("membership", "created")) == 1
    assert run.users_inserted == 1 and run.users_updated == 1 and run.users_deleted == 1
    assert run.groups_deleted == 1
    # removed: the deleted user's edges (except group 2's, counted there), the removed edge,
    # and every edge of the deleted group.
    assert run.memberships_deleted == summary.count(("membership", "deleted"))
    assert run.memberships_deleted >= 1 + len(member_of_removed - {groups[2]["id"]})
    assert len(feed) == sum(
        getattr(run, f"{k}_{w}")
        for k in ("directories", "users", "groups", "memberships")
        for w in ("inserted", "updated", "deleted")
    )


def test_failure_mid_enumeration_removes_nothing(emulator, client, factory, settings):
    directory_id = seed(emulator, users=300)
    resync(factory, client, settings, directory_id)
    state = emulator.state
    with state.silent():
        for user in state.list_users(directory_id)[:20]:
            state.delete_user(user["id"])
    before = len(changes(factory))

    def break_after_first_users_page(run):
        if run.users_seen >= 100:
            emulator.config.update(fail_next=10_000)

    run = resync(factory, client, settings, directory_id, progress=break_after_first_users_page)
    assert run.status == "failed"
    assert "500" in run.error
    assert run.users_deleted == 0 and run.memberships_deleted == 0
    assert len(changes(factory)) == before  # the 20 vanished users are still mirrored
    emulator.config.update(fail_next=0)
    run = resync(factory, client, settings, directory_id)
    assert run.status == "succeeded"
    assert run.users_deleted == 20
    assert_mirror_matches(factory, emulator.state, directory_id)


def test_rate_limit_429s_with_retry_after_are_ridden_out(emulator, client, factory, settings):
    directory_id = seed(emulator, users=120)
    emulator.config.update(burst_429=3, retry_after_seconds=1)
    run = resync(factory, client, settings, directory_id)
    assert run.status == "succeeded", run.error
    assert_mirror_matches(factory, emulator.state, directory_id)


def test_directory_gone_from_workos_is_removed(emulator, client, factory, settings):
    directory_id = seed(emulator, users=30)
    resync(factory, client, settings, directory_id)
    with emulator.state.silent():
        emulator.state.delete_directory(directory_id)
    run = resync(factory, client, settings, directory_id)
    assert run.status == "succeeded"
    assert run.users_deleted == 30 and run.directories_deleted == 1
    with factory() as session:
        assert session.get(Directory, directory_id) is None
        assert session.scalar(select(Tombstone).where(Tombstone.kind == "directory"))


def test_two_resyncs_of_one_directory_never_run_at_once(emulator, client, factory, settings):
    directory_id = seed(emulator, users=150)
    outer_id = create_run(factory, scope="directory", trigger="test", directory_id=directory_id)
    seen: list[SyncRun] = []

    def start_second_inside_first(run):
        if run.id == outer_id and run.users_seen and not seen:
            seen.append(resync(factory, client, settings, directory_id))

    Resyncer(factory, client, settings, progress=start_second_inside_first).run_directory(outer_id)
    assert seen and seen[0].status == "skipped"
    assert f"run {outer_id}" in seen[0].error
    with factory() as session:
        assert session.get(SyncRun, outer_id).status == "succeeded"
    # Once the first finished, the lease is free again.
    assert resync(factory, client, settings, directory_id).status == "succeeded"


@pytest.mark.parametrize("groups_on_users", [True, False])
def test_memberships_come_from_groups_whatever_users_carry(
    emulator, client, factory, settings, groups_on_users
):
    emulator.config.update(groups_on_users=groups_on_users)
    directory_id = seed(emulator, users=60)
    assert resync(factory, client, settings, directory_id).status == "succeeded"
    assert_mirror_matches(factory, emulator.state, directory_id)


def test_a_slow_resync_keeps_its_lease_through_heartbeats(emulator, client, factory, settings):
    """Pages slower than the lease: the heartbeat thread, not page writes, keeps it alive."""
    import dataclasses
    import threading
    import time

    settings = dataclasses.replace(settings, resync_lease_seconds=2)
    directory_id = seed(emulator, users=10, groups=1)
    emulator.config.update(latency_ms=2500)
    first: list[SyncRun] = []
    thread = threading.Thread(
        target=lambda: first.append(resync(factory, client, settings, directory_id))
    )
    thread.start()
    time.sleep(2.3)  # past the lease taken at start, before the first page arrives
    emulator.config.update(latency_ms=0)
    second = resync(factory, client, settings, directory_id)
    thread.join(30)
    assert second.status == "skipped", second.error
    assert first and first[0].status == "succeeded", first and first[0].error


def test_a_run_whose_worker_died_is_taken_over_after_its_lease_expires(
    emulator, client, factory, settings
):
    from datetime import timedelta

    from worker.db import transaction, utcnow
    from worker.models import ResyncLease

    directory_id = seed(emulator, users=30)
    run_id = create_run(factory, scope="directory", trigger="test", directory_id=directory_id)
    with transaction(factory) as session:  # what a killed worker leaves behind
        run = session.get(SyncRun, run_id)
        run.status, run.started_at = "running", utcnow() - timedelta(minutes=10)
        session.add(
            ResyncLease(
                directory_id=directory_id,
                run_id=run_id,
                holder="dead-worker",
                expires_at=utcnow() + timedelta(seconds=30),
            )
        )
    # While the dead worker's lease is still valid, nobody else may start.
    assert Resyncer(factory, client, settings).run_directory(run_id).status == "running"
    with transaction(factory) as session:
        session.get(ResyncLease, directory_id).expires_at = utcnow() - timedelta(seconds=1)
    Resyncer(factory, client, settings).run_directory(run_id)  # the sweep's redelivery
    with factory() as session:
        assert session.get(SyncRun, run_id).status == "succeeded"
        assert session.get(ResyncLease, directory_id) is None
    assert_mirror_matches(factory, emulator.state, directory_id)
