"""The /_emulator control API drives everything over HTTP (for out-of-process tests)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.pagination import paginate

ROOT = Path(__file__).resolve().parents[2]


def test_control_mutations_and_snapshot(server, api, receiver):
    c = server.base_url + "/_emulator"
    seeded = requests.post(c + "/seed", json={"users": 5, "groups": 2}, timeout=5).json()
    assert len(seeded["directory_ids"]) == 1
    org = requests.post(
        c + "/organizations", json={"name": "Beta", "domains": ["beta.test"]}, timeout=5
    )
    assert org.status_code == 201
    d = requests.post(
        c + "/directories", json={"organization_id": org.json()["id"], "name": "Beta AD",
                                  "type": "azure scim v2.0"}, timeout=5,
    ).json()  # fmt: skip
    assert d["type"] == "azure scim v2.0" and d["domain"] == "beta.test"
    r = requests.post(
        c + "/config", json={"webhook_url": receiver.url, "webhook_secret": "s"}, timeout=5
    )
    assert r.json()["webhook_url"] == receiver.url
    u = requests.post(c + "/users", json={"directory_id": d["id"], "email": "a@beta.test",
                                          "first_name": "A"}, timeout=5).json()  # fmt: skip
    g = requests.post(c + "/groups", json={"directory_id": d["id"], "name": "Ops"}, timeout=5)
    g = g.json()
    assert requests.post(f"{c}/groups/{g['id']}/members/{u['id']}", timeout=5).json() == {
        "changed": True
    }
    assert requests.post(f"{c}/groups/{g['id']}/members/{u['id']}", timeout=5).json() == {
        "changed": False
    }
    u2 = requests.patch(f"{c}/users/{u['id']}", json={"state": "inactive"}, timeout=5).json()
    assert u2["state"] == "inactive"
    g2 = requests.patch(f"{c}/groups/{g['id']}", json={"name": "Ops 2"}, timeout=5).json()
    assert g2["name"] == "Ops 2"
    d2 = requests.patch(f"{c}/directories/{d['id']}", json={"state": "unlinked"}, timeout=5)
    assert d2.json()["state"] == "unlinked"
    snap = requests.get(f"{c}/snapshot/{d['id']}", timeout=5).json()
    assert list(snap["users"]) == [u["id"]] and snap["memberships"] == [[g["id"], u["id"]]]
    # silent drift: no event
    n = server.state.event_count()
    requests.patch(f"{c}/users/{u['id']}?silent=1", json={"first_name": "Z"}, timeout=5)
    assert server.state.event_count() == n
    assert requests.delete(f"{c}/groups/{g['id']}/members/{u['id']}", timeout=5).ok
    assert requests.delete(f"{c}/groups/{g['id']}", timeout=5).ok
    assert requests.delete(f"{c}/users/{u['id']}", timeout=5).ok
    assert requests.delete(f"{c}/directories/{d['id']}", timeout=5).ok
    assert requests.delete(f"{c}/users/{u['id']}", timeout=5).status_code == 404
    assert requests.patch(f"{c}/users/x", json={"bogus": 1}, timeout=5).status_code == 404
    bad = requests.post(c + "/users", json={"directory_id": seeded["directory_ids"][0],
                                            "bogus": 1}, timeout=5)  # fmt: skip
    assert bad.status_code == 400
    assert requests.post(c + "/config", json={"nope": 1}, timeout=5).status_code == 400
    idle = requests.post(c + "/webhooks/wait_idle", json={"timeout": 10}, timeout=15).json()
    assert idle == {"idle": True}
    kinds = sorted(b["event"] for b in receiver.delivered())  # 4 workers: order may vary
    assert kinds == sorted(
        [
            "dsync.user.created", "dsync.group.created", "dsync.group.user_added",
            "dsync.user.updated", "dsync.group.updated", "dsync.group.user_removed",
            "dsync.group.deleted", "dsync.user.deleted", "dsync.deleted",
        ]
    )  # fmt: skip


def test_stats_and_reset(server, api):
    c = server.base_url + "/_emulator"
    requests.post(c + "/seed", json={"users": 3, "groups": 1}, timeout=5)
    api.get("/directories")
    api.get("/directories")
    api.get("/directories/nope")
    server.config.burst_429 = 1
    api.get("/organizations")
    stats = requests.get(c + "/stats", timeout=5).json()
    assert stats["requests"]["by_route"]["GET /directories"] == 2
    assert stats["requests"]["by_route"]["GET /directories/<directory_id>"] == 1
    assert stats["requests"]["by_status"] == {"200": 2, "404": 1, "429": 1}
    assert stats["rate_limited"] == 1
    assert set(stats["webhooks"]) == {"attempted", "succeeded", "failed", "retried", "pending"}
    assert stats["state"]["users"] == 3
    requests.post(c + "/stats/reset", timeout=5)
    assert requests.get(c + "/stats", timeout=5).json()["requests"]["total"] == 0
    cfg = requests.get(c + "/config", timeout=5).json()
    assert cfg["api_key"] == "sk_test_dirsync" and cfg["webhook_retry_delays"] == [0.5, 1, 2, 5]


def test_python_dash_m_emulator():
    proc = subprocess.Popen(
        [sys.executable, "-m", "emulator", "--port", "0", "--seed-users", "20",
         "--seed-groups", "3", "--no-rate-limits", "--api-key", "sk_test_cli"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        base = line.strip().rsplit(" ", 1)[-1]
        assert base.startswith("http://127.0.0.1:")
        assert proc.stdout.readline().strip() == "api key: sk_test_cli"
        directory = proc.stdout.readline().strip().split(": ")[1]
        h = {"Authorization": "Bearer sk_test_cli"}
        r = requests.get(f"{base}/directory_users", params={"directory": directory, "limit": 100},
                         headers=h, timeout=5)  # fmt: skip
        assert r.status_code == 200 and len(r.json()["data"]) == 20
    finally:
        proc.terminate()
        proc.wait(10)


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(0, 40),
    limit=st.integers(1, 12),
    order=st.sampled_from(["asc", "desc", "normal"]),
)
def test_paginate_walks_everything_once(n, limit, order):
    ids = [f"id_{i:04d}" for i in range(n)]
    forward = "before" if order == "normal" else "after"
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page, meta = paginate(ids, limit=limit, order=order, **{forward: cursor})
        seen += page
        pages += 1
        # walking back from this page gives exactly the previous page
        back_key = "after" if order == "normal" else "before"
        if meta[back_key]:
            prev, _ = paginate(ids, limit=limit, order=order, **{back_key: meta[back_key]})
            assert prev == seen[-len(page) - len(prev) : -len(page)]
        cursor = meta[forward]
        if not cursor:
            break
        assert pages <= n
    expected = ids if order == "asc" else ids[::-1]
    assert seen == expected
    assert pages == max(1, -(-n // limit))


def test_wait_for_health_is_immediate(server):
    t = time.monotonic()
    assert requests.get(server.base_url + "/health", timeout=5).json() == {"status": "ok"}
    assert time.monotonic() - t < 1
