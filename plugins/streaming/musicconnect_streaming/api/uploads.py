"""Uploads: a new track (streamed to disk, probed and decoded before anything is stored) and the
replacement of a track's audio."""
from __future__ import annotations

import math
import os
import secrets
import uuid
from datetime import datetime, timezone

from fastapi import Depends, Request
from sqlalchemy import delete, func, select
from starlette.concurrency import run_in_threadpool

from musicconnect import Actor, NotFound, Problem, resource_of
from musicconnect.models import Artist, ContentItem
from musicconnect.web import body_limit, ensure_artist_owner, get_platform

from .. import media
from ..models import Track, TrackVersion
from ..pipeline import JOB, prefix
from ..uploads import Form, read_form
from .common import UPLOAD_BODY_LIMIT, WRITE, _settings, router


UPLOAD_DOC = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"],
    "properties": {
        "file": {"type": "string", "format": "binary", "description": "WAV, FLAC, MP3, AAC/M4A or OGG/Opus"},
        "title": {"type": "string", "description": "defaults to the file's title tag, then its name"},
        "description": {"type": "string"},
        "visibility": {"type": "string", "enum": ["public", "tier"]},
        "required_tier_id": {"type": "string", "format": "uuid"},
        "publish_at": {"type": "string", "format": "date-time", "pattern": r"^(19|2[0-9])[0-9]{2}-",
                       "description": "release time with its time zone, years 1900 to 2999; members with the "
                                      "early_access perk hear it earlier"},
        "preview_start": {"type": "number", "minimum": 0, "description": "seconds; default: the loudest 30 s"},
        "artwork": {"type": "string", "format": "binary", "description": "JPEG or PNG cover (else the embedded one)"},
    },
    # a form, not JSON: curl -F file=@take-me-home.flac -F title="Take Me Home" -F visibility=public ...
    "examples": [{"file": "(the audio file: take-me-home.flac)", "title": "Take Me Home", "visibility": "public",
                  "publish_at": "2031-06-01T18:00:00Z", "preview_start": 42}]}}}}}


def _check_artwork(art) -> None:
    """The cover's header only (nothing decoded: a 13000 px PNG of a few KB decodes to gigabytes),
    then Pillow's structural check, which does not decode either."""
    from PIL import Image

    if art.size > 20 * 1024 * 1024:
        raise Problem(413, "upload-too-large", "artwork is limited to 20 MB")
    try:
        media.image_header(art.path)
        with Image.open(art.path) as im:
            im.verify()
    except media.MediaError as exc:
        raise Problem(exc.status, exc.slug, str(exc)) from None
    except Exception:  # whatever verify() finds broken
        raise Problem(415, "unsupported-image", "artwork is not a readable image") from None


async def _accept_audio(platform, form: Form):
    """Check the artwork (cheap, first), then probe and fully decode the uploaded file; reject
    anything that is not sound audio."""
    f = form.files.get("file")
    if f is None:
        raise Problem(422, "validation", "the 'file' part is missing")
    art = form.files.get("artwork")
    if art is not None:
        await run_in_threadpool(_check_artwork, art)
    settings = _settings(platform)
    try:
        probe = await run_in_threadpool(media.probe, f.path)
        if probe.duration > settings.max_duration_minutes * 60:
            raise Problem(422, "too-long", f"tracks are limited to {settings.max_duration_minutes} minutes")
        await run_in_threadpool(media.verify_decodes, f.path)
    except media.MediaError as exc:
        raise Problem(exc.status, exc.slug, str(exc)) from None
    return f, probe, art


#: release times a client may set: a zone and a year from 1900 to 2999 as written (the form's
#: schema says so); ``9999-12-31T23:59:59-14:00`` is past year 9999 in UTC and
#: ``0001-01-01T00:00:00+14:00`` before year 1 (both were 500s)
FIRST_YEAR, LAST_YEAR = 1900, 2999
YEAR_PATTERN = r"^(19|2[0-9])[0-9]{2}-"


def _parse_time(value: str | None, field: str) -> datetime | None:
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise Problem(422, "validation", f"{field} must be an ISO 8601 date-time") from None
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise Problem(422, "validation", f"{field} needs a time zone")
    if not FIRST_YEAR <= dt.year <= LAST_YEAR:
        raise Problem(422, "validation", f"{field} must lie between {FIRST_YEAR}-01-01 and {LAST_YEAR}-12-31")
    return dt.astimezone(timezone.utc)  # within years 1899..3000: always representable


def _parse_float(value: str | None, field: str) -> float | None:
    if value in (None, ""):
        return None
    try:
        v = float(value)
    except ValueError:
        raise Problem(422, "validation", f"{field} must be a number") from None
    if not math.isfinite(v) or v < 0:
        raise Problem(422, "validation", f"{field} must be a finite number, not negative")
    return v


def _version_row(platform, cid, version, f, probe, art, state: str) -> TrackVersion:
    """A version row; its object keys are derived here from the content id and version only."""
    ext = os.path.splitext(f.filename)[1].lower()[:8] or ".bin"
    original_key = f"{prefix(cid, version)}/original{ext if ext.replace('.', '').isalnum() else '.bin'}"
    artwork = {"source": f"{prefix(cid, version)}/artwork-source"} if art is not None else {}
    return TrackVersion(content_id=cid, version=version, state=state, original_key=original_key,
                        original_filename=f.filename, size_bytes=f.size, probe=probe.as_dict(), duration=probe.duration,
                        aes_key=secrets.token_bytes(16), aes_iv="0x" + secrets.token_hex(16), artwork=artwork,
                        created_at=platform.clock.now())


def _store_files(platform, row: TrackVersion, f, art) -> None:
    platform.storage.put_file(row.original_key, f.path)
    if art is not None:
        platform.storage.put_file(row.artwork["source"], art.path)


def _store_version(platform, s, cid, version, f, probe, art) -> TrackVersion:
    row = _version_row(platform, cid, version, f, probe, art, "processing")
    _store_files(platform, row, f, art)
    s.add(row)
    return row


@router.post("/artists/{artist_id}/tracks", status_code=202, openapi_extra=UPLOAD_DOC,
             responses={413: {"description": "too large"}, 415: {"description": "not audio"},
                        422: {"description": "corrupt, too long or bad fields"}})
@body_limit(UPLOAD_BODY_LIMIT)
async def upload(artist_id: uuid.UUID, request: Request, actor: Actor = Depends(WRITE),
                 platform=Depends(get_platform)):
    """Upload a track (streamed to disk, probed and decoded before anything is stored), then
    transcode it in the background. Poll ``GET /tracks/{id}`` or ``GET /api/v1/jobs/{job_id}``.
    Needs ``content:write``. A ``multipart/form-data`` form, e.g.
    ``curl -H "Authorization: Bearer $TOKEN" -F file=@take-me-home.flac -F title="Take Me Home" -F visibility=public``."""
    ensure_artist_owner(actor, artist_id)
    form = await read_form(request, platform, max_bytes=_settings(platform).max_upload_mb * 1024 * 1024,
                           file_fields={"file", "artwork"})
    try:
        fields = form.fields  # the cheap checks first: nothing is decoded for a form that is refused
        visibility = fields.get("visibility") or "public"
        tier = fields.get("required_tier_id") or None
        try:
            tier_id = uuid.UUID(tier) if tier else None
        except ValueError:
            raise Problem(422, "validation", "required_tier_id must be a UUID") from None
        publish_at = _parse_time(fields.get("publish_at"), "publish_at")
        preview = _parse_float(fields.get("preview_start"), "preview_start")
        f, probe, art = await _accept_audio(platform, form)
        title = (fields.get("title") or probe.tags.get("title") or os.path.splitext(f.filename)[0]).strip()
        return await run_in_threadpool(_create, platform, actor, artist_id, f, probe, art, title,
                                       fields.get("description", ""), visibility, tier_id, publish_at, preview)
    finally:
        form.cleanup()


def _create(platform, actor, artist_id, f, probe, art, title, description, visibility, tier_id, publish_at, preview):
    cid = uuid.uuid4()
    stored = []
    try:
        with platform.session() as s:
            if s.get(Artist, artist_id) is None:
                raise NotFound("artist")
            item = platform.content.create(s, artist_id=artist_id, kind="track", title=title, description=description,
                                           visibility=visibility, required_tier_id=tier_id, publish_at=publish_at,
                                           data={"duration": probe.duration}, status="processing",
                                           actor_id=actor.user_id, item_id=cid)
            s.add(Track(content_id=cid, artist_id=artist_id, version=0, pending_version=1, preview_start=preview,
                        created_at=platform.clock.now()))
            stored.append(prefix(cid, 1) + "/")
            row = _store_version(platform, s, cid, 1, f, probe, art)
            s.flush()
            job = platform.jobs.enqueue(JOB, session=s, subject=("content", cid), owner_id=actor.user_id,
                                        content_id=str(cid), version=1)
            row.job_id = job
            out = platform.content.serialize(item, actor)
        return {**out, "job_id": str(job)}
    except BaseException:
        for p in stored:  # nothing half-written: the database rolled back, the files go too
            platform.storage.delete_prefix(p)
        raise


@router.post("/tracks/{track_id}/audio", status_code=202, openapi_extra={"requestBody": {
    "required": True, "content": {"multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                                                      "properties": {"file": {"type": "string", "format": "binary"}},
                                                                      "examples": [{"file": "(the new audio file)"}]}}}}})
@body_limit(UPLOAD_BODY_LIMIT)
async def replace_audio(track_id: uuid.UUID, request: Request, actor: Actor = Depends(WRITE),
                        platform=Depends(get_platform)):
    """Replace a track's audio. The current version keeps playing until the new one is ready.
    Needs ``content:write``."""
    item = await run_in_threadpool(_owned_track, platform, actor, track_id)
    form = await read_form(request, platform, max_bytes=_settings(platform).max_upload_mb * 1024 * 1024, file_fields={"file"})
    try:
        f, probe, _ = await _accept_audio(platform, form)
        return await run_in_threadpool(_replace, platform, actor, item.id, f, probe)
    finally:
        form.cleanup()


def _owned_track(platform, actor, track_id) -> ContentItem:
    with platform.session() as s:
        item = s.get(ContentItem, track_id)
        if item is None or item.kind != "track":
            raise NotFound("track")
        if not platform.access.manages(actor, item.artist_id) and not platform.access.visible(actor, resource_of(item)):
            raise NotFound("track")  # 403 would tell a stranger that an unreleased track exists
        ensure_artist_owner(actor, item.artist_id)
        if item.status == "taken_down":
            raise Problem(409, "content-taken-down", "taken-down tracks cannot be changed")
        return item


def _replace(platform, actor, cid, f, probe):
    """Rows first, files second: the new version's row is committed (state ``uploading``) before
    its file is stored, so two replaces never pick the same version number and a replace that
    dies half-way leaves a row the orphan sweep recognises (and removes after the grace period)."""
    from sqlalchemy.exc import IntegrityError

    for attempt in range(5):
        try:
            with platform.session() as s:
                if s.get(Track, cid) is None:
                    raise NotFound("track")
                version = (s.scalar(select(func.max(TrackVersion.version))
                                    .where(TrackVersion.content_id == cid)) or 0) + 1
                row = _version_row(platform, cid, version, f, probe, None, "uploading")
                s.add(row)
            break
        except IntegrityError:
            if attempt == 4:
                raise Problem(409, "replace-in-progress", "another replacement of this track is being stored; "
                                                          "try again") from None
    try:
        _store_files(platform, row, f, None)
        with platform.session() as s:
            track = s.get(Track, cid, with_for_update=True)
            claimed = s.get(TrackVersion, (cid, version), with_for_update=True)
            if track is None or claimed is None or claimed.state != "uploading":
                raise NotFound("track")  # deleted meanwhile
            claimed.state = "processing"
            track.pending_version = version
            s.flush()
            job = platform.jobs.enqueue(JOB, session=s, subject=("content", cid), owner_id=actor.user_id,
                                        content_id=str(cid), version=version)
            claimed.job_id = job
    except BaseException:
        platform.storage.delete_prefix(prefix(cid, version) + "/")  # ours: the row claimed the version
        with platform.session() as s:
            s.execute(delete(TrackVersion).where(TrackVersion.content_id == cid, TrackVersion.version == version,
                                                 TrackVersion.state == "uploading"))
        raise
    return {"id": str(cid), "pending_version": version, "job_id": str(job)}
