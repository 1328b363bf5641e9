"""What the route modules share: scope declarations, the upload body limit, settings, and the
lookup of a published track its caller may know about."""
from __future__ import annotations

from fastapi import APIRouter

from musicconnect import NotFound, resource_of
from musicconnect.models import ContentItem
from musicconnect.web import scope

from ..models import Track, TrackVersion
from ..settings import MAX_UPLOAD_MB_CAP

#: the plugin's one router: each route module adds its routes to it (``api/__init__`` imports them
#: in order)
router = APIRouter()

READ = scope("content:read", optional=True)  # anonymous listeners allowed (public tracks)
WRITE = scope("content:write")
#: the body limit of the upload routes: the highest size an operator may configure; the configured
#: ``max_upload_mb`` is enforced while the bytes arrive (``uploads.read_form``)
UPLOAD_BODY_LIMIT = (MAX_UPLOAD_MB_CAP + 2) * 1024 * 1024


def _settings(platform):
    return platform.plugin_settings("streaming")


def _visible_published(platform, s, track_id, actor) -> tuple[ContentItem, TrackVersion]:
    item = s.get(ContentItem, track_id)
    track = s.get(Track, track_id)
    if item is None or track is None or item.status != "ready" or not track.version:
        raise NotFound("track")
    if not platform.access.visible(actor, resource_of(item)):  # 404, as for no track
        raise NotFound("track")
    return item, s.get(TrackVersion, (track_id, track.version))
