"""``POST /webhooks/workos``: verify, record durably, enqueue, answer fast.

200 recorded (also duplicate ids and event types we do not handle); 400 malformed body;
401 bad signature; 413 too large; 503 cannot record durably (WorkOS then retries).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy.exc import DataError, SQLAlchemyError

from web.signature import SignatureError, verify
from worker.config import Settings
from worker.db import transaction
from worker.inbox import record_event

log = logging.getLogger(__name__)
bp = Blueprint("webhooks", __name__)


def _error(status: int, message: str) -> tuple[Any, int]:
    return jsonify(error=message), status


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _validate(body: bytes) -> dict[str, Any]:
    """Parse and check the body; ValueError says what is wrong (answered with 400)."""
    try:
        event = json.loads(body, parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError("body is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"body is not valid JSON: {exc}") from None
    if not isinstance(event, dict):
        raise ValueError("body must be a JSON object")
    for key, kind in (("id", str), ("event", str), ("data", dict)):
        if not isinstance(event.get(key), kind) or (kind is str and not event[key]):
            raise ValueError(f"missing or invalid '{key}'")
    if len(event["id"]) > 64 or len(event["event"]) > 64:
        raise ValueError("'id' and 'event' must be at most 64 characters")
    # What no database can store must be refused now, not answered 503 forever.
    try:
        text = json.dumps(event, ensure_ascii=False)
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("body contains invalid Unicode (lone surrogates)") from None
    except RecursionError:
        raise ValueError("body is nested too deeply") from None
    if "\\u0000" in text:
        raise ValueError("body contains NUL characters")
    return event


@bp.post("/webhooks/workos")
def receive() -> tuple[Any, int]:
    settings: Settings = current_app.config["DIRSYNC_SETTINGS"]
    if not settings.webhook_secrets:
        log.error("webhook refused: WORKOS_WEBHOOK_SECRET is not configured")
        return _error(503, "webhook secret not configured")
    body = request.get_data(cache=False)
    try:
        verify(
            request.headers.get("WorkOS-Signature"),
            body,
            settings.webhook_secrets,
            tolerance_seconds=settings.webhook_tolerance_seconds,
        )
    except SignatureError as exc:
        log.warning("webhook rejected (401): %s", exc)
        return _error(401, str(exc))
    try:
        event = _validate(body)
    except ValueError as exc:
        log.warning("webhook rejected (400): %s", exc)
        return _error(400, str(exc))
    try:
        with transaction(current_app.extensions["dirsync_sessions"]) as session:
            outcome = record_event(session, event)
    except DataError as exc:
        # The database refuses this content itself: retrying cannot help.
        log.error("webhook %s refused by the database (400): %s", event["id"], exc.orig)
        return _error(400, "event content cannot be stored")
    except SQLAlchemyError as exc:
        log.error("webhook %s not recorded (503): %s", event["id"], type(exc).__name__)
        return _error(503, "event store unavailable, retry later")
    if outcome == "recorded":
        current_app.extensions["dirsync_enqueue"](event["id"])
    return jsonify(status=outcome, id=event["id"]), 200
