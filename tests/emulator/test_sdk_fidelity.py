"""The official WorkOS Python SDK (10.8) must parse everything the emulator serves."""

from __future__ import annotations

import time

import pytest
from workos import WorkOSClient

from emulator import EmulatorConfig, EmulatorServer, EmulatorState, sign
from emulator.webhooks import webhook_body

API_KEY = "sk_test_dirsync"


@pytest.fixture
def seeded_server():
    state = EmulatorState(random_seed=3)
    with EmulatorServer(state, EmulatorConfig(rate_limits=False)) as srv:
        ids = state.seed(organizations=2, directories=2, users=130, groups=7, record_events=True)
        yield srv, ids


@pytest.fixture
def client(seeded_server):
    srv, _ = seeded_server
    return WorkOSClient(api_key=API_KEY, base_url=srv.base_url, max_retries=0)


def test_directories_and_organizations(seeded_server, client):
    _srv, ids = seeded_server
    orgs = list(client.organizations.list_organizations(limit=1).auto_paging_iter())
    assert sorted(o.id for o in orgs) == sorted(ids["organization_ids"])
    for org in orgs:
        got = client.organizations.get_organization(org.id)
        assert got.id == org.id
        assert got.domains[0].domain.endswith(".test")
    dirs = list(client.directory_sync.list_directories(limit=3).auto_paging_iter())
    assert sorted(d.id for d in dirs) == sorted(ids["directory_ids"])
    # default order is desc: newest first
    assert [d.id for d in dirs] == sorted(ids["directory_ids"], reverse=True)
    one_org = ids["organization_ids"][0]
    scoped = list(
        client.directory_sync.list_directories(organization_id=one_org).auto_paging_iter()
    )
    assert len(scoped) == 2 and all(d.organization_id == one_org for d in scoped)
    d = client.directory_sync.get_directory(dirs[0].id)
    assert d.state.value == "linked"
    assert d.metadata.users.active + d.metadata.users.inactive == 130
    assert d.metadata.groups == 7


def test_users_and_groups_all_pages(seeded_server, client):
    srv, ids = seeded_server
    for did in ids["directory_ids"]:
        users = list(client.directory_sync.list_users(directory=did, limit=9).auto_paging_iter())
        expected = srv.state.list_users(did)
        assert len(users) == len(expected) == 130
        assert {u.id for u in users} == {u["id"] for u in expected}
        assert all(u.groups == [] for u in users)
        groups = list(client.directory_sync.list_groups(directory=did, limit=2).auto_paging_iter())
        assert {g.id for g in groups} == {g["id"] for g in srv.state.list_groups(did)}
        total_members = 0
        for g in groups:
            got = client.directory_sync.get_group(g.id)
            assert got.name == g.name
            members = list(
                client.directory_sync.list_users(group=g.id, limit=25).auto_paging_iter()
            )
            assert [m.id for m in members] == sorted(srv.state.members(g.id), reverse=True)
            total_members += len(members)
        assert total_members == 130 * 2
        u = client.directory_sync.get_user(users[5].id)
        assert u.email == users[5].email and u.groups == []
        user_groups = list(client.directory_sync.list_groups(user=u.id).auto_paging_iter())
        assert {g.id for g in user_groups} == set(srv.state.groups_of(u.id))


def test_groups_on_users_flag(seeded_server, client):
    srv, ids = seeded_server
    srv.config.groups_on_users = True
    did = ids["directory_ids"][0]
    page = client.directory_sync.list_users(directory=did, limit=5)
    for u in page.data:
        assert {g.id for g in u.groups} == set(srv.state.groups_of(u.id))
        assert len(u.groups) == 2
    one = client.directory_sync.get_user(page.data[0].id)
    assert len(one.groups) == 2


def test_events_parse_and_count(seeded_server, client):
    srv, _ = seeded_server
    srv.state.update_user(
        srv.state.list_users(srv.state.list_directories()[0]["id"])[0]["id"], state="suspended"
    )
    all_types = [
        "dsync.activated", "dsync.user.created", "dsync.user.updated",
        "dsync.group.created", "dsync.group.user_added",
    ]  # fmt: skip
    events = list(client.events.list_events(events=all_types, limit=100).auto_paging_iter())
    assert len(events) == srv.state.event_count()
    assert [e.id for e in events] == sorted(e.id for e in events)  # ascending
    kinds = {type(e).__name__ for e in events}
    assert "EventSchemaUnknown" not in kinds
    updated = [e for e in events if e.event == "dsync.user.updated"]
    assert updated[0].data.previous_attributes == {"state": "active"}
    users_only = list(
        client.events.list_events(events=["dsync.user.created"], limit=37).auto_paging_iter()
    )
    assert len(users_only) == 4 * 130


def test_delete_directory_via_sdk(seeded_server, client):
    srv, ids = seeded_server
    did = ids["directory_ids"][0]
    client.directory_sync.delete_directory(did)
    assert srv.state.get("directory", did) is None
    deleted = client.events.list_events(events=["dsync.deleted"]).data
    assert len(deleted) == 1 and deleted[0].data.id == did


def test_sdk_accepts_emulator_signature(seeded_server, client):
    srv, _ = seeded_server
    event = srv.state.events_since(limit=1)[0]
    body = webhook_body(event)
    header = sign("whsec_test", body)
    client.webhooks.verify_header(event_body=body, event_signature=header, secret="whsec_test")
    parsed = client.webhooks.verify_event(
        event_body=body, event_signature=header, secret="whsec_test"
    )
    assert parsed.id == event["id"] and parsed.event == "dsync.activated"
    with pytest.raises(ValueError):
        client.webhooks.verify_header(event_body=body, event_signature=header, secret="other")
    old = sign("whsec_test", body, timestamp_ms=int(time.time() * 1000) - 600_000)
    with pytest.raises(ValueError):
        client.webhooks.verify_header(event_body=body, event_signature=old, secret="whsec_test")
