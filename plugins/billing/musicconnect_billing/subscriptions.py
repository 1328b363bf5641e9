"""What a fan (or the sandbox portal acting for one) does to a subscription: read it, change its
tier, cancel or resume it. The provider is the one the core's registry holds for the row's
provider id; its answer is applied at once (``state.apply_now``)."""
from __future__ import annotations

import uuid
from typing import Any

from musicconnect import Actor, NotFound, Problem
from musicconnect.models import Tier

from . import state
from .checks import change_checks, entitlement_of, ref_of
from .models import Subscription


def view(s, sub: Subscription) -> dict[str, Any]:
    ent = entitlement_of(s, sub)
    return {"id": str(sub.id), "provider": sub.provider, "external_id": sub.external_id,
            "artist_id": str(sub.artist_id) if sub.artist_id else None,
            "tier_id": str(sub.tier_id) if sub.tier_id else None,
            "entitled_tier_id": str(sub.entitled_tier_id) if sub.entitled_tier_id else None,
            "entitled_until": sub.entitled_until.isoformat() if sub.entitled_until else None,
            "status": sub.status, "cancel_at_period_end": sub.cancel_at_period_end,
            "amount": sub.amount, "currency": sub.currency, "interval": sub.interval,
            "current_period_end": sub.current_period_end.isoformat() if sub.current_period_end else None,
            "duplicate_of": str(sub.duplicate_of) if sub.duplicate_of else None,
            "entitlement": None if ent is None else {
                "id": str(ent.id), "tier_id": str(ent.tier_id), "status": ent.status,
                "expires_at": ent.expires_at.isoformat() if ent.expires_at else None}}


def mine(s, actor: Actor, sub_id: uuid.UUID) -> Subscription:
    sub = s.get(Subscription, sub_id)
    if sub is None or (sub.user_id != actor.user_id and not actor.is_admin):
        raise NotFound("subscription")
    return sub


def current_view(platform, sub_id: uuid.UUID) -> dict[str, Any]:
    with platform.session() as s:
        return view(s, s.get(Subscription, sub_id))


def preview(platform, actor: Actor, sub_id: uuid.UUID, tier_id: uuid.UUID | None) -> dict[str, Any]:
    with platform.session() as s:
        sub = mine(s, actor, sub_id)
        if tier_id:
            change_checks(s, sub, tier_id)
        elif s.get(Tier, sub.tier_id) is None:
            raise NotFound("tier")
        ref = ref_of(sub)
    return dict(platform.payments.call(ref.provider, "preview_change", subscription=ref, tier_id=tier_id))


def change(platform, actor: Actor, sub_id: uuid.UUID, tier_id: uuid.UUID) -> dict[str, Any]:
    """Move the subscription to another tier of the same artist (the provider prorates)."""
    with platform.session() as s:
        sub = mine(s, actor, sub_id)
        change_checks(s, sub, tier_id)
        ref = ref_of(sub)
    result = platform.payments.call(ref.provider, "change", subscription=ref, tier_id=tier_id)
    state.apply_now(platform, ref.provider, result.get("id") or ref.external_id)
    return current_view(platform, sub_id)


def set_cancel(platform, actor: Actor, sub_id: uuid.UUID, at_period_end: bool) -> dict[str, Any]:
    """Cancel at the end of the paid period (``True``), or undo that (``False``)."""
    with platform.session() as s:
        sub = mine(s, actor, sub_id)
        if sub.status not in ("active", "trialing", "past_due") or sub.duplicate_of is not None:
            raise Problem(409, "subscription-ended", "this subscription is not active")
        ref = ref_of(sub)
    if at_period_end:
        result = platform.payments.call(ref.provider, "cancel", subscription=ref, at_period_end=True)
    else:
        result = platform.payments.call(ref.provider, "resume", subscription=ref)
    state.apply_now(platform, ref.provider, result.get("id") or ref.external_id)
    return current_view(platform, sub_id)
