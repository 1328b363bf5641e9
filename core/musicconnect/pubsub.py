"""Publish/subscribe between the parts of the platform: in-process (embedded default) or Redis
(several API and worker processes). Messages are JSON-able dicts on named channels."""
from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson


class InProcessPubSub:
    """Fan-out to asyncio subscribers of this process; ``publish`` is thread-safe."""

    def __init__(self) -> None:
        self._subs: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Queue]]] = {}
        self._lock = threading.Lock()

    def publish(self, channel: str, message: dict[str, Any]) -> None:
        with self._lock:
            subs = list(self._subs.get(channel, ()))
        for loop, queue in subs:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, message)
            except RuntimeError:  # that loop is closed
                pass

    async def apublish(self, channel: str, message: dict[str, Any]) -> None:
        self.publish(channel, message)

    @asynccontextmanager
    async def subscribe(self, *channels: str) -> AsyncIterator[AsyncIterator[tuple[str, dict]]]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        entries = []
        with self._lock:
            for ch in channels:
                q = _ChannelQueue(ch, queue)
                entry = (loop, q)
                self._subs.setdefault(ch, set()).add(entry)
                entries.append((ch, entry))

        async def messages() -> AsyncIterator[tuple[str, dict]]:
            while True:
                yield await queue.get()

        try:
            yield messages()
        finally:
            with self._lock:
                for ch, entry in entries:
                    self._subs.get(ch, set()).discard(entry)

    def close(self) -> None:
        pass


class _ChannelQueue:
    """Tags messages with their channel on the way into a shared queue."""

    def __init__(self, channel: str, queue: asyncio.Queue):
        self.channel = channel
        self.queue = queue

    def put_nowait(self, message: dict) -> None:
        self.queue.put_nowait((self.channel, message))


class RedisPubSub:
    """Redis channels; ``publish`` is sync (usable from threads and jobs), ``subscribe`` async."""

    def __init__(self, url: str, prefix: str = "mc:"):
        import redis
        import redis.asyncio as aioredis

        self.url = url
        self.prefix = prefix
        self._sync = redis.Redis.from_url(url)
        self._aioredis = aioredis

    def publish(self, channel: str, message: dict[str, Any]) -> None:
        self._sync.publish(self.prefix + channel, orjson.dumps(message))

    async def apublish(self, channel: str, message: dict[str, Any]) -> None:
        client = self._aioredis.Redis.from_url(self.url)
        try:
            await client.publish(self.prefix + channel, orjson.dumps(message))
        finally:
            await client.aclose()

    @asynccontextmanager
    async def subscribe(self, *channels: str) -> AsyncIterator[AsyncIterator[tuple[str, dict]]]:
        client = self._aioredis.Redis.from_url(self.url)
        ps = client.pubsub(ignore_subscribe_messages=True)
        await ps.subscribe(*[self.prefix + c for c in channels])
        n = len(self.prefix)

        async def messages() -> AsyncIterator[tuple[str, dict]]:
            while True:  # short polls: cancellation never lands inside a half-read reply
                raw = await ps.get_message(timeout=1.0)
                if raw is None or raw.get("type") != "message":
                    continue
                ch = raw["channel"].decode() if isinstance(raw["channel"], bytes) else raw["channel"]
                yield ch[n:], orjson.loads(raw["data"])

        try:
            yield messages()
        finally:
            for closer in (ps.aclose, client.aclose):
                try:
                    await asyncio.wait_for(closer(), 2)
                except (Exception, asyncio.CancelledError):
                    pass

    def close(self) -> None:
        self._sync.close()
