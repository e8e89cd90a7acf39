"""The Celery application (``celery -A worker.celery_app``), configured from worker/config.py."""

from __future__ import annotations

from pathlib import Path

from celery import Celery

from worker.config import Settings, load_settings

EVENTS_QUEUE = "dirsync.events"
RESYNC_QUEUE = "dirsync.resync"


def make_celery(settings: Settings) -> Celery:
    app = Celery("dirsync", include=["worker.tasks"])
    transport_options: dict[str, object] = {}
    if settings.broker_is_embedded:
        # The embedded broker is a folder of message files shared by web, worker and beat:
        # no server to run, and still separate processes as in production.
        folder = (settings.data_dir / "broker").resolve()
        for sub in ("queue", "processed", "control"):
            Path(folder / sub).mkdir(parents=True, exist_ok=True)
        transport_options = {
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "processed_folder": str(folder / "processed"),
            "control_folder": str(folder / "control"),
            "store_processed": False,
        }
    else:
        transport_options = {
            # Longer than the longest task, or Redis hands an unacked resync to a second worker.
            "visibility_timeout": settings.task_time_limit_seconds + 600,
            "socket_timeout": 5,
            "socket_connect_timeout": 3,
        }
    app.conf.update(
        broker_url=settings.broker_url,
        broker_transport_options=transport_options,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=3,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        task_time_limit=settings.task_time_limit_seconds,
        task_default_queue=EVENTS_QUEUE,
        task_routes={
            "worker.tasks.resync_directory": {"queue": RESYNC_QUEUE},
            "worker.tasks.resync_all": {"queue": RESYNC_QUEUE},
        },
        task_publish_retry=False,
        worker_prefetch_multiplier=4,
        worker_hijack_root_logger=False,
        timezone="UTC",
        beat_schedule={
            "sweep-inbox": {
                "task": "worker.tasks.sweep",
                "schedule": float(settings.inbox_sweep_seconds),
            },
        },
    )
    return app


celery = make_celery(load_settings())
app = celery
