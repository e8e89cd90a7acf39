"""Event processing: every dsync.* type, order- and duplicate-proof, and resync interleaving.

Events are produced by the emulator's own mutations and go through the same path a webhook
takes after the receiver: ``record_event`` into the inbox, then ``process_event``.
"""

from __future__ import annotations

import random

from click.testing import CliRunner
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from emulator import EmulatorState
from tests.support import assert_mirror_matches, changes, mirror_snapshot
from worker import runtime
from worker.cli import cli
from worker.db import make_engine, make_session_factory, transaction
from worker.inbox import process_event, record_event
from worker.models import Base, Directory, SyncRun, WebhookEvent
from worker.resync import Resyncer, create_run


def deliver(factory, events) -> list[str]:
    statuses = []
    for event in events:
        with transaction(factory) as session:
            record_event(session, event)
        statuses.append(process_event(factory, event["id"], max_attempts=3).status)
    return statuses


def new_directory(state: EmulatorState) -> str:
    org = state.create_organization("Acme", domains=("acme.test",))
    return state.create_directory(org["id"], "Acme Okta")["id"]


def test_every_event_type_converges(factory):
    state = EmulatorState()
    directory_id = new_directory(state)
    doomed_directory = new_directory(state)
    alice = state.create_user(directory_id, email="alice@acme.test", first_name="Alice")
    bob = state.create_user(directory_id, email="bob@acme.test", first_name="Bob")
    carol = state.create_user(directory_id, email="carol@acme.test")
    eng = state.create_group(directory_id, "Engineering")
    ops = state.create_group(directory_id, "Ops")
    state.add_member(eng["id"], alice["id"])
    state.add_member(eng["id"], bob["id"])
    state.add_member(ops["id"], bob["id"])
    state.add_member(ops["id"], carol["id"])
    state.update_user(alice["id"], last_name="Smith", role="admin")
    state.update_user(bob["id"], state="suspended")  # deprovisioning as a state change
    state.update_user(carol["id"], state="inactive")
    state.update_group(eng["id"], name="Platform Engineering")
    state.remove_member(eng["id"], alice["id"])
    state.delete_user(carol["id"])
    state.delete_group(ops["id"])
    gone = state.create_user(doomed_directory, email="gone@acme.test")
    state.add_member(state.create_group(doomed_directory, "Temp")["id"], gone["id"])
    state.delete_directory(doomed_directory)
    events = state.events_since(limit=None)
    kinds = {e["event"] for e in events}
    assert kinds == {
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
    assert set(deliver(factory, events)) == {"processed"}
    assert_mirror_matches(factory, state, directory_id)
    snap = mirror_snapshot(factory, doomed_directory)
    assert snap == {"users": {}, "groups": {}, "memberships": set()}
    with factory() as session:
        directory = session.get(Directory, directory_id)
        assert directory.state == "linked"  # events say "active": stored in REST vocabulary
        assert session.get(Directory, doomed_directory) is None
        assert mirror_snapshot(factory, directory_id)["users"][bob["id"]]["state"] == "suspended"
        # dsync.activated asked for a full resync of each new directory.
        runs = session.scalars(select(SyncRun).where(SyncRun.trigger == "event")).all()
        assert {r.directory_id for r in runs} == {directory_id, doomed_directory}
    # Replaying the whole history again changes nothing.
    before = len(changes(factory))
    deliver(factory, [{**e, "id": e["id"] + "_again"} for e in events])
    assert len(changes(factory)) == before
    assert_mirror_matches(factory, state, directory_id)


def test_change_feed_has_one_row_per_real_change(factory):
    state = EmulatorState()
    directory_id = new_directory(state)
    user = state.create_user(directory_id, email="a@acme.test")
    group = state.create_group(directory_id, "G")
    state.add_member(group["id"], user["id"])
    state.update_user(user["id"], first_name="A")
    state.delete_user(user["id"])
    events = state.events_since(limit=None)
    deliver(factory, events + events)  # duplicates (same ids) are recorded once
    feed = [(c.kind, c.action, c.object_id) for c in changes(factory)]
    assert feed == [
        ("directory", "created", directory_id),
        ("user", "created", user["id"]),
        ("group", "created", group["id"]),
        ("membership", "created", group["id"]),
        ("user", "updated", user["id"]),
        ("membership", "deleted", group["id"]),
        ("user", "deleted", user["id"]),
    ]
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(WebhookEvent)) == len(events)


def test_out_of_order_membership_before_user_created(factory):
    state = EmulatorState()
    directory_id = new_directory(state)
    user = state.create_user(directory_id, email="late@acme.test")
    group = state.create_group(directory_id, "G")
    state.add_member(group["id"], user["id"])
    events = state.events_since(limit=None)
    deliver(factory, list(reversed(events)))
    assert_mirror_matches(factory, state, directory_id)


def test_membership_add_remove_add_in_any_order(factory):
    state = EmulatorState()
    directory_id = new_directory(state)
    user = state.create_user(directory_id, email="a@acme.test")
    group = state.create_group(directory_id, "G")
    start = len(state.events_since(limit=None))
    state.add_member(group["id"], user["id"])
    state.remove_member(group["id"], user["id"])
    state.add_member(group["id"], user["id"])
    history = state.events_since(limit=None)
    add1, remove2, add3 = history[start:]
    deliver(factory, [*history[:start], add1, add3, remove2, add1])
    assert_mirror_matches(factory, state, directory_id)


def test_unusable_payload_is_dead_lettered_and_replayable(factory, database_url, monkeypatch):
    event = {"id": "event_bad", "event": "dsync.user.created", "data": {"object": "directory_user"}}
    assert deliver(factory, [event]) == ["failed"]
    with factory() as session:
        row = session.get(WebhookEvent, "event_bad")
        assert row.status == "failed" and "names no directory" in row.last_error
    # A good event that was dead-lettered (say the database was down for all its retries).
    state = EmulatorState()
    directory_id = new_directory(state)
    good = state.create_user(directory_id, email="ok@acme.test")
    good_event = state.events_since(limit=None)[-1]
    with transaction(factory) as session:
        record_event(session, good_event)
        session.get(WebhookEvent, good_event["id"]).status = "failed"
    monkeypatch.setenv("DATABASE_URL", database_url)
    runtime.reset()
    try:
        result = CliRunner().invoke(cli, ["replay", "--failed", "--inline"])
    finally:
        runtime.reset()
    assert result.exit_code == 1, result.output  # the bad one fails again, loudly
    assert f"{good_event['id']}: processed" in result.output
    assert "event_bad: failed" in result.output
    assert good["id"] in mirror_snapshot(factory, directory_id)["users"]


# -- property: any delivery order, any duplicates, same mirror ---------------------------

OPS = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "create_user",
                "update_user",
                "suspend_user",
                "delete_user",
                "create_group",
                "update_group",
                "delete_group",
                "add_member",
                "remove_member",
            ]
        ),
        st.integers(0, 2),  # a small universe makes re-adds and races on one edge likely
        st.integers(0, 2),
    ),
    min_size=1,
    max_size=30,
)


def run_history(ops) -> tuple[EmulatorState, str]:
    state = EmulatorState()
    directory_id = new_directory(state)
    users: list[str] = []
    groups: list[str] = []
    for n, (op, a, b) in enumerate(ops):
        live_users = [u for u in users if state.get("directory_user", u)]
        live_groups = [g for g in groups if state.get("directory_group", g)]
        if op == "create_user" or (op.endswith("_user") and not live_users):
            users.append(state.create_user(directory_id, email=f"u{n}@acme.test")["id"])
        elif op == "update_user":
            state.update_user(live_users[a % len(live_users)], first_name=f"F{n}")
        elif op == "suspend_user":
            state.update_user(live_users[a % len(live_users)], state="suspended")
        elif op == "delete_user":
            state.delete_user(live_users[a % len(live_users)])
        elif op == "create_group" or not live_groups:
            groups.append(state.create_group(directory_id, f"G{n}")["id"])
        elif op == "update_group":
            state.update_group(live_groups[a % len(live_groups)], name=f"G{n}")
        elif op == "delete_group":
            state.delete_group(live_groups[a % len(live_groups)])
        elif live_users:
            group = live_groups[a % len(live_groups)]
            user = live_users[b % len(live_users)]
            if op == "add_member":
                state.add_member(group, user)
            else:
                state.remove_member(group, user)
    return state, directory_id


def _reset(factory) -> None:
    with transaction(factory) as session:
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(table.delete())


def check_any_order(database_url: str, ops, seed: int, duplicate_share: float) -> None:
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    try:
        _reset(factory)
        state, directory_id = run_history(ops)
        events = state.events_since(limit=None)
        rng = random.Random(seed)
        delivery = events + [e for e in events if rng.random() < duplicate_share]
        rng.shuffle(delivery)
        deliver(factory, delivery)
        assert_mirror_matches(factory, state, directory_id)
        shuffled = mirror_snapshot(factory, directory_id)
        # The in-order delivery gives the very same mirror.
        _reset(factory)
        deliver(factory, events)
        assert mirror_snapshot(factory, directory_id) == shuffled
    finally:
        engine.dispose()


PROPERTY = hyp_settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@PROPERTY
@given(ops=OPS, seed=st.integers(0, 2**32), duplicate_share=st.sampled_from([0.0, 0.3, 1.0]))
def test_any_delivery_order_with_duplicates_gives_the_same_mirror(
    database_url, ops, seed, duplicate_share
):
    check_any_order(database_url, ops, seed, duplicate_share)


# -- events and a resync running at the same time ----------------------------------------


def test_resync_interleaved_with_webhook_deletes_and_updates_ends_exact(
    emulator, client, factory, settings
):
    state = emulator.state
    directory_id = state.seed(users=250, groups=6, memberships_per_user=2)["directory_ids"][0]
    real_users = client.users
    done: list[str] = []

    def users_with_races(**kwargs):
        for number, page in enumerate(real_users(**kwargs)):
            if kwargs.get("directory") and number == 1 and not done:
                # The resync holds page 2 in memory and has not written it. Webhooks now
                # delete one of its users, update another, and touch users it has written.
                read_then_deleted, read_then_updated = page[0]["id"], page[1]["id"]
                written = state.list_users(directory_id)[0]["id"]
                start = len(state.events_since(limit=None))
                state.delete_user(read_then_deleted)
                state.update_user(read_then_updated, last_name="Newer", state="inactive")
                state.update_user(written, first_name="Changed")
                fresh = state.create_user(directory_id, email="fresh@acme-1.test")
                group = state.list_groups(directory_id)[0]["id"]
                state.add_member(group, fresh["id"])
                state.remove_member(group, state.members(group)[0])
                deliver(factory, state.events_since(limit=None)[start:])
                done.append(read_then_deleted)
            yield page  # the stale page 2 is written after the events

    client.users = users_with_races
    run_id = create_run(factory, scope="directory", trigger="test", directory_id=directory_id)
    Resyncer(factory, client, settings).run_directory(run_id)
    assert done, "the race was not staged"
    with factory() as session:
        assert session.get(SyncRun, run_id).status == "succeeded"
    assert done[0] not in mirror_snapshot(factory, directory_id)["users"]
    assert_mirror_matches(factory, state, directory_id)
