"""REST semantics: pagination, filters, errors, auth, rate limits, faults, events encodings."""

from __future__ import annotations

import time

import pytest
import requests

from emulator import EmulatorState
from emulator.state import format_ms


@pytest.fixture
def seeded(state: EmulatorState, server):
    ids = state.seed(users=25, groups=4, record_events=True)
    return ids["directory_ids"][0]


def _all_ids(api, path, **params):
    out, after = [], None
    while True:
        body = api.get(path, **params, **({"after": after} if after else {})).json()
        out += [o["id"] for o in body["data"]]
        after = body["list_metadata"]["after"]
        if not after:
            return out


def test_pagination_desc_asc_before_after(api, state, seeded):
    ids = [u["id"] for u in state.list_users(seeded)]
    assert ids == sorted(ids)  # creation order == id order

    first = api.get("/directory_users", directory=seeded, limit=10).json()
    assert [u["id"] for u in first["data"]] == ids[::-1][:10]
    assert first["list_metadata"] == {"before": None, "after": ids[-10]}
    second = api.get("/directory_users", directory=seeded, limit=10, after=ids[-10]).json()
    assert [u["id"] for u in second["data"]] == ids[::-1][10:20]
    assert second["list_metadata"] == {"before": ids[-11], "after": ids[-20]}
    back = api.get("/directory_users", directory=seeded, limit=10, before=ids[-11]).json()
    assert [u["id"] for u in back["data"]] == ids[::-1][:10]
    assert back["list_metadata"]["before"] is None
    last = api.get("/directory_users", directory=seeded, limit=10, after=ids[-20]).json()
    assert [u["id"] for u in last["data"]] == ids[::-1][20:]
    assert last["list_metadata"]["after"] is None

    asc = api.get("/directory_users", directory=seeded, limit=10, order="asc").json()
    assert [u["id"] for u in asc["data"]] == ids[:10]
    assert asc["list_metadata"] == {"before": None, "after": ids[9]}
    asc2 = api.get("/directory_users", directory=seeded, order="asc", after=ids[9]).json()
    assert [u["id"] for u in asc2["data"]] == ids[10:20]
    asc_back = api.get("/directory_users", directory=seeded, order="asc", before=ids[10]).json()
    assert [u["id"] for u in asc_back["data"]] == ids[:10]

    normal = api.get("/directory_users", directory=seeded, order="normal", limit=5).json()
    assert [u["id"] for u in normal["data"]] == ids[::-1][:5]
    assert normal["list_metadata"] == {"before": ids[-5], "after": None}
    older = api.get("/directory_users", directory=seeded, order="normal", before=ids[-5]).json()
    assert [u["id"] for u in older["data"]] == ids[::-1][5:15]

    assert sorted(_all_ids(api, "/directory_users", directory=seeded, limit=7)) == ids
    assert _all_ids(api, "/directory_users", directory=seeded, order="asc", limit=7) == ids


def test_cursor_of_deleted_object_still_pages(api, state, seeded):
    ids = [u["id"] for u in state.list_users(seeded)]
    state.delete_user(ids[-10])
    page = api.get("/directory_users", directory=seeded, limit=3, after=ids[-10]).json()
    assert [u["id"] for u in page["data"]] == [ids[-11], ids[-12], ids[-13]]
    unknown = api.get("/directory_users", directory=seeded, after="directory_user_zzz").json()
    assert unknown["data"] and unknown["list_metadata"]["before"] is None


@pytest.mark.parametrize("limit", ["0", "101", "abc", "-1"])
def test_limit_bounds(api, seeded, limit):
    r = api.get("/directory_users", directory=seeded, limit=limit)
    assert r.status_code == 422 and "limit" in r.json()["message"]
    assert api.get("/events", limit=limit).status_code == 422


def test_limit_edges_and_bad_order(api, seeded):
    assert len(api.get("/directory_users", directory=seeded, limit=1).json()["data"]) == 1
    assert len(api.get("/directory_users", directory=seeded, limit=100).json()["data"]) == 25
    assert len(api.get("/directory_users", directory=seeded).json()["data"]) == 10
    assert api.get("/directory_users", directory=seeded, order="sideways").status_code == 422


def test_filters(api, state, seeded):
    groups = state.list_groups(seeded)
    g = groups[0]
    members = api.get("/directory_users", group=g["id"], limit=100).json()["data"]
    assert {u["id"] for u in members} == set(state.members(g["id"]))
    alias = api.get("/directory_users", group_id=g["id"], limit=100).json()["data"]
    assert alias == members
    by_dir_alias = api.get("/directory_users", directory_id=seeded, limit=100).json()["data"]
    assert len(by_dir_alias) == 25
    u = state.list_users(seeded)[3]
    ug = api.get("/directory_groups", user=u["id"]).json()["data"]
    assert {x["id"] for x in ug} == set(state.groups_of(u["id"]))
    assert len(api.get("/directory_groups", directory=seeded).json()["data"]) == 4
    by_email = api.get("/directory_users", directory=seeded, email=u["email"]).json()["data"]
    assert [x["id"] for x in by_email] == [u["id"]]
    by_idp = api.get("/directory_users", directory=seeded, idp_id=u["idp_id"]).json()["data"]
    assert [x["id"] for x in by_idp] == [u["id"]]
    assert api.get("/directory_users").status_code == 422
    assert api.get("/directory_groups").status_code == 422
    org = state.list_organizations()[0]
    dom = org["domains"][0]["domain"]
    assert len(api.get("/organizations", domains=dom).json()["data"]) == 1
    assert len(api.get("/organizations", **{"domains[]": dom}).json()["data"]) == 1
    assert api.get("/organizations", domains="nope.test").json()["data"] == []
    assert len(api.get("/directories", organization_id=org["id"]).json()["data"]) == 1
    assert api.get("/directories", organization_id="org_x").json()["data"] == []
    assert len(api.get("/directories", search="okta").json()["data"]) == 1
    assert api.get("/directories", search="azure").json()["data"] == []


def test_object_shapes(api, state, seeded):
    user = api.get("/directory_users", directory=seeded, limit=1).json()["data"][0]
    assert list(user) == [
        "object", "id", "directory_id", "organization_id", "idp_id", "email", "first_name",
        "last_name", "name", "state", "custom_attributes", "raw_attributes", "emails",
        "job_title", "username", "role", "roles", "created_at", "updated_at", "groups",
    ]  # fmt: skip
    assert user["groups"] == [] and user["raw_attributes"] == {} and user["emails"] == []
    assert user["role"] == {"slug": user["roles"][0]["slug"]}
    d = api.get(f"/directories/{seeded}").json()
    assert d["object"] == "directory" and d["state"] == "linked"
    assert d["metadata"]["groups"] == 4
    assert sum(d["metadata"]["users"].values()) == 25
    assert len(d["created_at"]) == 24 and d["created_at"].endswith("Z")
    g = api.get("/directory_groups", directory=seeded, limit=1).json()["data"][0]
    assert set(g) == {
        "object", "id", "idp_id", "directory_id", "organization_id", "name", "raw_attributes",
        "created_at", "updated_at",
    }  # fmt: skip
    org = api.get("/organizations").json()["data"][0]
    assert org["external_id"] is None and org["metadata"] == {}
    assert org["domains"][0]["object"] == "organization_domain"


def test_not_found_and_auth(api, server, seeded):
    for path in (
        "/directory_users/directory_user_nope",
        "/directory_groups/directory_group_nope",
        "/directories/directory_nope",
        "/organizations/org_nope",
    ):
        r = api.get(path)
        assert r.status_code == 404
        assert r.json()["code"] == "entity_not_found"
        assert r.json()["message"].endswith("not found")
    assert api.get("/directory_users", directory="directory_nope").status_code == 404
    assert api.raw("DELETE", "/directories/directory_nope").status_code == 404
    for headers in ({}, {"Authorization": "Bearer sk_wrong"}, {"Authorization": "sk_test_dirsync"}):
        r = requests.get(f"{server.base_url}/directories", headers=headers, timeout=5)
        assert r.status_code == 401 and r.json() == {"message": "Unauthorized"}
    assert requests.get(f"{server.base_url}/health", timeout=5).status_code == 200


def test_delete_directory_rest(api, state, seeded):
    r = api.raw("DELETE", f"/directories/{seeded}")
    assert r.status_code == 202
    assert state.get("directory", seeded) is None
    assert state.counts()["users"] == 0 and state.counts()["memberships"] == 0
    ev = api.get("/events", events="dsync.deleted").json()["data"]
    assert len(ev) == 1 and ev[0]["data"]["state"] == "deleting"


def test_events_filters_and_encodings(api, state, seeded):
    total = state.event_count()
    assert total == 1 + 4 + 25 + 50
    expected_users = 25
    base = "/events"
    for params in (
        {"events": "dsync.user.created"},
        {"events[]": "dsync.user.created"},
    ):
        r = api.get(base, limit=100, **params).json()
        assert len(r["data"]) == expected_users
        assert set(r["list_metadata"]) == {"after"}
    both = api.get(base, limit=100, events="dsync.user.created,dsync.group.created").json()
    assert len(both["data"]) == 29
    rep = api.session.get(
        api.base_url + "/events?limit=100&events=dsync.user.created&events=dsync.group.created",
        timeout=5,
    ).json()
    assert rep["data"] == both["data"]
    arr = api.session.get(
        api.base_url + "/events?limit=100&events[]=dsync.user.created&events[]=dsync.group.created",
        timeout=5,
    ).json()
    assert arr["data"] == both["data"]
    # paging, ascending, after cursor
    page = api.get(base, limit=30).json()
    ids = [e["id"] for e in page["data"]]
    assert ids == sorted(ids) and page["list_metadata"]["after"] == ids[-1]
    rest = api.get(base, limit=100, after=ids[-1]).json()
    assert len(rest["data"]) == total - 30 and rest["list_metadata"]["after"] is None
    assert api.get(base, limit=100, order="desc").json()["data"][0]["id"] == ids[0]
    # organization and time range
    org = state.list_organizations()[0]["id"]
    assert len(api.get(base, limit=100, organization_id=org).json()["data"]) == 80
    assert api.get(base, organization_id="org_other").json()["data"] == []
    time.sleep(0.01)
    mark = state.now()
    user = state.list_users(seeded)[0]
    state.update_user(user["id"], first_name="Renamed")
    later = api.get(base, range_start=format_ms(int(mark.timestamp() * 1000))).json()["data"]
    assert [e["event"] for e in later] == ["dsync.user.updated"]
    assert later[0]["data"]["previous_attributes"] == {
        "first_name": user["first_name"],
        "name": user["name"],
    }
    before = api.get(base, limit=100, range_end=format_ms(int(mark.timestamp() * 1000)))
    assert len(before.json()["data"]) == total
    assert api.get(base, range_start="not-a-date").status_code == 422


def test_general_rate_limit(limited_server, make_api):
    limited_server.config.general_limit_per_minute = 5
    api = make_api(limited_server.base_url)
    codes = [api.get("/organizations").status_code for _ in range(7)]
    assert codes == [200] * 5 + [429] * 2
    r = api.get("/organizations")
    assert r.json() == {"message": "Too many requests", "code": "rate_limit_exceeded"}
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    stats = requests.get(limited_server.base_url + "/_emulator/stats", timeout=5).json()
    assert stats["rate_limited"] == 3


def test_directory_users_rate_limit(limited_server, make_api):
    state = limited_server.state
    ids = state.seed(organizations=1, directories=2, users=5, groups=2)
    d1, d2 = ids["directory_ids"]
    g1 = state.list_groups(d1)[0]["id"]
    api = make_api(limited_server.base_url)
    time.sleep(1.05)
    codes = [api.get("/directory_users", directory=d1).status_code for _ in range(4)]
    assert codes == [200] * 4
    r = api.get("/directory_users", group=g1)  # same directory through the group filter
    assert r.status_code == 429
    assert r.text == "Ratelimited"
    assert r.headers["Content-Type"].startswith("text/plain")
    assert r.headers["Retry-After"] == "1"
    assert api.get("/directory_users", directory=d2).status_code == 200  # per directory
    assert api.get("/directory_groups", directory=d1).status_code == 200  # other routes free
    time.sleep(1.05)
    assert api.get("/directory_users", directory=d1).status_code == 200
    limited_server.config.rate_limits = False
    assert all(api.get("/directory_users", directory=d1).status_code == 200 for _ in range(8))


def test_faults(api, server, seeded):
    cfg = server.config
    cfg.fail_next = 2
    assert [api.get("/directories").status_code for _ in range(3)] == [500, 500, 200]
    assert requests.get(server.base_url + "/_emulator/config", timeout=5).status_code == 200
    cfg.burst_429 = 2
    r = api.get("/directory_users", directory=seeded)
    assert r.status_code == 429 and r.text == "Ratelimited"
    r = api.get("/directories")
    assert r.status_code == 429 and r.json()["code"] == "rate_limit_exceeded"
    assert r.headers["Retry-After"] == "1"
    assert api.get("/directories").status_code == 200
    cfg.error_rate = 1.0
    assert api.get("/directories").status_code == 500
    assert requests.get(server.base_url + "/health", timeout=5).status_code == 200
    cfg.error_rate = 0.5
    codes = [api.get("/directories").status_code for _ in range(60)]
    assert 10 < codes.count(500) < 50
    cfg.error_rate = 0.0
    cfg.latency_ms = 150
    t = time.monotonic()
    assert api.get("/directories").status_code == 200
    assert time.monotonic() - t >= 0.15
    cfg.latency_ms = 400
    t = time.monotonic()
    requests.get(server.base_url + "/_emulator/stats", timeout=5)
    assert time.monotonic() - t < 0.3  # faults never touch control routes
    cfg.latency_ms = 0
