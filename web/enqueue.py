"""Hand recorded events to Celery without making WorkOS wait for the broker.

The event is already durable in the inbox when this runs, so enqueueing is an optimisation:
it happens on a background thread, and while the broker is failing we stop trying for a
short while instead of spending seconds per request on connection attempts. Whatever is not
enqueued here is enqueued by the periodic sweep.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


def publish_to_celery(event_id: str) -> None:
    from worker.tasks import process_event_task

    process_event_task.apply_async(args=[event_id], retry=False)


class BackgroundEnqueuer:
    """A bounded queue drained by one daemon thread, started lazily (after gunicorn forks)."""

    def __init__(
        self,
        publish: Callable[[str], None] = publish_to_celery,
        *,
        maxsize: int = 10_000,
        pause_after_failure: float = 5.0,
    ) -> None:
        self._publish = publish
        self._queue: queue.Queue[str] = queue.Queue(maxsize=maxsize)
        self._pause = pause_after_failure
        self._paused_until = 0.0
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.published = 0
        self.skipped = 0

    def __call__(self, event_id: str) -> None:
        self._ensure_thread()
        try:
            self._queue.put_nowait(event_id)
        except queue.Full:
            self.skipped += 1  # still pending in the inbox: the sweep enqueues it

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="dirsync-enqueue", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            event_id = self._queue.get()
            try:
                if time.monotonic() < self._paused_until:
                    self.skipped += 1
                    continue
                self._publish(event_id)
                self.published += 1
            except Exception as exc:
                self.skipped += 1
                self._paused_until = time.monotonic() + self._pause
                log.warning(
                    "broker unavailable (%s): events stay pending in the inbox and the sweep "
                    "enqueues them; not retrying for %.0fs",
                    type(exc).__name__,
                    self._pause,
                )
            finally:
                self._queue.task_done()

    def join(self, timeout: float = 10.0) -> bool:
        """Wait until everything submitted was handled (tests and shutdown)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self._queue.unfinished_tasks
