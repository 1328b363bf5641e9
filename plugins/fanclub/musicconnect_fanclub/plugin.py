"""Hook implementations of the fan club plugin."""
from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import func, or_, select

from musicconnect import ContentKind, Metric, hookimpl, on_commit
from musicconnect.models import DomainEvent, Entitlement, Tier

from . import models, rules  # noqa: F401 (models: their tables join the metadata whenever the plugin loads)
from .schema import PostData, validate_post


@hookimpl
def check_access(actor, action, resource, context):
    return rules.vote(actor, action, resource, context)


@hookimpl
def register_perks(platform):
    return dict(rules.PERKS)


@hookimpl
def validate_perks(platform, rank, perks):
    return rules.validate(rank, perks) or None


@hookimpl
def register_routes(platform):
    from .api import router
    from .posts import router as posts_router
    from .wrapped import router as wrapped_router

    return [router, posts_router, wrapped_router]


SCOPES = {
    "fanclub:read": "read your fan club memberships, your feed, comments and your Wrapped reports",
    "fanclub:write": "follow and join artists, post to your fan club (artists), comment, react, share Wrapped",
    "messages:read": "read your direct messages (fans) or your inbox (artists), and the backstage",
    "messages:write": "send direct messages and replies, and post in the backstage",
}


@hookimpl
def register_scopes(platform):
    return dict(SCOPES)


@hookimpl
def serialize_content(platform, item, viewer):
    if item.kind != "post" or item.status == "taken_down":  # nothing is signed for a taken-down post
        return None
    from .posts import with_image_urls

    return with_image_urls(platform, item.id, item.data or {})


@hookimpl
def on_content_taken_down(platform, item, reason):
    """A taken-down post's images move to quarantine, so every signed link handed out (valid up
    to an hour) stops working at once, CDN-less or not."""
    if item.kind == "post":
        platform.storage.move_prefix(f"posts/{item.id}/", f"quarantine/posts/{item.id}/")


@hookimpl
def on_content_deleted(platform, item):
    if item.kind == "post":
        platform.storage.delete_prefix(f"posts/{item.id}/")
        platform.storage.delete_prefix(f"quarantine/posts/{item.id}/")


@hookimpl
def register_migrations(platform):
    return Path(__file__).parent / "migrations"


@hookimpl
def on_startup(platform):
    from .tracks import install

    install(platform)


@hookimpl
def register_content_kinds(platform):
    # ``data`` is checked by the post model (unknown fields rejected, no storage keys, bounded);
    # the attached tracks by a flush listener (each a track of the post's artist): installed here
    # too, since every post is created after its kind was looked up, in any process
    from .tracks import install

    install(platform)
    return [ContentKind("post", "Post", "A text post for fans, public or for a tier.", validate=validate_post,
                        data_model=PostData)]


# ---------------------------------------------------------------- milestones

def _milestone(platform, user_id, artist_id, kind: str, data=None) -> None:
    with platform.session() as s:
        platform.emit(s, "fan.milestone", actor_id=user_id, artist_id=artist_id, subject=("user", user_id),
                      data={"milestone": kind, **(data or {})})


@hookimpl
def on_entitlement_changed(platform, entitlement, change):
    """First support: the first paid entitlement a fan ever gets from an artist."""
    if change != "granted" or entitlement.tier_rank <= 0:
        return
    with platform.session() as s:
        paid = s.scalar(select(func.count()).select_from(Entitlement).join(Tier, Tier.id == Entitlement.tier_id)
                        .where(Entitlement.user_id == entitlement.user_id, Entitlement.artist_id == entitlement.artist_id,
                               Tier.rank > 0))
    if paid == 1:
        _milestone(platform, entitlement.user_id, entitlement.artist_id, "first_support")


@hookimpl
def on_event(platform, event):
    """The 100th counted play of an artist by one fan."""
    if event.type != "play.counted" or event.actor_id is None or event.artist_id is None:
        return
    with platform.session() as s:
        n = s.scalar(select(func.count()).select_from(DomainEvent).where(
            DomainEvent.type == "play.counted", DomainEvent.actor_id == event.actor_id,
            DomainEvent.artist_id == event.artist_id))
    if n == 100:
        _milestone(platform, event.actor_id, event.artist_id, "plays_100")


def _has_milestone(s, user_id, artist_id, kind: str, **match) -> bool:
    rows = s.scalars(select(DomainEvent).where(DomainEvent.type == "fan.milestone", DomainEvent.actor_id == user_id,
                                               DomainEvent.artist_id == artist_id)).all()
    return any(r.data.get("milestone") == kind and all(r.data.get(k) == v for k, v in match.items()) for r in rows)


def anniversaries(ctx):
    """1 year as a member: the earliest still-effective membership began a year ago or more."""
    from datetime import timedelta

    platform = ctx.platform
    now = platform.clock.now()
    done = 0
    with platform.session() as s:
        rows = s.execute(select(Entitlement.user_id, Entitlement.artist_id, func.min(Entitlement.starts_at))
                         .where(*_effective(now)).group_by(Entitlement.user_id, Entitlement.artist_id)).all()
        due = [(u, a) for u, a, since in rows if since <= now - timedelta(days=365)
               and not _has_milestone(s, u, a, "member_1y")]
    for user_id, artist_id in due:
        _milestone(platform, user_id, artist_id, "member_1y")
        done += 1
    return {"awarded": done}


def monthly_top_fans(ctx):
    """Top-10 fan of the month: after a month ends, its ten biggest listeners of each artist."""
    from datetime import datetime, timezone

    platform = ctx.platform
    now = platform.clock.now()
    end = datetime(now.year, now.month, 1, tzinfo=timezone.utc)
    start = datetime(end.year - (end.month == 1), 12 if end.month == 1 else end.month - 1, 1, tzinfo=timezone.utc)
    month = start.strftime("%Y-%m")
    awarded = 0
    with platform.session() as s:
        rows = s.execute(select(DomainEvent.artist_id, DomainEvent.actor_id, func.count())
                         .where(DomainEvent.type == "play.counted", DomainEvent.actor_id.is_not(None),
                                DomainEvent.occurred_at >= start, DomainEvent.occurred_at < end)
                         .group_by(DomainEvent.artist_id, DomainEvent.actor_id)).all()
    by_artist: dict = {}
    for artist_id, user_id, n in rows:
        by_artist.setdefault(artist_id, []).append((n, str(user_id), user_id))
    for artist_id, fans in by_artist.items():
        for rank, (n, _, user_id) in enumerate(sorted(fans, key=lambda f: (-f[0], f[1]))[:10], 1):
            with platform.session() as s:
                if _has_milestone(s, user_id, artist_id, "top10_month", month=month):
                    continue
            _milestone(platform, user_id, artist_id, "top10_month", {"month": month, "rank": rank, "plays": n})
            awarded += 1
    return {"month": month, "awarded": awarded}


@hookimpl
def register_jobs(platform):
    from musicconnect import JobSpec

    return [JobSpec("anniversaries", anniversaries, every_seconds=3600, max_retries=2),
            JobSpec("monthly_top_fans", monthly_top_fans, every_seconds=3600, max_retries=2)]


# ---------------------------------------------------------------- metrics

def _effective(now):
    return (Entitlement.status.in_(("active", "past_due", "cancelled")), Entitlement.starts_at <= now,
            or_(Entitlement.expires_at.is_(None), Entitlement.expires_at > now))


def members_by_tier(platform, artist_id, window):
    now = platform.clock.now()
    with platform.session() as s:
        rows = s.execute(select(Tier.key, func.count(func.distinct(Entitlement.user_id)))
                         .join(Entitlement, Entitlement.tier_id == Tier.id)
                         .where(Tier.artist_id == artist_id, *_effective(now)).group_by(Tier.key, Tier.rank)
                         .order_by(Tier.rank)).all()
    return {k: n for k, n in rows}


def funnel(platform, artist_id, window):
    from .models import Follow

    now = platform.clock.now()
    with platform.session() as s:
        listeners = s.scalar(select(func.count(func.distinct(DomainEvent.actor_id))).where(
            DomainEvent.artist_id == artist_id, DomainEvent.type == "play.counted", DomainEvent.actor_id.is_not(None),
            DomainEvent.occurred_at >= window.start, DomainEvent.occurred_at <= window.end)) or 0
        followers = s.scalar(select(func.count()).select_from(Follow).where(Follow.artist_id == artist_id)) or 0

        def members(cond):
            return s.scalar(select(func.count(func.distinct(Entitlement.user_id))).join(Tier, Tier.id == Entitlement.tier_id)
                            .where(Entitlement.artist_id == artist_id, cond, *_effective(now))) or 0
        free = members(Tier.rank == 0)
        paid = members(Tier.rank > 0)
    return {"listeners": listeners, "followers": followers, "free_members": free, "paid_members": paid}


def top_fans(platform, artist_id, window):
    now = platform.clock.now()
    with platform.session() as s:
        plays = dict(s.execute(select(DomainEvent.actor_id, func.count()).where(
            DomainEvent.artist_id == artist_id, DomainEvent.type == "play.counted", DomainEvent.actor_id.is_not(None),
            DomainEvent.occurred_at >= window.start, DomainEvent.occurred_at <= window.end)
            .group_by(DomainEvent.actor_id)).all())
        ranks = dict(s.execute(select(Entitlement.user_id, func.max(Tier.rank)).join(Tier, Tier.id == Entitlement.tier_id)
                               .where(Entitlement.artist_id == artist_id, *_effective(now))
                               .group_by(Entitlement.user_id)).all())
    fans = set(plays) | set(ranks)
    ranked = sorted(fans, key=lambda u: (-(ranks.get(u) or 0), -plays.get(u, 0), str(u)))[:10]
    return [{"user_id": str(u), "plays": plays.get(u, 0), "tier_rank": ranks.get(u)} for u in ranked]


@hookimpl
def register_metrics(platform):
    return [
        Metric("members_by_tier", "Members by tier", "Fans holding each tier now (any source).", members_by_tier,
               unit="table"),
        Metric("conversion_funnel", "Conversion funnel",
               "Listeners (counted plays in the window) -> followers -> free members -> paid members.", funnel, unit="table"),
        Metric("top_fans", "Top fans", "The ten fans who support most (tier), then listen most (plays in the window).",
               top_fans, unit="table"),
    ]


# ---------------------------------------------------------------- demo

@hookimpl
def seed_demo(platform, session, demo):
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
