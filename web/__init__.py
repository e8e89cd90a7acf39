"""The dirsync web app: the WorkOS webhook receiver and health endpoints (``web:create_app``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from worker.config import Settings, load_settings
from worker.db import make_engine, make_session_factory

log = logging.getLogger(__name__)


def _default_enqueue(event_id: str) -> None:
    """Hand the event to a worker. Failure is not fatal: it is already stored durably and the
    periodic sweep enqueues pending events whose enqueue stamp is old."""
    from worker.tasks import process_event_task

    try:
        process_event_task.apply_async(args=[event_id], retry=False)
    except Exception as exc:
        log.warning(
            "event %s stored but not enqueued (%s); the sweep will enqueue it",
            event_id,
            type(exc).__name__,
        )


def create_app(
    settings: Settings | None = None, *, enqueue: Callable[[str], None] | None = None
) -> Flask:
    settings = settings or load_settings()
    app = Flask(__name__)
    app.config["DIRSYNC_SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = settings.webhook_max_bytes
    engine = make_engine(settings.database_url)
    app.extensions["dirsync_engine"] = engine
    app.extensions["dirsync_sessions"] = make_session_factory(engine)
    app.extensions["dirsync_enqueue"] = enqueue or _default_enqueue

    from web import health, webhooks

    app.register_blueprint(health.bp)
    app.register_blueprint(webhooks.bp)

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(_exc: Exception) -> tuple[Any, int]:
        return jsonify(error=f"body larger than {settings.webhook_max_bytes} bytes"), 413

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> tuple[Any, int]:
        return jsonify(error=exc.description), exc.code or 500

    return app
