"""Payment plumbing shared by providers: dispatch to exactly one provider by id, normalised
payment events (a domain event, then ``on_payment_event`` after commit), and revenue splits."""
from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from .contracts import PaymentEvent, PaymentProvider, RevenueShare
from .db import on_commit
from .errors import MusicConnectError, Problem
from .events import emit

if TYPE_CHECKING:
    from .platform import Platform

PAYMENT_EVENT_TYPES = frozenset({
    "subscription.created", "subscription.updated", "subscription.cancelled", "subscription.ended",
    "payment.succeeded", "payment.failed", "payment.refunded", "payment.disputed"})


class SplitError(MusicConnectError):
    pass


class Payments:
    def __init__(self, platform: "Platform"):
        self.platform = platform

    def providers(self) -> dict[str, tuple[str, PaymentProvider]]:
        out: dict[str, tuple[str, PaymentProvider]] = {}
        for plugin, provider in self.platform.plugins.collect("register_payment_providers", platform=self.platform):
            pid = getattr(provider, "id", None)
            if pid and pid not in out:
                out[pid] = (plugin, provider)
        return out

    def provider(self, provider_id: str) -> PaymentProvider:
        found = self.providers().get(provider_id)
        if found is None:
            raise Problem(404, "unknown-payment-provider", f"no enabled payment provider {provider_id!r}",
                          available=sorted(self.providers()))
        return found[1]

    def publish(self, session: Session, event: PaymentEvent) -> None:
        """Record a payment fact in ``session``'s transaction; plugins hear of it after commit."""
        if event.type not in PAYMENT_EVENT_TYPES:
            raise ValueError(f"unknown payment event type {event.type!r}")
        emit(self.platform, session, f"payment.{event.type}" if not event.type.startswith("payment.") else event.type,
             actor_id=event.user_id, artist_id=event.artist_id, subject=("payment", event.external_id or uuid.uuid4()),
             data={"provider": event.provider, "amount": event.amount, "currency": event.currency,
                   "tier_id": str(event.tier_id) if event.tier_id else None, **dict(event.data)},
             at=event.occurred_at)
        platform = self.platform
        on_commit(session, lambda: platform.plugins.notify("on_payment_event", platform=platform, event=event))

    def split(self, artist_id: uuid.UUID, amount: int, currency: str) -> dict[str, Any]:
        """Every plugin's slice of a payment and what the artist keeps (integer minor units)."""
        if amount < 0:
            raise SplitError("amount must not be negative")
        shares = [s for _, s in self.platform.plugins.collect("revenue_shares", platform=self.platform,
                                                              artist_id=artist_id, amount=amount, currency=currency)
                  if isinstance(s, RevenueShare)]
        taken = sum(s.amount for s in shares)
        if any(s.amount < 0 for s in shares) or taken > amount:
            raise SplitError(f"revenue shares ({taken}) exceed the payment ({amount}) or are negative")
        return {"gross": amount, "currency": currency, "shares": shares, "artist_net": amount - taken}
