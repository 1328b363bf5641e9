"""A small in-process read cache with a TTL, kept coherent across processes through pub/sub:
``platform.invalidate(key)`` drops the key here and tells every other process to drop it too.
Nothing lives only here: a miss always falls back to the database."""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any, Hashable

_MISSING = object()


class TTLCache:
    def __init__(self, ttl: float = 30.0, maxsize: int = 100_000):
        self.ttl = ttl
        self.maxsize = maxsize
        self._data: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._gen = 0

    def get(self, key: Hashable, default: Any = None) -> Any:
        item = self._data.get(key)
        if item is None:
            return default
        expires, value = item
        if expires < time.monotonic():
            with self._lock:
                self._data.pop(key, None)
            return default
        return value

    def generation(self) -> int:
        """Bumped by every invalidation; pass it to :meth:`set` to avoid caching a stale read."""
        return self._gen

    def set(self, key: Hashable, value: Any, *, generation: int | None = None) -> None:
        with self._lock:
            if generation is not None and generation != self._gen:
                return  # an invalidation raced with the read that produced value
            self._data[key] = (time.monotonic() + self.ttl, value)
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def invalidate(self, key: Hashable) -> None:
        with self._lock:
            self._gen += 1
            self._data.pop(key, None)

    def invalidate_prefix(self, prefix: tuple) -> None:
        with self._lock:
            self._gen += 1
            for k in [k for k in self._data if isinstance(k, tuple) and k[:len(prefix)] == prefix]:
                del self._data[k]

    def clear(self) -> None:
        with self._lock:
            self._gen += 1
            self._data.clear()
