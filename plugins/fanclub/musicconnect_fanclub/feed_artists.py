"""The artists whose items reach a fan's feed: those the fan follows or holds an entitlement of.

Read on every feed request, so kept in the process cache per fan and dropped in every API
process (``platform.invalidate``) when the fan follows, unfollows, joins, or an entitlement of
theirs changes. An entitlement that simply runs out keeps its artist in the set for at most
``MC_CACHE_TTL`` seconds; the feed's per-item access decision still gates every item.
"""
from __future__ import annotations

import uuid

from sqlalchemy import or_, select

from musicconnect import on_commit
from musicconnect.db import wrote
from musicconnect.models import Entitlement

from .models import Follow


def key(user_id: uuid.UUID) -> tuple:
    return ("fanclub-feed-artists", user_id)


def artists_of(s, platform, user_id: uuid.UUID) -> frozenset[uuid.UUID]:
    hit = platform.cache.get(key(user_id))
    if hit is not None:
        return hit
    now = platform.clock.now()
    follows = set(s.scalars(select(Follow.artist_id).where(Follow.user_id == user_id)))
    held = set(s.scalars(select(Entitlement.artist_id).where(
        Entitlement.user_id == user_id, Entitlement.status.in_(("active", "past_due", "cancelled")),
        or_(Entitlement.expires_at.is_(None), Entitlement.expires_at > now))))
    value = frozenset(follows | held)
    if not wrote(s):  # never cache what an uncommitted transaction may still take back
        platform.cache.set(key(user_id), value)
    return value


def forget(platform, session, user_id: uuid.UUID) -> None:
    """After this transaction commits, drop the fan's set here and in every other process."""
    platform.cache.invalidate(key(user_id))
    on_commit(session, lambda: platform.invalidate(key(user_id)))
