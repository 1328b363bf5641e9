"""Public request dependencies for plugin routes (FastAPI ``Depends``)."""
from .api.deps import (current_actor, ensure_artist_owner, get_platform, optional_actor, require_admin,
                       require_role, require_scope)
from .errors import problem_response

__all__ = ["current_actor", "ensure_artist_owner", "get_platform", "optional_actor", "problem_response",
           "require_admin", "require_role", "require_scope"]
