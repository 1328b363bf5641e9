"""People as the fan club shows them: a display name, never an email, and the fan's privacy
choice respected (an ``anonymous`` fan is "A fan", without name or id, to everyone but
themselves). One query for any number of people (no query per person)."""
from __future__ import annotations

import uuid
from typing import Iterable

from sqlalchemy import select

from musicconnect.models import User

from .models import Privacy

ANONYMOUS = "A fan"


def people(s, user_ids: Iterable[uuid.UUID | None], viewer_id: uuid.UUID | None = None) -> dict[uuid.UUID, dict]:
    """``{user_id: {"id", "name", "anonymous"}}`` for these users (one joined query)."""
    ids = {u for u in user_ids if u is not None}
    if not ids:
        return {}
    rows = s.execute(select(User.id, User.display_name, Privacy.anonymous)
                     .outerjoin(Privacy, Privacy.user_id == User.id).where(User.id.in_(ids))).all()
    out = {}
    for uid, name, anonymous in rows:
        hidden = bool(anonymous) and uid != viewer_id
        out[uid] = ({"id": None, "name": ANONYMOUS, "anonymous": True} if hidden
                    else {"id": str(uid), "name": name, "anonymous": False})
    return out


def person(found: dict[uuid.UUID, dict], user_id: uuid.UUID | None) -> dict:
    """The entry for ``user_id`` (a deleted account: no name)."""
    hit = found.get(user_id) if user_id is not None else None
    return hit or {"id": None, "name": None, "anonymous": False}


def shown_id(found: dict[uuid.UUID, dict], user_id: uuid.UUID | None) -> str | None:
    """The id to show for ``user_id`` (``None`` for an anonymous fan)."""
    return person(found, user_id)["id"] if user_id in found else (str(user_id) if user_id else None)
