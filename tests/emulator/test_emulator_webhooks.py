"""Webhook delivery to a real local receiver: signatures, ordering, retries, bursts."""

from __future__ import annotations

import json
import random
import time

import pytest
from workos import WorkOSClient

from emulator import EmulatorConfig, EmulatorServer, EmulatorState, deliver, sign
from emulator.webhooks import WebhookDispatcher

SECRET = "whsec_emulator_test"


@pytest.fixture
def sdk() -> WorkOSClient:
    return WorkOSClient(api_key="sk_test_dirsync", base_url="http://127.0.0.1:9")


def _directory(state: EmulatorState) -> str:
    org = state.create_organization("Acme", ["acme.test"])
    return state.create_directory(org["id"], "Okta")["id"]


def test_sign_format():
    header = sign("s", b"{}", timestamp_ms=1770192001250)
    assert header.startswith("t=1770192001250, v1=")
    assert len(header.split("v1=")[1]) == 64
    assert sign("s", b"{}", 1770192001250) == header
    assert sign("s", b"{ }", 1770192001250) != header


def test_delivers_signed_events_in_order(receiver, sdk):
    state = EmulatorState()
    cfg = EmulatorConfig(webhook_concurrency=1)
    disp = WebhookDispatcher(state, cfg)
    try:
        _directory(state)  # recorded while no url is set: never delivered
        cfg.webhook_url, cfg.webhook_secret = receiver.url, SECRET
        d = state.list_directories()[0]["id"]
        users = [state.create_user(d, email=f"u{i}@acme.test") for i in range(5)]
        g = state.create_group(d, "Eng")
        state.add_member(g["id"], users[0]["id"])
        assert disp.wait_idle(10)
        expected = state.events_since(after_id=state.events_since(limit=1)[0]["id"], limit=None)
        got = receiver.delivered()
        assert [b["id"] for b in got] == [e["id"] for e in expected]
        for req, ev in zip(receiver.requests, expected, strict=True):
            assert req["headers"]["Content-Type"] == "application/json"
            body = req["body"]
            assert json.loads(body) == {k: ev[k] for k in ("id", "event", "data", "created_at")}
            assert b": " not in body and b", " not in body  # compact
            sdk.webhooks.verify_header(
                event_body=body, event_signature=req["headers"]["WorkOS-Signature"], secret=SECRET
            )
            parsed = sdk.webhooks.verify_event(
                event_body=body, event_signature=req["headers"]["WorkOS-Signature"], secret=SECRET
            )
            assert parsed.id == ev["id"]
        assert disp.stats() == {
            "attempted": 7, "succeeded": 7, "failed": 0, "retried": 0, "pending": 0,
        }  # fmt: skip
    finally:
        disp.stop()


def test_retry_on_500_does_not_block_later_events(receiver):
    state = EmulatorState()
    cfg = EmulatorConfig(
        webhook_url=receiver.url,
        webhook_secret=SECRET,
        webhook_retry_delays=(0.2, 0.2, 0.2),
        webhook_concurrency=2,
    )
    disp = WebhookDispatcher(state, cfg)
    try:
        d = _directory(state)
        receiver.fail_matching[b'"dsync.user.created"'] = 2
        u = state.create_user(d, email="flaky@acme.test")
        for i in range(5):
            state.update_user(u["id"], first_name=f"N{i}")
        assert disp.wait_idle(10)
        flaky_id = state.events_since(types=["dsync.user.created"])[0]["id"]
        ids = [b["id"] for b in receiver.delivered()]
        assert len(ids) == 7 and flaky_id in ids
        assert ids.index(flaky_id) == 6  # later events were not held back by the retries
        statuses = [
            r["status"] for r in receiver.requests if json.loads(r["body"])["id"] == flaky_id
        ]
        assert statuses == [500, 500, 200]
        stats = disp.stats()
        assert stats == {"attempted": 9, "succeeded": 7, "failed": 0, "retried": 2, "pending": 0}
    finally:
        disp.stop()


def test_gives_up_after_retry_delays(receiver):
    receiver.fail_all = True
    state = EmulatorState()
    cfg = EmulatorConfig(
        webhook_url=receiver.url, webhook_secret=SECRET, webhook_retry_delays=(0.01, 0.02)
    )
    disp = WebhookDispatcher(state, cfg)
    try:
        _directory(state)
        assert disp.wait_idle(5)
        assert disp.stats() == {
            "attempted": 3, "succeeded": 0, "failed": 1, "retried": 2, "pending": 0,
        }  # fmt: skip
        assert len(receiver.requests) == 3
    finally:
        disp.stop()


def test_connection_errors_are_retried_then_failed():
    state = EmulatorState()
    cfg = EmulatorConfig(
        webhook_url="http://127.0.0.1:9/nothing", webhook_secret=SECRET,
        webhook_retry_delays=(0.01,), webhook_timeout=2,
    )  # fmt: skip
    disp = WebhookDispatcher(state, cfg)
    try:
        _directory(state)
        assert disp.wait_idle(10)
        assert disp.stats()["failed"] == 1 and disp.stats()["attempted"] == 2
        assert deliver(state.events_since(), cfg.webhook_url, SECRET, timeout=2) == [0]
    finally:
        disp.stop()


def test_burst_of_events_delivers_fast(receiver):
    state = EmulatorState()
    cfg = EmulatorConfig(webhook_url=receiver.url, webhook_secret=SECRET)
    with EmulatorServer(state, cfg) as srv:
        t = time.monotonic()
        state.seed(users=700, groups=5, memberships_per_user=2, record_events=True)
        assert srv.dispatcher.wait_idle(30)
        elapsed = time.monotonic() - t
        got = receiver.delivered()
        assert len(got) == state.event_count() == 1 + 5 + 700 * 3
        assert len({b["id"] for b in got}) == len(got)
        assert elapsed < 20


def test_deliver_shuffled_and_duplicated(receiver, sdk):
    state = EmulatorState()
    d = _directory(state)
    for i in range(10):
        state.create_user(d, email=f"u{i}@acme.test")
    events = state.events_since(limit=None)
    history = events + events[:3]
    random.Random(4).shuffle(history)
    statuses = deliver(history, receiver.url, SECRET)
    assert statuses == [200] * len(history)
    assert [b["id"] for b in receiver.delivered()] == [e["id"] for e in history]
    for req in receiver.requests:
        sdk.webhooks.verify_header(
            event_body=req["body"], event_signature=req["headers"]["WorkOS-Signature"],
            secret=SECRET,
        )  # fmt: skip
    disp = WebhookDispatcher(state, EmulatorConfig(), start=False)
    assert disp.deliver(events[:2], receiver.url, SECRET) == [200, 200]
    receiver.fail_all = True
    assert disp.deliver(events[:1], receiver.url, SECRET) == [500]
    disp.stop()
