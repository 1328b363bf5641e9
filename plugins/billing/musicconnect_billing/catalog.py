"""Tiers → Stripe Products and Prices, idempotently. A changed amount creates a new Price and
archives the old one; subscribers keep the price they bought until they change tier."""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select

from musicconnect.models import Artist, Tier

from .models import Price
from .state import insert_ignore


def wanted_prices(tier: Tier) -> dict[str, int | None]:
    paid = tier.is_active and tier.rank > 0
    return {"month": tier.price_amount if paid and tier.price_amount > 0 else None,
            "year": tier.yearly_amount if paid and tier.yearly_amount else None}


def sync_tier(platform, api, tier_id: uuid.UUID) -> dict[str, int]:
    """Bring one tier's Stripe product and prices in line with the tier. Returns counts."""
    counts = {"created": 0, "archived": 0}
    with platform.session() as s:
        tier = s.get(Tier, tier_id)
        if tier is None:
            return counts
        artist = s.get(Artist, tier.artist_id)
        rows = s.scalars(select(Price).where(Price.provider == "stripe", Price.tier_id == tier.id)).all()
        product_id = rows[0].product_id if rows else None
        wanted = wanted_prices(tier)
        if product_id is None and not any(wanted.values()):
            return counts
        meta = {"tier_id": str(tier.id), "artist_id": str(tier.artist_id), "platform": "musicconnect"}
        name = f"{artist.name if artist else 'Artist'} — {tier.name}"
        if product_id is None:
            product_id = api.create_product({"name": name, "metadata": meta}, idempotency_key=f"mc-product-{tier.id}")["id"]
        else:
            api.update_product(product_id, {"name": name, "active": any(wanted.values())})
        now = platform.clock.now()
        for interval, amount in wanted.items():
            live = [r for r in rows if r.interval == interval and r.active]
            keep = None
            for r in live:
                if amount is not None and keep is None and (r.amount, r.currency) == (amount, tier.currency):
                    keep = r
                    continue
                api.archive_price(r.external_id)
                r.active, r.archived_at = False, now
                counts["archived"] += 1
            if amount is None or keep is not None:
                continue
            n = s.scalar(select(func.count()).select_from(Price).where(Price.tier_id == tier.id,
                                                                       Price.interval == interval)) or 0
            price = api.create_price({"product": product_id, "currency": tier.currency.lower(), "unit_amount": amount,
                                      "recurring": {"interval": interval},
                                      "metadata": {**meta, "interval": interval}},
                                     idempotency_key=f"mc-price-{tier.id}-{interval}-{n}")
            # concurrent syncs (checkouts of a tier not yet priced) got the same price from Stripe
            # (the idempotency key): it is stored once, whoever comes second changes nothing
            insert_ignore(s, Price, id=uuid.uuid4(), provider="stripe", tier_id=tier.id, interval=interval,
                          amount=amount, currency=tier.currency, product_id=product_id, external_id=price["id"],
                          active=True, created_at=now)
            counts["created"] += 1
    return counts


def sync_artist(platform, api, artist_id: uuid.UUID) -> dict[str, int]:
    with platform.session() as s:
        tier_ids = s.scalars(select(Tier.id).where(Tier.artist_id == artist_id).order_by(Tier.rank)).all()
    total = {"tiers": 0, "created": 0, "archived": 0}
    for tid in tier_ids:
        c = sync_tier(platform, api, tid)
        total["tiers"] += 1
        total["created"] += c["created"]
        total["archived"] += c["archived"]
    return total


def current_price(platform, api, tier: Tier, interval: str) -> str:
    """The active Stripe price id for a tier, synced on demand."""
    def lookup() -> Any:
        with platform.session() as s:
            return s.scalar(select(Price.external_id).where(
                Price.provider == "stripe", Price.tier_id == tier.id, Price.interval == interval, Price.active.is_(True),
                Price.amount == (tier.price_amount if interval == "month" else tier.yearly_amount),
                Price.currency == tier.currency))
    found = lookup()
    if found is None:
        sync_tier(platform, api, tier.id)
        found = lookup()
    return found
