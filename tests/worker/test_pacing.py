"""GCRA pacing: LocalPacer with a fake clock, RedisPacer against a real Redis shared by two
pacer instances (standing in for two worker processes)."""

from __future__ import annotations

import itertools
import os
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from worker.pacing import LocalPacer, RedisPacer, make_pacer

REDIS_URL = os.environ.get("DIRSYNC_TEST_PACING_REDIS_URL", "redis://127.0.0.1:6379/11")


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# -- LocalPacer ----------------------------------------------------------------------------


def test_local_rate_4_burst_1_spaces_requests_a_quarter_second_apart() -> None:
    pacer = LocalPacer(clock=FakeClock())
    waits = [pacer.reserve("k", 4, 1) for _ in range(5)]
    assert waits == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0])


def test_local_burst_3_lets_the_first_three_through() -> None:
    pacer = LocalPacer(clock=FakeClock())
    waits = [pacer.reserve("k", 4, 3) for _ in range(6)]
    assert waits == pytest.approx([0.0, 0.0, 0.0, 0.25, 0.5, 0.75])


def test_local_keys_are_independent() -> None:
    pacer = LocalPacer(clock=FakeClock())
    assert pacer.reserve("a", 4, 1) == 0.0
    assert pacer.reserve("a", 4, 1) == pytest.approx(0.25)
    assert pacer.reserve("b", 4, 1) == 0.0
    assert pacer.reserve("b", 4, 1) == pytest.approx(0.25)
    assert pacer.reserve("a", 4, 1) == pytest.approx(0.5)


def test_local_caller_that_waits_as_told_is_never_delayed_further() -> None:
    clock = FakeClock()
    pacer = LocalPacer(clock=clock)
    for _ in range(10):
        wait = pacer.reserve("k", 4, 1)
        clock.advance(wait)
        # Sending right at the granted slot: the next one is exactly one interval away.
        assert pacer.reserve("probe", 1000, 1000) == 0.0
    assert pacer.reserve("k", 4, 1) == pytest.approx(0.25)


def test_local_idle_time_refills_the_burst_but_not_beyond_it() -> None:
    clock = FakeClock()
    pacer = LocalPacer(clock=clock)
    for _ in range(3):
        pacer.reserve("k", 4, 3)
    clock.advance(60)  # a long idle period earns no more than `burst` free slots
    waits = [pacer.reserve("k", 4, 3) for _ in range(5)]
    assert waits == pytest.approx([0.0, 0.0, 0.0, 0.25, 0.5])


def test_local_partial_recovery() -> None:
    clock = FakeClock()
    pacer = LocalPacer(clock=clock)
    assert pacer.reserve("k", 2, 1) == 0.0
    assert pacer.reserve("k", 2, 1) == pytest.approx(0.5)
    clock.advance(0.3)
    assert pacer.reserve("k", 2, 1) == pytest.approx(0.7)


def test_local_pacer_is_thread_safe() -> None:
    pacer = LocalPacer(clock=FakeClock())
    waits: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(50):
            w = pacer.reserve("k", 10, 1)
            with lock:
                waits.append(w)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(waits) == pytest.approx([i / 10 for i in range(200)])


def test_make_pacer_picks_local_without_url() -> None:
    assert isinstance(make_pacer(None), LocalPacer)
    assert isinstance(make_pacer(""), LocalPacer)
    assert isinstance(make_pacer(REDIS_URL), RedisPacer)


# -- RedisPacer ----------------------------------------------------------------------------


@pytest.fixture
def redis_conn() -> Iterator[redis.Redis]:
    conn = redis.Redis.from_url(REDIS_URL, socket_timeout=5, socket_connect_timeout=5)
    conn.ping()
    yield conn
    conn.close()


@pytest.fixture
def prefix(redis_conn: redis.Redis) -> Iterator[str]:
    """A key prefix unique to this test; every key under it is deleted afterwards."""
    value = f"dirsync:test:pacing:{uuid.uuid4().hex}:"
    yield value
    keys = list(redis_conn.scan_iter(match=value + "*"))
    if keys:
        redis_conn.delete(*keys)


def test_redis_two_workers_share_one_budget(redis_conn: redis.Redis, prefix: str) -> None:
    rate = 10.0
    interval = 1 / rate
    worker_a = RedisPacer(REDIS_URL, prefix=prefix)
    worker_b = RedisPacer(REDIS_URL, prefix=prefix)

    slots: list[float] = []
    waits: list[float] = []
    for i in range(12):
        pacer = worker_a if i % 2 == 0 else worker_b
        before = time.time()
        wait = pacer.reserve("dir_users:directory_1", rate, 1)
        waits.append(wait)
        slots.append(before + wait)

    assert waits[0] == pytest.approx(0.0, abs=0.01)
    # Reservations from both workers interleave into one schedule, one interval apart.
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert all(interval - 0.015 <= g <= interval + 0.015 for g in gaps), gaps
    assert slots[-1] - slots[0] == pytest.approx((12 - 1) * interval, abs=0.02)
    # Waits grow strictly: neither worker was granted a slot the other already holds.
    assert all(b > a for a, b in itertools.pairwise(waits)), waits


def test_redis_two_workers_in_threads_stay_under_the_rate(
    redis_conn: redis.Redis, prefix: str
) -> None:
    rate = 20.0
    per_worker = 6
    sent: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        pacer = RedisPacer(REDIS_URL, prefix=prefix)
        for _ in range(per_worker):
            time.sleep(pacer.reserve("key:shared", rate, 1))
            with lock:
                sent.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    sent.sort()
    assert len(sent) == 2 * per_worker
    span = sent[-1] - sent[0]
    assert span >= (2 * per_worker - 1) / rate - 0.02, span
    assert span < (2 * per_worker - 1) / rate + 0.5, span


def test_redis_burst_lets_the_first_slots_through(redis_conn: redis.Redis, prefix: str) -> None:
    pacer = RedisPacer(REDIS_URL, prefix=prefix)
    waits = [pacer.reserve("k", 4, 3) for _ in range(5)]
    assert waits[:3] == pytest.approx([0.0, 0.0, 0.0], abs=0.01)
    assert waits[3] == pytest.approx(0.25, abs=0.02)
    assert waits[4] == pytest.approx(0.5, abs=0.02)


def test_redis_idle_time_earns_no_extra_burst(redis_conn: redis.Redis, prefix: str) -> None:
    pacer = RedisPacer(REDIS_URL, prefix=prefix)
    pacer.reserve("k", 20, 1)
    time.sleep(0.3)  # idle for six intervals: still only one free slot afterwards
    waits = [pacer.reserve("k", 20, 1) for _ in range(3)]
    assert waits[0] == pytest.approx(0.0, abs=0.01)
    assert waits[1] == pytest.approx(0.05, abs=0.015)
    assert waits[2] == pytest.approx(0.10, abs=0.015)


def test_redis_keys_are_independent(redis_conn: redis.Redis, prefix: str) -> None:
    pacer = RedisPacer(REDIS_URL, prefix=prefix)
    assert pacer.reserve("a", 4, 1) == pytest.approx(0.0, abs=0.01)
    assert pacer.reserve("a", 4, 1) == pytest.approx(0.25, abs=0.02)
    assert pacer.reserve("b", 4, 1) == pytest.approx(0.0, abs=0.01)


def test_redis_keys_get_a_ttl_and_expire(redis_conn: redis.Redis, prefix: str) -> None:
    pacer = RedisPacer(REDIS_URL, prefix=prefix)

    pacer.reserve("slow", 1, 1)  # next slot 1 s away: TTL ≈ 1 s + 1 s grace
    ttl = redis_conn.pttl(prefix + "slow")
    assert 0 < ttl <= 2000, ttl
    assert ttl > 1500, ttl

    for _ in range(5):
        pacer.reserve("busy", 10, 1)  # schedule reaches 0.5 s ahead
    ttl = redis_conn.pttl(prefix + "busy")
    assert 1300 < ttl <= 1500, ttl

    pacer.reserve("fast", 50, 1)  # 20 ms ahead: TTL ≈ 1.02 s
    assert 0 < redis_conn.pttl(prefix + "fast") <= 1020
    deadline = time.monotonic() + 3
    while redis_conn.exists(prefix + "fast") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not redis_conn.exists(prefix + "fast"), "pacing key never expired"
    # After expiry the bucket starts fresh.
    assert pacer.reserve("fast", 50, 1) == pytest.approx(0.0, abs=0.01)


def test_redis_uses_the_prefix(redis_conn: redis.Redis, prefix: str) -> None:
    RedisPacer(REDIS_URL, prefix=prefix).reserve("dir_users:directory_x", 4, 1)
    keys = {k.decode() for k in redis_conn.scan_iter(match=prefix + "*")}
    assert keys == {prefix + "dir_users:directory_x"}


def test_redis_pacer_falls_back_to_local_pacing_when_redis_is_down():
    pacer = RedisPacer("redis://127.0.0.1:1/0")
    waits = [pacer.reserve("dir_users:x", 4.0, 1) for _ in range(3)]
    assert waits[0] == 0.0
    assert waits[1] > 0.2 and waits[2] > waits[1]  # still paced, in process
