"""Offline downloads: a signed, per-user link within the monthly quota of the tier perk."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from fastapi import Depends
from pydantic import BaseModel
from sqlalchemy import select, update

from musicconnect import Actor, Problem, resource_of
from musicconnect.models import Artist
from musicconnect.web import get_platform, scope

from ..models import Download, DownloadCount
from ..pipeline import prefix
from .common import _settings, _visible_published, router



class DownloadOut(BaseModel):
    url: str
    expires_at: datetime
    filename: str
    used_this_month: int
    monthly_limit: int


@router.post("/tracks/{track_id}/download", response_model=DownloadOut,
             responses={403: {"description": "no download perk"}, 429: {"description": "monthly limit reached"}})
def download(track_id: uuid.UUID, actor: Actor = Depends(scope("content:read")), platform=Depends(get_platform)):
    """A signed, expiring, per-user link to the 320k .m4a (tags and cover included), for members
    whose tier has the ``offline_downloads`` perk (downloads per calendar month, UTC)."""
    settings = _settings(platform)
    with platform.session() as s:
        item, row = _visible_published(platform, s, track_id, actor)
        platform.access.require(actor, "download", resource_of(item))
        context = platform.access.context(actor, item.artist_id)
        owner = platform.access.manages(actor, item.artist_id)
        limit = settings.downloads_per_month if settings.downloads_per_month is not None else int(
            context.perks().get("offline_downloads") or 0)
        if owner:
            limit = max(limit, 10_000)
        now = platform.clock.now()
        month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        used = _take_download(s, actor.user_id, month.strftime("%Y-%m"), limit)
        if used is None:
            nxt = (month + timedelta(days=32)).replace(day=1)
            raise Problem(429, "download-limit", f"you have used your {limit} downloads this month",
                          headers={"Retry-After": str(int((nxt - now).total_seconds()))}, resets_at=nxt.isoformat())
        s.add(Download(user_id=actor.user_id, content_id=item.id, artist_id=item.artist_id, created_at=now))
        platform.emit(s, "track.downloaded", actor_id=actor.user_id, artist_id=item.artist_id,
                      subject=("content", item.id))
        artist = s.get(Artist, item.artist_id)
        fname = media_filename(artist.name, item.title)
        ttl = settings.download_url_ttl
        url = platform.storage.signed_url(f"{prefix(track_id, row.version)}/download.m4a", ttl, filename=fname,
                                          within=prefix(track_id, row.version))
        return {"url": url, "expires_at": now + timedelta(seconds=ttl), "filename": fname,
                "used_this_month": used, "monthly_limit": limit}


def _take_download(s, user_id, period: str, limit: int) -> int | None:
    """Take one download from the user's monthly quota atomically, or return None when it is used
    up. The counter row is created if missing (a no-op when it exists), then one conditional UPDATE
    increments it only while ``used < limit``: concurrent requests serialise on that row (SQLite's
    write lock, PostgreSQL's row lock with the condition re-checked), so at most ``limit`` succeed.
    The increment is part of the caller's transaction and rolls back with it."""
    table = DownloadCount.__table__
    if s.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    s.execute(insert(table).values(user_id=user_id, period=period, used=0).on_conflict_do_nothing())
    taken = s.execute(update(table).where(table.c.user_id == user_id, table.c.period == period,
                                          table.c.used < limit).values(used=table.c.used + 1))
    if taken.rowcount != 1:
        return None
    return s.scalar(select(table.c.used).where(table.c.user_id == user_id, table.c.period == period))


def media_filename(artist: str, title: str) -> str:
    import re

    name = re.sub(r"[^\w\- ()]+", "", f"{artist} - {title}").strip()[:150] or "track"
    return name + ".m4a"
