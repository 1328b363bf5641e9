"""Request dependencies: the platform, and who is asking.

Authentication is the hot path of every request: an access JWT is verified without I/O, and the
user's current state (active, role, artist) comes from the coherent cache, read from the
database in a worker thread only on a miss. Personal API tokens resolve the same way.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from ..apilimits import SCOPE_KEY as RATE_SCOPE_KEY
from ..contracts import Actor
from ..routescopes import ScopeDecl
from ..errors import Forbidden, Problem, Unauthorized
from ..identity.tokens import API_TOKEN_PREFIX, sha256
from ..models import ApiToken, User
from ..platform import Platform

bearer = HTTPBearer(auto_error=False, description="An access token from /auth/login, or a personal API token (mcp_...)")


async def get_platform(request: Request) -> Platform:
    """The platform of this app. ``async`` on purpose: FastAPI runs a plain ``def`` dependency in
    the thread pool, one hop (and one GIL hand-off) per request for a dictionary lookup."""
    return request.app.state.platform


@dataclass(frozen=True, slots=True)
class UserSnapshot:
    id: uuid.UUID
    role: str
    artist_id: uuid.UUID | None
    is_active: bool
    me: bytes  # the serialised /me document
    is_member: bool = False  # holds a paid tier of some artist now (for rate-limit classes)


@dataclass(frozen=True, slots=True)
class TokenSnapshot:
    user_id: uuid.UUID
    scopes: tuple[str, ...]
    expires_at: datetime | None
    revoked: bool


def load_user(platform: Platform, user_id: uuid.UUID) -> UserSnapshot | None:
    from .schemas import me_document

    cache = platform.cache
    gen = cache.generation()
    with platform.db.session() as s:
        user = s.get(User, user_id)
        if user is None:
            return None
        snap = UserSnapshot(user.id, user.role, user.artist.id if user.artist else None, user.is_active,
                            me_document(user), _is_member(s, platform, user.id))
    cache.set(("user", user_id), snap, generation=gen)
    return snap


def _is_member(s, platform: Platform, user_id: uuid.UUID) -> bool:
    from sqlalchemy import or_

    from ..models import Entitlement, Tier

    now = platform.clock.now()
    return s.scalar(select(Entitlement.id).join(Tier, Tier.id == Entitlement.tier_id).where(
        Entitlement.user_id == user_id, Tier.price_amount > 0,
        Entitlement.status.in_(("active", "past_due", "cancelled")), Entitlement.starts_at <= now,
        or_(Entitlement.expires_at.is_(None), Entitlement.expires_at > now)).limit(1)) is not None


async def user_snapshot(platform: Platform, user_id: uuid.UUID) -> UserSnapshot | None:
    snap = platform.cache.get(("user", user_id))
    if snap is None:
        snap = await run_in_threadpool(load_user, platform, user_id)
    return snap


_NO_TOKEN = object()


def _load_token(platform: Platform, token_hash: str) -> TokenSnapshot | None:
    cache = platform.cache
    gen = cache.generation()
    with platform.db.session() as s:
        row = s.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash))
        if row is None:
            cache.set(("pat", token_hash), _NO_TOKEN, generation=gen)  # unknown tokens cost one lookup
            return None
        row.last_used_at = platform.clock.now()  # at most once per cache period
        snap = TokenSnapshot(row.user_id, tuple(row.scopes), row.expires_at, row.revoked_at is not None)
    cache.set(("pat", token_hash), snap, generation=gen)
    return snap


async def authenticate(platform: Platform, token: str) -> tuple[Actor, UserSnapshot]:
    """Who holds this bearer token (access JWT or ``mcp_`` API token)? No I/O on a cache hit."""
    scopes: tuple[str, ...] = ("*",)
    if token.startswith(API_TOKEN_PREFIX):
        h = sha256(token)
        tok = platform.cache.get(("pat", h))
        if tok is None:
            tok = await run_in_threadpool(_load_token, platform, h)
        if tok is None or tok is _NO_TOKEN or tok.revoked:
            raise Unauthorized("invalid API token")
        if tok.expires_at is not None and tok.expires_at <= platform.clock.now():
            raise Problem(401, "token-expired", "this API token has expired", headers={"WWW-Authenticate": "Bearer"})
        user_id, scopes = tok.user_id, tok.scopes
    else:
        claims = platform.tokens.decode_access(token)
        user_id = claims.get("_uid")
        if user_id is None:
            try:
                user_id = claims["_uid"] = uuid.UUID(claims["sub"])
            except ValueError:
                raise Unauthorized("invalid access token") from None
    snap = await user_snapshot(platform, user_id)
    if snap is None or not snap.is_active:
        raise Unauthorized("this account is disabled or no longer exists")
    return Actor(snap.id, snap.role, snap.artist_id, scopes), snap


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer`` header; a malformed header is a 401."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("use 'Authorization: Bearer <token>'")
    return token.strip()


async def resolve_actor(request: Request, platform: Platform, token: str) -> Actor:
    actor, snap = await authenticate(platform, token)
    request.state.user = snap
    return actor


async def _actor(request: Request) -> Actor | None:
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        return None
    return await resolve_actor(request, request.app.state.platform, token)


# Every route declares what it needs with exactly one of the dependencies below (see
# musicconnect.routescopes): ``scope("area:verb")``, ``scope(..., optional=True)``, ``public`` or
# ``session_only``. Each is one flat function (no nested Depends on the hot path); ``bearer`` is
# declared only so that OpenAPI shows the security scheme. Each also counts the request against
# its caller's rate-limit policy (musicconnect.apilimits).
def caller_class(actor: Actor | None, token: str | None, snap, address: str) -> tuple[str, str]:
    """The rate-limit policy and key of a caller (docs/security.md)."""
    if actor is None:
        return "anonymous", address
    if token is not None and token.startswith(API_TOKEN_PREFIX):
        return "token", str(actor.user_id)  # one budget for all of a user's tokens
    if actor.role in ("artist", "admin"):
        return "artist", str(actor.user_id)
    return ("member" if snap is not None and snap.is_member else "fan"), str(actor.user_id)


async def count_request(platform: Platform, scope: dict, actor: Actor | None, token: str | None, snap,
                        address: str) -> None:
    """Count one request against its caller's policy; 429 ``rate-limited`` past it. The verdict
    is left in the ASGI scope, whose response then carries the RateLimit fields."""
    limits = platform.api_limits
    if not limits.enabled:
        return
    cls, key = caller_class(actor, token, snap, address)
    verdict = await limits.hit(cls, key)
    scope[RATE_SCOPE_KEY] = verdict
    if not verdict.allowed:
        raise Problem(429, "rate-limited", f"too many requests for the {cls!r} policy; retry in {verdict.reset} s",
                      headers={"Retry-After": str(verdict.reset)}, retry_after=verdict.reset, policy=cls)


async def _count(request: Request, actor: Actor | None, token: str | None) -> None:
    await count_request(request.app.state.platform, request.scope, actor, token,
                        getattr(request.state, "user", None), request.client.host if request.client else "unknown")


async def _resolve_counted(request: Request, token: str) -> Actor:
    """Authenticate; a caller whose credentials fail is counted as anonymous (per address), so
    made-up tokens cannot be tried without limit."""
    try:
        return await resolve_actor(request, request.app.state.platform, token)
    except Problem:
        await _count(request, None, None)
        raise


def _declare(dep, decl: ScopeDecl):
    dep.__mc_scope__ = decl
    return dep


def scope(name: str, *, optional: bool = False):
    """Declare (and enforce) the scope a route needs. Returns the :class:`Actor`.

    A personal API token must carry ``name``; an interactive session holds every scope.
    ``optional=True``: anonymous callers are let in (``None``), and a token without the scope is
    treated as anonymous (it still reads what is public). ``scope("admin")`` also requires the
    admin role.
    """
    decl = ScopeDecl(name, optional=optional)

    async def dep(request: Request, _: HTTPAuthorizationCredentials | None = Security(bearer)) -> Actor | None:
        token = bearer_token(request.headers.get("authorization"))
        actor = await _resolve_counted(request, token) if token is not None else None
        if actor is not None and not actor.has_scope(name):
            if not optional:
                await _count(request, actor, token)
                raise Problem(403, "insufficient-scope", f"this token lacks the {name!r} scope", required_scope=name)
            actor = None
        await _count(request, actor, token)
        if actor is None:
            if optional:
                return None
            raise Unauthorized()
        if name == "admin" and not actor.is_admin:
            raise Forbidden("this needs the admin role")
        return actor

    return _declare(dep, decl)


async def _public(request: Request) -> None:
    await _count(request, None, None)


#: the route needs no authentication (webhooks, pages with their own signed links, sign-in)
public = _declare(_public, ScopeDecl(None, public=True))


async def _static_public(request: Request) -> None:
    return None


#: public and not counted against the API rate limits: a web app's static files, shell, manifest,
#: service worker and offline page at the site root (a cold load fetches ~20 of them, which would
#: otherwise spend an anonymous visitor's API budget). Never for an ``/api/`` route:
#: ``routescopes.uncounted_api_routes`` lists any, and the test suite fails on them.
static_public = _declare(_static_public, ScopeDecl(None, public=True, counted=False))


async def _session_only(request: Request, _: HTTPAuthorizationCredentials | None = Security(bearer)) -> Actor:
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        await _count(request, None, None)
        raise Unauthorized()
    actor = await _resolve_counted(request, token)
    await _count(request, actor, token)
    if "*" not in actor.scopes:
        raise Problem(403, "insufficient-scope", "personal API tokens cannot do this; sign in", required_scope="session")
    return actor


#: the route needs an interactive session; personal API tokens are refused (token management,
#: password changes)
session_only = _declare(_session_only, ScopeDecl("session"))

# Former names, kept for plugins written against them. They declare no scope: a route that uses
# only these is treated as session-only by the mount check (musicconnect.routescopes).
async def optional_actor(request: Request, _: HTTPAuthorizationCredentials | None = Security(bearer)) -> Actor | None:
    return await _actor(request)


async def current_actor(request: Request, _: HTTPAuthorizationCredentials | None = Security(bearer)) -> Actor:
    actor = await _actor(request)
    if actor is None:
        raise Unauthorized()
    return actor


def require_scope(name: str):
    """Same as :func:`scope` (required)."""
    return scope(name)


def require_role(*roles: str):
    async def dep(actor: Actor = Depends(current_actor)) -> Actor:
        if actor.role not in roles:
            raise Forbidden(f"this needs the {' or '.join(roles)} role")
        return actor
    return dep


#: admins only (an admin's API token needs the ``admin`` scope)
require_admin = scope("admin")


def ensure_artist_owner(actor: Actor, artist_id: uuid.UUID) -> None:
    """The artist themselves or an admin."""
    if not (actor.is_admin or actor.artist_id == artist_id):
        raise Forbidden("only this artist (or an admin) can do this")
