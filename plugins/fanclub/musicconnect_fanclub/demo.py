"""The fan club's demo data, added by its ``seed_demo`` (idempotent)."""
from __future__ import annotations

import uuid

from sqlalchemy import func, select

from musicconnect import on_commit

from . import rules


def seed(platform, session, demo) -> None:
    """The fan club's demo data: perks on the demo tiers, posts for each tier, the backstage, DMs."""
    from musicconnect.models import ContentItem

    from .models import BackstagePost, Follow, Message

    artist, fan = demo.artist_profile, demo.fan
    if session.scalar(select(func.count()).select_from(BackstagePost).where(BackstagePost.artist_id == artist.id)):
        return
    for key, perks in rules.DEMO_PERKS.items():  # the core seeds bare tiers
        tier = demo.tiers.get(key)
        if tier is not None and any(k not in (tier.perks or {}) for k in perks):
            tier.perks = {**perks, **(tier.perks or {})}
            on_commit(session, lambda: platform.invalidate(("tiers", artist.id)))
    now = platform.clock.now()
    session.add(Follow(user_id=fan.id, artist_id=artist.id, created_at=now))
    for key, title, body in (("free", "Hello, everyone", "New songs are coming. Follow along!"),
                             ("supporter", "Studio diary #1", "Supporters first: the synth patch behind Night Drive."),
                             ("superfan", "Superfans: the lyric sheet", "Handwritten lyrics for the next single.")):
        tier = demo.tiers[key]
        platform.content.create(session, artist_id=artist.id, kind="post", title=title,
                                visibility="public" if tier.rank == 0 else "tier",
                                required_tier_id=None if tier.rank == 0 else tier.id, data={"body": body},
                                status="ready", actor_id=demo.artist.id)
    post = BackstagePost(id=uuid.uuid4(), artist_id=artist.id, author_id=demo.artist.id,
                         body="Welcome backstage! What should the encore be?", created_at=now)
    session.add(post)
    session.flush()
    session.add(BackstagePost(id=uuid.uuid4(), artist_id=artist.id, author_id=fan.id, parent_id=post.id,
                              body="Night Drive, slowed down!", created_at=now))
    session.add(Message(id=uuid.uuid4(), artist_id=artist.id, fan_id=fan.id, sender="fan",
                        body="Your last show changed my week. Thank you!", created_at=now))
    session.add(Message(id=uuid.uuid4(), artist_id=artist.id, fan_id=fan.id, sender="artist",
                        body="That means a lot. See you at the next one!", created_at=now))
    del ContentItem
