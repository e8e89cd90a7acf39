"""Odd-but-signed (or unsigned) inputs: the receiver must answer 200/400/401, never 500, and
never 503 for a body that can never be stored (503 makes WorkOS retry it for three days)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.web.conftest import make_event, raw_json, signed
from worker.models import WebhookEvent


@pytest.mark.parametrize(
    "timestamp",
    ["\u00b2", "9" * 400, "9" * 5000],
    ids=["superscript-two", "400-digits", "5000-digits"],
)
def test_unsigned_request_with_odd_numeric_t_is_401_not_500(receiver, assert_untouched, timestamp):
    """Anyone on the internet can send this header; it must be a 401, not an unhandled error."""
    body = raw_json(make_event())
    resp = receiver.post(body, {"WorkOS-Signature": f"t={timestamp}, v1={'0' * 64}"})
    assert resp.status_code == 401
    assert_untouched(receiver)


def test_deeply_nested_json_is_400_not_500(receiver, assert_untouched):
    depth = 100_000
    body = b'{"id":"e1","event":"dsync.user.created","data":{"x":' + b"[" * depth
    body += b"]" * depth + b"}}"
    resp = receiver.post(body, signed(body))
    assert resp.status_code == 400
    assert_untouched(receiver)


def test_lone_surrogate_in_id_is_400_not_500(receiver, assert_untouched):
    body = b'{"id":"event_\\ud800","event":"dsync.user.created","data":{"directory_id":"d"}}'
    resp = receiver.post(body, signed(body))
    assert resp.status_code == 400
    assert_untouched(receiver)


UNSTORABLE = {
    "directory_id is an object": make_event(data={"directory_id": {"id": "directory_1"}}),
    "directory_id longer than 64": make_event(data={"directory_id": "d" * 65}),
    "NUL in id": make_event(event_id="event_\u0000x"),
    "NUL in a data string": make_event(data={"directory_id": "d", "name": "a\u0000b"}),
    "lone surrogate in data": None,
    "NaN in data": None,
}
RAW = {
    "lone surrogate in data": (
        b'{"id":"e1","event":"dsync.user.created","data":{"directory_id":"d","x":"\\udc00"}}'
    ),
    "NaN in data": b'{"id":"e1","event":"dsync.user.created","data":{"directory_id":"d","x":NaN}}',
}


@pytest.mark.parametrize("case", list(UNSTORABLE))
def test_signed_event_is_recorded_or_refused_never_5xx(receiver, factory, case):
    body = RAW[case] if UNSTORABLE[case] is None else raw_json(UNSTORABLE[case])
    resp = receiver.post(body, signed(body))
    assert resp.status_code in (200, 400), (resp.status_code, resp.get_json())
    with factory() as session:
        rows = session.scalar(select(func.count()).select_from(WebhookEvent))
    assert rows == (1 if resp.status_code == 200 else 0)
    assert len(receiver.enqueued) == (1 if resp.status_code == 200 else 0)
