"""The fan club's demo data, added by its ``seed_demo`` (idempotent): perks on the demo tiers, and
from the core's cast (``demo.population``) follows, free memberships, posts of each tier with
comments and reactions, a backstage thread, DM threads and milestones, dated over the past weeks
relative to ``platform.clock.now()``. Rows are inserted in bulk; memberships go through
``platform.entitlements`` like every other."""
from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import func, insert, select

from musicconnect import on_commit
from musicconnect.models import DomainEvent

from . import rules
from .models import BackstagePost, Comment, Follow, Message, Privacy, Reaction

POSTS = (  # tier, title, body, days ago
    ("free", "Hello, everyone", "New songs are coming. Follow along!", 14),
    ("supporter", "Studio diary #1", "Supporters first: the synth patch behind Night Drive.", 6),
    ("superfan", "Superfans: the lyric sheet", "Handwritten lyrics for the next single.", 1),
)
COMMENTS = ("This is the one I had on repeat all week.", "The synths at 0:40!", "Can't wait for the next single.",
            "Saw you live in March, still buzzing.", "Thank you for sharing the process.", "More of this please.")
REPLIES = ("Night Drive, slowed down!", "Anything from the garage tapes.", "A piano version of the next single?",
           "Whatever you play, we'll sing along.")


def seed(platform, session, demo) -> None:
    artist = demo.artist_profile
    for key, perks in rules.DEMO_PERKS.items():  # the core seeds bare tiers
        tier = demo.tiers.get(key)
        if tier is not None and any(k not in (tier.perks or {}) for k in perks):
            tier.perks = {**perks, **(tier.perks or {})}
            on_commit(session, lambda: platform.invalidate(("tiers", artist.id)))
    if session.scalar(select(func.count()).select_from(BackstagePost).where(BackstagePost.artist_id == artist.id)):
        return
    now = platform.clock.now()
    rng = demo.rng("fanclub")
    cast = list(getattr(demo, "population", None) or [])
    fan = next((f for f in cast if f.user_id == demo.fan.id), None)
    superfans = [f for f in cast if f.paid_at(now) == "superfan"]
    members = [f for f in cast if f.since <= now]

    # follows, and the free tier for everyone without a paid tier now (the demo fan: for over a year)
    have = set(session.scalars(select(Follow.user_id).where(Follow.artist_id == artist.id)))
    follows = [{"user_id": f.user_id, "artist_id": artist.id, "created_at": f.since} for f in members
               if f.user_id not in have]
    if fan is None and demo.fan.id not in have:
        follows.append({"user_id": demo.fan.id, "artist_id": artist.id, "created_at": now})
    if follows:
        session.execute(insert(Follow), follows)
    free = demo.tiers.get("free")
    for f in members:
        if free is not None and f.paid_at(now) is None:
            platform.entitlements.grant(session, user_id=f.user_id, artist_id=artist.id, tier_id=free.id,
                                        source="fanclub", source_ref=f"free:{artist.id}:{f.user_id}", status="active",
                                        starts_at=f.since, actor_id=f.user_id)
    privacy = [{"user_id": f.user_id, "anonymous": True, "updated_at": f.since} for f in cast if f.anonymous]
    if privacy and not session.scalar(select(func.count()).select_from(Privacy).where(
            Privacy.user_id.in_([p["user_id"] for p in privacy]))):
        session.execute(insert(Privacy), privacy)

    # posts of each tier, with comments and reactions by those who could see them
    rank = {t.key: t.rank for t in demo.tiers.values()}
    comments, reactions = [], []
    for key, title, body, days in POSTS:
        tier = demo.tiers[key]
        at = now - timedelta(days=days)
        item = platform.content.create(session, artist_id=artist.id, kind="post", title=title,
                                       visibility="public" if tier.rank == 0 else "tier",
                                       required_tier_id=None if tier.rank == 0 else tier.id, publish_at=at,
                                       data={"body": body}, status="ready", actor_id=demo.artist.id)
        readers = [f for f in members if rank.get(f.paid_at(now) or "free", 0) >= tier.rank]
        for i, f in enumerate(rng.sample(readers, min(len(readers), 4))):
            comments.append({"id": uuid.uuid4(), "content_id": item.id, "user_id": f.user_id,
                             "body": COMMENTS[(i + days) % len(COMMENTS)],
                             "created_at": at + timedelta(minutes=20 + 90 * i)})
        for f in rng.sample(readers, min(len(readers), 9)):
            reactions.append({"content_id": item.id, "user_id": f.user_id, "kind": rng.choice(("heart", "fire", "clap")),
                              "created_at": at + timedelta(minutes=rng.randint(5, 600))})
    if comments:
        session.execute(insert(Comment), comments)
    if reactions:
        session.execute(insert(Reaction), reactions)

    # the backstage: the artist asks, superfans (and the demo fan, a superfan back then) answer
    asked = now - timedelta(days=9)
    post = BackstagePost(id=uuid.uuid4(), artist_id=artist.id, author_id=demo.artist.id,
                         body="Welcome backstage! What should the encore be?", created_at=asked)
    session.add(post)
    session.flush()
    repliers = [f for f in cast if f.paid_at(asked + timedelta(hours=2)) == "superfan"] or superfans
    session.execute(insert(BackstagePost), [
        {"id": uuid.uuid4(), "artist_id": artist.id, "author_id": f.user_id, "parent_id": post.id,
         "body": REPLIES[i % len(REPLIES)], "created_at": asked + timedelta(hours=2 + 5 * i)}
        for i, f in enumerate(repliers[:4])])
    session.add(BackstagePost(id=uuid.uuid4(), artist_id=artist.id, author_id=demo.artist.id,
                              body="Rehearsal clip of the next single is up for superfans. Tell me what you think!",
                              created_at=now - timedelta(days=1)))

    # direct messages: the demo fan's thread dates from their superfan months, before this quota
    # month (the artist's calendar month), so it takes nothing of this month's quota
    m0 = demo.quota_month_start or now
    messages = []
    if fan is not None:
        t0 = m0 - timedelta(days=6)
        messages += [("fan", fan, "Your last show changed my week. Thank you!", t0),
                     ("artist", fan, "That means a lot. See you at the next one!", t0 + timedelta(hours=3)),
                     ("fan", fan, "Will you play Garage Demo #3 live?", t0 + timedelta(days=1))]
    for f in superfans[:2]:
        if f.user_id == getattr(demo.superfan, "id", None):
            continue  # the superfan one signs in with starts with this month's quota untouched
        at = max(m0, now - timedelta(days=3)) + timedelta(minutes=30)
        if at < now:
            messages += [("fan", f, "The lyric sheet is beautiful. Is the bridge about Lisbon?", at),
                         ("artist", f, "It is! Good ear.", min(now, at + timedelta(hours=1)))]
    if messages:
        session.execute(insert(Message), [{"id": uuid.uuid4(), "artist_id": artist.id, "fan_id": f.user_id,
                                           "sender": sender, "body": body, "created_at": at}
                                          for sender, f, body, at in messages])

    # milestones (the events the fan club's jobs and hooks write): a year as a member for the demo
    # fan, awarded this month (so the anniversary job does not award it again)
    if fan is not None and fan.since <= now - timedelta(days=365):
        month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        at = min(now, max(month_start, fan.since + timedelta(days=365)))
        session.execute(insert(DomainEvent), [{
            "id": uuid.uuid4(), "type": "fan.milestone", "occurred_at": at, "actor_id": fan.user_id,
            "artist_id": artist.id, "subject_type": "user", "subject_id": str(fan.user_id),
            "data": {"milestone": "member_1y"}}])
