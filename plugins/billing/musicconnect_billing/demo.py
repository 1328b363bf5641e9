"""Billing's demo data (idempotent): yearly prices on the demo tiers, and the cast's paid
memberships as sandbox subscriptions with their monthly payments (so revenue, MRR, subscribers,
churn and ARPU show real figures on the first run).

Subscriptions and payments are history, written in bulk the way the state machine and
``record_payment`` leave them (a subscription row, its entitlement through
``platform.entitlements``, one revenue row and one ``payment.succeeded`` event per paid month);
no sandbox "remote" object is made for them, so the scheduled renewal leaves them alone."""
from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import func, insert, select

from musicconnect.models import DomainEvent

from .models import Revenue, Subscription
from .revenue import fee_of
from .sandbox import PROVIDER, add_interval

PREFIX = "sub_sbx_demo_"


def seed(platform, session, demo) -> None:
    for key, yearly in (("supporter", 5000), ("superfan", 10000)):
        tier = demo.tiers.get(key)
        if tier is not None and tier.yearly_amount is None and tier.price_amount > 0:
            tier.yearly_amount = yearly
    population = getattr(demo, "population", None) or []
    artist = demo.artist_profile
    if not population or session.scalar(select(func.count()).select_from(Subscription).where(
            Subscription.artist_id == artist.id, Subscription.external_id.like(f"{PREFIX}%"))):
        return
    now = platform.clock.now()
    percent = Decimal(platform.plugin_settings("billing").platform_fee_percent)
    subs, revenue, events = [], [], []
    for fan in population:
        tier = demo.tiers.get(fan.tier) if fan.tier else None
        if tier is None or fan.paid_since is None or fan.email == "superfan@demo.com":  # that one is comped
            continue
        ref = f"{PREFIX}{fan.user_id.hex}"
        end = fan.ended_at
        period_start, paid = fan.paid_since, []
        while period_start < (end or now):
            paid.append(period_start)
            period_start = add_interval(period_start, "month")
        subs.append({"id": uuid.uuid4(), "provider": PROVIDER, "external_id": ref,
                     "customer_id": f"cus_sbx_{fan.user_id.hex}", "user_id": fan.user_id, "artist_id": artist.id,
                     "tier_id": tier.id, "entitled_tier_id": tier.id, "amount": tier.price_amount,
                     "currency": tier.currency, "interval": "month", "status": "canceled" if end else "active",
                     "cancel_at_period_end": False, "current_period_end": end or period_start,
                     "ended_at": end, "live_key": None if end else f"{fan.user_id.hex}:{artist.id.hex}",
                     "sync_ticket": 1, "applied_ticket": 1, "created_at": fan.paid_since, "updated_at": end or now})
        for n, at in enumerate(paid, 1):
            invoice = f"in_sbx_demo_{fan.user_id.hex[:12]}_{n}"
            fee = fee_of(tier.price_amount, percent)
            revenue.append({"id": uuid.uuid4(), "provider": PROVIDER, "kind": "payment", "external_id": invoice,
                            "charge_ref": f"ch_sbx_demo_{fan.user_id.hex[:12]}_{n}", "subscription_id": ref,
                            "artist_id": artist.id, "user_id": fan.user_id, "tier_id": tier.id,
                            "gross": tier.price_amount, "currency": tier.currency, "provider_fee": None,
                            "platform_fee": fee, "artist_net": tier.price_amount - fee, "occurred_at": at})
            events.append({"id": uuid.uuid4(), "type": "payment.succeeded", "occurred_at": at, "actor_id": fan.user_id,
                           "artist_id": artist.id, "subject_type": "payment", "subject_id": invoice,
                           "data": {"provider": PROVIDER, "amount": tier.price_amount, "currency": tier.currency,
                                    "tier_id": str(tier.id), "subscription": ref, "platform_fee": fee,
                                    "artist_net": tier.price_amount - fee}})
        leeway = timedelta(hours=platform.plugin_settings("billing").renewal_leeway_hours)
        platform.entitlements.grant(session, user_id=fan.user_id, artist_id=artist.id, tier_id=tier.id,
                                    source=PROVIDER, source_ref=ref, status="ended" if end else "active",
                                    starts_at=fan.paid_since, expires_at=end or period_start + leeway)
    if subs:
        session.execute(insert(Subscription), subs)
    if revenue:
        session.execute(insert(Revenue), revenue)
    if events:
        session.execute(insert(DomainEvent), events)
