"""Every route declares who may call it.

A route of the core or of a plugin states exactly one of: the scope a caller's token must carry
(``scope("messages:write")``, optionally letting anonymous callers in), ``public`` (no
authentication: webhooks, sign-in, pages with signed links of their own), ``static_public``
(public and not counted against the API rate limits: a web app's static files and shell at the
site root, never an ``/api/`` route) or ``session_only`` (interactive sessions; personal API
tokens refused). The declaration is the dependency that
enforces it (``musicconnect.web``), so there is one mechanism and no way to declare without
enforcing.

A route that declares nothing is not trusted to have thought about it: when it is mounted it gets
``session_only`` added (fail closed: no personal token and no anonymous caller gets in) and an
error is logged. ``undeclared_routes(app)`` lists them; the test suite fails on any.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger("musicconnect.routescopes")


@dataclass(frozen=True, slots=True)
class ScopeDecl:
    """What a route needs: ``scope`` (``None`` for public routes; ``"session"`` for
    session-only ones), whether anonymous callers are let in, whether it is public, and whether
    its requests count against the caller's API rate limit (only ``static_public`` ones do not)."""

    scope: str | None
    optional: bool = False
    public: bool = False
    counted: bool = True

    def describe(self) -> str:
        if self.public:
            return "public" if self.counted else "public (static, not counted)"
        if self.scope == "session":
            return "session only"
        return f"{self.scope} (optional)" if self.optional else str(self.scope)


def _walk(dependant):
    call = getattr(dependant, "call", None)
    decl = getattr(call, "__mc_scope__", None)
    if decl is not None:
        yield decl
    for sub in getattr(dependant, "dependencies", ()):
        yield from _walk(sub)


def declarations_of(route) -> list[ScopeDecl]:
    """The scope declarations found in a FastAPI route's dependency tree."""
    dependant = getattr(route, "dependant", None)
    return list(_walk(dependant)) if dependant is not None else []


def declaration_of(route) -> ScopeDecl | None:
    """The route's declaration (the most demanding one if a router adds a second)."""
    found = declarations_of(route)
    if not found:
        return None
    non_public = [d for d in found if not d.public]
    return non_public[0] if non_public else found[0]


def api_routes(app):
    """Every FastAPI route of ``app`` as mounted (prefixes and router dependencies applied)."""
    from fastapi.routing import APIRoute, iter_route_contexts

    return [rc for rc in iter_route_contexts(app.routes) if isinstance(rc.original_route, APIRoute)]


def undeclared_routes(app) -> list[str]:
    """``"METHOD /path"`` of every FastAPI route without a declaration (should be empty)."""
    out = []
    for r in api_routes(app):
        if declaration_of(r) is None or getattr(r.endpoint, "__mc_undeclared__", False):
            out += [f"{m} {r.path}" for m in sorted(r.methods)]
    return out


def uncounted_api_routes(app) -> list[str]:
    """``"METHOD /path"`` of every route under ``/api/`` declared ``static_public`` (should be
    empty: the API is always counted; only a web app's files and shell at the root are not)."""
    out = []
    for r in api_routes(app):
        if r.path.startswith("/api/") and any(not d.counted for d in declarations_of(r)):
            out += [f"{m} {r.path}" for m in sorted(r.methods)]
    return out


def close_undeclared(router, owner: str, *, fallback) -> list[str]:
    """Before ``router`` is mounted: give every route that declares nothing the ``fallback``
    dependency (the app passes ``session_only``: fail closed) and log each; apply the body limits
    routes declared with :func:`body_limit`. Returns the routes closed. (The fallback is passed in
    because the dependencies module builds on this one's declarations: no import cycle.)"""
    from fastapi import Depends
    from fastapi.routing import APIRoute

    closed = []
    for r in router.routes:
        limit = getattr(getattr(r, "endpoint", None), "__mc_body_limit__", None)
        if isinstance(r, APIRoute) and limit is not None:
            r.max_body_size = limit  # read when the router is included
        if isinstance(r, APIRoute) and not _declared_in(r, router):
            r.dependencies.append(Depends(fallback))
            r.endpoint.__mc_undeclared__ = True
            closed += [f"{m} {r.path}" for m in sorted(r.methods)]
    if closed:
        log.error("%s: routes without a scope declaration are limited to signed-in sessions: %s",
                  owner, ", ".join(closed))
    return closed


def _declared_in(route, router) -> bool:
    if declaration_of(route) is not None:
        return True
    deps = [*getattr(router, "dependencies", ()), *route.dependencies]
    return any(getattr(d.dependency, "__mc_scope__", None) is not None for d in deps)


def body_limit(max_bytes: int):
    """Decorate a route's endpoint to accept bodies up to ``max_bytes`` instead of the platform's
    ``MC_MAX_BODY_BYTES`` (uploads). Applied when the route is mounted."""
    def mark(fn):
        fn.__mc_body_limit__ = int(max_bytes)
        return fn
    return mark
