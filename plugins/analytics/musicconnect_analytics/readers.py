"""Who may read an artist's analytics: the artist themselves or an admin (403
``analytics-not-your-artist``); an artist that does not exist is 404."""
from __future__ import annotations

import uuid

from musicconnect import NotFound, Problem
from musicconnect.models import Artist


def check_reader(platform, actor, artist_id: uuid.UUID) -> None:
    if not (actor.is_admin or actor.artist_id == artist_id):
        raise Problem(403, "analytics-not-your-artist", "only this artist (or an admin) can read these analytics")
    with platform.read() as s:
        if s.get(Artist, artist_id) is None:
            raise NotFound("artist")
