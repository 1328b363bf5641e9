"""Real-time sockets: WebSocket routes declared by the core and by plugins.

A plugin returns :class:`SocketRoute` objects from ``register_socket_routes``; each handler is
``async def handler(sock: Socket) -> None`` and the socket closes (1000) when it returns::

    @hookimpl
    def register_socket_routes(platform):
        return [SocketRoute("/api/v1/live/parties/{party_id}/socket", party, scope="content:read",
                            optional=True, max_frame_bytes=16_384)]

    async def party(sock: Socket) -> None:
        await sock.join(f"party:{sock.params['party_id']}")
        await sock.send({"type": "hello"})
        async for msg in sock:          # parsed JSON objects
            await sock.platform.realtime.publish(f"party:{sock.params['party_id']}", {"type": "chat", ...})

Authentication follows the route's ``scope`` exactly like a fast route's (``FastRequest.actor``):
an ``Authorization: Bearer`` header, or, for browsers (which cannot set headers on a WebSocket),
``?ticket=`` with a single-use ticket from ``POST /api/v1/realtime/tickets`` that expires after
``MC_REALTIME_TICKET_SECONDS``. Every authenticated socket is in the room ``user:<id>``
(``platform.realtime.send_to_user``).

Close codes (RFC 6455; the 4000-4999 private range mirrors HTTP statuses):

====  =====================================================================================
1000  the handler returned
1007  a frame that is not a JSON object
1009  a frame larger than the route's ``max_frame_bytes`` (or the server's cap)
1011  the handler raised
1013  the client reads too slowly: its send queue (``MC_REALTIME_SEND_QUEUE``) was full
4401  no or invalid credentials (a used or expired ticket too) on a route that needs them
4403  the credentials lack the route's scope (or the admin role)
4404  the route's plugin is disabled
4429  the caller's rate-limit policy is exhausted (each connection counts as one request)
====  =====================================================================================

A path no route matches is refused with an HTTP 404 on the upgrade. Refusals with a 44xx code
are accepted and closed at once, so browsers can read the code (a refused upgrade is only a
1006 to them). Heartbeats are the server's: a WebSocket ping every ``MC_REALTIME_PING_SECONDS``;
a client that does not answer within as long is disconnected.
"""
from __future__ import annotations

import asyncio
import collections
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import orjson
from fastapi import APIRouter, Body, Depends, Request
from prometheus_client import Counter, Gauge

from .errors import MEDIA_TYPE, Problem
from .realtime_hub import Hub, user_room

from .api.deps import scope as needs_scope
from .contracts import Actor

if TYPE_CHECKING:
    from .platform import Platform

__all__ = ["Hub", "Socket", "SocketClosed", "SocketRoute"]

log = logging.getLogger("musicconnect.realtime")

OPEN = Gauge("musicconnect_realtime_sockets", "open real-time sockets", multiprocess_mode="livesum")
CLOSED = Counter("musicconnect_realtime_closes_total", "real-time sockets closed, by close code", ["code"])

Handler = Callable[["Socket"], Awaitable[None]]


_BY_CLIENT = "closed by the client"


class SocketClosed(Exception):
    """The socket is closed (the client left, or was dropped): raised by :meth:`Socket.send`.
    A handler may let it propagate; the core ends the connection quietly."""


@dataclass(frozen=True)
class SocketRoute:
    """A WebSocket route. ``scope`` is declared as for HTTP routes (``"area:verb"``, ``"public"``,
    ``"admin"``); ``optional=True`` lets anonymous callers in (``sock.actor`` is ``None``).
    ``max_frame_bytes`` caps one client frame (1009 past it; the server's
    ``MC_REALTIME_MAX_FRAME_BYTES`` caps every route)."""

    path: str
    handler: Handler
    scope: str | None = None
    optional: bool = False
    max_frame_bytes: int = 16_384
    plugin: str | None = None


_PARAM = re.compile(r"{([A-Za-z_][A-Za-z0-9_]*)(?::(path))?}")


def _compile(path: str) -> re.Pattern:
    out, pos = [], 0
    for m in _PARAM.finditer(path):
        out.append(re.escape(path[pos:m.start()]))
        out.append(f"(?P<{m.group(1)}>{'.+' if m.group(2) else '[^/]+'})")
        pos = m.end()
    out.append(re.escape(path[pos:]))
    return re.compile("^" + "".join(out) + "$")


class SocketRouter:
    """The mounted socket routes, matched in order of mounting."""

    def __init__(self) -> None:
        self.routes: list[tuple[str, SocketRoute, re.Pattern]] = []
        self.owners: set[str] = set()

    def add(self, owner: str, route: SocketRoute) -> None:
        self.routes.append((owner, route, _compile(route.path)))

    def match(self, path: str) -> tuple[str, SocketRoute, dict[str, str]] | None:
        for owner, route, rx in self.routes:
            m = rx.match(path)
            if m is not None:
                return owner, route, m.groupdict()
        return None


class Socket:
    """One open WebSocket, as a handler sees it."""

    __slots__ = ("platform", "actor", "params", "query", "route", "scope", "loop", "rooms", "closed",
                 "_receive", "_send", "_queue", "_max_queue", "_writer", "_close", "_max_frame")

    def __init__(self, platform: "Platform", scope: dict, receive, send, route: SocketRoute,
                 actor: Actor | None, params: dict[str, str], query: dict[str, str]):
        self.platform = platform
        self.actor = actor
        self.params = params
        self.query = query
        self.route = route
        self.scope = scope
        self.loop = asyncio.get_running_loop()
        self.rooms: set[str] = set()
        self.closed = False
        self._receive = receive
        self._send = send
        self._queue: collections.deque[str] = collections.deque()
        self._max_queue = platform.settings.realtime_send_queue
        self._writer: asyncio.Task | None = None
        self._close: tuple[int, str] | None = None
        self._max_frame = min(route.max_frame_bytes, platform.settings.realtime_max_frame_bytes)

    # ------------------------------------------------------------------ sending
    async def send(self, message: dict[str, Any]) -> None:
        """Queue ``message`` (JSON-able) for the client; never waits for the network. A client
        whose queue is full is dropped (1013) and :class:`SocketClosed` is raised."""
        if self.closed:
            raise SocketClosed()
        self._enqueue(orjson.dumps(message).decode())
        if self.closed:
            raise SocketClosed()

    def _enqueue(self, text: str) -> None:
        if self.closed:
            return
        if len(self._queue) >= self._max_queue:
            self._shut(1013, "too slow", flush=False)
            return
        self._queue.append(text)
        if self._writer is None:
            self._writer = self.loop.create_task(self._flush())

    async def _flush(self) -> None:
        try:
            while self._queue:
                await self._send({"type": "websocket.send", "text": self._queue.popleft()})
            if self._close is not None and self._close[1] is not _BY_CLIENT:
                code, reason = self._close
                CLOSED.labels(str(code)).inc()
                await self._send({"type": "websocket.close", "code": code, "reason": reason})
        except Exception:  # the client is gone
            self.closed = True
            self._queue.clear()
        finally:
            self._writer = None

    def _shut(self, code: int, reason: str, *, flush: bool = True) -> None:
        if self._close is not None:
            return
        self.closed = True
        self._close = (code, reason[:120])
        if not flush:
            self._queue.clear()
        if self._writer is None:
            self._writer = self.loop.create_task(self._flush())

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the socket (after the messages already queued)."""
        self._shut(code, reason)
        await self._drain()

    async def _drain(self) -> None:
        writer = self._writer
        if writer is not None:
            try:
                await asyncio.wait_for(asyncio.shield(writer), 5)
            except (asyncio.TimeoutError, Exception):
                pass

    # ------------------------------------------------------------------ rooms
    async def join(self, room: str) -> None:
        """Receive what is published into ``room`` (from any process) until :meth:`leave`."""
        if self.closed:
            raise SocketClosed()
        if room not in self.rooms:
            self.rooms.add(room)
            await self.platform.realtime._joined(self, room)

    async def leave(self, room: str) -> None:
        if room in self.rooms:
            self.rooms.discard(room)
            await self.platform.realtime._left(self, room)

    # ------------------------------------------------------------------ receiving
    def __aiter__(self) -> "Socket":
        return self

    async def __anext__(self) -> dict[str, Any]:
        """The next frame of the client as a JSON object; the iteration ends when the socket
        closes (the client left, or sent a frame that closed it: 1007, 1009)."""
        while not self.closed:
            message = await self._receive()
            kind = message["type"]
            if kind == "websocket.disconnect":
                self.closed = True
                code = message.get("code", 1005)
                self._close = (code, _BY_CLIENT)  # nothing left to send, no close to send
                self._queue.clear()
                CLOSED.labels(str(code)).inc()
                break
            if kind != "websocket.receive":
                continue
            data = message.get("text")
            if data is None:
                data = message.get("bytes") or b""
            size = len(data) if isinstance(data, bytes) or len(data) * 4 <= self._max_frame else len(data.encode())
            if size > self._max_frame:
                await self.close(1009, f"frames are limited to {self._max_frame} bytes")
                break
            try:
                value = orjson.loads(data)
            except orjson.JSONDecodeError:
                value = None
            if not isinstance(value, dict):
                await self.close(1007, "each frame must be a JSON object")
                break
            return value
        raise StopAsyncIteration


# ---------------------------------------------------------------------------- serving

async def _deny_http(scope, send, status: int, slug: str, detail: str) -> None:
    if "websocket.http.response" in (scope.get("extensions") or {}):
        body = orjson.dumps(Problem(status, slug, detail).body(scope.get("path")))
        await send({"type": "websocket.http.response.start", "status": status,
                    "headers": [(b"content-type", MEDIA_TYPE.encode()), (b"content-length", str(len(body)).encode())]})
        await send({"type": "websocket.http.response.body", "body": body})
    else:  # the server answers 403
        await send({"type": "websocket.close", "code": 1008, "reason": slug})
    CLOSED.labels(str(status)).inc()


async def _refuse(send, code: int, reason: str) -> None:
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.close", "code": code, "reason": reason[:120]})
    CLOSED.labels(str(code)).inc()


async def _authenticate(platform: "Platform", scope: dict, route: SocketRoute, query: dict[str, str]):
    """``(actor, token, snapshot)`` for the route's scope, as ``FastRequest.actor`` decides."""
    from .api.deps import authenticate, bearer_token, user_snapshot
    from .errors import Forbidden, Unauthorized

    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}
    if route.scope == "public":
        return None, None, None
    token = bearer_token(headers.get("authorization"))
    actor = snap = None
    if token is not None:
        actor, snap = await authenticate(platform, token)
    elif query.get("ticket"):
        grant = await platform.realtime.redeem_ticket(query["ticket"])
        if grant is None:
            raise Unauthorized("this ticket is unknown, used or expired; ask for a new one")
        snap = await user_snapshot(platform, uuid.UUID(grant["uid"]))
        if snap is None or not snap.is_active:
            raise Unauthorized("this account is disabled or no longer exists")
        actor = Actor(snap.id, snap.role, snap.artist_id, tuple(grant["scopes"]))
    if actor is None:
        if route.optional:
            return None, None, None
        raise Unauthorized()
    need = route.scope
    if need is not None and not actor.has_scope(need):
        if route.optional:
            return None, None, None
        raise Problem(403, "insufficient-scope", f"this token lacks the {need!r} scope", required_scope=need)
    if need == "admin" and not actor.is_admin:
        raise Forbidden("this needs the admin role")
    return actor, token, snap


async def serve_socket(app, scope, receive, send) -> None:
    """The ASGI entry for ``websocket`` connections (called by the application)."""
    from .api.deps import count_request

    platform = app.state.platform
    router: SocketRouter = app.state.sockets
    hit = router.match(scope["path"])
    if hit is None:
        return await _deny_http(scope, send, 404, "not-found", "no socket route at this path")
    owner, route, params = hit
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    if owner != "core" and not platform.plugins.is_enabled(owner):
        return await _refuse(send, 4404, "plugin-disabled")
    query: dict[str, str] = {}
    for k, v in parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True):
        query.setdefault(k, v)
    client = scope.get("client")
    host = client[0] if client else "unknown"
    try:
        try:
            actor, token, snap = await _authenticate(platform, scope, route, query)
        except Problem:
            await count_request(platform, scope, None, None, None, host)
            raise
        await count_request(platform, scope, actor, token, snap, host)
    except Problem as problem:
        return await _refuse(send, 4000 + problem.status, problem.slug)
    await send({"type": "websocket.accept"})
    sock = Socket(platform, scope, receive, send, route, actor, params, query)
    OPEN.inc()
    try:
        if actor is not None:
            await sock.join(user_room(actor.user_id))
        await route.handler(sock)
    except SocketClosed:
        pass
    except Exception:
        log.exception("socket handler of %s (%s) failed", scope["path"], owner)
        sock._shut(1011, "internal error", flush=False)
    finally:
        OPEN.dec()
        for room in list(sock.rooms):
            try:
                await sock.leave(room)
            except Exception:
                log.exception("could not leave room %s", room)
        sock._shut(1000, "")
        await sock._drain()


def mount_socket_routes(app, platform: "Platform") -> None:
    """Mount the core's socket routes and those of plugins not mounted yet (the route's plugin
    guard refuses them while their plugin is disabled)."""
    router: SocketRouter | None = getattr(app.state, "sockets", None)
    if router is None:
        router = app.state.sockets = SocketRouter()
        for route in CORE_ROUTES:
            router.add("core", route)
        router.owners.add("core")
    added: set[str] = set()
    for plugin, route in platform.plugins.collect("register_socket_routes", platform=platform):
        if plugin in router.owners:
            continue
        if not isinstance(route, SocketRoute):
            log.error("plugin %s returned %r from register_socket_routes, not a SocketRoute", plugin, route)
        elif route.scope is None:
            log.error("plugin %s: socket route %s declares no scope; not mounted", plugin, route.path)
        else:
            router.add(plugin, route)
            added.add(plugin)
    router.owners.update(added)


# ---------------------------------------------------------------------------- core routes

async def personal_channel(sock: Socket) -> None:
    """``/api/v1/realtime``: the signed-in user's own channel (room ``user:<id>``): notifications
    and other pushes addressed to the user. ``{"type": "ping"}`` is answered with a pong."""
    await sock.send({"type": "hello", "user_id": str(sock.actor.user_id), "rooms": sorted(sock.rooms)})
    async for msg in sock:
        if msg.get("type") == "ping":
            await sock.send({"type": "pong"})


CORE_ROUTES = [SocketRoute("/api/v1/realtime", personal_channel, scope="profile:read")]


router = APIRouter(tags=["realtime"])


@router.post("/realtime/tickets", status_code=201)
async def create_ticket(request: Request, actor: Actor = Depends(needs_scope("profile:read"))):
    """A single-use ticket for opening a socket from a browser (``wss://…?ticket=…``), valid for
    ``MC_REALTIME_TICKET_SECONDS``. It carries the caller's identity and scopes, no more."""
    platform = request.app.state.platform
    ttl = platform.settings.realtime_ticket_seconds
    ticket = await platform.realtime.issue_ticket({"uid": str(actor.user_id), "scopes": list(actor.scopes)}, ttl)
    return {"ticket": ticket, "expires_in": ttl}


@router.post("/realtime/users/{user_id}/messages", status_code=202)
async def message_user(user_id: uuid.UUID, request: Request, message: dict[str, Any] = Body(..., examples=[{"type": "notice", "text": "hello"}]),
                       actor: Actor = Depends(needs_scope("admin"))):
    """Operators: push ``message`` (a JSON object) to every socket the user has open, in every
    API process (a delivery check). Answers how many of them this process holds."""
    platform = request.app.state.platform
    await platform.realtime.send_to_user(user_id, message)
    return {"room": user_room(user_id), "local_members": platform.realtime.local_members(user_room(user_id))}
