"""Social-post drafts (owner: posts): for a release, a milestone or a listening party, a short
post per network within its length rule (:mod:`.textgen`), hashtags, and a square image
(:mod:`.post_image`).

Every fact comes from the server: the track (its title, release time, tags), the artist's name,
play counts (``play.counted`` events) for milestones, the party's title and start from its
``live.party_scheduled`` event (the live plugin is never imported). The client says only what
the post is about (``purpose`` and the track or party id), which networks, and an optional note
of its own. Only the artist (or an admin) drafts posts about the artist's tracks and parties.
"""
from __future__ import annotations

import logging
import re
import uuid
from datetime import datetime
from typing import Annotated, Literal, Union

from fastapi import APIRouter, Body, Depends, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ForeignKey, Index, String, func, select
from sqlalchemy.orm import Mapped, mapped_column

from musicconnect import Base, Forbidden, NotFound, Problem, resource_of
from musicconnect.db import JSONType
from musicconnect.models import Artist, ContentItem, DomainEvent
from musicconnect.web import get_platform, scope

from . import post_image, textgen

log = logging.getLogger("musicconnect.ai")

#: plays milestones (the largest one reached is the one announced)
MILESTONES = (10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000,
              500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000)
NETWORK_IDS = tuple(textgen.NETWORKS)


class PostDraft(Base):
    __tablename__ = "ai_post_drafts"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    artist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("artists.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column()
    facts: Mapped[dict] = mapped_column(JSONType, default=dict)
    posts: Mapped[dict] = mapped_column(JSONType, default=dict)
    image_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    __table_args__ = (Index("ix_ai_post_drafts_artist_time", "artist_id", "created_at"),)


# ---------------------------------------------------------------- API models

EXAMPLE_TRACK = "3f1c9a52-7b4e-4d2a-9c61-8e0d5b7a2f14"
EXAMPLE_PARTY = "9a7e2c41-5d3b-4f8e-b2a6-1c0f4e8d7b35"


class _DraftBase(BaseModel):
    model_config = ConfigDict(extra="forbid")
    networks: list[Literal["x", "bluesky", "mastodon", "instagram"]] | None = Field(
        default=None, min_length=1, max_length=4, description="default: all four")
    note: str | None = Field(default=None, max_length=200, description="a line of your own, kept if it fits")


class ReleaseDraftIn(_DraftBase):
    """A post about a track's release."""
    purpose: Literal["release"]
    content_id: uuid.UUID


class MilestoneDraftIn(_DraftBase):
    """A plays milestone: of one track (``content_id``) or of all your tracks (none)."""
    purpose: Literal["milestone"]
    content_id: uuid.UUID | None = None


class PartyDraftIn(_DraftBase):
    """A listening party (``content_id``, optional: a track whose cover makes the image)."""
    purpose: Literal["party"]
    party_id: uuid.UUID
    content_id: uuid.UUID | None = None


DraftIn = Annotated[Union[ReleaseDraftIn, MilestoneDraftIn, PartyDraftIn], Field(discriminator="purpose")]
DRAFT_EXAMPLES = [
    {"purpose": "release", "content_id": EXAMPLE_TRACK},
    {"purpose": "milestone", "content_id": EXAMPLE_TRACK, "networks": ["x", "bluesky"]},
    {"purpose": "party", "party_id": EXAMPLE_PARTY, "note": "Bring your questions about the new album!"},
]


class PostOut(BaseModel):
    network: Literal["x", "bluesky", "mastodon", "instagram"]
    text: str
    length: int = Field(description="as the network counts it (see `counting`)")
    limit: int
    counting: Literal["weighted", "graphemes", "characters", "utf16"]
    hashtags: list[str]
    generator: str = Field(description="`template`, or the plugin whose generate_text wrote it")


class DraftOut(BaseModel):
    id: uuid.UUID
    artist_id: uuid.UUID
    purpose: Literal["release", "milestone", "party"]
    subject_id: str | None
    created_at: datetime
    facts: dict
    hashtags: list[str]
    posts: list[PostOut]
    image_url: str


# ---------------------------------------------------------------- facts (server-side only)

def _forbidden(what: str) -> Problem:
    return Problem(403, f"ai-not-your-{what}", f"only the {what}'s artist (or an admin) drafts posts about it")


def _track(platform, s, actor, content_id) -> ContentItem:
    item = s.get(ContentItem, content_id)
    if item is None or item.kind != "track" or item.status in ("deleted", "taken_down"):
        raise NotFound("track")
    if not platform.access.manages(actor, item.artist_id):
        if platform.access.visible(actor, resource_of(item)):
            raise _forbidden("track")
        raise NotFound("track")
    return item


def _plays(s, artist_id, content_id=None) -> int:
    q = select(func.count()).select_from(DomainEvent).where(DomainEvent.artist_id == artist_id,
                                                             DomainEvent.type == "play.counted")
    if content_id is not None:
        q = q.where(DomainEvent.subject_type == "content", DomainEvent.subject_id == str(content_id))
    return int(s.scalar(q) or 0)


def _when(at: datetime) -> str:
    return at.strftime("%a %d %b %Y, %H:%M UTC").replace(" 0", " ")


def _party(platform, s, actor, party_id) -> dict:
    ev = s.scalars(select(DomainEvent).where(DomainEvent.type == "live.party_scheduled",
                                             DomainEvent.subject_type == "party",
                                             DomainEvent.subject_id == str(party_id))
                   .order_by(DomainEvent.occurred_at.desc()).limit(1)).first()
    if ev is None or ev.artist_id is None:
        raise NotFound("party")
    if not platform.access.manages(actor, ev.artist_id):
        raise _forbidden("party")
    data = ev.data or {}
    starts = None
    try:
        starts = datetime.fromisoformat(str(data.get("starts_at")))
    except ValueError:
        pass
    return {"artist_id": ev.artist_id, "title": str(data.get("title") or "")[:200], "starts_at": starts}


def gather(platform, s, actor, body) -> dict:
    """The draft's facts, checked: the caller's own track / party, counts from events."""
    base = platform.settings.base_url.rstrip("/")
    item = _track(platform, s, actor, body.content_id) if body.content_id else None
    facts: dict = {"purpose": body.purpose}
    if body.purpose == "release":
        now = platform.clock.now()
        facts.update(artist_id=item.artist_id, title=item.title, released=item.publish_at <= now,
                     when=_when(item.publish_at), link=f"{base}/tracks/{item.id}", subject_id=str(item.id))
    elif body.purpose == "milestone":
        if item is not None:
            artist_id, plays = item.artist_id, _plays(s, item.artist_id, item.id)
            facts.update(title=item.title, link=f"{base}/tracks/{item.id}", subject_id=str(item.id))
        else:
            if actor.artist_id is None:
                raise Forbidden("a milestone of all your tracks is an artist's: name a track (content_id)")
            artist_id, plays = actor.artist_id, _plays(s, actor.artist_id)
            facts.update(title=None, link=f"{base}/artists/{artist_id}", subject_id=None)
        reached = [m for m in MILESTONES if m <= plays]
        if not reached:
            raise Problem(409, "ai-no-milestone", f"{plays} plays so far: the first milestone is {MILESTONES[0]}",
                          plays=plays)
        facts.update(artist_id=artist_id, plays=plays, milestone=reached[-1])
    else:
        party = _party(platform, s, actor, body.party_id)
        if item is not None and item.artist_id != party["artist_id"]:
            raise _forbidden("track")
        facts.update(artist_id=party["artist_id"], title=party["title"] or "Listening party",
                     when=_when(party["starts_at"]) if party["starts_at"] else "soon",
                     starts_at=party["starts_at"].isoformat() if party["starts_at"] else None,
                     link=f"{base}/parties/{body.party_id}", subject_id=str(body.party_id))
    artist = s.get(Artist, facts["artist_id"])
    facts["artist"] = artist.name if artist is not None else ""
    facts["tags"] = [str(t) for t in ((item.data or {}).get("tags") or [])][:5] if item is not None else []
    facts["content_id"] = str(item.id) if item is not None else None
    facts["_item_data"] = dict(item.data or {}) if item is not None else {}
    return facts


# ---------------------------------------------------------------- drafting

def draft_posts(platform, facts: dict, networks, note: str | None) -> tuple[list[dict], list[str]]:
    purpose = facts["purpose"]
    tags = textgen.hashtags_for(purpose, facts["artist"], facts.get("title"), facts.get("tags"))
    posts = []
    for net_id in networks:
        net = textgen.NETWORKS[net_id]
        context = {"network": net_id, "limit": net.limit, "counting": net.counting, "artist": facts["artist"],
                   "title": facts.get("title"), "link": facts.get("link"), "hashtags": tags[:net.max_hashtags],
                   "note": note or "", "released": facts.get("released", True), "when": facts.get("when"),
                   "plays": facts.get("plays"), "milestone": facts.get("milestone")}
        text, generator = textgen.generate(platform, purpose, context)
        used = [t for t in tags if re.search(re.escape(t) + r"(?!\w)", text)]
        posts.append({"network": net_id, "text": text, "length": textgen.count(text, net_id), "limit": net.limit,
                      "counting": net.counting, "hashtags": used, "generator": generator})
    return posts, tags


def image_for(platform, facts: dict) -> bytes:
    cid = facts.get("content_id")
    data = facts.get("_item_data") or {}
    cover = post_image.read_cover(platform, cid, data) if cid else None
    peaks = post_image.read_peaks(platform, cid, data) if cid else []
    purpose = facts["purpose"]
    if purpose == "release":
        headline = "Out now" if facts.get("released", True) else f"Out {facts.get('when')}"
        title, subtitle = facts.get("title") or "", facts["artist"]
    elif purpose == "milestone":
        headline = f"{textgen._human(int(facts['milestone']))} plays"
        title, subtitle = facts.get("title") or facts["artist"], "Thank you for listening" if not facts.get(
            "title") else facts["artist"]
    else:
        headline = f"Listening party · {facts.get('when')}"
        title, subtitle = facts.get("title") or "", facts["artist"]
    return post_image.render(cover=cover, peaks=peaks, seed=str(cid or facts.get("subject_id") or facts["artist"]),
                             headline=headline, title=title, subtitle=subtitle)


def _out(d: PostDraft) -> DraftOut:
    return DraftOut(id=d.id, artist_id=d.artist_id, purpose=d.purpose, subject_id=d.subject_id,
                    created_at=d.created_at, facts=d.facts, hashtags=d.posts.get("hashtags", []),
                    posts=[PostOut(**p) for p in d.posts.get("posts", [])],
                    image_url=f"/api/v1/ai/posts/drafts/{d.id}/image.png")


router = APIRouter()


@router.post("/posts/drafts", response_model=DraftOut, status_code=201,
             responses={403: {"description": "another artist's track or party (`ai-not-your-track`, `ai-not-your-party`)"},
                        404: {"description": "no such track or party"},
                        409: {"description": "`ai-no-milestone`: fewer plays than the first milestone"}})
def create_draft(body: Annotated[DraftIn, Body(examples=DRAFT_EXAMPLES)], actor=Depends(scope("ai:read")), platform=Depends(get_platform)):
    """Draft posts for a release, a plays milestone or a listening party: one text per network
    within its length limit, hashtags, and a 1080x1080 image (``image_url``)."""
    return make_draft(platform, actor, body)


def make_draft(platform, actor, body) -> DraftOut:
    """Gather the facts, write the posts and the image, store the draft."""
    with platform.read() as s:
        facts = gather(platform, s, actor, body)
    networks = list(dict.fromkeys(body.networks or NETWORK_IDS))
    posts, tags = draft_posts(platform, facts, networks, body.note)
    png = image_for(platform, facts)
    draft_id = uuid.uuid4()
    key = f"ai/posts/{draft_id}.png"
    platform.storage.put_bytes(key, png, "image/png")
    public = {k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in facts.items() if not k.startswith("_")}
    with platform.session() as s:
        d = PostDraft(id=draft_id, artist_id=facts["artist_id"], user_id=actor.user_id, purpose=body.purpose,
                      subject_id=facts.get("subject_id"), created_at=platform.clock.now(), facts=public,
                      posts={"posts": posts, "hashtags": tags}, image_key=key)
        s.add(d)
        s.flush()
        return _out(d)


def _draft(platform, s, actor, draft_id) -> PostDraft:
    d = s.get(PostDraft, draft_id)
    if d is None or not platform.access.manages(actor, d.artist_id):
        raise NotFound("post draft")
    return d


@router.get("/posts/drafts/{draft_id}", response_model=DraftOut, responses={404: {"description": "no such draft"}})
def read_draft(draft_id: uuid.UUID, actor=Depends(scope("ai:read")), platform=Depends(get_platform)):
    """A post draft (its artist or an admin)."""
    with platform.read() as s:
        return _out(_draft(platform, s, actor, draft_id))


@router.get("/posts/drafts/{draft_id}/image.png", response_class=Response,
            responses={200: {"content": {"image/png": {}}, "description": "the 1080x1080 PNG"},
                       404: {"description": "no such draft"}})
def draft_image(draft_id: uuid.UUID, actor=Depends(scope("ai:read")), platform=Depends(get_platform)):
    """The draft's square image (its artist or an admin)."""
    with platform.read() as s:
        d = _draft(platform, s, actor, draft_id)
        key = d.image_key
    try:
        png = platform.storage.get_bytes(key) if key else None
    except Exception:
        png = None
    if png is None:
        raise NotFound("post image")
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})
