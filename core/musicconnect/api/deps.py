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

from ..contracts import Actor
from ..errors import Forbidden, Problem, Unauthorized
from ..identity.tokens import API_TOKEN_PREFIX, sha256
from ..models import ApiToken, User
from ..platform import Platform

bearer = HTTPBearer(auto_error=False, description="An access token from /auth/login, or a personal API token (mcp_...)")


def get_platform(request: Request) -> Platform:
    return request.app.state.platform


@dataclass(frozen=True, slots=True)
class UserSnapshot:
    id: uuid.UUID
    role: str
    artist_id: uuid.UUID | None
    is_active: bool
    me: bytes  # the serialised /me document


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
                            me_document(user))
    cache.set(("user", user_id), snap, generation=gen)
    return snap


async def user_snapshot(platform: Platform, user_id: uuid.UUID) -> UserSnapshot | None:
    snap = platform.cache.get(("user", user_id))
    if snap is None:
        snap = await run_in_threadpool(load_user, platform, user_id)
    return snap


def _load_token(platform: Platform, token_hash: str) -> TokenSnapshot | None:
    cache = platform.cache
    gen = cache.generation()
    with platform.db.session() as s:
        row = s.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash))
        if row is None:
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
        if tok is None or tok.revoked:
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


# Each dependency below is one flat function (no nested Depends on the hot path); ``bearer`` is
# declared only so that OpenAPI shows the security scheme.
async def optional_actor(request: Request, _: HTTPAuthorizationCredentials | None = Security(bearer)) -> Actor | None:
    return await _actor(request)


async def current_actor(request: Request, _: HTTPAuthorizationCredentials | None = Security(bearer)) -> Actor:
    actor = await _actor(request)
    if actor is None:
        raise Unauthorized()
    return actor


def require_scope(scope: str):
    async def dep(request: Request, _: HTTPAuthorizationCredentials | None = Security(bearer)) -> Actor:
        actor = await _actor(request)
        if actor is None:
            raise Unauthorized()
        if not actor.has_scope(scope):
            raise Problem(403, "insufficient-scope", f"this token lacks the {scope!r} scope", required_scope=scope)
        return actor
    return dep


def require_role(*roles: str):
    async def dep(actor: Actor = Depends(current_actor)) -> Actor:
        if actor.role not in roles:
            raise Forbidden(f"this needs the {' or '.join(roles)} role")
        return actor
    return dep


def require_admin(actor: Actor = Depends(current_actor)) -> Actor:
    if not actor.is_admin:
        raise Forbidden("this needs the admin role")
    return actor


def ensure_artist_owner(actor: Actor, artist_id: uuid.UUID) -> None:
    """The artist themselves or an admin."""
    if not (actor.is_admin or actor.artist_id == artist_id):
        raise Forbidden("only this artist (or an admin) can do this")
