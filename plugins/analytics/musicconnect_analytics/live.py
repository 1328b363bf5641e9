"""Live dashboards: today's plays, listeners now and new supporters, pushed over the core's sockets.

Two socket routes (``SOCKET_ROUTES``):

* ``/api/v1/analytics/artists/{artist_id}/live`` (scope ``analytics:read``; the artist themselves
  or an admin): room ``analytics:live:<artist_id>``.
* ``/api/v1/analytics/live`` (admins only): the platform-wide view, room ``analytics:live:platform``.

Protocol (server to client, JSON objects):

* ``{"type": "snapshot", "scope": "artist"|"platform", "as_of": iso, "day": "YYYY-MM-DD",
  "figures": {"plays_today": n, "listeners_now": n, "new_supporters_today": n, ...}}`` on
  connect, again every ``REFRESH_SECONDS`` (a resync: deltas missed or counted twice are
  corrected there) and whenever the client sends ``{"type": "refresh"}``.
* ``{"type": "delta", "at": iso, "add": {"plays_today": 3, "new_supporters_today": 1}}``: add
  these to the figures of the last snapshot. ``listeners_now`` (a distinct count over a sliding
  window) only changes with snapshots.

Where the numbers live: nowhere in process memory. A snapshot is read from the database (the
``domain_events`` table through its ``(artist_id, type, occurred_at)`` / ``(type, occurred_at)``
indexes: small ranges of today; per room and process at most ``SNAPSHOT_BURST`` reads, then
``SNAPSHOT_RATE`` a second, shared by the room's sockets), deltas come from ``on_event`` in whichever API or worker process
committed the event and travel through ``platform.realtime.publish_threadsafe`` (in-process when
embedded, Redis pub/sub with ``MC_REDIS_URL``), so a socket held by process A sees an event
committed by process B. Deltas are coalesced per room (at most one message per
``COALESCE_SECONDS`` and room while events keep coming; the first event after a quiet spell goes
out at once, what is kept back follows within ``COALESCE_SECONDS``) so that a busy artist, or the
platform room, costs a bounded number of messages.

"Today" is the UTC day; "listeners now" are the distinct listeners (signed-in users, or the
player's anonymous id) with a play started, counted or completed in the last
``LISTENER_WINDOW`` minutes.
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from datetime import datetime, time as dtime, timedelta, timezone

from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from musicconnect import Problem
from musicconnect.models import Artist, DomainEvent
from musicconnect.realtime import Socket, SocketClosed, SocketRoute

#: seconds between two resync snapshots sent to an open socket
REFRESH_SECONDS = 15.0
#: at most one delta message per room in this many seconds (per process) while events keep coming
COALESCE_SECONDS = 1.0
#: "listeners now": a play event in the last this many minutes
LISTENER_WINDOW = 5
#: snapshot reads from the database per room and process: a burst of this many, then
#: ``SNAPSHOT_RATE`` a second; beyond that a socket gets the room's latest snapshot (about a second
#: old at most), so neither a crowd of sockets nor a client sending refreshes in a loop multiplies
#: the queries (the core caps connections per caller by rate, not how many stay open)
SNAPSHOT_BURST = 5
SNAPSHOT_RATE = 1.0

PLAY_TYPES = ("play.started", "play.counted", "play.completed")
#: event type -> the figure it adds one to
COUNTED = {"play.counted": "plays_today", "entitlement.granted": "new_supporters_today",
           "fan.followed": "new_followers_today", "user.registered": "signups_today"}
ARTIST_FIGURES = ("plays_today", "new_supporters_today", "new_followers_today")
PLATFORM_FIGURES = ("plays_today", "new_supporters_today", "new_followers_today", "signups_today")

PLATFORM_ROOM = "analytics:live:platform"
log = logging.getLogger("musicconnect.analytics")


def artist_room(artist_id) -> str:
    return f"analytics:live:{artist_id}"


# ---------------------------------------------------------------------------------- snapshots
def _day_start(now: datetime) -> datetime:
    return datetime.combine(now.astimezone(timezone.utc).date(), dtime.min, tzinfo=timezone.utc)


def figures(platform, artist_id: uuid.UUID | None) -> dict:
    """The live figures now, read from the database: one artist's, or the platform's (``None``)."""
    now = platform.clock.now()
    start = _day_start(now)
    since = now - timedelta(minutes=LISTENER_WINDOW)
    names = ARTIST_FIGURES if artist_id is not None else PLATFORM_FIGURES
    by_type = {t: f for t, f in COUNTED.items() if f in names}
    out: dict = {}
    with platform.read() as s:
        def scoped(q):
            return q.where(DomainEvent.artist_id == artist_id) if artist_id is not None else q

        for etype, fig in by_type.items():
            out[fig] = s.scalar(scoped(select(func.count()).select_from(DomainEvent).where(
                DomainEvent.type == etype, DomainEvent.occurred_at >= start,
                DomainEvent.occurred_at <= now))) or 0
        rows = s.execute(scoped(select(DomainEvent.actor_id, DomainEvent.data).where(
            DomainEvent.type.in_(PLAY_TYPES), DomainEvent.occurred_at >= since,
            DomainEvent.occurred_at <= now))).all()
        out["listeners_now"] = len({_listener(a, d) for a, d in rows} - {None})
        if artist_id is None:
            top = s.execute(select(DomainEvent.artist_id, func.count()).where(
                DomainEvent.type == "play.counted", DomainEvent.occurred_at >= start,
                DomainEvent.occurred_at <= now, DomainEvent.artist_id.is_not(None))
                .group_by(DomainEvent.artist_id).order_by(func.count().desc()).limit(5)).all()
            names_of = {i: n for i, n in s.execute(select(Artist.id, Artist.name).where(
                Artist.id.in_([a for a, _ in top])))} if top else {}
            out["top_artists_today"] = [{"artist_id": str(a), "name": names_of.get(a), "plays": n}
                                        for a, n in top]
    return {"type": "snapshot", "scope": "artist" if artist_id is not None else "platform",
            "artist_id": str(artist_id) if artist_id is not None else None,
            "as_of": now.isoformat(), "day": start.date().isoformat(), "figures": out}


def _listener(actor_id, data) -> str | None:
    if actor_id is not None:
        return f"u:{actor_id}"
    listener = (data or {}).get("listener")
    return f"l:{listener}" if listener else None


class _Gate:
    """One room's snapshot reads in this process (on the event loop: waiting costs no thread)."""

    __slots__ = ("lock", "tokens", "stamp", "value", "read_at")

    def __init__(self):
        self.lock = asyncio.Lock()
        self.tokens = float(SNAPSHOT_BURST)
        self.stamp = time.monotonic()
        self.value: dict | None = None
        self.read_at = float("-inf")


async def snapshot(platform, artist_id: uuid.UUID | None) -> dict:
    """The room's snapshot for a socket: read now while the room's budget allows (one read at a
    time per room; a read started after the caller asked serves it too), else the latest one."""
    gates = platform.__dict__.setdefault("_analytics_snapshots", {})
    key = (id(asyncio.get_running_loop()), artist_id)
    gate = gates.get(key)
    if gate is None:
        if len(gates) >= 4096:  # rooms nobody watches any more
            gates.clear()
        gate = gates[key] = _Gate()
    asked = time.monotonic()
    async with gate.lock:
        now = time.monotonic()
        gate.tokens = min(float(SNAPSHOT_BURST), gate.tokens + (now - gate.stamp) * SNAPSHOT_RATE)
        gate.stamp = now
        if gate.value is not None and (gate.read_at >= asked or gate.tokens < 1):
            return gate.value
        gate.tokens -= 1
        gate.read_at = now
        gate.value = await run_in_threadpool(figures, platform, artist_id)
        return gate.value


# ---------------------------------------------------------------------------------- deltas
class _Coalescer:
    """Per process: pending additions per room, published at most once per ``COALESCE_SECONDS``
    and room; what is kept back goes out with the room's next event or, at the latest, when a
    one-shot timer fires ``COALESCE_SECONDS`` later."""

    def __init__(self, platform):
        self.platform = platform
        self.lock = threading.Lock()
        self.pending: dict[str, dict[str, int]] = {}
        self.last: dict[str, float] = {}
        self.timer: threading.Timer | None = None

    def add(self, room: str, figure: str) -> dict[str, int] | None:
        """Count one; returns the additions to publish now, or ``None`` (kept for later)."""
        now = time.monotonic()
        with self.lock:
            add = self.pending.setdefault(room, {})
            add[figure] = add.get(figure, 0) + 1
            if now - self.last.get(room, float("-inf")) < COALESCE_SECONDS:
                if self.timer is None:
                    self.timer = threading.Timer(COALESCE_SECONDS, self.flush)
                    self.timer.daemon = True
                    self.timer.start()
                return None
            self.last[room] = now
            return self.pending.pop(room)

    def flush(self) -> None:
        """Publish everything kept back (the timer's job)."""
        with self.lock:
            self.timer = None
            pending, self.pending = self.pending, {}
            now = time.monotonic()
            for room in pending:
                self.last[room] = now
        at = self.platform.clock.now().isoformat()
        for room, add in pending.items():
            try:
                self.platform.realtime.publish_threadsafe(room, {"type": "delta", "at": at, "add": add})
            except Exception:  # a closed platform or a Redis outage: the next snapshot corrects
                log.warning("could not publish a live delta to %s", room, exc_info=True)


def _coalescer(platform) -> _Coalescer:
    c = platform.__dict__.get("_analytics_live")
    if c is None:
        c = platform.__dict__.setdefault("_analytics_live", _Coalescer(platform))
    return c


def on_event(platform, event) -> None:
    """Publish a delta for the events the live figures count (a cheap no-op for the others)."""
    figure = COUNTED.get(event.type)
    if figure is None:
        return
    rooms = [PLATFORM_ROOM]
    if event.artist_id is not None and figure in ARTIST_FIGURES:
        rooms.append(artist_room(event.artist_id))
    coalescer = _coalescer(platform)
    at = event.occurred_at.isoformat()
    for room in rooms:
        add = coalescer.add(room, figure)
        if add:
            platform.realtime.publish_threadsafe(room, {"type": "delta", "at": at, "add": add})


# ---------------------------------------------------------------------------------- sockets
def _check_artist(platform, actor, artist_id: uuid.UUID) -> None:
    if not (actor.is_admin or actor.artist_id == artist_id):
        raise Problem(403, "analytics-not-your-artist", "only this artist (or an admin) can watch their live figures")
    with platform.read() as s:
        if s.get(Artist, artist_id) is None:
            raise Problem(404, "not-found", "no artist with this id")


async def _serve(sock: Socket, room: str, artist_id: uuid.UUID | None) -> None:
    platform = sock.platform
    await sock.join(room)  # join first: a delta published during the snapshot read is not lost
    await sock.send(await snapshot(platform, artist_id))

    async def resync():
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            await sock.send(await snapshot(platform, artist_id))

    ticker = asyncio.ensure_future(resync())
    try:
        async for msg in sock:
            if msg.get("type") == "refresh":
                await sock.send(await snapshot(platform, artist_id))
            elif msg.get("type") == "ping":
                await sock.send({"type": "pong"})
    except SocketClosed:
        pass
    finally:
        ticker.cancel()


async def artist_live(sock: Socket) -> None:
    try:
        artist_id = uuid.UUID(sock.params["artist_id"])
        await run_in_threadpool(_check_artist, sock.platform, sock.actor, artist_id)
    except (ValueError, Problem) as exc:
        p = exc if isinstance(exc, Problem) else Problem(404, "not-found", "no artist with this id")
        await sock.send({"type": "error", "status": p.status, "problem": p.slug, "detail": p.detail})
        await sock.close(4000 + p.status, p.slug)
        return
    await _serve(sock, artist_room(artist_id), artist_id)


async def platform_live(sock: Socket) -> None:
    await _serve(sock, PLATFORM_ROOM, None)


SOCKET_ROUTES = [
    SocketRoute("/api/v1/analytics/artists/{artist_id}/live", artist_live, scope="analytics:read",
                max_frame_bytes=1024),
    SocketRoute("/api/v1/analytics/live", platform_live, scope="admin", max_frame_bytes=1024),
]

__all__ = ["SOCKET_ROUTES", "figures", "on_event", "artist_room", "PLATFORM_ROOM"]
