"""``/healthz`` (the process is up) and ``/readyz`` (database and broker reachable)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from worker.config import Settings

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Any, int]:
    return jsonify(status="ok"), 200


def _check_database() -> str:
    try:
        with current_app.extensions["dirsync_engine"].connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        return f"down: {type(exc).__name__}"
    return "ok"


def _check_broker(settings: Settings) -> str:
    if settings.broker_is_embedded:
        folder = settings.data_dir / "broker" / "queue"
        return "ok" if folder.is_dir() else f"down: {folder} missing"
    try:
        import redis

        client = redis.Redis.from_url(
            settings.broker_url, socket_timeout=2, socket_connect_timeout=2
        )
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:
        return f"down: {type(exc).__name__}"
    return "ok"


@bp.get("/readyz")
def readyz() -> tuple[Any, int]:
    settings: Settings = current_app.config["DIRSYNC_SETTINGS"]
    checks = {"database": _check_database(), "broker": _check_broker(settings)}
    ready = all(v == "ok" for v in checks.values())
    return jsonify(status="ready" if ready else "unavailable", checks=checks), (
        200 if ready else 503
    )
