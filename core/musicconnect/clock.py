"""One injectable clock: everything that asks "what time is it" asks ``platform.clock``."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Clock:
    """Wall clock in timezone-aware UTC."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class FrozenClock(Clock):
    """A clock for tests: stands still until moved."""

    def __init__(self, at: datetime | None = None):
        self._lock = threading.Lock()
        self._now = (at or utcnow()).astimezone(timezone.utc)

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, at: datetime) -> None:
        with self._lock:
            self._now = at.astimezone(timezone.utc)

    def advance(self, **delta: float) -> datetime:
        with self._lock:
            self._now += timedelta(**delta)
            return self._now
