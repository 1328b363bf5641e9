"""FastAPI routes generated from fast routes: one declaration, two ways in.

A fast route (:class:`musicconnect.fastpath.FastRoute`) is declared once, with its handler,
scope and documentation fields. The core derives from it an ordinary FastAPI route that calls
the same handler, so that OpenAPI documents it (path and query parameters, security scheme,
response media type and model) and so that it still answers when the fast path is switched off
(``MC_FAST_PATH=false``). Nobody writes the copy by hand, so the two cannot drift apart.

The generated route declares the fast route's scope to the route-scope check
(:mod:`musicconnect.routescopes`) without enforcing it a second time: the handler enforces it
itself with ``await request.actor()``, which also counts the request against its caller's rate
limit exactly once.
"""
from __future__ import annotations

import inspect
import uuid
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Path, Query, Request, Security
from fastapi.security import HTTPAuthorizationCredentials
from starlette.responses import JSONResponse, Response

from .fastpath import FastRequest, FastRoute
from .routescopes import ScopeDecl

if TYPE_CHECKING:
    from .platform import Platform


def _declaration(route: FastRoute):
    """A dependency that only declares the route's scope (and shows the bearer scheme)."""
    from .api.deps import bearer

    if route.scope == "public":
        async def declared(request: Request) -> None:
            return None
        declared.__mc_scope__ = ScopeDecl(None, public=True)
        return declared

    async def declared_bearer(request: Request,
                              _: HTTPAuthorizationCredentials | None = Security(bearer)) -> None:
        return None
    declared_bearer.__mc_scope__ = ScopeDecl(route.scope, optional=route.optional)
    return declared_bearer


def _path_params(route: FastRoute) -> list[str]:
    return [s[1:-1] for s in route.segments if s.startswith("{")]


def endpoint_for(route: FastRoute):
    """The FastAPI endpoint of ``route``: same handler, documented signature."""
    from fastapi import Depends

    names = _path_params(route)

    async def endpoint(request: Request, **_: Any) -> Response:
        platform: Platform = request.app.state.platform
        params = {n: request.path_params[n] for n in names}
        resp = await route.handler(FastRequest(request.scope, platform, params, request.receive, route))
        if resp is None:  # a handler that hands on has nothing else to hand on to here
            from .errors import NotFound

            raise NotFound("resource")
        return Response(resp.body, status_code=resp.status, media_type=resp.media_type,
                        headers={k.decode("latin-1"): v.decode("latin-1") for k, v in resp.headers})

    kw = inspect.Parameter.KEYWORD_ONLY
    params = [inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request)]
    for name in names:
        typ = uuid.UUID if name.endswith("_id") else str
        params.append(inspect.Parameter(name, kw, default=Path(), annotation=typ))
    for q in route.query:
        params.append(inspect.Parameter(q.name, kw, annotation=q.type if q.required else q.type | None,
                                        default=Query(... if q.required else None, description=q.description)))
    params.append(inspect.Parameter("_mc_scope", kw, default=Depends(_declaration(route)), annotation=None))
    endpoint.__signature__ = inspect.Signature(params)
    endpoint.__doc__ = route.handler.__doc__
    endpoint.__name__ = getattr(route.handler, "__name__", "fast_route")
    return endpoint


def router_for(routes: list[FastRoute], existing: set[tuple[str, str]], *, tags: list[str] | None = None) -> APIRouter:
    """An APIRouter with a generated copy of every fast route that has none yet (``existing``:
    the ``(method, path)`` pairs FastAPI already serves). Prefix routes (``{name:path}``) serve
    files and are not documented this way."""
    router = APIRouter(tags=tags or [])
    for route in routes:
        if route.path.endswith(":path}") or (route.method, route.path) in existing:
            continue
        doc = inspect.cleandoc(route.handler.__doc__ or "")
        summary = route.summary or _first_sentence(doc)
        responses: dict = {route.status: {"description": route.response_description or "OK"}}
        if route.response_model is None or route.media_type != "application/json":
            responses[route.status]["content"] = {route.media_type: {}}
        router.add_api_route(route.path, endpoint_for(route), methods=[route.method], summary=summary,
                             description=(doc + "\n\n(Fast path.)") if doc else "(Fast path.)",
                             response_class=JSONResponse if route.media_type == "application/json" else Response,
                             response_model=route.response_model,
                             responses=responses, status_code=route.status,
                             operation_id=f"fast_{route.method.lower()}_{route.path.strip('/').replace('/', '_')}"
                             .replace("{", "").replace("}", "").replace(".", "_").replace("-", "_"))
    return router


def _first_sentence(doc: str) -> str | None:
    para = " ".join(doc.split("\n\n")[0].split())
    if not para:
        return None
    end = para.find(". ")
    return (para[:end] if end > 0 else para).rstrip(".")


def served_routes(app) -> set[tuple[str, str]]:
    """``(method, path)`` of every FastAPI route the app serves."""
    from .routescopes import api_routes

    out = set()
    for route in api_routes(app):
        for method in getattr(route, "methods", None) or ():
            out.add((method, route.path))
    return out
