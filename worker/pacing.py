"""Request pacing under WorkOS's rate limits, shared by every worker when Redis is available.

WorkOS allows 6,000 requests/min per API key and 4 requests/s per directory on
``/directory_users``. Bouncing off 429s wastes the budget and delays resyncs, so each request
first reserves a slot. The algorithm is GCRA (a token bucket stored as one timestamp): a
reservation returns how long to wait, and the caller sleeps that long before sending.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

import redis

log = logging.getLogger(__name__)


class Pacer(Protocol):
    def reserve(self, key: str, rate_per_second: float, burst: int) -> float:
        """Reserve one request slot under ``key``; return the seconds to wait before sending."""


class LocalPacer:
    """GCRA in process memory: right for one worker process (laptop mode, tests)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tat: dict[str, float] = {}
        self._lock = threading.Lock()

    def reserve(self, key: str, rate_per_second: float, burst: int) -> float:
        interval = 1.0 / rate_per_second
        with self._lock:
            now = self._clock()
            tat = max(self._tat.get(key, now), now)
            wait = max(0.0, tat - now - (burst - 1) * interval)
            self._tat[key] = tat + interval
            return wait


_GCRA_LUA = """
local key = KEYS[1]
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local tat = tonumber(redis.call('GET', key) or now)
if tat < now then tat = now end
local wait = tat - now - (burst - 1) * interval
if wait < 0 then wait = 0 end
local new_tat = tat + interval
redis.call('SET', key, tostring(new_tat), 'PX', math.ceil((new_tat - now) * 1000) + 1000)
return tostring(wait)
"""


class RedisPacer:
    """GCRA in Redis, using Redis's clock, so all workers on all hosts share one budget."""

    def __init__(self, url: str, prefix: str = "dirsync:pace:") -> None:
        self._redis = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self._script = self._redis.register_script(_GCRA_LUA)
        self._prefix = prefix
        self._fallback = LocalPacer()
        self._warned = False

    def reserve(self, key: str, rate_per_second: float, burst: int) -> float:
        interval = 1.0 / rate_per_second
        try:
            result = self._script(keys=[self._prefix + key], args=[interval, burst])
        except redis.RedisError as exc:
            # Redis is down: keep pacing in this process rather than failing the resync. The
            # budget is then per process, and a 429 that results is retried by the client.
            if not self._warned:
                log.warning("pacing falls back to in-process: Redis unavailable (%s)", exc)
                self._warned = True
            return self._fallback.reserve(key, rate_per_second, burst)
        self._warned = False
        return float(result)


def make_pacer(redis_url: str | None) -> Pacer:
    return RedisPacer(redis_url) if redis_url else LocalPacer()
