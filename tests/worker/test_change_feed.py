"""The change feed: a reader following ``seq`` never skips a change that commits late."""

from __future__ import annotations

import threading
import time

from sqlalchemy import select

from worker.db import transaction
from worker.mirror import ChangeLog
from worker.models import Change


def visible_seqs(factory) -> list[int]:
    with factory() as session:
        return list(session.scalars(select(Change.seq).order_by(Change.seq)))


def test_seq_order_is_commit_order_under_concurrent_writers(factory):
    first_flushed = threading.Event()
    release_first = threading.Event()
    second_done = threading.Event()
    order: list[str] = []

    def slow_writer():
        with transaction(factory) as session:
            log = ChangeLog(source="event", event_id="slow")
            log.add("user", "created", "u_slow", directory_id="d", organization_id="o")
            log.flush(session)
            first_flushed.set()
            release_first.wait(10)
            order.append("slow commits")

    def fast_writer():
        first_flushed.wait(10)
        with transaction(factory) as session:
            log = ChangeLog(source="event", event_id="fast")
            log.add("user", "created", "u_fast", directory_id="d", organization_id="o")
            log.flush(session)
        order.append("fast commits")
        second_done.set()

    threads = [threading.Thread(target=slow_writer), threading.Thread(target=fast_writer)]
    for thread in threads:
        thread.start()
    first_flushed.wait(10)
    # While the first transaction is open, the second cannot commit a change row that a
    # reader would see ahead of the first one's.
    snapshots = []
    for _ in range(10):
        snapshots.append(visible_seqs(factory))
        time.sleep(0.05)
    assert not second_done.is_set()
    release_first.set()
    for thread in threads:
        thread.join(10)
    snapshots.append(visible_seqs(factory))
    final = snapshots[-1]
    assert order == ["slow commits", "fast commits"]
    with factory() as session:
        rows = session.scalars(select(Change).order_by(Change.seq)).all()
    assert [r.event_id for r in rows] == ["slow", "fast"]
    # Every snapshot a reader took is a prefix of the final feed: nothing appeared out of order.
    for snap in snapshots:
        assert snap == final[: len(snap)]
