"""WorkOSClient against the emulator on a real socket: pagination, typed errors, retries,
Retry-After handling, backoff, and per-directory pacing end to end.

Sleeps are recorded (``sleep=sleeps.append``) wherever the test is about *which* delays the
client chooses, so those tests run without waiting. The pacing test uses real sleeps because
it measures what the emulator's rate limiter sees.
"""

from __future__ import annotations

import email.utils
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
import requests

from emulator import EmulatorServer
from worker.workos_client import (
    AuthenticationError,
    NotFoundError,
    TransientError,
    WorkOSClient,
    WorkOSError,
    parse_retry_after,
    parse_time,
)

WRONG_KEY = "sk_test_wrong_but_plausible_key_9f3a"


def stats(server: EmulatorServer) -> dict:
    resp = requests.get(server.base_url + "/_emulator/stats", timeout=5)
    resp.raise_for_status()
    return resp.json()


def reset_stats(server: EmulatorServer) -> None:
    requests.post(server.base_url + "/_emulator/stats/reset", timeout=5).raise_for_status()


def make_client(
    server: EmulatorServer, sleeps: list[float] | None = None, **kwargs
) -> WorkOSClient:
    """A client for the emulator; pacing is effectively off unless a test turns it on."""
    options = {
        "max_retries": 3,
        "backoff_base": 0.01,
        "backoff_cap": 0.05,
        "requests_per_minute": 600_000,
        "directory_users_per_second": 1000,
        **kwargs,
    }
    if sleeps is not None:
        options["sleep"] = sleeps.append
    return WorkOSClient(server.config.api_key, server.base_url, **options)


# -- pagination ------------------------------------------------------------------------------


def test_pages_follow_after_cursor_through_every_page(emulator: EmulatorServer) -> None:
    directory_id = emulator.state.seed(users=250, groups=0)["directory_ids"][0]
    client = make_client(emulator)

    pages = list(client.users(directory=directory_id))

    assert [len(p) for p in pages] == [100, 100, 50]
    ids = [u["id"] for page in pages for u in page]
    assert len(ids) == len(set(ids)), "a user was returned twice"
    expected = [u["id"] for u in emulator.state.list_users(directory_id)]
    assert set(ids) == set(expected)
    assert ids == sorted(ids), "order=asc pages must come oldest first"
    assert all(u["directory_id"] == directory_id for u in (u for p in pages for u in p))
    # The last page carries after=null, so no empty fourth request is made.
    assert client.request_count == 3
    assert stats(emulator)["requests"]["by_route_status"] == {"GET /directory_users 200": 3}


def test_pages_on_an_exact_page_boundary_stop_without_duplicates(emulator: EmulatorServer) -> None:
    directory_id = emulator.state.seed(users=200, groups=0)["directory_ids"][0]
    client = make_client(emulator)

    ids = [u["id"] for page in client.users(directory=directory_id) for u in page]

    assert len(ids) == 200
    assert set(ids) == {u["id"] for u in emulator.state.list_users(directory_id)}
    assert client.request_count <= 3


def test_pages_of_an_empty_list_yield_nothing(emulator: EmulatorServer) -> None:
    directory_id = emulator.state.seed(users=0, groups=0)["directory_ids"][0]
    client = make_client(emulator)

    assert list(client.users(directory=directory_id)) == []
    assert list(client.groups(directory=directory_id)) == []


def test_users_of_a_group_are_exactly_its_members(emulator: EmulatorServer) -> None:
    seeded = emulator.state.seed(users=400, groups=4, memberships_per_user=2)
    directory_id = seeded["directory_ids"][0]
    groups = [g["id"] for g in emulator.state.list_groups(directory_id)]
    client = make_client(emulator)

    page_counts = []
    for group_id in groups:
        pages = list(client.users(group=group_id, paced_as=directory_id))
        page_counts.append(len(pages))
        ids = [u["id"] for page in pages for u in page]
        assert len(ids) == len(set(ids)), f"duplicate member in {group_id}"
        assert set(ids) == set(emulator.state.members(group_id)), f"members of {group_id}"
    # ~200 members per group: the group listing itself spans several pages.
    assert max(page_counts) >= 2


def test_groups_organizations_and_directories_paginate(emulator: EmulatorServer) -> None:
    seeded = emulator.state.seed(organizations=3, directories=2, users=5, groups=120)
    client = make_client(emulator)

    orgs = [o["id"] for page in client.organizations() for o in page]
    assert sorted(orgs) == sorted(seeded["organization_ids"])

    dirs = [d["id"] for page in client.directories() for d in page]
    assert sorted(dirs) == sorted(seeded["directory_ids"])
    first_org = seeded["organization_ids"][0]
    in_org = [d for page in client.directories(organization_id=first_org) for d in page]
    assert len(in_org) == 2
    assert {d["organization_id"] for d in in_org} == {first_org}

    directory_id = seeded["directory_ids"][0]
    group_pages = list(client.groups(directory=directory_id))
    assert [len(p) for p in group_pages] == [100, 20]
    group_ids = [g["id"] for p in group_pages for g in p]
    assert set(group_ids) == {g["id"] for g in emulator.state.list_groups(directory_id)}
    assert len(group_ids) == len(set(group_ids))

    assert client.get_directory(directory_id)["id"] == directory_id


def test_events_returns_one_page_with_a_cursor(emulator: EmulatorServer) -> None:
    org = emulator.state.create_organization("Acme", domains=("acme.test",))
    directory_id = emulator.state.create_directory(org["id"], "Acme Okta")["id"]
    for i in range(5):
        emulator.state.create_user(directory_id, email=f"u{i}@acme.test")
    client = make_client(emulator)

    first = client.events(types=["dsync.user.created"], limit=3)
    assert len(first["data"]) == 3
    assert {e["event"] for e in first["data"]} == {"dsync.user.created"}
    cursor = first["list_metadata"]["after"]
    assert cursor
    rest = client.events(after=cursor, types=["dsync.user.created"], limit=3)
    assert len(rest["data"]) == 2
    seen = [e["id"] for e in first["data"] + rest["data"]]
    assert len(set(seen)) == 5


# -- typed errors ---------------------------------------------------------------------------


def test_wrong_key_fails_fast_with_one_request(emulator: EmulatorServer) -> None:
    directory_id = emulator.state.seed(users=3, groups=0)["directory_ids"][0]
    sleeps: list[float] = []
    client = WorkOSClient(WRONG_KEY, emulator.base_url, max_retries=5, sleep=sleeps.append)

    with pytest.raises(AuthenticationError) as caught:
        list(client.users(directory=directory_id))

    err = caught.value
    assert err.status == 401
    assert "WORKOS_API_KEY" in str(err)
    assert WRONG_KEY not in str(err)
    assert WRONG_KEY[-12:] not in str(err)
    assert WRONG_KEY not in repr(err)
    assert client.request_count == 1
    assert sleeps == []
    s = stats(emulator)
    assert s["requests"]["total"] == 1
    assert s["requests"]["by_status"] == {"401": 1}


def test_authentication_error_is_a_workos_error_not_transient(emulator: EmulatorServer) -> None:
    client = WorkOSClient(WRONG_KEY, emulator.base_url, sleep=lambda _s: None)
    with pytest.raises(WorkOSError) as caught:
        client.get_directory("directory_whatever")
    assert isinstance(caught.value, AuthenticationError)
    assert not isinstance(caught.value, TransientError)


def test_missing_directory_raises_not_found_after_one_request(emulator: EmulatorServer) -> None:
    emulator.state.seed(users=1, groups=0)
    sleeps: list[float] = []
    client = make_client(emulator, sleeps)

    with pytest.raises(NotFoundError) as caught:
        client.get_directory("directory_nope")

    assert caught.value.status == 404
    assert "directory_nope" in str(caught.value)
    assert client.request_count == 1
    assert sleeps == []
    assert stats(emulator)["requests"]["by_status"] == {"404": 1}


def test_validation_error_is_not_retried(emulator: EmulatorServer) -> None:
    client = make_client(emulator, [])
    with pytest.raises(WorkOSError) as caught:
        client.get("/directory_users", {"limit": 500, "directory": "directory_x"})
    assert caught.value.status == 422
    assert not isinstance(caught.value, TransientError | NotFoundError | AuthenticationError)
    assert client.request_count == 1


# -- 429 and Retry-After ---------------------------------------------------------------------


def test_429_honours_retry_after(emulator: EmulatorServer) -> None:
    directory_id = emulator.state.seed(users=30, groups=0)["directory_ids"][0]
    emulator.config.update(burst_429=2, retry_after_seconds=3)
    sleeps: list[float] = []
    client = make_client(emulator, sleeps, max_retries=4)

    pages = list(client.users(directory=directory_id))  # plain-text "Ratelimited" bodies

    assert sum(len(p) for p in pages) == 30
    assert client.request_count == 3
    assert stats(emulator)["requests"]["by_status"] == {"429": 2, "200": 1}
    honoured = [s for s in sleeps if s >= 3]
    assert len(honoured) == 2, sleeps
    assert all(3 <= s <= 3.25 for s in honoured), sleeps
    assert max(sleeps) <= 3.25


def test_429_json_body_on_other_endpoints_also_retried(emulator: EmulatorServer) -> None:
    directory_id = emulator.state.seed(users=1, groups=0)["directory_ids"][0]
    emulator.config.update(burst_429=1, retry_after_seconds=2)
    sleeps: list[float] = []
    client = make_client(emulator, sleeps)

    assert client.get_directory(directory_id)["id"] == directory_id
    assert client.request_count == 2
    assert len(sleeps) == 1 and 2 <= sleeps[0] <= 2.25


def test_retry_after_is_capped(emulator: EmulatorServer) -> None:
    directory_id = emulator.state.seed(users=5, groups=0)["directory_ids"][0]
    emulator.config.update(burst_429=2, retry_after_seconds=30)
    sleeps: list[float] = []
    client = make_client(emulator, sleeps, retry_after_cap=2)

    pages = list(client.users(directory=directory_id))

    assert sum(len(p) for p in pages) == 5
    assert stats(emulator)["rate_limited"] == 2
    assert len([s for s in sleeps if s >= 2]) == 2, sleeps
    assert all(s <= 2.25 for s in sleeps), sleeps


def test_plain_text_429_that_outlasts_retries_is_transient(emulator: EmulatorServer) -> None:
    directory_id = emulator.state.seed(users=5, groups=0)["directory_ids"][0]
    emulator.config.update(burst_429=10, retry_after_seconds=1)
    client = make_client(emulator, [], max_retries=2)

    with pytest.raises(TransientError) as caught:
        list(client.users(directory=directory_id))

    message = str(caught.value)
    assert "429" in message
    assert "Ratelimited" in message
    assert client.request_count == 3


# -- 5xx and backoff ------------------------------------------------------------------------


def test_server_errors_are_retried_until_success(emulator: EmulatorServer) -> None:
    directory_id = emulator.state.seed(users=1, groups=0)["directory_ids"][0]
    emulator.config.update(fail_next=2)
    sleeps: list[float] = []
    client = make_client(emulator, sleeps)

    assert client.get_directory(directory_id)["id"] == directory_id
    assert client.request_count == 3
    assert stats(emulator)["requests"]["by_status"] == {"500": 2, "200": 1}
    assert len(sleeps) == 2


def test_server_errors_exhaust_retry_budget(emulator: EmulatorServer) -> None:
    directory_id = emulator.state.seed(users=1, groups=0)["directory_ids"][0]
    emulator.config.update(fail_next=100)
    sleeps: list[float] = []
    client = make_client(emulator, sleeps, max_retries=2)

    with pytest.raises(TransientError) as caught:
        client.get_directory(directory_id)

    assert "500" in str(caught.value)
    assert "3 tries" in str(caught.value)
    assert client.request_count == 3
    assert stats(emulator)["requests"]["total"] == 3
    assert len(sleeps) == 2, "no sleep after the final attempt"


def test_backoff_grows_and_is_capped(emulator: EmulatorServer) -> None:
    directory_id = emulator.state.seed(users=1, groups=0)["directory_ids"][0]
    emulator.config.update(fail_next=100)
    sleeps: list[float] = []
    client = make_client(emulator, sleeps, max_retries=6, backoff_base=1.0, backoff_cap=4.0)

    with pytest.raises(TransientError):
        client.get_directory(directory_id)

    assert len(sleeps) == 6
    for attempt, delay in enumerate(sleeps):
        nominal = min(4.0, 1.0 * 2**attempt)
        assert 0.5 * nominal <= delay <= 1.5 * nominal, (attempt, sleeps)
    assert all(d <= 4.0 * 1.5 for d in sleeps)
    # Jitter is 0.5x..1.5x, so two doublings apart the ranges no longer overlap.
    assert sleeps[2] > sleeps[0]
    assert min(sleeps[2:]) > max(sleeps[:1])


def test_connection_refused_is_transient_after_all_tries() -> None:
    sleeps: list[float] = []
    client = WorkOSClient(
        "sk_test_dirsync",
        "http://127.0.0.1:1",
        max_retries=1,
        connect_timeout=1,
        read_timeout=1,
        sleep=sleeps.append,
    )

    with pytest.raises(TransientError) as caught:
        client.get("/directories")

    assert client.request_count == 2
    assert len(sleeps) == 1
    assert "2 tries" in str(caught.value)
    assert "ConnectionError" in str(caught.value)


# -- pacing end to end ----------------------------------------------------------------------


def test_default_pacing_avoids_429s_and_unpaced_client_recovers(emulator: EmulatorServer) -> None:
    seeded = emulator.state.seed(users=1150, groups=0, directories=2)
    paced_dir, unpaced_dir = seeded["directory_ids"]
    emulator.config.update(
        rate_limits=True, directory_users_per_second=4, general_limit_per_minute=6000
    )

    paced = WorkOSClient(emulator.config.api_key, emulator.base_url)  # 3.6/s per directory
    started = time.monotonic()
    pages = list(paced.users(directory=paced_dir))
    elapsed = time.monotonic() - started

    assert len(pages) == 12
    assert sum(len(p) for p in pages) == 1150
    s = stats(emulator)
    assert s["rate_limited"] == 0, s
    assert s["requests"]["total"] == paced.request_count == 12
    assert elapsed >= (12 - 1) / 3.6 - 0.01

    reset_stats(emulator)
    unpaced = WorkOSClient(
        emulator.config.api_key, emulator.base_url, directory_users_per_second=1000
    )
    pages = list(unpaced.users(directory=unpaced_dir))

    ids = [u["id"] for p in pages for u in p]
    assert len(ids) == len(set(ids)) == 1150
    s = stats(emulator)
    assert s["rate_limited"] > 0, s
    assert s["rate_limited_by_kind"].get("directory_users", 0) > 0
    assert s["requests"]["by_status"].get("200") == 12
    assert unpaced.request_count == 12 + s["rate_limited"]


def test_group_listing_is_paced_by_its_directory(emulator: EmulatorServer) -> None:
    """``paced_as`` charges group member listings to the group's directory budget."""
    directory_id = emulator.state.seed(users=20, groups=2)["directory_ids"][0]
    group_id = emulator.state.list_groups(directory_id)[0]["id"]
    sleeps: list[float] = []
    client = WorkOSClient(
        emulator.config.api_key,
        emulator.base_url,
        directory_users_per_second=4,
        sleep=sleeps.append,
    )

    for _ in range(3):
        list(client.users(group=group_id, paced_as=directory_id))
    list(client.users(directory=directory_id))

    # The recorder does not actually wait, so reservations pile up: 0, .25, .5, .75.
    assert len(sleeps) == 3, sleeps
    for expected, got in zip([0.25, 0.5, 0.75], sleeps, strict=True):
        assert expected - 0.05 <= got <= expected + 0.001


# -- parsing helpers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("3", 3.0), ("0", 0.0), ("1.5", 1.5), (" 7 ", 7.0), ("-4", 0.0)],
)
def test_parse_retry_after_seconds(value: str, expected: float) -> None:
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date() -> None:
    now = 1_770_000_000.0
    future = email.utils.formatdate(now + 10, usegmt=True)
    past = email.utils.formatdate(now - 120, usegmt=True)

    assert parse_retry_after(future, now=now) == pytest.approx(10.0)
    assert parse_retry_after(past, now=now) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "Thu, 99 Foo 2026 25:61:00 GMT"])
def test_parse_retry_after_rejects_garbage(value: str | None) -> None:
    assert parse_retry_after(value) is None


@pytest.mark.parametrize(
    "value",
    [
        "2026-01-15T12:00:00.000Z",
        "2026-01-15T12:00:00.000+00:00",
        "2026-01-15T12:00:00+00:00",
        "2026-01-15 12:00:00.000",
        "2026-01-15T14:00:00.000+02:00",
    ],
)
def test_parse_time_gives_aware_datetimes(value: str) -> None:
    parsed = parse_time(value)
    assert parsed is not None
    assert parsed.tzinfo is not None
    assert parsed == datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def test_parse_time_space_separated_without_zone_is_utc() -> None:
    parsed = parse_time("2023-04-28 20:05:31.093")
    assert parsed == datetime(2023, 4, 28, 20, 5, 31, 93_000, tzinfo=UTC)
    assert parsed.utcoffset() == timedelta(0)


def test_parse_time_zulu_and_utc_offsets_have_zero_offset() -> None:
    for value in ("2026-01-15T12:00:00.000Z", "2026-01-15T12:00:00+00:00"):
        parsed = parse_time(value)
        assert parsed is not None
        assert parsed.utcoffset() == timedelta(0)


def test_parse_time_passes_through_none_empty_and_datetimes() -> None:
    assert parse_time(None) is None
    assert parse_time("") is None
    naive = datetime(2026, 1, 15, 12, 0)
    assert parse_time(naive) == datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    aware = datetime(2026, 1, 15, 13, 0, tzinfo=timezone(timedelta(hours=1)))
    assert parse_time(aware) is aware
