"""The fan club's metrics (SQL over entitlements, tiers, follows and play events)."""
from __future__ import annotations

from sqlalchemy import func, or_, select

from musicconnect.models import DomainEvent, Entitlement, Tier

from .people import people, person, shown_id


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
        found = people(s, ranked)  # one query: names, and "A fan" for those who chose to be anonymous
    return [{"user_id": shown_id(found, u), "name": person(found, u)["name"], "anonymous": person(found, u)["anonymous"],
             "plays": plays.get(u, 0), "tier_rank": ranks.get(u)} for u in ranked]
