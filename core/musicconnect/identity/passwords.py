"""argon2id password hashing and the password policy."""
from __future__ import annotations

import asyncio
import contextlib
import os
import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ..errors import Problem

MIN_LENGTH = 8
MAX_LENGTH = 256
COMMON = frozenset({
    "password", "password1", "password12", "password123", "12345678", "123456789", "1234567890",
    "qwertyuiop", "qwerty123", "iloveyou", "11111111", "00000000", "abcdefgh", "abc12345",
    "letmein1", "welcome1", "sunshine", "princess", "football", "baseball", "trustno1", "passw0rd",
    "musicconnect", "changeme", "admin123", "superman", "starwars", "dragon123", "monkey123",
})


class Passwords:
    """argon2id with a bounded number of hashes in flight per process.

    Each hash holds ``memory_cost`` KiB (64 MiB by default) while it runs, so thirty concurrent
    sign-ins would cost 2 GB: at most ``concurrency`` run at once (the CPU count by default: more
    would not finish sooner), the rest wait their turn, and a caller that waited ``wait`` seconds
    gets a 503 ``busy`` with Retry-After instead of piling up.
    """

    def __init__(self, time_cost: int = 3, memory_cost: int = 65536, concurrency: int = 0, wait: float = 10.0):
        self._ph = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=1)
        self._slots = threading.BoundedSemaphore(concurrency or os.cpu_count() or 2)
        self._wait = wait
        self._dummy = self._ph.hash("timing-equaliser")

    @contextlib.contextmanager
    def _slot(self):
        if not self._slots.acquire(timeout=self._wait):
            raise Problem(503, "busy", "the server is busy checking passwords; retry shortly",
                          headers={"Retry-After": "2"}, retry_after=2)
        try:
            yield
        finally:
            self._slots.release()

    def hash(self, password: str) -> str:
        with self._slot():
            return self._ph.hash(password)

    def verify(self, hashed: str | None, password: str) -> bool:
        """Constant work whether or not the user exists (``hashed=None``)."""
        with self._slot():
            try:
                return self._ph.verify(hashed or self._dummy, password) and hashed is not None
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

    def needs_rehash(self, hashed: str) -> bool:
        return self._ph.check_needs_rehash(hashed)


class PasswordGate:
    """The asynchronous queue in front of :class:`Passwords`: a request that must hash waits here,
    on the event loop, for one of ``slots`` turns, instead of holding a worker thread (which every
    synchronous route shares) for seconds; past ``max_waiting`` waiters it is ``503 busy`` at once."""

    def __init__(self, slots: int, max_waiting: int):
        self.slots = slots
        self.max_waiting = max_waiting
        self.waiting = 0
        self._sems: dict[int, asyncio.Semaphore] = {}

    @contextlib.asynccontextmanager
    async def turn(self):
        loop = asyncio.get_running_loop()
        sem = self._sems.get(id(loop))
        if sem is None:
            sem = self._sems[id(loop)] = asyncio.Semaphore(self.slots)
        if self.waiting >= self.max_waiting:
            raise Problem(503, "busy", "the server is busy checking passwords; retry shortly",
                          headers={"Retry-After": "2"}, retry_after=2)
        self.waiting += 1
        try:
            await sem.acquire()
        finally:
            self.waiting -= 1
        try:
            yield
        finally:
            sem.release()


def check_policy(password: str, *, email: str | None = None, allow_common: frozenset[str] = frozenset()) -> None:
    """Raise a 422 ``weak-password`` problem for a password nobody should use."""
    reasons = []
    if len(password) < MIN_LENGTH:
        reasons.append(f"at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        reasons.append(f"at most {MAX_LENGTH} characters")
    low = password.lower()
    if low in COMMON and low not in allow_common:
        reasons.append("not one of the most common passwords")
    if len(set(password)) < 4:
        reasons.append("at least 4 different characters")
    if email and low in (email.lower(), email.split("@")[0].lower()):
        reasons.append("different from your email address")
    if reasons:
        raise Problem(422, "weak-password", "the password must be " + ", ".join(reasons))
