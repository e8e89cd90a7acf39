"""Fixtures for the web receiver tests: a Flask test client over the real app, on SQLite and
PostgreSQL (via the shared ``settings``/``database_url`` fixtures), with a recording enqueue."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select

from emulator.webhooks import sign, webhook_body
from web import create_app
from worker.config import Settings
from worker.models import Base, WebhookEvent

SECRET = "whsec_test_primary"  # the shared ``settings`` fixture's secret
OTHER_SECRET = "whsec_test_rotated_in"
UNKNOWN_SECRET = "whsec_test_never_configured"
URL = "/webhooks/workos"
CLOSED_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:1/nope"

GUARDED_TABLES = [t for t in Base.metadata.sorted_tables if t.name.startswith("workos_")] + [
    WebhookEvent.__table__
]


def make_event(
    event_id: str = "event_01HWEB0000000000000000001",
    kind: str = "dsync.user.created",
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "id": event_id,
        "event": kind,
        "data": data
        if data is not None
        else {
            "object": "directory_user",
            "id": "directory_user_01HWEB",
            "directory_id": "directory_01HWEB",
            "organization_id": "org_01HWEB",
            "email": "ada@example.com",
            "state": "active",
            "created_at": "2024-05-01T10:00:00.000Z",
            "updated_at": "2024-05-01T10:00:00.000Z",
        },
        "created_at": "2024-05-01T10:00:00.000Z",
    }


def now_ms() -> int:
    return int(time.time() * 1000)


def signed(body: bytes | str, secret: str = SECRET, **kwargs: Any) -> dict[str, str]:
    raw = body.encode() if isinstance(body, str) else body
    return {"Content-Type": "application/json", "WorkOS-Signature": sign(secret, raw, **kwargs)}


def raw_json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


class Receiver:
    """A test client plus what the app handed to ``enqueue``."""

    def __init__(self, app: Flask, enqueued: list[str]):
        self.app = app
        self.client: FlaskClient = app.test_client()
        self.enqueued = enqueued

    def post(self, body: bytes | str, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
        return self.client.post(URL, data=body, headers=headers or {})

    def deliver(self, event: dict[str, Any], secret: str = SECRET):  # type: ignore[no-untyped-def]
        body = webhook_body(event)
        return self.post(body, signed(body, secret))


@pytest.fixture
def make_receiver() -> Iterator[Callable[..., Receiver]]:
    """``make_receiver(settings, **replacements)`` → a Receiver on a fresh app."""
    apps: list[Flask] = []

    def build(settings: Settings, **changes: Any) -> Receiver:
        enqueued: list[str] = []
        app = create_app(dataclasses.replace(settings, **changes), enqueue=enqueued.append)
        apps.append(app)
        return Receiver(app, enqueued)

    yield build
    for app in apps:
        app.extensions["dirsync_engine"].dispose()


@pytest.fixture
def receiver(make_receiver: Callable[..., Receiver], settings: Settings) -> Receiver:
    return make_receiver(settings)


def table_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in GUARDED_TABLES
        }


@pytest.fixture
def assert_untouched(engine: Engine) -> Callable[[Receiver], None]:
    """Assert a rejected request left no trace: no inbox row, no mirror row, no enqueue."""

    def check(receiver: Receiver) -> None:
        counts = table_counts(engine)
        assert counts == dict.fromkeys(counts, 0), counts
        assert receiver.enqueued == []

    return check
