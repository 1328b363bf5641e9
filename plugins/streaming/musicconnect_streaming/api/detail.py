"""A track's detail (streaming state for its artist), its preview and its waveform."""
from __future__ import annotations

import uuid

from fastapi import Depends
from sqlalchemy import select
from starlette.responses import RedirectResponse

from musicconnect import Actor, NotFound, resource_of
from musicconnect.models import ContentItem
from musicconnect.web import get_platform

from ..models import TrackVersion
from ..pipeline import prefix
from .common import READ, _visible_published, router



@router.get("/tracks/{track_id}", responses={401: {"description": "sign in (a released tier-gated track)"},
                                            403: {"description": "your tier does not include it"},
                                            404: {"description": "no such track, or not released yet"}})
def track_detail(track_id: uuid.UUID, actor: Actor | None = Depends(READ), platform=Depends(get_platform)):
    """A track with its streaming state: versions, processing progress, playback URLs."""
    with platform.session() as s:
        item = s.get(ContentItem, track_id)
        if item is None or item.kind != "track":
            raise NotFound("track")
        owner = platform.access.manages(actor, item.artist_id)
        if not owner:
            # the core's decision and refusal: drafts, take-downs and unreleased tracks are 404 to
            # those who may not see them; a released track they may not see is 401/403 with the
            # reason. Nothing of it (description, data, signed covers, renditions) reaches them.
            platform.access.require(actor, "view", resource_of(item), not_found="track")
        out = platform.content.serialize(item, actor)
        if owner:
            versions = s.scalars(select(TrackVersion).where(TrackVersion.content_id == track_id)
                                 .order_by(TrackVersion.version)).all()
            from musicconnect.models import Job

            out["status_reason"] = item.status_reason  # e.g. held_for_review: ... (the owner's eyes only)
            out["versions"] = []
            for v in versions:
                job = s.get(Job, v.job_id) if v.job_id else None
                out["versions"].append({"version": v.version, "state": v.state, "error": v.error,
                                        "original_filename": v.original_filename, "size_bytes": v.size_bytes,
                                        "probe": v.probe, "job": {"id": str(job.id), "state": job.state,
                                                                  "progress": job.progress, "message": job.message}
                                        if job else None})
        return out


@router.get("/tracks/{track_id}/preview", status_code=307)
def preview(track_id: uuid.UUID, actor: Actor | None = Depends(READ), platform=Depends(get_platform)):
    """Redirect to the 30-second preview (public for every published track: discovery)."""
    with platform.session() as s:
        item, row = _visible_published(platform, s, track_id, actor)
        url = platform.storage.signed_url(f"{prefix(track_id, row.version)}/preview.m4a", 3600,
                                          within=prefix(track_id, row.version))
    return RedirectResponse(url, status_code=307)


@router.get("/tracks/{track_id}/waveform")
def waveform(track_id: uuid.UUID, actor: Actor | None = Depends(READ), platform=Depends(get_platform)):
    """Waveform peaks (0..1) for drawing the track."""
    import json

    with platform.session() as s:
        item, row = _visible_published(platform, s, track_id, actor)
        key = f"{prefix(track_id, row.version)}/waveform.json"
    cached = platform.cache.get(("streaming-waveform", key))
    if cached is None:
        cached = json.loads(platform.storage.get_bytes(key))
        platform.cache.set(("streaming-waveform", key), cached)
    return cached
