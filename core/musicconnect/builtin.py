"""The core's own hook implementations (registered as plugin ``core``; cannot be disabled).

Access: the core's rule (:func:`musicconnect.access.core_rule`): owners and admins are allowed;
taken-down, unprocessed and failed content is denied to everyone else; once ``publish_at`` has
passed, public content is allowed, and tier content to members of the required rank or above.
Anything else (early access, per-perk rules) needs a plugin to allow it.
"""
from __future__ import annotations

from sqlalchemy import func, select

from .access import core_rule
from .contracts import Metric
from .hookimpl import hookimpl
from .models import Artist, ContentItem, DomainEvent, Entitlement, Tier
from .privacy import erase_user_data, export_user_data  # noqa: F401  (the core's part of GDPR export/erasure)


@hookimpl
def check_access(actor, action, resource, context):
    return core_rule(actor, action, resource, context)


def _content_count(platform, artist_id, window):
    with platform.db.session() as s:
        return s.scalar(select(func.count()).select_from(ContentItem).where(
            ContentItem.artist_id == artist_id, ContentItem.status == "ready")) or 0


def _paying_members(platform, artist_id, window):
    now = platform.clock.now()
    with platform.db.session() as s:
        return s.scalar(select(func.count(func.distinct(Entitlement.user_id)))
                        .join(Tier, Tier.id == Entitlement.tier_id)
                        .where(Entitlement.artist_id == artist_id, Tier.rank > 0,
                               Entitlement.status.in_(("active", "past_due", "cancelled")),
                               Entitlement.starts_at <= now,
                               (Entitlement.expires_at.is_(None)) | (Entitlement.expires_at > now))) or 0


def _events_by_type(platform, artist_id, window):
    with platform.db.session() as s:
        rows = s.execute(select(DomainEvent.type, func.count()).where(
            DomainEvent.artist_id == artist_id, DomainEvent.occurred_at >= window.start,
            DomainEvent.occurred_at <= window.end).group_by(DomainEvent.type).order_by(DomainEvent.type)).all()
    return {t: n for t, n in rows}


@hookimpl
def register_metrics(platform):
    return [
        Metric("published_items", "Published items", "Content items that are ready to play or read.",
               _content_count),
        Metric("members_current", "Members now", "Fans who currently hold a paid tier (any source).",
               _paying_members),
        Metric("events_by_type", "Activity", "Domain events about this artist in the window, by type.",
               _events_by_type, unit="table"),
    ]


@hookimpl
def audience_members(platform, artist_id, audience):
    """``members`` (any current entitlement) and ``tier:N`` (a current entitlement of rank N or
    above) of the artist; other audiences belong to plugins."""
    if audience == "members":
        rank = 0
    elif audience.startswith("tier:") and audience[5:].isdigit():
        rank = int(audience[5:])
    else:
        return None
    now = platform.clock.now()
    with platform.db.session() as s:
        return list(s.scalars(select(Entitlement.user_id).distinct().join(Tier, Tier.id == Entitlement.tier_id).where(
            Entitlement.artist_id == artist_id, Tier.rank >= rank,
            Entitlement.status.in_(("active", "past_due", "cancelled")), Entitlement.starts_at <= now,
            (Entitlement.expires_at.is_(None)) | (Entitlement.expires_at > now))))


def _new_supporter_recipients(platform, event):
    """The artist's own user, when the granted tier is a paid one (rank above 0)."""
    tier_id = (event.data or {}).get("tier_id")
    if event.artist_id is None or not tier_id:
        return []
    import uuid

    with platform.db.session() as s:
        tier = s.get(Tier, uuid.UUID(str(tier_id)))
        artist = s.get(Artist, event.artist_id)
        if tier is None or tier.rank <= 0 or artist is None:
            return []
        return [artist.user_id]


@hookimpl
def register_notification_kinds(platform):
    """``core.new_supporter``: the artist is told when a fan gets one of their paid tiers (not of a
    comp the artist gives themselves: nobody is notified of what they did)."""
    from .contracts import NotificationKind

    return [
        NotificationKind("core.new_supporter", "New supporters (artists)", "entitlement.granted",
                         {"title": "{artist_name} has a new supporter", "body": "A fan joined one of your paid tiers.",
                          "url": "/artists/{artist_id}/members"}, _new_supporter_recipients,
                         default_channels=("inbox", "push")),
    ]
