"""The dirsync web app: the WorkOS webhook receiver and health endpoints (``web:create_app``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from web.enqueue import BackgroundEnqueuer
from worker.config import Settings, load_settings
from worker.db import make_engine, make_session_factory


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
    app.extensions["dirsync_enqueue"] = enqueue or BackgroundEnqueuer()

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
