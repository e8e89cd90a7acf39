"""The inbox is the durable record: losing the broker or its messages loses no event."""

from __future__ import annotations

import time

from emulator import EmulatorServer, EmulatorState
from emulator.webhooks import deliver
from tests.e2e.conftest import WEBHOOK_SECRET, RedisServer, Service
from tests.e2e.helpers import (
    failed_events,
    wait_converged,
    wait_for,
    wait_inbox_settled,
    wait_runs_idle,
    wait_webhooks_delivered,
)


def _directory_with_people(state: EmulatorState) -> tuple[str, list[str], str]:
    org = state.create_organization("Globex", domains=("globex.test",))
    directory_id = state.create_directory(org["id"], "Globex Okta")["id"]
    users = [
        state.create_user(directory_id, email=f"u{i}@globex.test", first_name=f"U{i}")["id"]
        for i in range(3)
    ]
    group = state.create_group(directory_id, "Everyone")["id"]
    for user_id in users:
        state.add_member(group, user_id)
    return directory_id, users, group


def _mutate(state: EmulatorState, directory_id: str, users: list[str], group: str) -> int:
    """One of each mutation kind; returns how many events it recorded."""
    before = state.event_count()
    new_user = state.create_user(directory_id, email="late@globex.test", first_name="Late")["id"]
    new_group = state.create_group(directory_id, "Night shift")["id"]
    state.add_member(new_group, new_user)
    state.add_member(new_group, users[0])
    state.update_user(users[1], state="suspended", last_name="Renamed")
    state.update_group(group, name="Everyone (renamed)")
    state.remove_member(group, users[0])
    state.delete_user(users[2])
    return state.event_count() - before


def _pending(service: Service) -> int:
    return service.inbox().get("pending", 0)


def _quiesce(service: Service) -> None:
    """Everything processed, no resync in flight, and a sweep just finished: the worker holds
    no unacknowledged message for the next ~second (see the kombu crash in the report)."""
    wait_webhooks_delivered(service)
    wait_inbox_settled(service)
    wait_runs_idle(service)
    service.wait_sweep_done()


def test_broker_down_at_receipt_events_are_acknowledged_and_swept_later(
    service: Service, redis_server: RedisServer, emulator: EmulatorServer
) -> None:
    state = emulator.state
    directory_id, users, group = _directory_with_people(state)
    wait_converged(service, state, directory_id)
    _quiesce(service)

    redis_server.stop()
    emulator.dispatcher.reset_stats()
    produced = _mutate(state, directory_id, users, group)
    stats = wait_webhooks_delivered(service, timeout=60)
    # Every delivery was answered 2xx at the first attempt although the broker was down.
    assert stats == {
        "attempted": produced,
        "succeeded": produced,
        "failed": 0,
        "retried": 0,
        "pending": 0,
    }
    # Durably recorded, not processed (nothing can reach the worker).
    assert _pending(service) == produced, service.describe()

    redis_server.start()
    wait_converged(service, state, directory_id)
    wait_inbox_settled(service)
    assert failed_events(service) == []
    assert service.worker_alive(), "the celery worker died during the broker outage"


def test_redis_flushed_with_events_queued_are_recovered_by_the_sweep(
    service: Service, redis_server: RedisServer, emulator: EmulatorServer
) -> None:
    state = emulator.state
    directory_id, users, group = _directory_with_people(state)
    wait_converged(service, state, directory_id)
    _quiesce(service)

    service.stop_worker()
    redis_server.flushall()  # leftovers of the stopped worker (sweeps, kombu bookkeeping)
    emulator.dispatcher.reset_stats()
    produced = _mutate(state, directory_id, users, group)
    stats = wait_webhooks_delivered(service)
    assert stats["succeeded"] == produced and stats["failed"] == 0, stats
    assert _pending(service) == produced, service.describe()

    # The web process enqueued them: the messages sit in Redis (whatever the list)...
    def queued() -> bool:
        lists = redis_server.queued_messages()
        assert sum(lists.values()) >= produced, f"only {lists} in Redis, {produced} events"
        return True

    wait_for(queued, timeout=10, message="events queued in Redis")
    # ...and are lost.
    redis_server.flushall()
    assert redis_server.queued_messages() == {}

    service.start_worker()
    wait_converged(service, state, directory_id)
    wait_inbox_settled(service)
    assert failed_events(service) == []


def test_webhook_is_answered_promptly_while_the_broker_is_down(
    service: Service, redis_server: RedisServer, emulator: EmulatorServer
) -> None:
    """Regression (fixed in 8031625): the receiver used to block ~6 s per webhook in the enqueue
    attempt (redis-py connection retries) while the broker was down."""
    state = emulator.state
    with state.silent():
        directory_id = state.seed(users=1, groups=0)["directory_ids"][0]
        user = next(iter(state.snapshot(directory_id)["users"].values()))
    event = {
        "id": "event_e2e_latency_0001",
        "event": "dsync.user.updated",
        "data": user,
        "created_at": user["updated_at"],
    }
    redis_server.stop()
    started = time.monotonic()
    statuses = deliver([event], service.webhook_url, WEBHOOK_SECRET, timeout=30)
    elapsed = time.monotonic() - started
    assert statuses == [200]
    assert elapsed < 2.0, f"webhook took {elapsed:.1f}s to answer with the broker down"
