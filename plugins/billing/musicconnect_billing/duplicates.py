"""Duplicate subscriptions: a fan's second live subscription to the same artist.

The database holds at most one live membership per (fan, artist) (the unique ``live_key`` of
``billing_subscriptions``). The sandbox refuses a duplicate when it is paid. Stripe cannot be
stopped from completing two Checkout Sessions that were both open (two tabs for two tiers, a
session from yesterday): when the second subscription goes live there, the state machine marks
it ``duplicate_of`` the one that holds the membership (it never entitles) and queues
:func:`close`, which cancels it at once and refunds what it paid, and records that."""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, update

from .models import Subscription
from .state import apply_now

JOB = "close_duplicate"  # billing.close_duplicate (state.DUPLICATE_JOB)


def close(ctx, subscription_id: str) -> dict[str, Any]:
    """Cancel and refund one duplicate at its provider (idempotent), then record it once: the
    row's ``duplicate_closed_at`` and a ``billing.duplicate_subscription_cancelled`` event."""
    platform = ctx.platform
    row_id = uuid.UUID(subscription_id)
    with platform.session() as s:
        row = s.get(Subscription, row_id)
        if row is None or row.duplicate_of is None or row.duplicate_closed_at is not None:
            return {"status": "nothing to do"}
        holder = s.get(Subscription, row.duplicate_of)
        provider, external_id, kept = row.provider, row.external_id, holder.external_id if holder else None
        user_id, artist_id = row.user_id, row.artist_id
    if holder is not None:
        # the holder may have ended at its provider with the news still on its way (a late or
        # failed webhook): refresh it first, and cancel nothing if it no longer holds the membership
        apply_now(platform, holder.provider, holder.external_id)
    with platform.session() as s:
        holder = s.get(Subscription, row.duplicate_of)
        if holder is None or holder.live_key is None:
            s.execute(update(Subscription).where(Subscription.id == row_id, Subscription.duplicate_closed_at.is_(None))
                      .values(duplicate_of=None).execution_options(synchronize_session=False))
            reinstated = True
        else:
            reinstated = False
    if reinstated:  # not a duplicate after all: it takes the membership and entitles as usual
        apply_now(platform, provider, external_id)
        return {"status": "reinstated", "subscription": external_id}
    result = platform.payments.provider(provider).close_duplicate(platform, external_id, kept)
    with platform.session() as s:
        now = platform.clock.now()
        first = s.execute(update(Subscription).where(Subscription.id == row_id,
                                                     Subscription.duplicate_closed_at.is_(None))
                          .values(duplicate_closed_at=now).execution_options(synchronize_session=False)).rowcount
        if first:
            platform.emit(s, "billing.duplicate_subscription_cancelled", actor_id=user_id, artist_id=artist_id,
                          subject=("billing-subscription", row_id),
                          data={"provider": provider, "subscription": external_id, "kept": kept,
                                "refunded": result.get("refunded", 0), "refunds": result.get("refunds", [])})
    apply_now(platform, provider, external_id)  # the cancellation shows at once
    return {"status": "closed", **result}


def sweep(ctx) -> dict[str, int]:
    """Scheduled: close duplicates whose job failed or was lost (and those the upgrade found)."""
    platform = ctx.platform
    with platform.session() as s:
        ids = s.scalars(select(Subscription.id).where(Subscription.duplicate_of.is_not(None),
                                                      Subscription.duplicate_closed_at.is_(None)).limit(100)).all()
    closed = 0
    for row_id in ids:
        try:
            if close(ctx, str(row_id)).get("status") == "closed":
                closed += 1
        except Exception:  # logged by the next run's attempt; one failure does not stop the others
            import logging

            logging.getLogger("musicconnect.billing").exception("billing: closing duplicate %s failed", row_id)
    return {"closed": closed}
