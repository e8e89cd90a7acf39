"""Every dsync event type, produced by the emulator's own mutations and delivered as signed
webhooks through gunicorn, the durable inbox, Redis and the Celery worker into SQL."""

from __future__ import annotations

import re

import pytest

from emulator import EmulatorServer
from tests.e2e.conftest import RedisServer, Service
from tests.e2e.helpers import (
    failed_events,
    processed_event_types,
    sync_run,
    wait_converged,
    wait_directory_gone,
    wait_for,
    wait_inbox_settled,
    wait_webhooks_delivered,
)
from worker.events import HANDLED_EVENTS


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_every_event_type_converges_through_real_processes(
    backend: str, request: pytest.FixtureRequest, start_service, emulator: EmulatorServer
) -> None:
    database_url = request.getfixturevalue("pg_url" if backend == "postgresql" else "sqlite_url")
    service = start_service(database_url)
    state = emulator.state

    org = state.create_organization("Initech", domains=("initech.test",))
    main = state.create_directory(org["id"], "Initech Okta")["id"]  # dsync.activated
    alice = state.create_user(
        main,
        email="alice@initech.test",
        first_name="Alice",
        last_name="Anders",
        custom_attributes={"department": "Engineering", "job_title": "Engineer"},
    )["id"]
    bob = state.create_user(main, email="bob@initech.test", first_name="Bob", last_name="B")["id"]
    carol = state.create_user(main, email="carol@initech.test", first_name="Carol")["id"]
    dave = state.create_user(main, email="dave@initech.test", first_name="Dave")["id"]
    eng = state.create_group(main, "Engineering")["id"]
    sales = state.create_group(main, "Sales")["id"]
    ops = state.create_group(main, "Ops")["id"]
    for group_id, user_id in (
        (eng, alice),
        (eng, bob),
        (sales, bob),
        (sales, carol),
        (ops, dave),
        (ops, alice),
    ):
        assert state.add_member(group_id, user_id)

    state.update_user(alice, first_name="Alicia", custom_attributes={"department": "R&D"})
    state.update_user(bob, state="suspended")
    state.update_user(carol, state="inactive", role="admin")
    state.update_group(sales, name="Sales EMEA")
    assert state.remove_member(eng, bob)
    state.delete_user(dave)  # also drops dave from ops, with no user_removed event
    state.delete_group(ops)  # also drops alice from ops

    # A second directory, mirrored and then deleted as a whole.
    doomed = state.create_directory(org["id"], "Initech Legacy AD", type="azure scim v2.0")["id"]
    ghost = state.create_user(doomed, email="ghost@initech.test", first_name="Ghost")["id"]
    legacy = state.create_group(doomed, "Legacy")["id"]
    assert state.add_member(legacy, ghost)
    wait_converged(service, state, main, doomed)
    assert state.snapshot(doomed)["users"], "the doomed directory had content before deletion"

    state.delete_directory(doomed)  # dsync.deleted
    wait_directory_gone(service, doomed)
    wait_converged(service, state, main)

    stats = wait_webhooks_delivered(service)
    assert stats["failed"] == 0 and stats["retried"] == 0, stats
    assert stats["succeeded"] == state.event_count(), stats
    inbox = wait_inbox_settled(service)
    assert failed_events(service) == []
    assert inbox.get("processed") == state.event_count(), service.describe()
    assert processed_event_types(service) == set(HANDLED_EVENTS)
    # The final state, spelled out (assert_mirror_matches compares against the emulator).
    snap = state.snapshot(main)
    assert set(snap["users"]) == {alice, bob, carol}
    assert {u["state"] for u in snap["users"].values()} == {"active", "suspended", "inactive"}
    assert {tuple(e) for e in snap["memberships"]} == {(eng, alice), (sales, bob), (sales, carol)}


def test_enqueued_work_reaches_the_worker_without_waiting_for_the_sweep(
    start_service, pg_url: str, redis_server: RedisServer, emulator: EmulatorServer
) -> None:
    """Regression (fixed in df5aee4): web and CLI used to publish on Celery's default app, to
    a queue no worker consumes, so work only started when the sweep re-enqueued it."""
    # The safety net is still on (sweeps every second) but only re-enqueues after 10 minutes.
    service: Service = start_service(pg_url, DIRSYNC_REENQUEUE_AFTER_SECONDS="600")
    state = emulator.state
    directory_id = state.seed(users=10, groups=2)["directory_ids"][0]
    user_id = state.create_user(directory_id, email="new@acme-1.test")["id"]
    assert state.event_count() == 1

    # A CLI resync (no --wait) starts within seconds...
    out = service.cli("resync", "--directory", directory_id)
    run_id = int(re.fullmatch(r"queued sync run (\d+)\n", out.stdout).group(1))  # type: ignore[union-attr]
    wait_for(
        lambda: sync_run(service, run_id).status != "queued",  # type: ignore[union-attr]
        timeout=15,
        message=f"sync run {run_id} picked up by the worker",
    )
    # ...and so is a webhook's event.
    wait_converged(service, state, directory_id, timeout=15)
    assert user_id in state.snapshot(directory_id)["users"]
    # Nothing piles up in a queue no worker consumes.
    assert "celery" not in redis_server.queued_messages(), redis_server.queued_messages()
