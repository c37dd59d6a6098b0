"""Per-caller request rate limits: a token bucket for each key (or client address).

A bucket holds up to ``burst`` requests and refills at ``rate`` per second; a request
that finds it empty is refused with the seconds until the next one would pass, which the
API sends as ``Retry-After``. Buckets untouched for a minute are dropped so that a flood of
distinct callers cannot grow memory without bound.
"""

from __future__ import annotations

import math
import threading
import time

MAX_BUCKETS = 100_000
IDLE_SECONDS = 60.0


class RateLimiter:
    def __init__(self, rate: float, burst: float | None = None) -> None:
        if rate < 0:
            raise ValueError(f"rate limit must be >= 0, got {rate}")
        self.rate = float(rate)
        self.burst = float(burst if burst is not None else max(1.0, 2 * rate))
        self._buckets: dict[str, tuple[float, float]] = {}  # who -> (tokens, last refill)
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def acquire(self, who: str, now: float | None = None) -> int:
        """0 when the request may pass, else whole seconds to wait (at least 1)."""
        if not self.enabled:
            return 0
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.get(who, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[who] = (tokens - 1.0, now)
                wait = 0
            else:
                self._buckets[who] = (tokens, now)
                wait = max(1, math.ceil((1.0 - tokens) / self.rate))
            if len(self._buckets) > MAX_BUCKETS:
                self._forget_idle(now)
        return wait

    def _forget_idle(self, now: float) -> None:
        idle = [w for w, (_, last) in self._buckets.items() if now - last > IDLE_SECONDS]
        for w in idle:
            del self._buckets[w]
        if len(self._buckets) > MAX_BUCKETS:
            # Everyone is active: forgetting the oldest only ever gives them a fresh burst.
            for w in sorted(self._buckets, key=lambda w: self._buckets[w][1])[
                : len(self._buckets) - MAX_BUCKETS
            ]:
                del self._buckets[w]
