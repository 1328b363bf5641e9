"""A counting semaphore weighted by cost, for work whose memory grows with its input (decoding
images, covers): ``with budget.take(n):`` waits until ``n`` more units fit under the limit, so N
requests or jobs at once cannot take N times the memory. A unit of work larger than the whole
budget takes all of it (it runs alone)."""
from __future__ import annotations

import threading
from contextlib import contextmanager


class Budget:
    def __init__(self, limit: int):
        self.limit = limit
        self.used = 0
        self._cond = threading.Condition()

    @contextmanager
    def take(self, amount: int, wait: float = 30.0, on_timeout=None):
        """Hold ``amount`` units while inside. After ``wait`` seconds without room, raise
        ``on_timeout()`` if given (e.g. a 503 ``Problem``), else ``TimeoutError``."""
        amount = max(1, min(amount, self.limit))
        with self._cond:
            if not self._cond.wait_for(lambda: self.used + amount <= self.limit, timeout=wait):
                raise on_timeout() if on_timeout is not None else TimeoutError("the budget stayed full")
            self.used += amount
        try:
            yield
        finally:
            with self._cond:
                self.used -= amount
                self._cond.notify_all()
