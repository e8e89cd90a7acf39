"""``POST /webhooks/workos`` end to end through Flask, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import logging

import pytest
from sqlalchemy import select

from emulator.webhooks import sign, webhook_body
from tests.web.conftest import (
    CLOSED_PG_URL,
    OTHER_SECRET,
    SECRET,
    UNKNOWN_SECRET,
    make_event,
    now_ms,
    raw_json,
    signed,
)
from worker.models import WebhookEvent


def inbox(factory) -> list[WebhookEvent]:
    with factory() as session:
        return list(session.scalars(select(WebhookEvent).order_by(WebhookEvent.id)))


# --------------------------------------------------------------------------- accepted


def test_valid_event_is_recorded_pending_and_enqueued(receiver, factory):
    event = make_event()
    resp = receiver.deliver(event)
    assert resp.status_code == 200
    assert resp.get_json()["status"] == "recorded"
    assert resp.get_json()["id"] == event["id"]
    rows = inbox(factory)
    assert [(r.id, r.status, r.event_type) for r in rows] == [
        (event["id"], "pending", "dsync.user.created")
    ]
    assert rows[0].payload == event
    assert rows[0].directory_id == "directory_01HWEB"
    assert rows[0].source == "webhook"
    assert receiver.enqueued == [event["id"]]


def test_duplicate_id_answers_duplicate_without_second_row_or_enqueue(receiver, factory):
    event = make_event()
    assert receiver.deliver(event).get_json()["status"] == "recorded"
    again = receiver.deliver(event)
    assert again.status_code == 200
    assert again.get_json()["status"] == "duplicate"
    # Same id, different content (a retry re-signed later): still a duplicate.
    changed = make_event(data={"id": "directory_user_other", "directory_id": "directory_x"})
    assert receiver.deliver(changed).get_json()["status"] == "duplicate"
    rows = inbox(factory)
    assert len(rows) == 1 and rows[0].status == "pending"
    assert rows[0].payload == event
    assert receiver.enqueued == [event["id"]]


@pytest.mark.parametrize("kind", ["dsync.token.created", "connection.activated", "user.created"])
def test_unknown_event_type_is_stored_ignored_and_not_enqueued(receiver, factory, kind):
    event = make_event(event_id=f"event_ign_{kind}", kind=kind, data={"id": "conn_01"})
    resp = receiver.deliver(event)
    assert resp.status_code == 200
    assert resp.get_json()["status"] == "ignored"
    rows = inbox(factory)
    assert [(r.id, r.status) for r in rows] == [(event["id"], "ignored")]
    assert receiver.enqueued == []


def test_duplicate_of_an_ignored_event_is_duplicate(receiver, factory):
    event = make_event(kind="dsync.token.created", data={"id": "token_01"})
    assert receiver.deliver(event).get_json()["status"] == "ignored"
    again = receiver.deliver(event)
    assert again.status_code == 200
    assert again.get_json()["status"] == "duplicate"
    assert [r.status for r in inbox(factory)] == ["ignored"]
    assert receiver.enqueued == []


def test_every_handled_type_is_recorded(receiver, factory):
    kinds = [
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
    ]
    for i, kind in enumerate(kinds):
        resp = receiver.deliver(make_event(event_id=f"event_{i:02d}", kind=kind))
        assert resp.get_json()["status"] == "recorded", kind
    assert {r.status for r in inbox(factory)} == {"pending"}
    assert receiver.enqueued == [f"event_{i:02d}" for i in range(len(kinds))]


def test_event_with_object_and_context_keys_is_accepted(receiver, factory):
    event = make_event() | {"object": "event", "context": {}}
    body = raw_json(event)
    resp = receiver.post(body, signed(body))
    assert resp.get_json()["status"] == "recorded"
    assert inbox(factory)[0].payload == event


# --------------------------------------------------------------------------- secrets/header


def test_secret_rotation_accepts_either_configured_secret(make_receiver, settings, factory):
    receiver = make_receiver(settings, webhook_secrets=(SECRET, OTHER_SECRET))
    first = receiver.deliver(make_event(event_id="event_old_secret"), SECRET)
    second = receiver.deliver(make_event(event_id="event_new_secret"), OTHER_SECRET)
    assert (first.status_code, second.status_code) == (200, 200)
    assert receiver.enqueued == ["event_old_secret", "event_new_secret"]
    assert len(inbox(factory)) == 2


def test_secret_rotation_rejects_unknown_secret(make_receiver, settings, assert_untouched):
    receiver = make_receiver(settings, webhook_secrets=(SECRET, OTHER_SECRET))
    resp = receiver.deliver(make_event(), UNKNOWN_SECRET)
    assert resp.status_code == 401
    assert "does not match" in resp.get_json()["error"]
    assert_untouched(receiver)


def test_lowercase_header_name_is_accepted(receiver):
    body = webhook_body(make_event())
    resp = receiver.post(body, {"workos-signature": sign(SECRET, body)})
    assert resp.status_code == 200, resp.get_json()
    assert len(receiver.enqueued) == 1


def test_header_without_space_after_comma_is_accepted(receiver):
    body = webhook_body(make_event())
    header = sign(SECRET, body).replace(", ", ",")
    assert ", " not in header
    resp = receiver.post(body, {"WorkOS-Signature": header})
    assert resp.status_code == 200, resp.get_json()


def test_several_v1_values_one_matching_is_accepted(receiver):
    body = webhook_body(make_event())
    t = now_ms()
    good = sign(SECRET, body, t).split("v1=")[1]
    bad = sign(UNKNOWN_SECRET, body, t).split("v1=")[1]
    resp = receiver.post(body, {"WorkOS-Signature": f"t={t}, v1={bad}, v1={good}"})
    assert resp.status_code == 200, resp.get_json()


def test_uppercase_hex_signature_is_accepted(receiver):
    body = webhook_body(make_event())
    t = now_ms()
    digest = sign(SECRET, body, t).split("v1=")[1]
    resp = receiver.post(body, {"WorkOS-Signature": f"t={t}, v1={digest.upper()}"})
    assert resp.status_code == 200, resp.get_json()


def test_timestamps_just_inside_the_window_are_accepted(receiver):
    for i, offset_s in enumerate((-179, 179)):
        body = webhook_body(make_event(event_id=f"event_window_{i}"))
        resp = receiver.post(body, signed(body, timestamp_ms=now_ms() + offset_s * 1000))
        assert resp.status_code == 200, (offset_s, resp.get_json())


# --------------------------------------------------------------------------- 401


def _bad_signature_cases() -> list[tuple[str, object, str]]:
    """(case id, header builder(body) -> headers, expected fragment of the error)."""
    return [
        ("missing header", lambda b: {}, "missing"),
        ("empty header", lambda b: {"WorkOS-Signature": ""}, "missing"),
        (
            "no t",
            lambda b: {"WorkOS-Signature": sign(SECRET, b).split(", ")[1]},
            "no t=",
        ),
        (
            "non-digit t",
            lambda b: {"WorkOS-Signature": "t=abc, v1=" + sign(SECRET, b).split("v1=")[1]},
            "no t=",
        ),
        (
            "negative t",
            lambda b: {"WorkOS-Signature": "t=-1, v1=" + sign(SECRET, b).split("v1=")[1]},
            "no t=",
        ),
        (
            "no v1",
            lambda b: {"WorkOS-Signature": sign(SECRET, b).split(", ")[0]},
            "no v1",
        ),
        (
            "v0 scheme only",
            lambda b: {"WorkOS-Signature": sign(SECRET, b).replace("v1=", "v0=")},
            "no v1",
        ),
        ("garbage", lambda b: {"WorkOS-Signature": "not a signature"}, "malformed"),
        (
            "wrong signature",
            lambda b: {"WorkOS-Signature": f"t={now_ms()}, v1={'0' * 64}"},
            "does not match",
        ),
        ("wrong secret", lambda b: signed(b, UNKNOWN_SECRET), "does not match"),
        (
            "body altered after signing",
            lambda b: signed(b.replace(b"ada@", b"eve@")),
            "does not match",
        ),
        (
            "181 s old",
            lambda b: signed(b, timestamp_ms=now_ms() - 181_000),
            "old",
        ),
        (
            "181 s in the future",
            lambda b: signed(b, timestamp_ms=now_ms() + 181_000),
            "future",
        ),
        (
            "seconds instead of ms",
            lambda b: signed(b, timestamp_ms=int(now_ms() / 1000)),
            "old",
        ),
        (
            "ms timestamp signed, seconds sent",
            lambda b: {
                "WorkOS-Signature": "t={}, v1={}".format(
                    now_ms() // 1000, sign(SECRET, b).split("v1=")[1]
                )
            },
            "old",
        ),
        (
            "signature over re-serialised JSON",
            lambda b: signed(json.dumps(json.loads(b), indent=2)),
            "does not match",
        ),
    ]


CASES = _bad_signature_cases()


@pytest.mark.parametrize(("build", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_signature_is_401_with_reason_and_no_trace(
    receiver, assert_untouched, caplog, build, fragment
):
    caplog.set_level(logging.DEBUG)
    body = webhook_body(make_event())
    resp = receiver.post(body, build(body))
    assert resp.status_code == 401
    error = resp.get_json()["error"]
    assert fragment in error
    assert SECRET not in resp.get_data(as_text=True)
    assert SECRET not in caplog.text
    assert "401" in caplog.text  # the rejection is logged, with its reason
    assert_untouched(receiver)


def test_secret_never_leaks_for_any_configured_secret(make_receiver, settings, caplog):
    caplog.set_level(logging.DEBUG)
    receiver = make_receiver(settings, webhook_secrets=(SECRET, OTHER_SECRET))
    body = webhook_body(make_event())
    for headers in (signed(body, UNKNOWN_SECRET), {}, signed(b"[]"), signed(b"{")):
        resp = receiver.post(body, headers)
        for secret in (SECRET, OTHER_SECRET):
            assert secret not in resp.get_data(as_text=True)
            assert secret not in caplog.text


def test_body_altered_by_a_single_byte_is_rejected(receiver, assert_untouched):
    body = webhook_body(make_event())
    headers = signed(body)
    for altered in (body + b" ", body[:-1], b" " + body, body.replace(b'"id"', b'"Id"')):
        assert receiver.post(altered, headers).status_code == 401
    assert_untouched(receiver)


# --------------------------------------------------------------------------- 400


BAD_BODIES = {
    "invalid JSON": b'{"id": "event_1", ',
    "not UTF-8": b'{"id": "\xff\xfe"}',
    "empty body": b"",
    "JSON array": b"[]",
    "JSON string": b'"event"',
    "JSON null": b"null",
    "missing id": raw_json({"event": "dsync.user.created", "data": {}}),
    "missing event": raw_json({"id": "event_1", "data": {}}),
    "missing data": raw_json({"id": "event_1", "event": "dsync.user.created"}),
    "data not an object": raw_json({"id": "event_1", "event": "dsync.user.created", "data": []}),
    "data a string": raw_json({"id": "event_1", "event": "dsync.user.created", "data": "{}"}),
    "data null": raw_json({"id": "event_1", "event": "dsync.user.created", "data": None}),
    "empty id": raw_json({"id": "", "event": "dsync.user.created", "data": {}}),
    "empty event": raw_json({"id": "event_1", "event": "", "data": {}}),
    "numeric id": raw_json({"id": 12, "event": "dsync.user.created", "data": {}}),
    "id too long": raw_json({"id": "e" * 65, "event": "dsync.user.created", "data": {}}),
    "event too long": raw_json({"id": "event_1", "event": "d" * 65, "data": {}}),
}


@pytest.mark.parametrize("body", list(BAD_BODIES.values()), ids=list(BAD_BODIES))
def test_malformed_body_with_valid_signature_is_400(receiver, assert_untouched, body):
    resp = receiver.post(body, signed(body))
    assert resp.status_code == 400
    assert resp.get_json()["error"]
    assert_untouched(receiver)


def test_400_error_names_the_field(receiver):
    body = raw_json({"id": "event_1", "event": "dsync.user.created", "data": []})
    assert "'data'" in receiver.post(body, signed(body)).get_json()["error"]
    body = raw_json({"id": "", "event": "dsync.user.created", "data": {}})
    assert "'id'" in receiver.post(body, signed(body)).get_json()["error"]
    body = b"[1]"
    assert "object" in receiver.post(body, signed(body)).get_json()["error"]


def test_bad_signature_wins_over_bad_body(receiver, assert_untouched):
    """An unsigned garbage body is a 401, not a 400: nothing is parsed before verifying."""
    resp = receiver.post(b"[]", signed(b"[]", UNKNOWN_SECRET))
    assert resp.status_code == 401
    assert_untouched(receiver)


# --------------------------------------------------------------------------- 413


def test_body_over_max_bytes_is_413_even_when_signed(make_receiver, settings, assert_untouched):
    receiver = make_receiver(settings, webhook_max_bytes=2048)
    event = make_event()
    event["data"]["custom_attributes"] = {"blob": "x" * 3000}
    body = webhook_body(event)
    assert len(body) > 2048
    resp = receiver.post(body, signed(body))
    assert resp.status_code == 413
    assert "2048" in resp.get_json()["error"]
    assert_untouched(receiver)


def test_body_of_exactly_max_bytes_is_accepted(make_receiver, settings, factory):
    receiver = make_receiver(settings, webhook_max_bytes=2048)
    event = make_event()
    event["data"]["custom_attributes"] = {"blob": ""}
    pad = 2048 - len(webhook_body(event))
    event["data"]["custom_attributes"]["blob"] = "x" * pad
    body = webhook_body(event)
    assert len(body) == 2048
    resp = receiver.post(body, signed(body))
    assert resp.status_code == 200, resp.get_json()
    assert len(inbox(factory)) == 1


# --------------------------------------------------------------------------- 503


def test_database_down_is_503_and_not_enqueued(make_receiver, settings, assert_untouched, caplog):
    caplog.set_level(logging.DEBUG)
    receiver = make_receiver(settings, database_url=CLOSED_PG_URL)
    resp = receiver.deliver(make_event())
    assert resp.status_code == 503
    assert "retry" in resp.get_json()["error"]
    assert SECRET not in caplog.text
    assert_untouched(receiver)  # the fixture's real database saw nothing either


def test_sqlite_that_cannot_be_opened_is_503(make_receiver, settings, tmp_path):
    url = f"sqlite:///{tmp_path / 'missing-dir' / 'dirsync.db'}"
    receiver = make_receiver(settings, database_url=url)
    resp = receiver.deliver(make_event())
    assert resp.status_code == 503
    assert receiver.enqueued == []


def test_no_webhook_secret_configured_is_503(make_receiver, settings, assert_untouched):
    receiver = make_receiver(settings, webhook_secrets=())
    body = webhook_body(make_event())
    for headers in (signed(body), {}, signed(body, "")):
        resp = receiver.post(body, headers)
        assert resp.status_code == 503
        assert "secret" in resp.get_json()["error"]
    assert_untouched(receiver)


def test_rejections_then_valid_event_leaves_exactly_one_row(receiver, factory):
    """Rejected requests must not have left a half-written row that blocks the real one."""
    event = make_event()
    body = webhook_body(event)
    assert receiver.post(body, signed(body, UNKNOWN_SECRET)).status_code == 401
    assert receiver.post(b"[]", signed(b"[]")).status_code == 400
    assert receiver.deliver(event).get_json()["status"] == "recorded"
    assert [r.id for r in inbox(factory)] == [event["id"]]
    assert receiver.enqueued == [event["id"]]
