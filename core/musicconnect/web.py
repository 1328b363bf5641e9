"""Public request helpers for plugin routes: FastAPI dependencies, and the authentication that
fast-path handlers (:mod:`musicconnect.fastpath`) call themselves."""
from .api.deps import (authenticate, bearer_token, current_actor, ensure_artist_owner, get_platform, optional_actor,
                       require_admin, require_role, require_scope)
from .errors import problem_response

__all__ = ["authenticate", "bearer_token", "current_actor", "ensure_artist_owner", "get_platform", "optional_actor",
           "problem_response", "require_admin", "require_role", "require_scope"]
