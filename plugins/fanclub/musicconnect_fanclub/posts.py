"""Exclusive posts with images (resized with Pillow) and attached tracks; the fan feed;
comments and reactions by members."""
from __future__ import annotations

import logging
import threading
import uuid
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from musicconnect import Actor, NotFound, Problem, resource_of
from musicconnect.models import ContentItem
from musicconnect.web import body_limit, denial, ensure_artist_owner, get_platform, scope

from . import atomic, feed_artists
from . import images as images_
from .models import Comment, Reaction
from .people import people, person, shown_id
from .schema import MAX_IMAGES, SIZES, image_key, parse_post_data, stored_image
from .times import YEAR_PATTERN, cursor, parse_time
from .tracks import check_tracks

router = APIRouter()
log = logging.getLogger("musicconnect.fanclub")
MAX_IMAGE_BYTES = 15 * 1024 * 1024
MAX_POST_BYTES = MAX_IMAGES * MAX_IMAGE_BYTES + 1024 * 1024  # ten images and the text fields
MAX_OFFSET = 10_000_000
REACTIONS = ("heart", "fire", "clap", "laugh", "wow", "sad")
ReactionKind = Literal[REACTIONS]
_UUID = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"


def _resize(data: bytes) -> list[tuple[str, bytes, int, int]]:
    return images_.renditions(data, SIZES)


@router.post("/artists/{artist_id}/posts", status_code=201, openapi_extra={"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "required": ["title"], "additionalProperties": False,
                                       "properties": {
        "title": {"type": "string", "pattern": r"\S", "description": "not blank"}, "body": {"type": "string"},
        "visibility": {"type": "string", "enum": ["public", "tier"]},
        "required_tier_id": {"type": "string", "format": "uuid"},
        "publish_at": {"type": "string", "format": "date-time", "pattern": YEAR_PATTERN,
                       "description": "with its time zone; years 1900 to 2999"},
        "track_ids": {"type": "string", "description": "comma-separated ids of this artist's tracks",
                      "pattern": rf"^\s*({_UUID}\s*(,\s*{_UUID}\s*)*)?$"},
        "images": {"type": "array", "maxItems": MAX_IMAGES, "items": {"type": "string", "format": "binary"}}},
    "examples": [{"title": "Studio diary, week 3", "body": "Mixing the new single today.", "visibility": "public"}]}}}}})
@body_limit(MAX_POST_BYTES)
async def create_post(artist_id: uuid.UUID, request: Request, actor: Actor = Depends(scope("fanclub:write")),
                      platform=Depends(get_platform)):
    """An exclusive post: text, up to 10 images (resized to 1600 and 400 px) and attached tracks,
    visible to everyone or to members of a tier and above. A ``multipart/form-data`` form, where the
    text is the form field ``body`` (``curl -F title=... -F body=... -F images=@photo.jpg``); a text-only
    post may also go through the generic content API as JSON, with the text inside ``data``:
    ``POST /api/v1/artists/{id}/content`` ``{"kind": "post", "title": ..., "data": {"body": ...}}``."""
    ensure_artist_owner(actor, artist_id)
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_POST_BYTES:
        raise Problem(413, "upload-too-large", "the post is too large")
    try:
        form = await request.form(max_files=MAX_IMAGES, max_fields=20)
    except Exception as exc:
        raise Problem(400, "bad-multipart", f"the form could not be read: {exc}") from None
    try:
        blobs = []
        for f in form.getlist("images"):
            if not hasattr(f, "read"):
                raise Problem(422, "validation", "images must be files")
            data = await f.read()
            if len(data) > MAX_IMAGE_BYTES:
                raise Problem(413, "image-too-large", f"images are limited to {MAX_IMAGE_BYTES // (1024 * 1024)} MB")
            if not data:
                raise Problem(415, "unsupported-image", "an image file is empty")
            images_.inspect(data)  # the header only: a bomb is refused before anything is decoded
            blobs.append(data)
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
    finally:
        await form.close()
    title = (fields.get("title") or "").strip()
    if not title:
        raise Problem(422, "validation", "title is required")
    tier = fields.get("required_tier_id") or None
    try:
        tier_id = uuid.UUID(tier) if tier else None
        track_ids = [uuid.UUID(t.strip()) for t in (fields.get("track_ids") or "").split(",") if t.strip()]
    except ValueError:
        raise Problem(422, "validation", "required_tier_id and track_ids must be UUIDs") from None
    publish_at = parse_time(fields.get("publish_at"), "publish_at")
    images = [await run_in_threadpool(_resize, data) for data in blobs]
    return await run_in_threadpool(_store_post, platform, actor, artist_id, title, fields.get("body", ""),
                                   fields.get("visibility") or "public", tier_id, publish_at, track_ids, images)


def _store_post(platform, actor, artist_id, title, body, visibility, tier_id, publish_at, track_ids, images):
    cid = uuid.uuid4()
    # the same model as every other way in (generic content API, edits): nothing the client sent
    # becomes a storage key; keys are derived from the post id (schema.image_key)
    data = parse_post_data({"body": body, "tracks": [str(t) for t in track_ids],
                            "images": [{name: {"width": w, "height": h} for name, _, w, h in sizes}
                                       for sizes in images]})
    stored = []
    try:
        with platform.session() as s:
            check_tracks(s, artist_id, data.tracks)  # before storing images; the flush checks it again
            for i, sizes in enumerate(images):
                for name, blob, _, _ in sizes:
                    key = image_key(cid, i, name)
                    platform.storage.put_bytes(key, blob, "image/jpeg")
                    stored.append(key)
            item = platform.content.create(s, artist_id=artist_id, kind="post", title=title, visibility=visibility,
                                           required_tier_id=tier_id, publish_at=publish_at, status="ready",
                                           data=data.stored(), actor_id=actor.user_id, item_id=cid)
            return platform.content.serialize(item, actor)
    except BaseException:
        for key in stored:  # nothing half-written
            platform.storage.delete(key)
        raise


_reported: set[str] = set()  # posts whose malformed data this process has already logged
_reported_lock = threading.Lock()


def _report_once(post_id, what: str) -> None:
    """One warning line per malformed post per process, not a traceback on every listing."""
    pid = str(post_id)
    with _reported_lock:
        if pid in _reported:
            return
        if len(_reported) >= 100_000:
            _reported.clear()
        _reported.add(pid)
    log.warning("fanclub: post %s has malformed data (%s); it is served without those parts", pid, what)


def with_image_urls(platform, post_id, data) -> dict | None:
    """Signed URLs of a post's own images. The keys are derived from the post id, so a row can
    only ever point under ``posts/<post_id>/``; unusable entries (a foreign key from an older
    row, nonsense) are skipped and logged once."""
    images = data.get("images") if isinstance(data, dict) else None
    if not images:
        return None
    if not isinstance(images, list):
        _report_once(post_id, "images is not a list")
        return None
    own = f"posts/{post_id}/"  # a post signs only its own images
    out, bad = [], max(0, len(images) - MAX_IMAGES)
    for i, entry in enumerate(images[:MAX_IMAGES]):
        img = stored_image(post_id, i, entry)
        if img is None:
            bad += 1
            continue
        out.append({name: {"url": platform.storage.signed_url(image_key(post_id, i, name), 3600, within=own), **size}
                    for name, size in img.items()})
    if bad:
        _report_once(post_id, f"{bad} unusable image entr{'y' if bad == 1 else 'ies'}")
    return {"images": out} if out else None


def supported_or_followed(s, platform, user_id) -> frozenset[uuid.UUID]:
    return feed_artists.artists_of(s, platform, user_id)


@router.get("/feed")
def feed(limit: int = Query(30, ge=1, le=100),
         before: datetime | None = Query(None, description="an ISO 8601 date-time with its time zone"),
         actor: Actor = Depends(scope("fanclub:read")), platform=Depends(get_platform)):
    """Posts and tracks of the artists you follow or support, newest first. Gated items you cannot
    open yet appear as locked teasers (id, title, kind, the tier needed; no body or media); an
    unreleased item too once a tier's early access to it has opened (``early_access: true``, and
    ``required_tier_id`` the tier that hears it now); other unreleased items not at all.
    Page with ``before`` = the last item's ``publish_at`` (with its time zone)."""
    before, nothing_older = cursor(before, "before")
    if nothing_older:
        return []
    now = platform.clock.now()
    with platform.session() as s:
        artists = supported_or_followed(s, platform, actor.user_id)
        if not artists:
            return []
        stmt = (select(ContentItem).where(ContentItem.artist_id.in_(artists), ContentItem.status == "ready",
                                          ContentItem.kind.in_(("post", "track")))
                .order_by(ContentItem.publish_at.desc()).limit(limit * 3))
        if before is not None:
            stmt = stmt.where(ContentItem.publish_at < before)
        out = []
        items = list(s.scalars(stmt))
        contexts = platform.access.contexts(actor, [item.artist_id for item in items])
        for item in items:
            if platform.access.decide(actor, "view", resource_of(item), contexts[item.artist_id]).allowed:
                out.append({**platform.content.serialize(item, actor), "locked": False})
            elif item.publish_at <= now:
                out.append(_teaser(item, item.required_tier_id))
            else:
                opened = _early_access_tier(contexts[item.artist_id], item, now)
                if opened is not None:
                    out.append({**_teaser(item, opened.id), "early_access": True})
            if len(out) >= limit:
                break
        return out


def _teaser(item: ContentItem, tier_id) -> dict:
    """A locked item as the feed shows it: what it is and which tier opens it, nothing of its body."""
    return {"id": str(item.id), "artist_id": str(item.artist_id), "kind": item.kind, "title": item.title,
            "visibility": item.visibility, "publish_at": item.publish_at.isoformat(),
            "required_tier_id": str(tier_id) if tier_id else None, "locked": True}


def _early_access_tier(context, item: ContentItem, now: datetime):
    """The lowest tier whose early access to this unreleased item is open now (``None``: none),
    read from the artist's tiers in the access context (no query)."""
    required = context.tier(item.required_tier_id) if item.visibility == "tier" else None
    if item.visibility == "tier" and required is None:
        return None
    from datetime import timedelta

    for tier in sorted(context.tiers, key=lambda t: t.rank):
        hours = (tier.perks or {}).get("early_access")
        if (tier.is_active and isinstance(hours, (int, float)) and not isinstance(hours, bool) and hours > 0
                and (required is None or tier.rank >= required.rank)
                and now >= item.publish_at - timedelta(hours=hours)):
            return tier
    return None


def _member_item(s, platform, actor: Actor, content_id: uuid.UUID, action: str) -> ContentItem:
    """The item, if the actor may see it and is a member (any tier) of its artist, or the artist."""
    item = s.get(ContentItem, content_id)
    if item is None:
        raise NotFound("content")
    decision = platform.access.decide(actor, "view", resource_of(item))
    if not decision.allowed:
        # only a published tier item is no secret (its teaser is in the feed and the listings);
        # drafts, take-downs and anything not yet released answer as if they did not exist
        if item.status == "ready" and item.visibility == "tier" and item.publish_at <= platform.clock.now():
            raise denial(actor, decision)
        raise NotFound("content")
    if platform.access.manages(actor, item.artist_id):
        return item
    if not platform.access.context(actor, item.artist_id).effective():
        raise Problem(403, "members-only", f"only members can {action}; join the fan club (free) first")
    return item


class CommentIn(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{"body": "This one gives me chills."}]}}

    body: str = Field(min_length=1, max_length=2000)


@router.get("/content/{content_id}/comments")
def comments(content_id: uuid.UUID, limit: int = Query(50, ge=1, le=100, description="at most this many comments"),
             offset: int = Query(0, ge=0, le=MAX_OFFSET, description="skip this many comments"),
             actor: Actor | None = Depends(scope("fanclub:read", optional=True)), platform=Depends(get_platform)):
    """Comments (oldest first, a page of ``limit`` from ``offset``) and reaction counts of an item
    you can see."""
    with platform.session() as s:
        item = s.get(ContentItem, content_id)
        if item is None or not platform.access.decide(actor, "view", resource_of(item)).allowed:
            raise NotFound("content")
        rows = s.scalars(select(Comment).where(Comment.content_id == content_id)
                         .order_by(Comment.created_at, Comment.id).limit(limit).offset(offset)).all()
        counts = dict(s.execute(select(Reaction.kind, func.count()).where(Reaction.content_id == content_id)
                                .group_by(Reaction.kind)).all())
        found = people(s, [c.user_id for c in rows], actor.user_id if actor else None)
        return {"comments": [{"id": str(c.id), "user_id": shown_id(found, c.user_id), "author": person(found, c.user_id),
                              "body": c.body, "created_at": c.created_at.isoformat()} for c in rows],
                "reactions": {k: counts.get(k, 0) for k in REACTIONS}}


@router.post("/content/{content_id}/comments", status_code=201)
def add_comment(content_id: uuid.UUID, body: CommentIn, actor: Actor = Depends(scope("fanclub:write")),
                platform=Depends(get_platform)):
    # abuse screens (bursts, the same text under many posts, links floods): docs/moderation.md
    verdict = platform.screen_activity("comment.created", actor.user_id, content_id=content_id,
                                       recipient=content_id, text=body.body)
    if verdict.action in ("limit", "block"):
        retry = int(verdict.data.get("retry_after") or 60)
        raise Problem(429 if verdict.action == "limit" else 403,
                      "activity-limited" if verdict.action == "limit" else "activity-blocked", verdict.detail,
                      retry_after=retry, headers={"Retry-After": str(retry)} if verdict.action == "limit" else None)
    with platform.session() as s:
        item = _member_item(s, platform, actor, content_id, "comment")
        c = Comment(id=uuid.uuid4(), content_id=content_id, user_id=actor.user_id, body=body.body,
                    created_at=platform.clock.now())
        s.add(c)
        platform.emit(s, "fan.commented", actor_id=actor.user_id, artist_id=item.artist_id, subject=("content", item.id))
        found = people(s, [actor.user_id], actor.user_id)
        return {"id": str(c.id), "user_id": str(actor.user_id), "author": person(found, actor.user_id), "body": c.body,
                "created_at": c.created_at.isoformat()}


@router.delete("/content/{content_id}/comments/{comment_id}", status_code=204)
def delete_comment(content_id: uuid.UUID, comment_id: uuid.UUID, actor: Actor = Depends(scope("fanclub:write")),
                   platform=Depends(get_platform)):
    """Delete your own comment (403 ``forbidden`` for someone else's)."""
    with platform.session() as s:
        c = s.get(Comment, comment_id)
        if c is None or c.content_id != content_id:
            raise NotFound("comment")
        if c.user_id != actor.user_id:
            raise Problem(403, "forbidden", "you can delete only your own comments")
        s.delete(c)
    return Response(status_code=204)


@router.put("/content/{content_id}/reactions/{kind}", status_code=204)
def react(content_id: uuid.UUID, kind: ReactionKind, actor: Actor = Depends(scope("fanclub:write")), platform=Depends(get_platform)):
    """React (heart, fire, clap, laugh, wow, sad); idempotent: one reaction and one
    ``fan.reacted`` event however many arrive at once."""
    if kind not in REACTIONS:
        raise Problem(422, "validation", f"reactions are {', '.join(REACTIONS)}")
    with platform.session() as s:
        item = _member_item(s, platform, actor, content_id, "react")
        if atomic.insert_once(s, Reaction, content_id=content_id, user_id=actor.user_id, kind=kind,
                              created_at=platform.clock.now()):
            platform.emit(s, "fan.reacted", actor_id=actor.user_id, artist_id=item.artist_id,
                          subject=("content", item.id), data={"kind": kind})
    return Response(status_code=204)


@router.delete("/content/{content_id}/reactions/{kind}", status_code=204)
def unreact(content_id: uuid.UUID, kind: ReactionKind, actor: Actor = Depends(scope("fanclub:write")), platform=Depends(get_platform)):
    """Take a reaction back (idempotent)."""
    with platform.session() as s:
        atomic.delete_once(s, Reaction, Reaction.content_id == content_id, Reaction.user_id == actor.user_id,
                           Reaction.kind == kind)
    return Response(status_code=204)
