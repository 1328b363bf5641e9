"""Per-caller API rate limits, shared by every API process.

Each request of the HTTP API is counted against one policy chosen by who is calling: an anonymous
client (per address), a signed-in fan, a paying member, an artist (or admin), or a personal API
token (per token). Fixed windows (policies parsed by the ``limits`` library): counted in this
process's memory on the embedded default (:class:`LocalWindows`), in Redis (one round trip,
``redis.asyncio``) when ``MC_REDIS_URL`` is set, so N API processes share the counters. Responses carry the IETF ``RateLimit-Policy`` / ``RateLimit`` fields
(draft-ietf-httpapi-ratelimit-headers-10); a refusal is a 429 problem with ``Retry-After``.
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse

#: the caller classes, from least to most trusted
CLASSES = ("anonymous", "fan", "member", "artist", "token")
SCOPE_KEY = "musicconnect.ratelimit"
REDIS_POOL = 64  # connections per process and event loop for the counters
_FAILURES = [0.0]


def _storage_failed(exc: Exception) -> None:
    import logging

    now = time.monotonic()
    if now - _FAILURES[0] > 10:  # at most one line per 10 s
        _FAILURES[0] = now
        logging.getLogger("musicconnect.ratelimit").error(
            "rate-limit storage failed (%s: %s); requests are let through uncounted", type(exc).__name__, exc)


@dataclass(frozen=True, slots=True)
class Verdict:
    policy: str
    quota: int
    window: int
    remaining: int
    reset: int  # seconds until the window resets
    allowed: bool

    def headers(self) -> list[tuple[bytes, bytes]]:
        return [(b"ratelimit-policy", f'"{self.policy}";q={self.quota};w={self.window}'.encode()),
                (b"ratelimit", f'"{self.policy}";r={self.remaining};t={self.reset}'.encode())]


class LocalWindows:
    """Fixed-window counters of one process: a dict and a lock, swept of expired windows at most
    once a second. (``limits``' ``MemoryStorage`` starts a timer thread every 10 ms while
    counting, which cost ~7% of the CPU of a cached read route under load.)"""

    def __init__(self) -> None:
        self._counts: dict[str, list] = {}  # name -> [count, expires_at]
        self._lock = threading.Lock()
        self._sweep_at = 0.0

    def incr(self, name: str, expires_at: float, now: float) -> int:
        with self._lock:
            if now >= self._sweep_at:
                self._counts = {k: v for k, v in self._counts.items() if v[1] > now}
                self._sweep_at = now + 1.0
            entry = self._counts.get(name)
            if entry is None:
                self._counts[name] = [1, expires_at]
                return 1
            entry[0] += 1
            return entry[0]

    def __len__(self) -> int:
        return len(self._counts)

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()


class ApiLimits:
    """``await limits.hit(caller_class, key)`` counts one request and returns a :class:`Verdict`.

    Windows are aligned to the epoch (``floor(now / w)``), so the reset time is known without
    asking the storage: one ``INCR`` (with its expiry) per request, nothing else.
    """

    def __init__(self, settings):
        self.enabled = settings.rate_limits_enabled
        self.items: dict[str, RateLimitItem] = {
            c: parse(getattr(settings, f"rate_limit_{c}")) for c in CLASSES}
        self._redis = bool(settings.redis_url)
        self._url = settings.redis_url
        self._loops: dict[int, tuple] = {}  # an asyncio Redis client belongs to one event loop
        if not self._redis:
            self._storage = LocalWindows()

    def policy(self, caller_class: str) -> tuple[int, int]:
        item = self.items[caller_class]
        return item.amount, item.get_expiry()

    async def hit(self, caller_class: str, key: str) -> Verdict:
        item = self.items[caller_class]
        window = item.get_expiry()
        now = time.time()
        bucket = int(now // window)
        name = f"mc-api/{caller_class}/{key}/{bucket}"
        if self._redis:
            try:
                count = await self._async_storage().incr(name, window + 1)
            except Exception as exc:  # the limiter must not take the API down with it: fail open, loudly
                _storage_failed(exc)
                return Verdict(caller_class, item.amount, window, item.amount, window, True)
        else:
            count = self._storage.incr(name, (bucket + 1) * window + 1, now)
        reset = max(1, math.ceil((bucket + 1) * window - now))
        return Verdict(caller_class, item.amount, window, max(0, item.amount - count), reset, count <= item.amount)

    def _async_storage(self):
        import asyncio

        loop = asyncio.get_running_loop()
        entry = self._loops.get(id(loop))
        if entry is None or entry[0] is not loop:  # a new loop (an id can be reused after one closed)
            import redis.asyncio
            from limits.aio.storage import RedisStorage

            # a blocking pool: past its size a request waits (briefly) for a connection instead
            # of failing with "Too many connections" (redis-py's default pool raises at 100)
            pool = redis.asyncio.BlockingConnectionPool.from_url(self._url, max_connections=REDIS_POOL, timeout=5)
            storage = RedisStorage("async+" + self._url, implementation="redispy", connection_pool=pool)
            entry = self._loops[id(loop)] = (loop, storage)
        return entry[1]

    def reset(self) -> None:
        """Forget every counter of the in-memory storage (tests)."""
        if not self._redis:
            self._storage.reset()

