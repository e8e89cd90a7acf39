"""Signed webhook delivery, like WorkOS does it (workos-api.md sections 1-2).

Body: compact JSON ``{"id","event","data","created_at"}``; header
``WorkOS-Signature: t=<unix ms>, v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import itertools
import json
import queue
import threading
import time
from collections.abc import Iterable
from typing import Any

import requests

from .config import EmulatorConfig
from .state import EmulatorState


def sign(secret: str, body: bytes, timestamp_ms: int | None = None) -> str:
    """Return the ``WorkOS-Signature`` header value for ``body``."""
    t = int(time.time() * 1000) if timestamp_ms is None else int(timestamp_ms)
    if isinstance(body, str):
        body = body.encode("utf-8")
    mac = hmac.new(secret.encode("utf-8"), f"{t}.".encode() + body, hashlib.sha256)
    return f"t={t}, v1={mac.hexdigest()}"


def webhook_body(event: dict) -> bytes:
    """Exact body bytes WorkOS would POST for an event."""
    payload = {
        "id": event["id"],
        "event": event["event"],
        "data": event["data"],
        "created_at": event["created_at"],
    }
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def post_event(
    session: requests.Session, url: str, secret: str, event: dict, timeout: float = 10.0
) -> int:
    """POST one signed event; returns the HTTP status, or 0 on a connection error/timeout."""
    body = webhook_body(event)
    headers = {"Content-Type": "application/json", "WorkOS-Signature": sign(secret, body)}
    try:
        resp = session.post(url, data=body, headers=headers, timeout=timeout)
    except requests.RequestException:
        return 0
    resp.close()
    return resp.status_code


def deliver(
    events: Iterable[dict],
    url: str,
    secret: str,
    *,
    timeout: float = 10.0,
    session: requests.Session | None = None,
) -> list[int]:
    """Synchronously POST ``events`` in the given order (duplicates allowed), once each, no
    retries. Returns one status per event (0 = connection error)."""
    own = session is None
    sess = session or requests.Session()
    try:
        return [post_event(sess, url, secret, ev, timeout) for ev in events]
    finally:
        if own:
            sess.close()


class WebhookDispatcher:
    """Delivers every event recorded while ``config.webhook_url`` is set, in recorded order,
    through a pool of ``config.webhook_concurrency`` worker threads. Failed attempts (non-2xx or
    connection error) are retried after ``config.webhook_retry_delays`` without blocking later
    events; after the last delay the event counts as failed."""

    def __init__(self, state: EmulatorState, config: EmulatorConfig, *, start: bool = True):
        self.state = state
        self.config = config
        self._queue: queue.Queue[tuple[dict, str, str, int] | None] = queue.Queue()
        self._retries: list[tuple[float, int, tuple[dict, str, str, int]]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._local = threading.local()
        self._threads: list[threading.Thread] = []
        self._stats = {"attempted": 0, "succeeded": 0, "failed": 0, "retried": 0}
        self._pending = 0
        self.state.add_listener(self._on_event)
        if start:
            self.start()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if self._threads:
            return
        n = max(1, int(self.config.webhook_concurrency))
        for i in range(n):
            t = threading.Thread(target=self._worker, name=f"emulator-webhook-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        t = threading.Thread(target=self._scheduler, name="emulator-webhook-retry", daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self, timeout: float = 2.0) -> None:
        self.state.remove_listener(self._on_event)
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        for _ in self._threads:
            self._queue.put(None)
        for t in self._threads:
            t.join(timeout)
        self._threads = []

    # ------------------------------------------------------------------ stats
    @property
    def pending(self) -> int:
        with self._cond:
            return self._pending

    def stats(self) -> dict[str, int]:
        with self._cond:
            return {**self._stats, "pending": self._pending}

    def reset_stats(self) -> None:
        with self._cond:
            for key in self._stats:
                self._stats[key] = 0

    def wait_idle(self, timeout: float | None = 10.0) -> bool:
        """Block until no delivery is queued, in flight or awaiting retry. False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._pending:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining if remaining is None else min(remaining, 0.5))
            return True

    # ------------------------------------------------------------------ delivery
    def deliver(
        self, events: Iterable[dict], url: str | None = None, secret: str | None = None
    ) -> list[int]:
        """Synchronous delivery of exactly these events (order/duplicates kept), no retries.
        ``url``/``secret`` default to the configured ones."""
        target = url or self.config.webhook_url
        key = secret if secret is not None else self.config.webhook_secret
        if not target:
            raise ValueError("no webhook url")
        return deliver(events, target, key or "", timeout=self.config.webhook_timeout)

    def _on_event(self, event: dict) -> None:
        url = self.config.webhook_url
        if not url:
            return
        with self._cond:
            self._pending += 1
        self._queue.put((event, url, self.config.webhook_secret or "", 0))

    def _session(self) -> requests.Session:
        sess = getattr(self._local, "session", None)
        if sess is None:
            sess = self._local.session = requests.Session()
        return sess

    def _worker(self) -> None:
        while not self._stop.is_set():
            job = self._queue.get()
            if job is None:
                break
            event, url, secret, attempt = job
            status = post_event(self._session(), url, secret, event, self.config.webhook_timeout)
            delays = tuple(self.config.webhook_retry_delays or ())
            with self._cond:
                self._stats["attempted"] += 1
                if 200 <= status < 300:
                    self._stats["succeeded"] += 1
                    self._pending -= 1
                elif attempt < len(delays) and not self._stop.is_set():
                    self._stats["retried"] += 1
                    due = time.monotonic() + float(delays[attempt])
                    heapq.heappush(
                        self._retries, (due, next(self._seq), (event, url, secret, attempt + 1))
                    )
                else:
                    self._stats["failed"] += 1
                    self._pending -= 1
                self._cond.notify_all()

    def _scheduler(self) -> None:
        with self._cond:
            while not self._stop.is_set():
                now = time.monotonic()
                while self._retries and self._retries[0][0] <= now:
                    _, _, job = heapq.heappop(self._retries)
                    self._queue.put(job)
                wait = self._retries[0][0] - now if self._retries else 0.5
                self._cond.wait(max(0.005, min(wait, 0.5)))


def describe(dispatcher: WebhookDispatcher | None) -> dict[str, Any]:
    """Webhook stats for the control API (zeros when there is no dispatcher)."""
    if dispatcher is None:
        return {"attempted": 0, "succeeded": 0, "failed": 0, "retried": 0, "pending": 0}
    return dispatcher.stats()
