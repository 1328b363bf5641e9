"""The discovery feed: a vertical feed of 30-second previews, with feedback that counts at once.

``GET /api/v1/ai/feed?cursor=`` serves a page of cards to the caller (each card is an
impression row: the server remembers what it served, to whom, in which bucket), and
``POST /api/v1/ai/feed/events`` takes a like, skip, watch time, follow or subscribe click on a
card that was served to this caller (anything else is 404 ``feed-card-not-served``).

Ranking (``bandit``): Thompson sampling over each track's completion posterior, the fan's
affinity for the artist (learnt from their own feed feedback: likes and completions raise it,
skips lower it, at once) and, in the main bucket, the artist's audience size; a configurable share
of the slots (``feed_explore_share``, 20 % by default) is reserved for new and small artists.
Served impressions are counted by bucket: ``GET /api/v1/ai/feed/exploration`` (admin) and the
artist metric ``ai_feed_impressions``.

Only playable tracks are served: ready, released, transcoded (a published version, so the
preview exists), and allowed to ``stream`` for the caller by the core's access decision.
"""
from __future__ import annotations

import logging
import math
import random
import uuid
from datetime import datetime, timedelta
from typing import Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, case, func, select, update
from sqlalchemy.orm import Mapped, mapped_column

from musicconnect import Actor, Base, Invalid, Metric, PluginSettings, Problem, resource_of, uuid_pk
from musicconnect.models import Artist, ContentItem
from musicconnect.web import get_platform, scope

from . import bandit

PREVIEW_SECONDS = 30.0
#: the streaming plugin's track routes (its ``extra.streaming.preview`` is ``{BASE}/{id}/preview``)
STREAMING_TRACKS = "/api/v1/streaming/tracks"
#: how long after it was served a card takes feedback
CARD_TTL = timedelta(days=7)
#: the window of the fan's own feedback that shapes their feed
AFFINITY_WINDOW = timedelta(days=30)
EVENT_TYPES = ("like", "skip", "watch", "follow", "subscribe_click")
#: the reco model's personal candidates that get a boost in the feed (the best gets +1)
RECO_BOOSTED = 100
#: affinity for an artist the fan engages with outside the feed (plays, follows, supports)
ENGAGED_BONUS = 0.5

log = logging.getLogger("musicconnect.ai.feed")


class FeedSettings(PluginSettings):
    """Settings of the discovery feed (``musicconnect plugins config ai feed_explore_share 0.3``)."""

    feed_explore_share: float = Field(0.2, ge=0.0, le=1.0,
                                      description="share of feed impressions reserved for new and small artists")
    feed_page_size: int = Field(10, ge=1, le=50, description="cards per page")
    feed_small_artist_fans: int = Field(25, ge=0, description="an artist with fewer engaged fans is small")
    feed_new_artist_days: int = Field(30, ge=0, description="an artist whose first track is this recent is new")
    feed_max_per_artist: int = Field(3, ge=1, le=50, description="cards of one artist in a page at most")
    feed_events_per_minute: int = Field(120, ge=1, description="feedback events a fan may send per minute")
    feed_completion_ratio: float = Field(0.8, gt=0.0, le=1.0,
                                         description="share of the preview watched that counts as a completion")
    feed_candidates: int = Field(2000, ge=10, le=100_000, description="newest playable tracks considered per page")


SETTINGS = [FeedSettings]


def setting(platform, name: str):
    """A feed setting: the operator's value, or the default (also while the settings model that
    the plugin registers does not carry the field)."""
    try:
        conf = platform.plugin_settings("ai")
    except Exception:  # an invalid stored value must not take the feed down
        conf = None
    value = getattr(conf, name, None) if conf is not None else None
    if value is None:
        value = FeedSettings.model_fields[name].default
    return value


class FeedImpression(Base):
    """One card served to one fan, and what the fan did with it."""

    __tablename__ = "ai_feed_impressions"
    __table_args__ = (Index("ix_ai_feed_impressions_user_served", "user_id", "served_at"),
                      Index("ix_ai_feed_impressions_session", "session_id"),
                      Index("ix_ai_feed_impressions_served", "served_at", "bucket"),
                      Index("ix_ai_feed_impressions_artist_served", "artist_id", "served_at"))
    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    session_id: Mapped[uuid.UUID] = mapped_column()
    content_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("content_items.id", ondelete="CASCADE"))
    artist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("artists.id", ondelete="CASCADE"))
    bucket: Mapped[str] = mapped_column(String(16))
    position: Mapped[int] = mapped_column(Integer)
    served_at: Mapped[datetime] = mapped_column()
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)  # completed | skipped
    watch_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    liked: Mapped[bool] = mapped_column(Boolean, default=False)
    followed: Mapped[bool] = mapped_column(Boolean, default=False)
    subscribe_clicked: Mapped[bool] = mapped_column(Boolean, default=False)


class FeedTrackStats(Base):
    """Per track: the feed's evidence for its completion posterior (Beta(1 + completions, 1 + skips))."""

    __tablename__ = "ai_feed_track_stats"
    content_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("content_items.id", ondelete="CASCADE"),
                                                  primary_key=True)
    completions: Mapped[int] = mapped_column(Integer, default=0)
    skips: Mapped[int] = mapped_column(Integer, default=0)
    likes: Mapped[int] = mapped_column(Integer, default=0)


router = APIRouter()


# ----------------------------------------------------------------------------------- serving
class TrackOut(BaseModel):
    id: uuid.UUID
    title: str
    duration: float | None = None


class ArtistOut(BaseModel):
    id: uuid.UUID
    name: str


class CardOut(BaseModel):
    card_id: uuid.UUID
    position: int
    bucket: Literal["explore", "main"]
    track: TrackOut
    artist: ArtistOut
    preview_url: str = Field(description="the streaming plugin's preview route (307 to the 30-second file)")
    preview_seconds: float


class FeedPage(BaseModel):
    cards: list[CardOut]
    next_cursor: str = Field(description="pass as `cursor` for the next page of this feed session")


def _preview_url(track_id) -> str:
    return f"{STREAMING_TRACKS}/{track_id}/preview"


def _affinities(s, user_id, now) -> tuple[dict, set]:
    """The fan's taste per artist from their own recent feed feedback, and the tracks they skipped."""
    rows = s.execute(select(FeedImpression.artist_id, FeedImpression.content_id, FeedImpression.outcome,
                            FeedImpression.liked, FeedImpression.followed)
                     .where(FeedImpression.user_id == user_id, FeedImpression.served_at >= now - AFFINITY_WINDOW,
                            (FeedImpression.outcome.is_not(None)) | FeedImpression.liked | FeedImpression.followed))
    aff: dict = {}
    skipped: set = set()
    for artist_id, content_id, outcome, liked, followed in rows:
        a = aff.get(artist_id, 0.0)
        if liked:
            a += 2.0
        if followed:
            a += 1.0
        if outcome == "completed":
            a += 0.5
        elif outcome == "skipped":
            a -= 1.0
            skipped.add(content_id)
        aff[artist_id] = a
    return {k: max(-4.0, min(6.0, v)) for k, v in aff.items()}, skipped


def _personal(platform, user_id) -> tuple[dict, set, set]:
    """What the recommendation side knows of the fan: a boost in (0, 1] for the reco model's
    personal candidates (the best 1, the last of them near 0; not its popularity fallback: the
    feed has its own), the artists the fan engages with outside the feed (plays, follows,
    supports) and the tracks they already play (not discovery). Never fails the feed."""
    boosts: dict = {}
    engaged: set = set()
    played: set = set()
    try:
        from . import interactions, recommend

        engaged = set(interactions.followed_artists(platform, user_id))
        played = {t for t, w in interactions.fan_tracks(platform, user_id).items() if w > 0}
        model = recommend.active(platform)
        ranked: list = []
        if model is not None:
            for c in recommend.candidates(platform, user_id, model):
                if c.source == "popular" or len(ranked) >= RECO_BOOSTED:
                    break
                if c.track_id not in boosts:
                    boosts[c.track_id] = 0.0
                    ranked.append(c.track_id)
        boosts = {tid: 1.0 - i / len(ranked) for i, tid in enumerate(ranked)}
    except Exception:  # the reco side failing must not take the feed down
        log.exception("ai feed: recommendations unavailable for the feed")
    return boosts, engaged, played


def _candidates(platform, s, actor: Actor, session_id, now) -> list[bandit.Candidate]:
    from .matching import ArtistStats

    served = set(s.scalars(select(FeedImpression.content_id).where(FeedImpression.session_id == session_id)))
    affinity, skipped = _affinities(s, actor.user_id, now)
    boosts, engaged, played = _personal(platform, actor.user_id)
    rows = s.execute(select(ContentItem.id, ContentItem.artist_id, ContentItem.data)
                     .where(ContentItem.kind == "track", ContentItem.status == "ready", ContentItem.publish_at <= now)
                     .order_by(ContentItem.publish_at.desc(), ContentItem.id)
                     .limit(setting(platform, "feed_candidates"))).all()
    rows = [r for r in rows if r.id not in served and r.id not in skipped and r.id not in played
            and r.artist_id != actor.artist_id
            and (r.data or {}).get("version")]  # a published version: the preview exists
    if not rows:
        return []
    ids = [r.id for r in rows]
    artists = list({r.artist_id for r in rows})
    stats = {}
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        stats.update({st.content_id: st for st in s.scalars(select(FeedTrackStats)
                                                             .where(FeedTrackStats.content_id.in_(chunk)))})
    fans = dict(s.execute(select(ArtistStats.artist_id, ArtistStats.engaged_fans)
                          .where(ArtistStats.artist_id.in_(artists))).all())
    first = dict(s.execute(select(ContentItem.artist_id, func.min(ContentItem.publish_at))
                           .where(ContentItem.artist_id.in_(artists), ContentItem.kind == "track",
                                  ContentItem.status == "ready").group_by(ContentItem.artist_id)).all())
    small = setting(platform, "feed_small_artist_fans")
    new_since = now - timedelta(days=setting(platform, "feed_new_artist_days"))
    top = max([math.log1p(v) for v in fans.values()] + [1.0])
    out = []
    for r in rows:
        st = stats.get(r.id)
        f = fans.get(r.artist_id)
        started = first.get(r.artist_id)
        is_new = started is not None and started >= new_since
        out.append(bandit.Candidate(
            track_id=r.id, artist_id=r.artist_id,
            completions=st.completions if st else 0, non_completions=st.skips if st else 0,
            affinity=affinity.get(r.artist_id, 0.0) + (ENGAGED_BONUS if r.artist_id in engaged else 0.0),
            popularity=math.log1p(f or 0) / top, boost=boosts.get(r.id, 0.0),
            explore=f is None or f < small or is_new))
    return out


def serve_page(platform, actor: Actor, cursor: uuid.UUID | None, rng: random.Random | None = None) -> dict:
    """A page of cards for ``actor``; records the impressions."""
    rng = rng or random.Random()
    now = platform.clock.now()
    n = setting(platform, "feed_page_size")
    share = setting(platform, "feed_explore_share")
    cap = setting(platform, "feed_max_per_artist")
    with platform.session() as s:
        session_id = None
        if cursor is not None:
            owner = s.scalar(select(FeedImpression.user_id).where(FeedImpression.session_id == cursor).limit(1))
            if owner is not None and owner != actor.user_id:
                raise Problem(400, "invalid-cursor", "this cursor was issued to someone else")
            if owner is not None:
                session_id = cursor
        if session_id is None:  # no cursor, or one of a session that served nothing: a new session
            session_id = uuid.uuid4()
        cands = _candidates(platform, s, actor, session_id, now)
        items = {}
        allowed: dict = {}
        picks: list = []
        for _ in range(8):  # drop what the fan may not play and pick again
            picks = bandit.compose(cands, n, share, rng, max_per_artist=cap)
            denied = set()
            fresh = [c.track_id for c, _b in picks if c.track_id not in items]
            if fresh:
                items.update({i.id: i for i in s.scalars(select(ContentItem).where(ContentItem.id.in_(fresh)))})
            contexts = platform.access.contexts(actor, [items[c.track_id].artist_id for c, _b in picks
                                                        if c.track_id in items and c.track_id not in allowed])
            for c, _bucket in picks:
                if c.track_id not in allowed:
                    item = items.get(c.track_id)
                    allowed[c.track_id] = item is not None and platform.access.decide(
                        actor, "stream", resource_of(item), contexts[item.artist_id]).allowed
                if not allowed[c.track_id]:
                    denied.add(c.track_id)
            if not denied:
                break
            cands = [c for c in cands if c.track_id not in denied]
        picks = [(c, b) for c, b in picks if allowed.get(c.track_id)]
        names = dict(s.execute(select(Artist.id, Artist.name)
                               .where(Artist.id.in_({c.artist_id for c, _ in picks} or {uuid.uuid4()}))).all())
        cards = []
        for pos, (c, bucket) in enumerate(picks):
            item = items[c.track_id]
            imp = FeedImpression(id=uuid.uuid4(), user_id=actor.user_id, session_id=session_id,
                                 content_id=item.id, artist_id=item.artist_id, bucket=bucket, position=pos,
                                 served_at=now, watch_seconds=0.0, liked=False, followed=False,
                                 subscribe_clicked=False)
            s.add(imp)
            duration = (item.data or {}).get("duration")
            cards.append({"card_id": imp.id, "position": pos, "bucket": bucket,
                          "track": {"id": item.id, "title": item.title, "duration": duration},
                          "artist": {"id": item.artist_id, "name": names.get(item.artist_id, "")},
                          "preview_url": _preview_url(item.id),
                          "preview_seconds": _preview_seconds(duration)})
    return {"cards": cards, "next_cursor": str(session_id)}


def _preview_seconds(duration) -> float:
    try:
        d = float(duration)
    except (TypeError, ValueError):
        return PREVIEW_SECONDS
    return min(PREVIEW_SECONDS, d) if d > 0 else PREVIEW_SECONDS


@router.get("/feed", response_model=FeedPage,
            responses={400: {"description": "a cursor that was issued to someone else (`invalid-cursor`)"}})
def feed(cursor: uuid.UUID | None = Query(None, description="`next_cursor` of the previous page"),
         actor: Actor = Depends(scope("ai:read")), platform=Depends(get_platform)):
    """The next page of the discovery feed: cards of 30-second previews of tracks you may play,
    a share of them from new and small artists. Send what you do with each card to
    `POST /api/v1/ai/feed/events`: skips and watch time change the next page at once."""
    return serve_page(platform, actor, cursor)


# ----------------------------------------------------------------------------------- feedback
class FeedEventIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"card_id": "6f1c0b7e-8d52-4c1e-9a55-0b7b1f0f6a10", "type": "watch", "seconds": 27.5}]})

    card_id: uuid.UUID = Field(description="a `card_id` the feed served to you")
    type: Literal["like", "skip", "watch", "follow", "subscribe_click"]
    seconds: float | None = Field(None, ge=0, le=3600, description="watch time of the preview (watch, skip)")


class FeedEventOut(BaseModel):
    card_id: uuid.UUID
    type: str
    outcome: Literal["completed", "skipped"] | None
    liked: bool
    watch_seconds: float


def _bump(s, track_id, column: str) -> None:
    """+1 on the track's feed evidence: one idempotent insert, one atomic update."""
    if s.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    s.execute(insert(FeedTrackStats).values(content_id=track_id, completions=0, skips=0, likes=0)
              .on_conflict_do_nothing())
    col = getattr(FeedTrackStats, column)
    s.execute(update(FeedTrackStats).where(FeedTrackStats.content_id == track_id).values({column: col + 1})
              .execution_options(synchronize_session=False))


def record_event(platform, actor: Actor, body: FeedEventIn) -> dict:
    per_minute = setting(platform, "feed_events_per_minute")
    state = platform.ratelimiter.hit(f"{per_minute}/minute", "ai-feed-events", str(actor.user_id))
    if not state.allowed:
        raise Problem(429, "rate-limited", f"at most {per_minute} feed events a minute",
                      headers={"Retry-After": "60"})
    now = platform.clock.now()
    with platform.session() as s:
        imp = s.get(FeedImpression, body.card_id)
        if imp is None or imp.user_id != actor.user_id:
            # never trust a card the client was not given: the same answer for someone else's card
            raise Problem(404, "feed-card-not-served", "this card was not served to you by the feed")
        if now - imp.served_at > CARD_TTL:
            raise Problem(409, "feed-card-expired", "this card was served too long ago to take feedback")
        item = s.get(ContentItem, imp.content_id)
        duration = (item.data or {}).get("duration") if item is not None else None
        length = _preview_seconds(duration)
        # never more than the preview, nor more than the time since the card was served allows
        elapsed = max(0.0, (now - imp.served_at).total_seconds())
        seconds = None
        if body.seconds is not None:
            seconds = min(float(body.seconds), length, elapsed * 1.25 + 1.0)
        common = {"actor_id": actor.user_id, "artist_id": imp.artist_id, "subject": ("content", imp.content_id)}
        data = {"card_id": str(imp.id), "bucket": imp.bucket}
        if body.type == "like":
            if not imp.liked:
                imp.liked = True
                _bump(s, imp.content_id, "likes")
                platform.emit(s, "ai.feed_liked", **common, data=data)
        elif body.type == "follow":
            if not imp.followed:
                imp.followed = True
                platform.emit(s, "ai.feed_followed", **common, data=data)
        elif body.type == "subscribe_click":
            if not imp.subscribe_clicked:
                imp.subscribe_clicked = True
                platform.emit(s, "ai.feed_subscribe_clicked", **common, data=data)
        else:
            if body.type == "watch" and seconds is None:
                raise Invalid("a watch event needs `seconds`")
            if seconds is not None and seconds > imp.watch_seconds:
                imp.watch_seconds = seconds
            completed = imp.watch_seconds >= setting(platform, "feed_completion_ratio") * length
            if imp.outcome is None:
                if completed:
                    imp.outcome = "completed"
                    _bump(s, imp.content_id, "completions")
                    platform.emit(s, "ai.feed_completed", **common, data={**data, "seconds": imp.watch_seconds})
                elif body.type == "skip":
                    imp.outcome = "skipped"
                    _bump(s, imp.content_id, "skips")
                    platform.emit(s, "ai.feed_skipped", **common, data={**data, "seconds": imp.watch_seconds})
        return {"card_id": imp.id, "type": body.type, "outcome": imp.outcome, "liked": imp.liked,
                "watch_seconds": imp.watch_seconds}


@router.post("/feed/events", response_model=FeedEventOut,
             responses={404: {"description": "the card was not served to you (`feed-card-not-served`)"},
                        409: {"description": "the card was served more than 7 days ago (`feed-card-expired`)"}})
def feed_event(body: FeedEventIn, actor: Actor = Depends(scope("ai:write")), platform=Depends(get_platform)):
    """What you did with a card: `like`, `skip` (with the `seconds` watched), `watch` (`seconds`
    of the preview watched so far), `follow` or `subscribe_click`. A completion (80 % of the
    preview by default) or a skip counts once per card and shapes your next page at once."""
    return record_event(platform, actor, body)


# ----------------------------------------------------------------------------------- measurement
class ExplorationOut(BaseModel):
    days: int
    setting: float = Field(description="the configured share of impressions for new and small artists")
    impressions: dict[str, int] = Field(description="served impressions by bucket (`explore`, `main`)")
    share: float | None = Field(description="the measured share of the explore bucket")
    explore_artists: int = Field(description="distinct artists served from the explore bucket")
    completion_rate: dict[str, float | None]


def _ones(cond):
    return case((cond, 1), else_=0)


def exploration(platform, days: int = 7) -> dict:
    now = platform.clock.now()
    since = now - timedelta(days=days)
    with platform.read() as s:
        rows = s.execute(select(FeedImpression.bucket, func.count(),
                                func.sum(_ones(FeedImpression.outcome == "completed")),
                                func.count(func.distinct(FeedImpression.artist_id)))
                         .where(FeedImpression.served_at >= since).group_by(FeedImpression.bucket)).all()
    counts = {bandit.EXPLORE: 0, bandit.MAIN: 0}
    done: dict = {}
    explore_artists = 0
    for bucket, n, completed, artists in rows:
        counts[bucket] = int(n)
        done[bucket] = int(completed or 0)
        if bucket == bandit.EXPLORE:
            explore_artists = int(artists)
    total = sum(counts.values())
    return {"days": days, "setting": setting(platform, "feed_explore_share"), "impressions": counts,
            "share": counts[bandit.EXPLORE] / total if total else None, "explore_artists": explore_artists,
            "completion_rate": {b: (done.get(b, 0) / counts[b] if counts[b] else None) for b in counts}}


@router.get("/feed/exploration", response_model=ExplorationOut)
def feed_exploration(days: int = Query(7, ge=1, le=365), actor: Actor = Depends(scope("admin")),
                     platform=Depends(get_platform)):
    """The exploration share as served (admins): impressions by bucket over the last `days`,
    beside the configured `feed_explore_share`."""
    return exploration(platform, days)


def _artist_feed_metric(platform, artist_id, window):
    with platform.read() as s:
        rows = s.execute(select(FeedImpression.bucket, func.count(),
                                func.sum(_ones(FeedImpression.outcome == "completed")),
                                func.sum(_ones(FeedImpression.outcome == "skipped")),
                                func.sum(_ones(FeedImpression.liked.is_(True))))
                         .where(FeedImpression.artist_id == artist_id, FeedImpression.served_at >= window.start,
                                FeedImpression.served_at <= window.end).group_by(FeedImpression.bucket)).all()
    out = {"impressions": 0, "explore_impressions": 0, "completions": 0, "skips": 0, "likes": 0}
    for bucket, n, completed, skipped, liked in rows:
        out["impressions"] += int(n)
        if bucket == bandit.EXPLORE:
            out["explore_impressions"] += int(n)
        out["completions"] += int(completed or 0)
        out["skips"] += int(skipped or 0)
        out["likes"] += int(liked or 0)
    return out


METRICS = [Metric("ai_feed_impressions", "Discovery feed",
                  "Cards of your tracks served in the discovery feed (and how many from the share reserved "
                  "for new and small artists), with completions, skips and likes.", _artist_feed_metric)]
