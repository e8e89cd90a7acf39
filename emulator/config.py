"""Runtime-mutable emulator configuration (faults, limits, webhook target)."""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class EmulatorConfig:
    api_key: str = "sk_test_dirsync"
    rate_limits: bool = True
    general_limit_per_minute: int = 6000
    directory_users_per_second: int = 4
    latency_ms: int = 0
    error_rate: float = 0.0  # share of API requests answered 500
    fail_next: int = 0  # the next N API requests get 500
    burst_429: int = 0  # the next N API requests get 429
    retry_after_seconds: int = 1
    groups_on_users: bool = False
    webhook_url: str | None = None
    webhook_secret: str | None = None
    webhook_retry_delays: tuple[float, ...] = (0.5, 1, 2, 5)
    webhook_concurrency: int = 4
    webhook_timeout: float = 10.0
    random_seed: int | None = None
    _lock: threading.Lock = field(
        default_factory=threading.Lock, repr=False, compare=False, init=False
    )

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls) if not f.name.startswith("_")]

    def update(self, **changes: Any) -> None:
        """Set several fields at once; unknown names raise TypeError."""
        names = set(self.field_names())
        bad = set(changes) - names
        if bad:
            raise TypeError(f"unknown config fields: {sorted(bad)}")
        with self._lock:
            for key, value in changes.items():
                if key == "webhook_retry_delays" and value is not None:
                    value = tuple(float(v) for v in value)
                setattr(self, key, value)

    def to_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in self.field_names()}
        out["webhook_retry_delays"] = list(self.webhook_retry_delays)
        return out

    def take(self, name: str) -> bool:
        """Atomically decrement a counter field (fail_next, burst_429); True if it was > 0."""
        with self._lock:
            value = getattr(self, name)
            if value > 0:
                setattr(self, name, value - 1)
                return True
            return False
