"""Rate limiting with the ``limits`` library: moving windows in memory, or in Redis when configured
(so that every API process shares the counters)."""
from __future__ import annotations

import time
from dataclasses import dataclass

from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter


@dataclass(frozen=True, slots=True)
class LimitState:
    allowed: bool
    remaining: int
    reset_at: float

    @property
    def retry_after(self) -> int:
        return max(1, int(self.reset_at - time.time() + 0.999))


class RateLimiter:
    def __init__(self, redis_url: str | None = None):
        self.storage = storage_from_string(redis_url or "memory://")
        self.limiter = MovingWindowRateLimiter(self.storage)

    def hit(self, limit: str, *identifiers: str) -> LimitState:
        """Count one hit; ``allowed`` is False once the limit is exceeded."""
        item = parse(limit)
        ok = self.limiter.hit(item, *identifiers)
        return self._state(item, ok, identifiers)

    def test(self, limit: str, *identifiers: str) -> LimitState:
        """Would one more hit be allowed? (counts nothing)."""
        item = parse(limit)
        ok = self.limiter.test(item, *identifiers)
        return self._state(item, ok, identifiers)

    def clear(self, limit: str, *identifiers: str) -> None:
        self.limiter.clear(parse(limit), *identifiers)

    def _state(self, item, ok: bool, identifiers) -> LimitState:
        stats = self.limiter.get_window_stats(item, *identifiers)
        return LimitState(allowed=ok, remaining=stats.remaining, reset_at=stats.reset_time)
