"""The fast path: a lean ASGI dispatcher in front of FastAPI for the hottest routes.

A minimal FastAPI route measures about 0.44x the throughput of a bare Starlette route on our
2-core machine (dependency solving, nested routers, middleware layers). Routes that every
player hits many times a second (``/api/v1/me``, and later keys, playlists and segments) are
registered here: matched by template before FastAPI runs, with the same authentication,
caching, problem+json errors and Prometheus metrics. The core generates an ordinary FastAPI
route from each one (:mod:`musicconnect.fastdocs`) so that OpenAPI documents it and it still
answers when the fast path is switched off (``MC_FAST_PATH=false``): declare a route once, here.

A handler is ``async def handler(request: FastRequest) -> FastResponse``; it must not block.
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from .errors import MEDIA_TYPE, Problem

if TYPE_CHECKING:
    from .platform import Platform


@dataclass(slots=True)
class FastResponse:
    body: bytes
    status: int = 200
    media_type: str = "application/json"
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)


class FastRequest:
    """What a fast handler sees of the request (headers decoded lazily)."""

    __slots__ = ("scope", "platform", "params", "_headers", "state", "_receive", "route")

    def __init__(self, scope: dict, platform: "Platform", params: dict[str, str], receive=None,
                 route: "FastRoute | None" = None):
        self.scope = scope
        self.platform = platform
        self.params = params
        self._headers: dict[str, str] | None = None
        self.state: dict[str, Any] = {}
        self._receive = receive
        self.route = route

    async def actor(self):
        """Who is calling, enforcing the route's declared ``scope``: ``None`` for an anonymous
        caller (or a token without the scope) on an ``optional`` or public route; 401 when the
        route needs a caller; 403 ``insufficient-scope`` for a token without the scope on a
        required route. The user snapshot lands in ``state["user"]``."""
        from .api.deps import authenticate, bearer_token, count_request

        route = self.route
        token = bearer_token(self.header("authorization"))
        if route is not None and route.scope == "public":
            return None
        optional = route is None or route.optional
        # playback routes (optional or public: players call them once per segment, guarded by
        # signed playback tokens) are not counted; routes that need a caller are, like FastAPI's
        counted = not optional
        if token is None:
            if optional:
                return None
            from .errors import Unauthorized

            await count_request(self.platform, self.scope, None, None, None, self.client_host)
            raise Unauthorized()
        try:
            actor, snap = await authenticate(self.platform, token)
        except Problem:
            if counted:
                await count_request(self.platform, self.scope, None, None, None, self.client_host)
            raise
        self.state["user"] = snap
        if counted:
            await count_request(self.platform, self.scope, actor, token, snap, self.client_host)
        need = route.scope if route is not None else None
        if need is not None and not actor.has_scope(need):
            if optional:
                return None
            raise Problem(403, "insufficient-scope", f"this token lacks the {need!r} scope", required_scope=need)
        return actor

    async def body(self, limit: int = 1 << 20) -> bytes:
        """The whole request body (at most ``limit`` bytes, else 413). A handler that reads the
        body must answer the request itself (not hand it on)."""
        if self._receive is None:
            return b""
        chunks, size = [], 0
        while True:
            message = await self._receive()
            if message["type"] != "http.request":
                raise Problem(400, "validation", "the request was interrupted")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise Problem(413, "payload-too-large", f"the body is larger than {limit} bytes")
            chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks)

    def header(self, name: str) -> str | None:
        if self._headers is None:
            self._headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in self.scope["headers"]}
        return self._headers.get(name)

    @property
    def method(self) -> str:
        return self.scope["method"]

    @property
    def path(self) -> str:
        return self.scope["path"]

    @property
    def query_string(self) -> bytes:
        return self.scope.get("query_string", b"")

    @property
    def query(self) -> dict[str, str]:
        """The query parameters (the first value of each)."""
        from urllib.parse import parse_qsl

        out: dict[str, str] = {}
        for k, v in parse_qsl(self.query_string.decode("latin-1"), keep_blank_values=True):
            out.setdefault(k, v)
        return out

    @property
    def client_host(self) -> str:
        client = self.scope.get("client")
        return client[0] if client else "unknown"


Handler = Callable[[FastRequest], Awaitable[FastResponse | None]]


@dataclass(frozen=True, slots=True)
class QueryParam:
    """A query parameter a fast handler reads (``FastRequest.query``), for the generated
    OpenAPI document and its validation when the fast path is off."""

    name: str
    description: str = ""
    type: type = str
    required: bool = False


@dataclass(frozen=True, slots=True)
class FastRoute:
    """``path`` is a template like ``/api/v1/streaming/tracks/{track_id}/key``; each ``{name}``
    matches one path segment. ``plugin`` routes answer 404 while that plugin is disabled.

    ``scope`` declares who may call it, as FastAPI routes do (``musicconnect.routescopes``): a
    scope a token must carry, or ``"public"`` (no authentication; e.g. a route guarded by a signed
    token of its own). ``optional=True`` lets anonymous callers in. The handler enforces it by
    calling ``await request.actor()``. A route without ``scope`` is refused at mount.

    The rest documents it (the handler's docstring is the description): ``query`` the query
    parameters it reads, ``media_type``/``status`` what it answers, ``response_model`` a pydantic
    model of a JSON answer, ``summary`` and ``response_description`` for OpenAPI."""

    method: str
    path: str
    handler: Handler
    plugin: str | None = None
    scope: str | None = None
    optional: bool = False
    query: tuple[QueryParam, ...] = ()
    media_type: str = "application/json"
    status: int = 200
    response_model: Any = None
    summary: str | None = None
    response_description: str | None = None

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(self.path.strip("/").split("/"))


class FastRouter:
    """Exact paths, one-segment ``{params}``, and prefix routes (a template ending in
    ``{name:path}`` takes the rest of the path). A handler may return ``None`` to hand the
    request on to FastAPI."""

    def __init__(self) -> None:
        self._prefix: list[tuple[str, str, str, FastRoute]] = []
        # (method, segment count) -> [(segments, route)], literals first
        self._table: dict[tuple[str, int], list[tuple[tuple[str, ...], FastRoute]]] = {}
        self._exact: dict[tuple[str, str], FastRoute] = {}

    def add(self, route: FastRoute) -> None:
        if route.path.endswith(":path}"):
            head, _, tail = route.path.rpartition("{")
            self._prefix.append((route.method, head, tail[:-len(":path}")], route))
            return
        segs = route.segments
        if not any(s.startswith("{") for s in segs):
            self._exact[(route.method, "/" + "/".join(segs))] = route
            return
        bucket = self._table.setdefault((route.method, len(segs)), [])
        bucket.append((segs, route))

    def match(self, method: str, path: str) -> tuple[FastRoute, dict[str, str]] | None:
        route = self._exact.get((method, path))
        if route is not None:
            return route, {}
        for m, head, name, route in self._prefix:
            if m == method and path.startswith(head) and len(path) > len(head):
                return route, {name: path[len(head):]}
        if not self._table:
            return None
        parts = path.strip("/").split("/")
        for segs, route in self._table.get((method, len(parts)), ()):
            params = {}
            for tpl, part in zip(segs, parts):
                if tpl[0] == "{":
                    params[tpl[1:-1]] = part
                elif tpl != part:
                    break
            else:
                return route, params
        return None

    def __bool__(self) -> bool:
        return bool(self._exact or self._table or self._prefix)

    def routes(self) -> list[FastRoute]:
        """Every route registered here."""
        return [*self._exact.values(), *(r for bucket in self._table.values() for _, r in bucket),
                *(r for *_, r in self._prefix)]


def problem_bytes(problem: Problem, path: str) -> FastResponse:
    return FastResponse(orjson.dumps(problem.body(path)), problem.status, MEDIA_TYPE,
                        [(k.lower().encode(), v.encode()) for k, v in problem.headers.items()])


async def serve(route: FastRoute, params: dict[str, str], scope, receive, send, platform: "Platform",
                observe: Callable[[str, str, int, float], None]) -> bool:
    """Answer the request; ``False`` when the handler handed it on (returned ``None``)."""
    start = time.perf_counter()
    req = FastRequest(scope, platform, params, receive, route)
    try:
        if route.plugin is not None and not platform.plugins.is_enabled(route.plugin):
            raise Problem(404, "plugin-disabled", f"the {route.plugin} plugin is not enabled")
        resp = await route.handler(req)
        if resp is None:
            return False
    except Problem as exc:
        resp = problem_bytes(exc, scope["path"])
    except Exception as exc:
        if isinstance(getattr(exc, "orig", None), Problem):  # refused while binding a value
            resp = problem_bytes(exc.orig, scope["path"])
        else:
            import logging

            logging.getLogger("musicconnect.fastpath").exception("fast route %s failed", route.path)
            resp = problem_bytes(Problem(500, "internal", "an unexpected error occurred; it has been logged"),
                                 scope["path"])
    verdict = scope.get("musicconnect.ratelimit")
    if verdict is not None:
        resp.headers = [*resp.headers, *verdict.headers()]
    await _send(send, scope, resp)
    observe(scope["method"], route.path, resp.status, time.perf_counter() - start)
    return True


async def _send(send, scope, resp: FastResponse) -> None:
    headers = [(b"content-type", resp.media_type.encode()), (b"content-length", str(len(resp.body)).encode()),
               *resp.headers]
    await send({"type": "http.response.start", "status": resp.status, "headers": headers})
    await send({"type": "http.response.body", "body": resp.body if scope["method"] != "HEAD" else b""})


def parse_uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise Problem(422, "validation", f"{what} must be a UUID") from None
