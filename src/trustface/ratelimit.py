"""Token buckets for expensive or guessable requests (API identify and access calls per key,
console sign-in attempts per address and e-mail): refused with E_RATE_LIMITED and a
``retry_after`` in seconds."""

from __future__ import annotations

import math
import threading
import time

from trustface.access.codes import E_RATE_LIMITED
from trustface.errors import TrustfaceError


class RateLimiter:
    """Token buckets keyed by (key, bucket name): ``rate`` requests per minute, bursts up to
    ``burst``. Thread-safe; memory only (a restart refills every bucket)."""

    def __init__(self, per_minute: dict[str, int], burst: dict[str, int] | None = None):
        self.per_minute = per_minute
        self.burst = burst or {name: max(1, rate // 6) for name, rate in per_minute.items()}
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}
        self._lock = threading.Lock()

    def check(self, key_id: str, bucket: str) -> None:
        """Take one token from ``key_id``'s ``bucket``, or raise E_RATE_LIMITED (``retry_after`` set)."""
        rate = self.per_minute.get(bucket)
        if not rate:
            return
        capacity, refill = float(self.burst[bucket]), rate / 60.0
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get((key_id, bucket), (capacity, now))
            tokens = min(capacity, tokens + (now - last) * refill)
            if tokens < 1.0:
                self._buckets[(key_id, bucket)] = (tokens, now)
                exc = TrustfaceError(E_RATE_LIMITED, f"more than {rate} {bucket} requests a minute with this key")
                exc.retry_after = max(1, math.ceil((1.0 - tokens) / refill))
                raise exc
            self._buckets[(key_id, bucket)] = (tokens - 1.0, now)


__all__ = ["RateLimiter"]
