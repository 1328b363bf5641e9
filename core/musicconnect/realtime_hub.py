"""The real-time hub: rooms of open sockets, and delivery to them from any process.

``platform.realtime`` is a :class:`Hub`. Embedded (no ``MC_REDIS_URL``) a published message goes
straight to the members of the room in this process. With Redis, each process SUBSCRIBES only to
the rooms it holds members of (``SUBSCRIBE`` on the first local join, ``UNSUBSCRIBE`` after the
last leave), so a message costs one ``PUBLISH`` and is read only by the processes that deliver it.
A message is serialised once, whatever the number of listeners. Members of the publisher's own
process are served directly; the Redis copy carries the publisher's id and is skipped there.

Async Redis clients belong to one event loop: each loop gets its own :class:`_RedisLink` (one
blocking pool for ``PUBLISH`` and the ticket store, one pub/sub connection and its reader task).
"""
from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from .platform import Platform
    from .realtime import Socket

log = logging.getLogger("musicconnect.realtime")

CHANNEL_PREFIX = "mc:rt:"
TICKET_PREFIX = "mc:rt-ticket:"
REDIS_POOL = 32  # connections per process and event loop for PUBLISH and tickets


def user_room(user_id: Any) -> str:
    return f"user:{user_id}"


class Hub:
    """Rooms of this process's open sockets, and delivery into rooms across processes."""

    def __init__(self, platform: "Platform"):
        self.platform = platform
        self.settings = platform.settings
        # one event loop per process serves sockets (uvicorn's); tests may run several in turn
        self.rooms: dict[str, set["Socket"]] = {}
        self.origin = uuid.uuid4().hex.encode()  # 32 bytes that prefix this process's Redis messages
        self._redis_url = platform.settings.redis_url
        self._links: dict[int, tuple[asyncio.AbstractEventLoop, _RedisLink]] = {}
        self._tickets: dict[str, tuple[float, dict]] = {}  # embedded ticket store
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ delivery
    async def publish(self, room: str, message: dict[str, Any]) -> None:
        """Send ``message`` (a JSON-able dict) to every member of ``room`` in every process."""
        text = orjson.dumps(message)
        if not self._redis_url:
            self._deliver(room, text)
            return
        # the PUBLISH goes out first (its task is scheduled before the local writers), so other
        # processes deliver while this one does, not after
        sent = asyncio.ensure_future(self._link().publish(room, self.origin + text))
        self._deliver(room, text)
        try:
            await sent
        except Exception as exc:  # local members were served; a Redis outage must not kill the caller
            _redis_failed(exc)

    def publish_threadsafe(self, room: str, message: dict[str, Any]) -> None:
        """:meth:`publish` from synchronous code (a job, a thread): never blocks on a socket."""
        self.publish_many_threadsafe([(room, message)])

    def publish_many_threadsafe(self, items: list[tuple[str, dict[str, Any]]]) -> None:
        """Several ``(room, message)`` at once from synchronous code: one round trip to Redis
        (a pipeline) however many there are — for jobs that tell thousands of users."""
        texts = [(room, orjson.dumps(message)) for room, message in items]
        for room, text in texts:
            self._deliver(room, text)
        if self._redis_url and texts:
            import redis

            with self._lock:
                client = self.__dict__.get("_sync")
                if client is None:
                    client = self.__dict__["_sync"] = redis.Redis.from_url(self._redis_url)
            with client.pipeline(transaction=False) as pipe:
                for room, text in texts:
                    pipe.publish(CHANNEL_PREFIX + room, self.origin + text)
                pipe.execute()

    async def send_to_user(self, user_id: Any, message: dict[str, Any]) -> None:
        """To every socket the user has open (each authenticated socket is in ``user:<id>``)."""
        await self.publish(user_room(user_id), message)

    def local_members(self, room: str) -> int:
        """How many sockets of this process are in ``room``."""
        return len(self.rooms.get(room, ()))

    def _deliver(self, room: str, text: bytes) -> None:
        members = self.rooms.get(room)
        if not members:
            return
        payload = text.decode()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        for sock in list(members):
            if sock.loop is loop:
                sock._enqueue(payload)
            else:
                try:
                    sock.loop.call_soon_threadsafe(sock._enqueue, payload)
                except RuntimeError:  # that loop has closed
                    pass

    # ------------------------------------------------------------------ membership
    async def _joined(self, sock: "Socket", room: str) -> None:
        members = self.rooms.setdefault(room, set())
        first = not members
        members.add(sock)
        if first and self._redis_url:
            await self._link().reconcile(room)

    async def _left(self, sock: "Socket", room: str) -> None:
        members = self.rooms.get(room)
        if members is None:
            return
        members.discard(sock)
        if not members:
            del self.rooms[room]
            if self._redis_url:
                await self._link().reconcile(room)

    def _link(self) -> "_RedisLink":
        loop = asyncio.get_running_loop()
        entry = self._links.get(id(loop))
        if entry is None or entry[0] is not loop:  # a new loop (an id can be reused after one closed)
            entry = self._links[id(loop)] = (loop, _RedisLink(self, self._redis_url))
        return entry[1]

    def subscribed_rooms(self) -> set[str]:
        """The rooms this process's current loop is subscribed to in Redis (tests, diagnostics)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return set()
        entry = self._links.get(id(loop))
        return set(entry[1].subscribed) if entry and entry[0] is loop else set()

    # ------------------------------------------------------------------ tickets
    async def issue_ticket(self, grant: dict[str, Any], ttl: int) -> str:
        """A short-lived single-use ticket standing for ``grant`` (who and which scopes)."""
        import secrets

        ticket = "rtt_" + secrets.token_urlsafe(24)
        key = _ticket_key(ticket)
        expires = self.platform.clock.now().timestamp() + ttl
        grant = {**grant, "exp": expires}
        if self._redis_url:
            await self._link().client.set(TICKET_PREFIX + key, orjson.dumps(grant), ex=ttl + 1)
        else:
            with self._lock:
                now = self.platform.clock.now().timestamp()
                if len(self._tickets) > 1024:  # sweep the expired ones now and then
                    self._tickets = {k: v for k, v in self._tickets.items() if v[0] > now}
                self._tickets[key] = (expires, grant)
        return ticket

    async def redeem_ticket(self, ticket: str) -> dict[str, Any] | None:
        """The grant of a valid ticket, once; ``None`` for an unknown, used or expired one."""
        key = _ticket_key(ticket)
        if self._redis_url:
            raw = await self._link().client.getdel(TICKET_PREFIX + key)
            grant = orjson.loads(raw) if raw else None
        else:
            with self._lock:
                entry = self._tickets.pop(key, None)
            grant = entry[1] if entry else None
        if grant is None or grant["exp"] <= self.platform.clock.now().timestamp():
            return None
        return grant

    def close(self) -> None:
        client = self.__dict__.pop("_sync", None)
        if client is not None:
            client.close()
        for loop, link in list(self._links.values()):
            if not loop.is_closed() and loop.is_running():
                asyncio.run_coroutine_threadsafe(link.aclose(), loop)
        self._links.clear()


_FAILED_AT = [0.0]


def _redis_failed(exc: Exception) -> None:
    import time

    now = time.monotonic()
    if now - _FAILED_AT[0] > 10:  # at most one line per 10 s
        _FAILED_AT[0] = now
        log.error("real-time Redis failed (%s: %s); remote members miss messages until it is back",
                  type(exc).__name__, exc)


def _ticket_key(ticket: str) -> str:
    import hashlib

    return hashlib.sha256(ticket.encode()).hexdigest()


class _RedisLink:
    """One event loop's Redis: a pool for commands, a pub/sub connection following the rooms
    this process holds members of, and the task reading it."""

    def __init__(self, hub: Hub, url: str):
        import redis.asyncio

        self.hub = hub
        self.url = url
        pool = redis.asyncio.BlockingConnectionPool.from_url(url, max_connections=REDIS_POOL, timeout=5)
        self.client = redis.asyncio.Redis(connection_pool=pool)
        self.subscribed: set[str] = set()
        self._pubsub = None
        self._reader: asyncio.Task | None = None
        self._broken = False
        self._lock = asyncio.Lock()

    async def publish(self, room: str, data: bytes) -> None:
        await self.client.publish(CHANNEL_PREFIX + room, data)

    async def reconcile(self, room: str) -> None:
        """Make the subscription to ``room`` match whether this process has members in it (the
        lock orders SUBSCRIBE/UNSUBSCRIBE of joins and leaves that interleave). A failure is
        logged and repaired by resubscribing every room with members (the reader retries)."""
        try:
            await self._reconcile(room)
        except Exception as exc:
            _redis_failed(exc)
            self._broken = True
            self._ensure_reader()

    async def _reconcile(self, room: str) -> None:
        async with self._lock:
            want = bool(self.hub.rooms.get(room))
            if want == (room in self.subscribed):
                return
            ps = await self._ensure_pubsub()
            if want:
                await ps.subscribe(CHANNEL_PREFIX + room)
                self.subscribed.add(room)
            else:
                await ps.unsubscribe(CHANNEL_PREFIX + room)
                self.subscribed.discard(room)

    async def _ensure_pubsub(self):
        if self._pubsub is None:
            import redis.asyncio

            client = redis.asyncio.Redis.from_url(self.url)
            self._pubsub = client.pubsub(ignore_subscribe_messages=True)
            self._pubsub_client = client
        self._ensure_reader()
        return self._pubsub

    def _ensure_reader(self) -> None:
        if self._reader is None or self._reader.done():
            self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        n = len(CHANNEL_PREFIX)
        origin = self.hub.origin
        k = len(origin)
        while True:
            try:
                if self._broken:
                    raise ConnectionError("a subscription change failed")
                ps = self._pubsub
                if ps is None or not ps.subscribed:
                    await asyncio.sleep(0.05)
                    continue
                raw = await ps.get_message(timeout=1.0)
                if raw is None or raw.get("type") != "message":
                    continue
                data: bytes = raw["data"]
                if data[:k] == origin:
                    continue  # published here: already delivered to this process's members
                channel = raw["channel"]
                room = (channel.decode() if isinstance(channel, bytes) else channel)[n:]
                self.hub._deliver(room, data[k:])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis went away: resubscribe every room with members, once a second
                _redis_failed(exc)
                await asyncio.sleep(1)
                try:
                    await self._resubscribe()
                except Exception as again:
                    _redis_failed(again)
                    self._broken = True

    async def _resubscribe(self) -> None:
        async with self._lock:
            self._broken = False
            old, self._pubsub = self._pubsub, None
            self.subscribed.clear()
            if old is not None:
                try:
                    await asyncio.wait_for(old.aclose(), 2)
                except (Exception, asyncio.TimeoutError):
                    pass
            rooms = [r for r, m in self.hub.rooms.items() if m]
            if rooms:
                import redis.asyncio

                client = redis.asyncio.Redis.from_url(self.url)
                self._pubsub = client.pubsub(ignore_subscribe_messages=True)
                await self._pubsub.subscribe(*[CHANNEL_PREFIX + r for r in rooms])
                self.subscribed.update(rooms)

    async def aclose(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        for closer in (getattr(self._pubsub, "aclose", None), self.client.aclose):
            if closer is not None:
                try:
                    await asyncio.wait_for(closer(), 2)
                except (Exception, asyncio.CancelledError):
                    pass

