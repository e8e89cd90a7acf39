"""Enqueueing never makes WorkOS wait for the broker: it runs on a background thread."""

from __future__ import annotations

import threading
import time

from web.enqueue import BackgroundEnqueuer


def test_submit_returns_at_once_and_publishes_in_the_background():
    published: list[str] = []
    gate = threading.Event()

    def slow_publish(event_id: str) -> None:
        gate.wait(5)
        published.append(event_id)

    enqueuer = BackgroundEnqueuer(slow_publish)
    began = time.perf_counter()
    for n in range(50):
        enqueuer(f"event_{n}")
    assert time.perf_counter() - began < 0.5
    gate.set()
    assert enqueuer.join(5)
    assert published == [f"event_{n}" for n in range(50)]


def test_a_failing_broker_pauses_attempts_instead_of_slowing_every_request():
    calls: list[str] = []

    def broken(event_id: str) -> None:
        calls.append(event_id)
        time.sleep(0.2)  # a connection attempt that takes a while, then fails
        raise ConnectionError("broker down")

    enqueuer = BackgroundEnqueuer(broken, pause_after_failure=60)
    for n in range(20):
        enqueuer(f"event_{n}")
    assert enqueuer.join(5)
    assert calls == ["event_0"]  # one attempt, then it stopped trying for a while
    assert enqueuer.skipped == 20 and enqueuer.published == 0


def test_a_full_queue_drops_to_the_sweep_not_to_an_error():
    gate = threading.Event()
    enqueuer = BackgroundEnqueuer(lambda _id: gate.wait(5), maxsize=2)
    for n in range(10):
        enqueuer(f"event_{n}")
    gate.set()
    assert enqueuer.join(5)
    assert enqueuer.skipped >= 7
