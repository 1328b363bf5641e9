"""The ASGI application: core routes, plugin routes, errors, operations endpoints."""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import re
import time

import anyio.to_thread
import orjson
from fastapi import APIRouter, Depends, FastAPI, Request
from prometheus_client import Counter, Histogram
from starlette.concurrency import run_in_threadpool
from starlette.routing import Route

from . import __version__, tracing
from .logs import CONTEXT as LOG_CONTEXT
from .metrics import RATE_LIMITED
from .apilimits import SCOPE_KEY as RATE_SCOPE_KEY
from .db import begin_unit
from .api.deps import session_only
from .routescopes import close_undeclared
from .errors import MEDIA_TYPE, Problem, install_handlers, route_template
from .fastpath import FastRoute, FastRouter
from .fastpath import serve as serve_fast
from .plugin_state import read_enabled, state_version
from .platform import INVALIDATE_CHANNEL, Platform, decode_key

log = logging.getLogger("musicconnect.app")

REQUESTS = Counter("musicconnect_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("musicconnect_http_request_seconds", "HTTP request latency", ["method", "route"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10))


_CHILDREN: dict[tuple[str, str, int], tuple] = {}
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"})


def method_label(method: str) -> str:
    """The request method for a metric label or span name; any other method is ``other`` (a
    client picks the method: its own would make series without bound)."""
    return method if method in _METHODS else "other"


def observe(method: str, template: str, status: int, seconds: float) -> None:
    if method not in _METHODS:
        method = "other"
    key = (method, template, status)
    children = _CHILDREN.get(key)
    if children is None:
        children = _CHILDREN[key] = (LATENCY.labels(method, template), REQUESTS.labels(method, template, str(status)))
    children[0].observe(seconds)
    children[1].inc()


class MetricsMiddleware:
    """Counts and times requests by route template; the template is worked out once per route."""

    def __init__(self, app):
        self.app = app
        self._templates: dict[int, str] = {}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        status = [500]

        async def _send(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                verdict = scope.get(RATE_SCOPE_KEY)
                if verdict is not None:  # IETF RateLimit fields on every counted response
                    message["headers"] = [*message.get("headers", ()), *verdict.headers()]
            await send(message)

        try:
            await self.app(scope, receive, _send)
        finally:
            route = scope.get("route")
            tpl = self._templates.get(id(route)) if route is not None else "unmatched"
            if tpl is None:
                tpl = self._templates[id(route)] = route_template(scope)
            observe(scope["method"], tpl, status[0], time.perf_counter() - start)


_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_random_bits = random.getrandbits
_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:@/+=-]{1,128}")
REQUEST_ID_KEY = "musicconnect.request_id"


def client_request_id(scope) -> bytes | None:
    """The client's ``X-Request-ID`` when it is a sane token (<= 128 safe characters), else ``None``."""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            return value if _REQUEST_ID.fullmatch(value) else None
    return None


def request_id(scope) -> bytes:
    """The server's own id of this request: always new (a client's id may repeat another request's)."""
    return b"%016x" % _random_bits(64)  # unique, not secret: no system call per request


def _count_refusal(body: bytes) -> None:
    """One request refused by a rate limit or throttle: its policy is the API limiter's caller
    class (``policy`` in the problem) or the problem's slug (``login-throttled``, ``chat-flood``…)."""
    try:
        doc = orjson.loads(body)
        policy = doc.get("policy") or str(doc.get("type", "")).rsplit("/", 1)[-1] or "unknown"
    except Exception:
        policy = "unknown"
    RATE_LIMITED.labels(str(policy)[:64]).inc()


def _observed(send, rid: bytes, status: list | None = None):
    """Echo the request id on the response; count a 429; note the status for a span."""
    refused = [False]

    async def _send(message):
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", ()), (b"x-request-id", rid)]
            if message["status"] == 429:
                refused[0] = True
            if status is not None:
                status[0] = message["status"]
        elif refused[0] and message["type"] == "http.response.body":
            refused[0] = False
            _count_refusal(message.get("body", b""))
        await send(message)
    return _send


async def _busy(scope, send) -> None:
    body = orjson.dumps(Problem(503, "overloaded", "the server is at capacity; retry shortly").body(scope["path"]))
    await send({"type": "http.response.start", "status": 503,
                "headers": [(b"content-type", MEDIA_TYPE.encode()), (b"content-length", str(len(body)).encode()),
                            (b"retry-after", b"1")]})
    await send({"type": "http.response.body", "body": body})
    observe(scope["method"], "overloaded", 503, 0.0)


def _problem_413(scope, send):
    """Starlette's body limit answers a plain-text 413 before any handler runs; make it the
    ``payload-too-large`` problem every other error is."""
    state = {"rewrite": False}

    async def _send(message):
        if message["type"] == "http.response.start" and message["status"] == 413:
            ctype = dict(message.get("headers") or ()).get(b"content-type", b"")
            if ctype.startswith(b"text/plain"):
                state["rewrite"] = True
                limit = scope.get("starlette.max_body_size")
                body = orjson.dumps(Problem(413, "payload-too-large", f"the body is larger than {limit} bytes"
                                            if limit else "the body is too large").body(scope.get("path")))
                state["body"] = body
                message = {**message, "headers": [(b"content-type", MEDIA_TYPE.encode()),
                                                  (b"content-length", str(len(body)).encode())]}
        elif message["type"] == "http.response.body" and state["rewrite"]:
            message = {**message, "body": state.pop("body", b""), "more_body": False}
            if "body" not in state and message["body"] == b"":
                return
        await send(message)
    return _send


class MusicConnectApp(FastAPI):
    """FastAPI, with the fast path (:mod:`musicconnect.fastpath`) in front of it."""

    fast: FastRouter

    pending = 0
    #: the CORS policy in front of every HTTP route (``MC_CORS_ORIGINS``; musicconnect.cors), or None
    cors = None

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket":
            from .realtime import serve_socket

            return await serve_socket(self, scope, receive, send)
        if scope["type"] != "http":
            return await super().__call__(scope, receive, send)
        if self.cors is not None:
            return await self.cors(scope, receive, send)
        return await self._serve_http(scope, receive, send)

    async def _serve_http(self, scope, receive, send):
        rid = scope[REQUEST_ID_KEY] = request_id(scope)
        theirs = client_request_id(scope)
        ctx = {"request_id": rid.decode()}
        if theirs is not None:
            ctx["client_request_id"] = theirs.decode()
        token = LOG_CONTEXT.set(ctx)
        try:  # the response echoes the client's id when it sent a sane one, else ours
            if tracing.active():
                return await self._traced(scope, receive, send, rid, theirs)
            return await self._dispatch(scope, receive, _observed(send, theirs or rid))
        finally:
            LOG_CONTEXT.reset(token)

    async def _traced(self, scope, receive, send, rid: bytes, theirs: bytes | None):
        """The request in a server span (only when tracing is on). A client's ``traceparent`` gives
        the trace id and parent; whether the trace is sampled is decided here unless the peer is
        one of ``MC_FORWARDED_ALLOW_IPS`` (:func:`musicconnect.tracing.trusted_peer`)."""
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]
                   if k in (b"traceparent", b"tracestate")}
        status = [500]
        method = method_label(scope["method"])
        attrs = {"http.request.method": method, "musicconnect.request_id": rid.decode()}
        if theirs is not None:
            attrs["musicconnect.client_request_id"] = theirs.decode()
        if carrier and not tracing.trusted_peer(scope, self.state.platform.settings):
            attrs[tracing.UNTRUSTED_PARENT] = True
        with tracing.span(method, parent=carrier or None, kind="server", **attrs) as sp:
            try:
                await self._dispatch(scope, receive, _observed(send, theirs or rid, status))
            finally:
                route = scope.get("route")
                tpl = route_template(scope) if route is not None else scope.get("musicconnect.fast_route", "unmatched")
                sp.update_name(f"{method} {tpl}")
                sp.set_attribute("http.route", tpl)
                sp.set_attribute("url.path", tpl)  # the template: path parameters may be tokens
                sp.set_attribute("http.response.status_code", status[0])
                if status[0] >= 500:
                    from opentelemetry.trace import Status, StatusCode

                    sp.set_status(Status(StatusCode.ERROR))

    async def _dispatch(self, scope, receive, send):
        begin_unit(f"{scope['method']} {scope['path']}")
        if self.fast:
            hit = self.fast.match(scope["method"], scope["path"])
            if hit is not None:
                scope["musicconnect.fast_route"] = hit[0].path
                if await serve_fast(hit[0], hit[1], scope, receive, send, self.state.platform, observe):
                    return
        if scope["method"] in _BODY_METHODS:
            send = _problem_413(scope, send)
        if self.pending >= self.state.platform.settings.max_pending_requests:
            return await _busy(scope, send)  # back-pressure: answer now rather than queue for minutes
        self.pending += 1
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.pending -= 1

    def openapi(self):
        from .access import document_perks
        from .api.schemas import document_content_kinds, document_scopes
        from .openapi_problems import complete

        platform = self.state.platform
        doc = document_perks(platform, complete(self, super().openapi()))
        return document_content_kinds(platform, document_scopes(platform, doc))


def fast_routes_of(platform: Platform) -> list[tuple[str, FastRoute]]:
    """Every fast route: the core's and each enabled plugin's, as ``(owner, route)``."""
    from .api.me import FAST_ROUTES
    from .api.system import media_fast

    out: list[tuple[str, FastRoute]] = [("core", r) for r in FAST_ROUTES]
    if platform.settings.storage_backend == "local":
        out.append(("core", FastRoute("GET", "/media/{key:path}", media_fast, scope="public")))
    for plugin, route in platform.plugins.collect("register_fast_routes", platform=platform):
        if isinstance(route, FastRoute) and route.scope is None:
            log.error("plugin %s: fast route %s %s declares no scope; not mounted", plugin, route.method, route.path)
        elif isinstance(route, FastRoute):
            out.append((plugin, dataclasses.replace(route, plugin=route.plugin or plugin)))
        else:
            log.error("plugin %s returned %r from register_fast_routes, not a FastRoute", plugin, route)
    return out


def mount_fast_routes(app: "MusicConnectApp", platform: Platform) -> None:
    """The fast path, and a generated FastAPI copy of each fast route not documented yet
    (OpenAPI, and the way in when ``MC_FAST_PATH=false``)."""
    from .fastdocs import router_for, served_routes

    routes = fast_routes_of(platform)
    router = FastRouter()
    if platform.settings.fast_path:
        for _, route in routes:
            router.add(route)
    app.fast = router
    served = served_routes(app)
    by_owner: dict[str, list[FastRoute]] = {}
    for owner, route in routes:
        if (route.method, route.path) not in served:
            by_owner.setdefault(owner, []).append(route)
    for owner, owned in by_owner.items():
        copies = router_for(owned, served, tags=["me"] if owner == "core" else [owner])
        deps = [] if owner == "core" else [Depends(plugin_guard(owner))]
        app.include_router(copies, dependencies=deps)
        app.openapi_schema = None


def plugin_guard(name: str):
    async def guard(request: Request) -> None:
        if not request.app.state.platform.plugins.is_enabled(name):
            raise Problem(404, "plugin-disabled", f"the {name} plugin is not enabled")
    return guard


def mount_plugin_routes(app: FastAPI, platform: Platform) -> list[str]:
    """Mount the routers of loaded plugins not mounted yet (at start-up and when one is enabled)."""
    mounted: set[str] = app.state.mounted_plugins
    added = []
    for name, router in platform.plugins.collect("register_routes", platform=platform):
        if name in mounted and name not in added:
            continue
        if not isinstance(router, APIRouter):
            log.error("plugin %s returned %r from register_routes, not an APIRouter", name, router)
            continue
        close_undeclared(router, f"plugin {name}", fallback=session_only)
        app.include_router(router, prefix=f"/api/v1/{name}", tags=[name], dependencies=[Depends(plugin_guard(name))])
        added.append(name)
    mounted.update(added)
    if added:
        app.openapi_schema = None
    from .realtime import mount_socket_routes
    from .siteroutes import mount_site_routes

    mount_socket_routes(app, platform)
    mount_site_routes(app, platform, guard=plugin_guard, fallback=session_only)  # plugins' pages at /
    return added


async def _follow_plugin_state(app: FastAPI, platform: Platform, interval: float) -> None:
    """Apply the operator's enable/disable choices made from the CLI in another process."""
    while True:
        await asyncio.sleep(interval)
        try:
            version = await run_in_threadpool(state_version, platform.db)
            if version != platform.plugins.state_version:
                enabled = await run_in_threadpool(read_enabled, platform.db)
                changed = platform.plugins.apply_state(enabled)
                platform.plugins.state_version = version
                if changed:
                    log.info("plugin state changed: %s", ", ".join(changed))
                    platform.cache.clear()
                    platform.jobs.register_all()
                    mount_plugin_routes(app, platform)
                    mount_fast_routes(app, platform)
        except Exception:
            log.exception("could not refresh plugin state")


async def _follow_invalidations(platform: Platform) -> None:
    while True:
        try:
            async with platform.pubsub.subscribe(INVALIDATE_CHANNEL) as messages:
                async for _, msg in messages:
                    for key in msg.get("keys", []):
                        platform.cache.invalidate(decode_key(key))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("cache invalidation listener failed; resubscribing")
            platform.cache.clear()
            await asyncio.sleep(1)


def create_app(platform: Platform | None = None, *, state_poll_interval: float = 2.0) -> FastAPI:
    platform = platform or Platform()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        # synchronous routes run on at most request_threads threads: with one pooled connection
        # each (and the pool sized for them and the job threads), the pool cannot run dry
        anyio.to_thread.current_default_thread_limiter().total_tokens = platform.settings.request_threads
        await run_in_threadpool(platform.start)
        platform.plugins.state_version = await run_in_threadpool(state_version, platform.db)
        tasks = [asyncio.create_task(_follow_invalidations(platform)),
                 asyncio.create_task(_follow_plugin_state(app, platform, state_poll_interval))]
        try:
            yield
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.wait(tasks, timeout=5)  # never let a stuck listener hold up shutdown
            await run_in_threadpool(platform.close)

    app = MusicConnectApp(
        title=f"{platform.settings.platform_name} API", version=__version__, lifespan=lifespan,
        max_body_size=platform.settings.max_body_bytes, docs_url=None, redoc_url=None,  # served offline below
        # one HTTP span per request, the core's (musicconnect.tracing: fast path included); FastAPI's
        # own telemetry would add a second root span and log exception messages (PII) to OpenTelemetry
        telemetry={"tracing": False, "metrics": False, "logs": False, "auto_configure": False},
        description="Self-hosted streaming and memberships for independent artists. Errors are RFC 9457 "
                    "problem+json documents whose `type` is stable (see docs/problems.md). Every response carries "
                    "`X-Request-ID` (yours when you send a token of up to 128 safe characters, else the server's own): "
                    "quote it in bug reports; the server logs and traces its own id and yours.",
    )
    app.state.platform = platform
    app.state.mounted_plugins = set()
    install_handlers(app)
    app.add_middleware(MetricsMiddleware)
    from .cors import CORSGate, parse_cors_origins

    cors_origins = parse_cors_origins(platform.settings.cors_origins)
    if cors_origins:
        app.cors = CORSGate(app._serve_http, cors_origins)

    from .api import artists, auth, content, flags, me, system

    for module in (me, auth, artists, content, flags):  # the hottest routes are matched first
        close_undeclared(module.router, "core", fallback=session_only)
        app.include_router(module.router, prefix="/api/v1")
    from .realtime import router as realtime_router

    close_undeclared(realtime_router, "core", fallback=session_only)
    app.include_router(realtime_router, prefix="/api/v1")
    close_undeclared(system.router, "core", fallback=session_only)
    app.include_router(system.router)
    app.router.routes.append(Route("/media/{key:path}", system.media, methods=["GET", "HEAD"]))
    from .docs_assets import docs_router

    app.include_router(docs_router(app))  # /docs, /redoc: before the plugins' pages at /
    mount_plugin_routes(app, platform)
    mount_fast_routes(app, platform)
    return app
