"""The signed-in user: profile, entitlements and personal API tokens."""
from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi import APIRouter, Depends, Response
from sqlalchemy import select

from ..contracts import Actor
from ..errors import NotFound, Problem, Unauthorized
from ..identity.passwords import check_policy
from ..models import ApiToken, User
from ..platform import Platform
from ..fastpath import FastRequest, FastResponse, FastRoute
from .deps import get_platform, public, require_scope, scope, session_only
from .schemas import ApiTokenCreated, ApiTokenIn, ApiTokenOut, EntitlementOut, MePatch, UserOut, entitlement_dict

router = APIRouter(tags=["me"])
JSON = "application/json"


async def me_fast(req: FastRequest) -> FastResponse:
    """The signed-in user: served from the coherent cache, no database work on a hit."""
    await req.actor()
    return FastResponse(req.state["user"].me)


FAST_ROUTES = [FastRoute("GET", "/api/v1/me", me_fast, scope="profile:read", response_model=UserOut)]


@router.patch("/me", response_model=UserOut)
def patch_me(body: MePatch, actor: Actor = Depends(scope("profile:write")), platform: Platform = Depends(get_platform)):
    """Change your display name or password (changing the password signs out every other session;
    it needs an interactive session, not a personal API token)."""
    from .schemas import user_dict

    with platform.session() as s:
        user = s.get(User, actor.user_id)
        if body.display_name is not None:
            user.display_name = body.display_name.strip()
        if body.new_password is not None:
            if "*" not in actor.scopes:
                raise Problem(403, "insufficient-scope", "personal API tokens cannot change the password; sign in",
                              required_scope="session")
            if not body.current_password or not platform.passwords.verify(user.password_hash, body.current_password):
                raise Unauthorized("current_password is wrong")
            check_policy(body.new_password, email=user.email)
            user.password_hash = platform.passwords.hash(body.new_password)
            platform.tokens.revoke_all(s, user.id)
            platform.emit(s, "user.password_changed", actor_id=user.id, subject=("user", user.id))
        out = user_dict(user)
    platform.forget_user(actor.user_id)
    return out


@router.get("/me/entitlements", response_model=list[EntitlementOut])
def my_entitlements(actor: Actor = Depends(require_scope("profile:read")), platform: Platform = Depends(get_platform)):
    """What you hold, per artist: tier, source, status and whether it is in effect now."""
    now = platform.clock.now()
    with platform.session() as s:
        return [entitlement_dict(e, t, now) for e, t in platform.entitlements.for_user_all(s, actor.user_id)]


def _token_dict(t: ApiToken) -> dict:
    return {"id": t.id, "name": t.name, "prefix": t.prefix, "scopes": t.scopes, "created_at": t.created_at,
            "expires_at": t.expires_at, "last_used_at": t.last_used_at, "revoked_at": t.revoked_at}


@router.get("/scopes", response_model=dict[str, str])
def list_scopes(_: None = Depends(public), platform: Platform = Depends(get_platform)):
    """Every scope a personal API token can carry, with what it allows."""
    return platform.scopes()


@router.get("/me/tokens", response_model=list[ApiTokenOut])
def list_tokens(actor: Actor = Depends(session_only), platform: Platform = Depends(get_platform)):
    with platform.session() as s:
        rows = s.scalars(select(ApiToken).where(ApiToken.user_id == actor.user_id).order_by(ApiToken.created_at)).all()
        return [_token_dict(t) for t in rows]


@router.post("/me/tokens", response_model=ApiTokenCreated, status_code=201)
def create_token(body: ApiTokenIn, actor: Actor = Depends(session_only), platform: Platform = Depends(get_platform)):
    """Create a personal API token with the given scopes. The secret is shown only in this answer.

    Scopes are listed by `GET /api/v1/scopes` (the core's and every enabled plugin's); an unknown
    scope is refused. A token can never manage tokens or change the password."""
    known = platform.scopes()
    bad = sorted(sc for sc in set(body.scopes) if sc not in known)
    if bad:
        raise Problem(422, "unknown-scope", f"unknown scope(s): {', '.join(bad)}; known: {', '.join(sorted(known))} "
                      "(GET /api/v1/scopes)", unknown=bad, known=sorted(known))
    with platform.session() as s:
        user = s.get(User, actor.user_id)
        expires = platform.clock.now() + timedelta(days=body.expires_in_days) if body.expires_in_days else None
        row, secret = platform.tokens.create_api_token(s, user, body.name, body.scopes, expires)
        s.flush()
        platform.emit(s, "api_token.created", actor_id=user.id, subject=("api_token", row.id),
                      data={"scopes": row.scopes})
        out = {**_token_dict(row), "token": secret}
    return out


@router.delete("/me/tokens/{token_id}", status_code=204)
def revoke_token(token_id: uuid.UUID, actor: Actor = Depends(session_only), platform: Platform = Depends(get_platform)):
    with platform.session() as s:
        row = s.get(ApiToken, token_id)
        if row is None or row.user_id != actor.user_id:
            raise NotFound("API token")
        if row.revoked_at is None:
            row.revoked_at = platform.clock.now()
            platform.emit(s, "api_token.revoked", actor_id=actor.user_id, subject=("api_token", row.id))
        h = row.token_hash
    platform.invalidate(("pat", h))
    return Response(status_code=204)
