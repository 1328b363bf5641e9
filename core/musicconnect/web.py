"""Public request helpers for plugin routes: FastAPI dependencies, and the authentication that
fast-path handlers (:mod:`musicconnect.fastpath`) call themselves.

Every route declares who may call it with exactly one of ``scope("area:verb")``,
``scope("area:verb", optional=True)``, ``public``, ``static_public`` (a web app's files at the
site root: public and not counted against the API rate limits) or ``session_only`` (see
:mod:`musicconnect.routescopes`); ``current_actor`` / ``optional_actor`` declare nothing and make a
route session-only."""
from .api.deps import (authenticate, bearer_token, current_actor, ensure_artist_owner, get_platform, optional_actor,
                       public, require_admin, require_role, require_scope, scope, session_only, static_public)
from .routescopes import body_limit
from .access import denial
from .contracts import Actor
from .errors import problem_response
from .redirects import check_return_url


async def actor_for(platform, user_id) -> Actor | None:
    """The current Actor of a user id (cached; ``None`` when disabled or gone) — for handlers that
    identify the user by a signed token of their own rather than by the Authorization header."""
    from .api.deps import user_snapshot

    snap = await user_snapshot(platform, user_id)
    if snap is None or not snap.is_active:
        return None
    return Actor(snap.id, snap.role, snap.artist_id)

__all__ = ["actor_for", "authenticate", "body_limit", "check_return_url", "denial", "bearer_token", "current_actor",
           "ensure_artist_owner", "get_platform", "optional_actor", "problem_response", "public", "require_admin",
           "require_role", "require_scope", "scope", "session_only", "static_public"]
