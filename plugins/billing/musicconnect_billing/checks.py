"""The rules every billing route applies before a provider is asked: may this fan check out
this tier, may this subscription move to that tier; and how billing's rows look to a provider."""
from __future__ import annotations

import uuid

from musicconnect import Problem
from musicconnect.contracts import SubscriptionRef
from musicconnect.models import Entitlement, Tier, User
from sqlalchemy import select
from sqlalchemy.orm import Session

from . import state
from .models import Subscription


def checkout_checks(platform, session: Session, user_id: uuid.UUID, tier_id: uuid.UUID, interval: str) -> Tier:
    tier = session.get(Tier, tier_id)
    if tier is None:
        raise Problem(404, "not-found", "no such tier")
    if not tier.is_active:
        raise Problem(409, "tier-retired", "this tier is no longer offered")
    if tier.rank == 0 or tier.price_amount <= 0:
        raise Problem(422, "free-tier", "this tier is free: join it by following the artist, no checkout needed")
    if interval not in ("month", "year"):
        raise Problem(422, "validation", "interval must be month or year")
    if interval == "year" and not tier.yearly_amount:
        raise Problem(422, "no-yearly-price", "this tier has no yearly price")
    user = session.get(User, user_id)
    if user is not None and user.artist is not None and user.artist.id == tier.artist_id:
        raise Problem(409, "own-tier", "artists cannot subscribe to their own tiers")
    now = platform.clock.now()
    live = session.scalar(select(Subscription).where(
        Subscription.user_id == user_id, Subscription.artist_id == tier.artist_id,
        Subscription.status.in_(state.LIVE_STATUSES)))
    if live is not None:
        raise Problem(409, "already-subscribed", "you already support this artist: change the tier of your "
                      "subscription instead", subscription_id=str(live.id))
    for info in platform.entitlements.for_user(user_id, tier.artist_id):
        if info.is_effective(now):
            if info.tier_rank >= tier.rank:
                raise Problem(409, "tier-already-held", "you already hold this tier (or a higher one) of this artist")
    return tier


def change_checks(session: Session, sub: Subscription, tier_id: uuid.UUID) -> tuple[Tier, Tier]:
    if sub.status not in state.LIVE_STATUSES or sub.duplicate_of is not None:
        raise Problem(409, "subscription-ended", "this subscription is not active")
    tier = session.get(Tier, tier_id)
    if tier is None or tier.artist_id != sub.artist_id:
        raise Problem(404, "not-found", "no such tier of this artist")
    if not tier.is_active:
        raise Problem(409, "tier-retired", "this tier is no longer offered")
    if tier.rank == 0 or tier.price_amount <= 0:
        raise Problem(422, "free-tier", "to move to the free tier, cancel the subscription")
    if sub.interval == "year" and not tier.yearly_amount:
        raise Problem(422, "no-yearly-price", "this tier has no yearly price")
    if tier.id == sub.tier_id:
        raise Problem(409, "same-tier", "the subscription is already on this tier")
    return tier, session.get(Tier, sub.tier_id)


def ref_of(sub: Subscription) -> SubscriptionRef:
    """Our row as the provider contract names it."""
    return SubscriptionRef(provider=sub.provider, external_id=sub.external_id, user_id=sub.user_id,
                           artist_id=sub.artist_id, tier_id=sub.tier_id, interval=sub.interval,
                           customer_id=sub.customer_id)


def entitlement_of(session: Session, sub: Subscription) -> Entitlement | None:
    return session.scalar(select(Entitlement).where(Entitlement.source == sub.provider,
                                                    Entitlement.source_ref == sub.external_id))
