"""EmulatorState: ids, clock, events per mutation, cascades, silent(), seed, thread safety."""

from __future__ import annotations

import itertools
import re
import threading
import time

import pytest

from emulator import EmulatorState

ULID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


@pytest.fixture
def d(state: EmulatorState) -> str:
    org = state.create_organization("Acme", domains=["acme.test"])
    return state.create_directory(org["id"], "Acme Okta")["id"]


def test_ids_are_prefixed_monotonic_ulids(state):
    prefixes = ["org", "org_domain", "directory", "directory_user", "directory_group", "event"]
    ids = [state.new_id(p) for p in prefixes * 500]
    for p, i in zip(prefixes * 500, ids, strict=True):
        assert i.startswith(p + "_") and ULID.match(i[len(p) + 1 :])
    users = [i for i in ids if i.startswith("directory_user_")]
    assert users == sorted(users) and len(set(users)) == len(users)


def test_clock_strictly_increases(state):
    stamps = [state.now() for _ in range(2000)]
    assert all(a < b for a, b in itertools.pairwise(stamps))
    assert stamps[0].tzinfo is not None
    assert abs(stamps[0].timestamp() - time.time()) < 5


def test_each_mutation_records_one_event(state, d):
    start = state.event_count()
    assert start == 1  # dsync.activated
    activated = state.events_since()[0]
    assert activated["event"] == "dsync.activated"
    assert activated["data"]["state"] == "active"
    assert activated["data"]["domains"][0]["domain"] == "acme.test"
    assert "metadata" not in activated["data"] and "domain" not in activated["data"]

    u = state.create_user(d, email="a@acme.test", first_name="A", last_name="B")
    g = state.create_group(d, "Eng")
    assert state.add_member(g["id"], u["id"]) is True
    assert state.add_member(g["id"], u["id"]) is False  # no-op, no event
    u2 = state.update_user(u["id"], state="suspended", role="admin")
    assert u2["role"] == {"slug": "admin"} and u2["roles"] == [{"slug": "admin"}]
    assert u2["updated_at"] > u["updated_at"]
    state.update_group(g["id"], name="Engineering")
    assert state.remove_member(g["id"], u["id"]) is True
    assert state.remove_member(g["id"], u["id"]) is False
    events = state.events_since(after_id=activated["id"])
    assert [e["event"] for e in events] == [
        "dsync.user.created",
        "dsync.group.created",
        "dsync.group.user_added",
        "dsync.user.updated",
        "dsync.group.updated",
        "dsync.group.user_removed",
    ]
    assert "groups" not in events[0]["data"]
    added = events[2]["data"]
    assert set(added) == {"directory_id", "user", "group"} and added["directory_id"] == d
    assert events[3]["data"]["previous_attributes"] == {
        "state": "active",
        "role": {"slug": "member"},
        "roles": [{"slug": "member"}],
    }
    assert events[4]["data"]["previous_attributes"] == {"name": "Eng"}
    created = [e["created_at"] for e in state.events_since()]
    assert created == sorted(created) and len(set(created)) == len(created)
    assert events[3]["created_at"] == u2["updated_at"]
    # stored event data is a snapshot, not a live reference
    state.update_user(u["id"], email="changed@acme.test")
    assert state.events_since(after_id=activated["id"])[0]["data"]["email"] == "a@acme.test"


def test_delete_user_and_group_cascade_without_extra_events(state, d):
    u = state.create_user(d, email="x@acme.test")
    g1, g2 = state.create_group(d, "G1"), state.create_group(d, "G2")
    state.add_member(g1["id"], u["id"])
    state.add_member(g2["id"], u["id"])
    mark = state.events_since(limit=None)[-1]["id"]
    deleted = state.delete_user(u["id"])
    assert deleted["updated_at"] > u["updated_at"]
    assert state.members(g1["id"]) == [] and state.get("user", u["id"]) is None
    assert [e["event"] for e in state.events_since(after_id=mark)] == ["dsync.user.deleted"]
    u3 = state.create_user(d, email="y@acme.test")
    state.add_member(g1["id"], u3["id"])
    mark = state.events_since(limit=None)[-1]["id"]
    state.delete_group(g1["id"])
    assert state.groups_of(u3["id"]) == []
    assert [e["event"] for e in state.events_since(after_id=mark)] == ["dsync.group.deleted"]


def test_delete_directory_cascades_with_one_event(state, d):
    state.seed(users=0, groups=0)  # another directory that must survive
    other = state.list_directories()[-1]["id"]
    other_user = state.create_user(other, email="keep@acme.test")
    for i in range(5):
        u = state.create_user(d, email=f"u{i}@acme.test")
        g = state.create_group(d, f"g{i}")
        state.add_member(g["id"], u["id"])
    mark = state.events_since(limit=None)[-1]["id"]
    data = state.delete_directory(d)
    events = state.events_since(after_id=mark)
    assert [e["event"] for e in events] == ["dsync.deleted"]
    assert data["state"] == "deleting" and "external_key" not in data and "domains" not in data
    assert state.snapshot(d) == {"users": {}, "groups": {}, "memberships": set()}
    assert state.get("directory", d) is None
    assert state.counts()["users"] == 1
    assert state.get("user", other_user["id"]) is not None


def test_silent_records_nothing(state, d):
    before = state.event_count()
    with state.silent():
        u = state.create_user(d, email="drift@acme.test")
        state.update_user(u["id"], state="inactive")
        g = state.create_group(d, "Quiet")
        state.add_member(g["id"], u["id"])
    assert state.event_count() == before
    snap = state.snapshot(d)
    assert snap["users"][u["id"]]["state"] == "inactive"
    assert snap["memberships"] == {(g["id"], u["id"])}
    state.update_user(u["id"], state="active")
    assert state.event_count() == before + 1


def test_directory_metadata_counts(state, d):
    a = state.create_user(d, email="a@x.test")
    state.create_user(d, email="b@x.test", state="suspended")
    state.create_group(d, "G")
    md = state.get("directory", d)["metadata"]
    assert md == {"users": {"active": 1, "inactive": 1}, "groups": 1}
    state.update_user(a["id"], state="inactive")
    assert state.get("directory", d)["metadata"]["users"] == {"active": 0, "inactive": 2}
    state.delete_user(a["id"])
    assert state.get("directory", d)["metadata"]["users"] == {"active": 0, "inactive": 1}


def test_returned_objects_are_copies(state, d):
    u = state.create_user(d, email="a@x.test", custom_attributes={"department": "Eng"})
    u["custom_attributes"]["department"] = "Hacked"
    got = state.get("user", u["id"])
    got["email"] = "nope"
    assert state.get("user", u["id"])["custom_attributes"] == {"department": "Eng"}
    assert state.get("user", u["id"])["email"] == "a@x.test"


def test_seed_is_deterministic_and_realistic():
    a, b = EmulatorState(), EmulatorState()
    ra, rb = a.seed(users=300, groups=12, seed=5), b.seed(users=300, groups=12, seed=5)
    ua = [
        (u["email"], u["state"], u["custom_attributes"])
        for u in a.list_users(ra["directory_ids"][0])
    ]
    ub = [
        (u["email"], u["state"], u["custom_attributes"])
        for u in b.list_users(rb["directory_ids"][0])
    ]
    assert ua == ub
    emails = [e for e, _, _ in ua]
    assert len(set(emails)) == 300
    assert all(re.match(r"^[a-z]+\.[a-z]+\d*@acme-1\.test$", e) for e in emails)
    states = {s for _, s, _ in ua}
    assert {"active", "inactive", "suspended"} <= states
    assert all("department" in c for _, _, c in ua)
    assert a.counts()["memberships"] == 600 and a.event_count() == 0
    assert len(a.list_groups(ra["directory_ids"][0])) == 12


def test_seed_with_events():
    s = EmulatorState()
    s.seed(users=10, groups=3, record_events=True)
    kinds = [e["event"] for e in s.events_since(limit=None)]
    assert kinds.count("dsync.activated") == 1
    assert kinds.count("dsync.group.created") == 3
    assert kinds.count("dsync.user.created") == 10
    assert kinds.count("dsync.group.user_added") == 20


def test_seed_100k_users_is_fast():
    s = EmulatorState()
    t = time.perf_counter()
    ids = s.seed(users=100_000, groups=20, memberships_per_user=2)
    elapsed = time.perf_counter() - t
    assert elapsed < 15, elapsed
    assert s.counts()["users"] == 100_000 and s.counts()["memberships"] == 200_000
    did = ids["directory_ids"][0]
    t = time.perf_counter()
    for _ in range(200):
        page, meta = s.page_users(directory_id=did, limit=100, order="desc", after=None)
    assert time.perf_counter() - t < 2  # O(page), not O(all users)
    assert len(page) == 100 and meta["after"]


def test_concurrent_mutations_are_consistent(state, d):
    groups = [state.create_group(d, f"g{i}")["id"] for i in range(4)]
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(150):
                u = state.create_user(d, email=f"t{n}-{i}@x.test")
                state.add_member(groups[i % 4], u["id"])
                if i % 3 == 0:
                    state.delete_user(u["id"])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    users = state.list_users(d)
    assert len(users) == 6 * 100
    ids = [u["id"] for u in users]
    assert ids == sorted(ids)
    events = state.events_since(limit=None)
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)
    assert len(events) == 1 + 4 + 6 * (150 + 150 + 50)
    snap = state.snapshot(d)
    assert all(u in snap["users"] for _, u in snap["memberships"])
