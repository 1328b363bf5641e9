"""Hook implementations of the fan club plugin (the entry point). What they call lives by
purpose: access rules and perks in ``rules``, milestone jobs in ``milestones``, metric SQL in
``metrics``, demo data in ``demo``, routes in ``api``, ``posts`` and ``wrapped``."""
from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import func, select

from musicconnect import ContentKind, Metric, hookimpl
from musicconnect.models import DomainEvent, Entitlement, Tier

from . import models, rules  # noqa: F401 (models: their tables join the metadata whenever the plugin loads)
from .metrics import funnel, members_by_tier, top_fans
from .milestones import _milestone, anniversaries, monthly_top_fans
from .notices import early_access_opened, wrapped_ready
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


# ---------------------------------------------------------------- milestones (milestones.py)

@hookimpl
def on_entitlement_changed(platform, entitlement, change):
    """First support: the first paid entitlement a fan ever gets from an artist. (And any change
    of a fan's entitlements changes which artists reach their feed.)"""
    from .feed_artists import key

    platform.invalidate(key(entitlement.user_id))
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


@hookimpl
def register_jobs(platform):
    from musicconnect import JobSpec

    return [JobSpec("anniversaries", anniversaries, every_seconds=3600, max_retries=2),
            JobSpec("monthly_top_fans", monthly_top_fans, every_seconds=3600, max_retries=2),
            JobSpec("early_access_opened", early_access_opened, every_seconds=60, max_retries=2),
            JobSpec("wrapped_ready", wrapped_ready, every_seconds=3600, max_retries=2)]


# ---------------------------------------------------------------- metrics (metrics.py)

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


# ---------------------------------------------------------------- demo (demo.py)

@hookimpl
def seed_demo(platform, session, demo):
    from .demo import seed

    seed(platform, session, demo)


# ---------------------------------------------------------------- notifications (read by a notifications plugin)

def _post_audience(platform, event):
    """A tier post: members of its tier rank or above; a public post: followers and members."""
    from musicconnect.models import ContentItem

    with platform.session() as s:
        item = s.get(ContentItem, uuid.UUID(event.subject_id))
        tier = s.get(Tier, item.required_tier_id) if item is not None and item.required_tier_id else None
    if item is None:
        return []
    if tier is not None:
        return platform.audience_members(item.artist_id, f"tier:{tier.rank}")
    return platform.audience_members(item.artist_id, "followers") | platform.audience_members(item.artist_id, "members")


def _artist_user(platform, event):
    """The artist's own user (the recipient of the artist's notifications)."""
    from musicconnect.models import Artist

    with platform.session() as s:
        artist = s.get(Artist, event.artist_id) if event.artist_id else None
        return [artist.user_id] if artist is not None else []


def _early_access_audience(platform, event):
    """The members of the tier whose window opened, or of a higher one."""
    rank = event.data.get("tier_rank")
    if not isinstance(rank, int) or event.artist_id is None:
        return []
    return platform.audience_members(event.artist_id, f"tier:{rank}")


@hookimpl
def register_notification_kinds(platform):
    from musicconnect import NotificationKind

    return [
        NotificationKind("fanclub.new_post", "New posts in your fan clubs", "content.published",
                         {"title": "New post from {artist_name}", "body": "{artist_name} posted in the fan club.",
                          "url": "/content/{subject_id}"}, _post_audience, default_channels=("inbox", "push"),
                         when=lambda e: e.data.get("kind") == "post" and e.subject_type == "content"),
        NotificationKind("fanclub.dm_reply", "Replies to your messages", "artist.replied",
                         {"title": "{artist_name} replied to your message", "body": "Open the conversation to read it.",
                          "url": "/artists/{artist_id}/messages"},
                         lambda platform, e: [e.data["fan_id"]] if e.data.get("fan_id") else [],
                         default_channels=("inbox", "push", "email")),
        NotificationKind("fanclub.dm_received", "Messages from fans (artists)", "fan.messaged",
                         {"title": "A fan sent {artist_name} a message", "body": "Open your inbox to read it.",
                          "url": "/artists/{artist_id}/conversations"}, _artist_user,
                         default_channels=("inbox", "push", "email")),
        NotificationKind("fanclub.milestone", "Your milestones", "fan.milestone",
                         {"title": "A milestone with {artist_name}", "body": "You reached a milestone: {milestone}.",
                          "url": "/artists/{artist_id}"}, "actor", digestible=True),
        NotificationKind("fanclub.early_access", "Early access opening for your tier", "fanclub.early_access_opened",
                         {"title": "Early access from {artist_name}",
                          "body": "Something new from {artist_name} is open to you before its release.",
                          "url": "/content/{subject_id}"}, _early_access_audience, default_channels=("inbox", "push")),
        NotificationKind("fanclub.wrapped_ready", "Your monthly Wrapped", "fanclub.wrapped_ready",
                         {"title": "Your Wrapped for {month} is ready", "body": "See your month in music.",
                          "url": "/wrapped/{month}"}, "subject", default_channels=("inbox", "push")),
    ]


@hookimpl
def audience_members(platform, artist_id, audience):
    """``followers``: the fans following the artist."""
    if audience != "followers":
        return None
    from .models import Follow

    with platform.session() as s:
        return list(s.scalars(select(Follow.user_id).where(Follow.artist_id == artist_id)))


# ---------------------------------------------------------------- the web app (docs/web.md)

@hookimpl
def web_extensions(platform):
    """The fan club's screens: follow (and the ways in) on the artist page, the feed, a post with
    comments and reactions, direct messages with the quota, the backstage, Wrapped; for artists,
    posts (write with images, edit, delete) and the inbox of fans' messages."""
    return [{"kind": "assets", "directory": str(Path(__file__).parent / "web")},
            {"kind": "component", "slot": "artist", "module": "club.js"},
            {"kind": "page", "path": "/feed", "module": "feed.js", "title": "Feed"},
            {"kind": "page", "path": "/post", "module": "post.js"},
            {"kind": "page", "path": "/messages", "module": "messages.js", "title": "Messages"},
            {"kind": "page", "path": "/backstage", "module": "backstage.js"},
            {"kind": "page", "path": "/wrapped", "module": "wrapped.js", "title": "Wrapped"},
            # the artist's side, in the studio menu (signed-in artists only; the APIs still decide)
            {"kind": "page", "path": "/studio/posts", "module": "studio-posts.js", "title": "Posts", "audience": "artists"},
            {"kind": "page", "path": "/studio/messages", "module": "studio-messages.js", "title": "Messages",
             "audience": "artists"}]


@hookimpl
def export_user_data(platform, session, user):
    from .privacy import export

    return export(platform, session, user)


@hookimpl
def erase_user_data(platform, session, user):
    from .privacy import erase

    return erase(platform, session, user)
