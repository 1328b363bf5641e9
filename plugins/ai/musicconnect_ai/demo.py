"""The AI plugin's demo data (``seed_demo``, idempotent; owner: posts).

The other plugins' demo data already holds the demo artist's listening: the streaming plugin's
plays of its three tracks over three weeks and the analytics plugin's 26 weeks of synthetic
history (their ``play.*`` events), which is what recommendations, the feed and matching learn
from and what the prediction's baseline and backtest read. This seed adds what only the AI
features need:

* **a new upload's first hours**: the demo artist's most recently released track (still inside
  its 30 days) gets :data:`EARLY_SESSIONS` listening sessions of the demo's fans in its first
  hours (``play.started``, ``play.counted`` unless skipped, ``play.completed``, some
  ``fan.reacted``), so ``GET /api/v1/ai/tracks/{id}/prediction`` shows an estimate beside the
  artist's baseline; a second seed finds them there and adds nothing;
* **a first fit**: once the demo's transaction has committed, the listening weights are rebuilt
  from the events, the recommendation model is fitted and the artist matches are computed
  (:func:`learn`), so the demo's scene (the core's ``demo.scene``: other artists with tracks and
  the population's listening, from the streaming plugin's demo) shows in the recommendations,
  the feed and the matches at once;
* **a post draft**: once the demo's transaction has committed, one release draft (posts for
  every network and the square image) for that track, unless the artist has drafts already.
"""
from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from sqlalchemy import func, insert, select

from musicconnect import Actor
from musicconnect.db import on_commit
from musicconnect.models import ContentItem, DomainEvent

from . import prediction

log = logging.getLogger("musicconnect.ai")

EARLY_SESSIONS = 40
#: a track is "new" while its 30 days are not over
NEW_DAYS = prediction.HORIZON_DAYS - 1


def newest_track(session, artist_id, now) -> ContentItem | None:
    return session.scalars(select(ContentItem).where(
        ContentItem.artist_id == artist_id, ContentItem.kind == "track",
        ContentItem.status.in_(("ready", "processing")), ContentItem.publish_at <= now,
        ContentItem.publish_at >= now - timedelta(days=NEW_DAYS)).order_by(ContentItem.publish_at.desc()).limit(1)).first()


def early_plays(session, item: ContentItem) -> int:
    start = item.publish_at
    return int(session.scalar(select(func.count()).select_from(DomainEvent).where(
        DomainEvent.artist_id == item.artist_id, DomainEvent.type == "play.counted",
        DomainEvent.occurred_at >= start, DomainEvent.occurred_at < start + timedelta(hours=prediction.WINDOW_HOURS),
        DomainEvent.subject_type == "content", DomainEvent.subject_id == str(item.id))) or 0)


def seed(platform, session, demo) -> None:
    artist_id = demo.artist_profile.id
    now = platform.clock.now()
    session.flush()
    on_commit(session, lambda: learn(platform))
    item = newest_track(session, artist_id, now)
    if item is None:
        log.info("ai demo: the demo artist has no track released in the last %s days", NEW_DAYS)
        return
    if early_plays(session, item) < EARLY_SESSIONS // 2:
        _early_listening(platform, session, demo, item, now)
    item_id, user_id = item.id, demo.artist.id
    on_commit(session, lambda: _draft(platform, user_id, artist_id, item_id))


def learn(platform) -> None:
    """Once the demo's listening has committed (the other plugins insert their history in bulk,
    not through ``on_event``): the listening weights rebuilt from the events, the recommendation
    model fitted and the artist matches computed now, so the demo's recommendations, feed and
    matches show something at once rather than after the hourly and six-hourly jobs."""
    from . import interactions, matching, recommend

    try:
        interactions.rebuild(platform)
        recommend.fit(platform)
        matching.compute(platform)
    except Exception:  # the demo still starts; the scheduled jobs catch up
        log.exception("ai demo: the first fit could not run")


def _early_listening(platform, session, demo, item: ContentItem, now) -> None:
    rng = demo.rng("ai-prediction")
    fans = [f.user_id for f in demo.population] or [demo.fan.id]
    hours = min(prediction.WINDOW_HOURS, (now - item.publish_at).total_seconds() / 3600) * 0.95
    rows = []
    base = {"artist_id": item.artist_id, "subject_type": "content", "subject_id": str(item.id)}
    for i in range(EARLY_SESSIONS):
        who = fans[i % len(fans)]
        at = item.publish_at + timedelta(hours=rng.uniform(0, hours))
        sid = str(uuid.uuid4())
        rows.append({**base, "id": uuid.uuid4(), "type": "play.started", "occurred_at": at, "actor_id": who,
                     "data": {"session_id": sid, "listener": f"u:{who}"}})
        if rng.random() < 0.15:
            continue  # skipped before it counted
        rows.append({**base, "id": uuid.uuid4(), "type": "play.counted", "occurred_at": at + timedelta(seconds=30),
                     "actor_id": who, "data": {"session_id": sid, "seconds": 30.0}})
        if rng.random() < 0.75:
            rows.append({**base, "id": uuid.uuid4(), "type": "play.completed", "occurred_at": at + timedelta(minutes=4),
                         "actor_id": who, "data": {"session_id": sid, "seconds": 240.0}})
        if rng.random() < 0.2:
            rows.append({**base, "id": uuid.uuid4(), "type": "fan.reacted", "occurred_at": at + timedelta(minutes=4),
                         "actor_id": who, "data": {"reaction": "❤️"}})
    session.execute(insert(DomainEvent), [r for r in rows if r["occurred_at"] < now])


def _draft(platform, user_id, artist_id, item_id) -> None:
    from .posts import PostDraft, ReleaseDraftIn, make_draft

    try:
        with platform.read() as s:
            if s.scalar(select(PostDraft.id).where(PostDraft.artist_id == artist_id).limit(1)) is not None:
                return
        make_draft(platform, Actor(user_id, "artist", artist_id=artist_id),
                   ReleaseDraftIn(purpose="release", content_id=item_id))
    except Exception:  # the demo still starts without its draft
        log.exception("ai demo: the post draft could not be made")
