"""Payments: the one registry of payment providers, the generic webhook path, and the payment
facts every provider records the same way.

* ``providers()`` / ``provider(id)``: the providers that enabled plugins return from
  ``register_payment_providers``, one object per id. Every caller that acts for a provider id
  (checkout, portal, changes, webhooks, re-fetching an object) gets the object here; nothing
  else dispatches on a provider id.
* ``receive_webhook(id, headers, body)``: the provider verifies the signature over the raw body
  (``verify_webhook``) and then acts on the verified event (``receive_event``).
* ``record_payment(...)``: a paid amount, split by every plugin's ``revenue_shares`` (platform
  fee, co-op shares), published once per ``(provider, external_id)`` as ``payment.succeeded``.
* ``publish(...)``: any normalised payment fact (a domain event, then ``on_payment_event``).
"""
from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .asyncutil import resolve_sync
from .contracts import PaymentContext, PaymentEvent, PaymentProvider, ProviderEvent, RevenueShare
from .db import on_commit
from .errors import MusicConnectError, Problem
from .events import Event
from .models import DomainEvent

if TYPE_CHECKING:
    from .platform import Platform

log = logging.getLogger("musicconnect.payments")

PAYMENT_EVENT_TYPES = frozenset({
    "subscription.created", "subscription.updated", "subscription.cancelled", "subscription.ended",
    "payment.succeeded", "payment.failed", "payment.refunded", "payment.disputed", "payment.dispute_won"})
#: the methods of the ``PaymentProvider`` contract a provider may offer (checked when called)
CAPABILITIES = ("checkout", "portal", "preview_change", "change", "cancel", "resume", "verify_webhook",
                "receive_event", "fetch", "transfer", "reverse_transfer")
_IDS = uuid.UUID("5b0c8f0e-3c52-4d59-9a43-6f1d0f6a7e11")  # namespace of idempotent payment facts


class SplitError(MusicConnectError):
    pass


def share_dict(share: RevenueShare) -> dict[str, Any]:
    """A share as payment events carry it (``payee_artist_id`` a string or ``None``; the
    plugin's ``data`` only when it has some)."""
    out: dict[str, Any] = {"party": share.party, "amount": share.amount, "reason": share.reason,
                           "payee_artist_id": str(share.payee_artist_id) if share.payee_artist_id else None}
    if share.data:
        out["data"] = dict(share.data)
    return out


def fact_id(type_: str, provider: str, external_id: str) -> uuid.UUID:
    """The domain-event id of an idempotent payment fact: the same fact twice is the same row."""
    return uuid.uuid5(_IDS, f"{type_}\x00{provider}\x00{external_id}")


class Payments:
    def __init__(self, platform: "Platform"):
        self.platform = platform

    # ---------------------------------------------------------------- the registry
    def providers(self) -> dict[str, tuple[str, PaymentProvider]]:
        """``{id: (plugin, provider)}`` of every enabled plugin's providers. An id offered by two
        plugins is ambiguous: neither gets the payments (logged as an error, whatever the order
        the hooks ran in) until the operator disables one of them."""
        out: dict[str, tuple[str, PaymentProvider]] = {}
        clashes: dict[str, set[str]] = {}
        for plugin, provider in self.platform.plugins.collect("register_payment_providers", platform=self.platform):
            pid = getattr(provider, "id", None)
            if not isinstance(pid, str) or not pid:
                log.error("plugin %s returned %r from register_payment_providers: a provider needs an id",
                          plugin, provider)
                continue
            if pid in out and out[pid][1] is not provider:
                clashes.setdefault(pid, {out[pid][0]}).add(plugin)
                continue
            out[pid] = (plugin, provider)
        for pid, plugins in clashes.items():
            log.error("payment provider id %r is offered by several plugins (%s): refused until one is disabled",
                      pid, ", ".join(sorted(plugins)))
            out.pop(pid, None)
        return out

    def provider(self, provider_id: str) -> PaymentProvider:
        """The one provider with this id, or 404 ``unknown-payment-provider``."""
        found = self.providers().get(provider_id)
        if found is None:
            raise Problem(404, "unknown-payment-provider", f"no enabled payment provider {provider_id!r}",
                          available=sorted(self.providers()))
        return found[1]

    def plugin_of(self, provider_id: str) -> str | None:
        found = self.providers().get(provider_id)
        return found[0] if found else None

    @staticmethod
    def offers(provider: Any, capability: str) -> bool:
        return callable(getattr(provider, capability, None))

    def call(self, provider: PaymentProvider | str, capability: str, **kwargs: Any) -> Any:
        """``provider.<capability>(platform, **kwargs)``, awaited if it returns an awaitable;
        501 ``payment-provider-unsupported`` when the provider does not offer it."""
        if isinstance(provider, str):
            provider = self.provider(provider)
        fn = getattr(provider, capability, None)
        if capability not in CAPABILITIES or not callable(fn):
            raise Problem(501, "payment-provider-unsupported",
                          f"the payment provider {getattr(provider, 'id', '?')!r} does not offer {capability}",
                          provider=getattr(provider, "id", None), capability=capability)
        return resolve_sync(fn(self.platform, **kwargs))

    # ---------------------------------------------------------------- webhooks
    def receive_webhook(self, provider_id: str, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        """One webhook delivery for ``provider_id`` (blocking: call it from a worker thread).

        404 ``unknown-payment-provider`` for an id no enabled plugin offers; the provider's
        ``verify_webhook`` checks the signature over the raw body before anything is written (400
        ``invalid-signature``); its ``receive_event`` then acts on the verified event,
        idempotently by event id."""
        from . import metrics

        provider = self.provider(provider_id)  # an unknown id is a 404, not counted (no label per guess)
        start = time.perf_counter()
        outcome = "error"
        try:
            result = self._receive(provider, provider_id, headers, body)
            outcome = "duplicate" if result.get("duplicate") else "processed"
            return result
        except Problem as exc:
            outcome = "rejected" if 400 <= exc.status < 500 else "error"
            raise
        finally:
            metrics.WEBHOOKS.labels(provider_id, outcome).inc()
            metrics.WEBHOOK_SECONDS.labels(provider_id).observe(time.perf_counter() - start)

    def _receive(self, provider, provider_id: str, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        headers = {k.lower(): v for k, v in headers.items()}
        if not self.offers(provider, "verify_webhook") and self.offers(provider, "handle_webhook"):
            # the first contract: one call that verifies and accepts
            return dict(resolve_sync(provider.handle_webhook(self.platform, headers=headers, body=body)) or {})
        event = self.call(provider, "verify_webhook", headers=headers, body=body)
        if not isinstance(event, ProviderEvent) or event.provider != provider_id or not event.id:
            log.error("payment provider %s: verify_webhook returned %r, not a ProviderEvent of this provider",
                      provider_id, event)
            raise Problem(500, "internal", "the payment provider answered the webhook wrongly")
        result = dict(self.call(provider, "receive_event", event=event) or {})
        return {"received": True, "id": event.id, "duplicate": bool(result.pop("duplicate", False)), **result}

    # ---------------------------------------------------------------- payment facts
    def publish(self, session: Session, event: PaymentEvent, *, idempotent: bool = False) -> bool:
        """Record a payment fact in ``session``'s transaction; plugins hear of it after commit.

        With ``idempotent=True`` the fact is stored at most once per ``(type, provider,
        external_id)``, whoever races (the domain event's id is derived from them and the
        database refuses a second row); returns whether this call stored it."""
        if event.type not in PAYMENT_EVENT_TYPES:
            raise ValueError(f"unknown payment event type {event.type!r}")
        if idempotent and not event.external_id:
            raise ValueError("an idempotent payment fact needs its external_id")
        platform = self.platform
        type_ = event.type if event.type.startswith("payment.") else f"payment.{event.type}"
        ev = Event(id=fact_id(type_, event.provider, event.external_id) if idempotent else uuid.uuid4(), type=type_,
                   occurred_at=event.occurred_at or platform.clock.now(), actor_id=event.user_id,
                   artist_id=event.artist_id, subject_type="payment",
                   subject_id=str(event.external_id or uuid.uuid4())[:64],
                   data={"provider": event.provider, "amount": event.amount, "currency": event.currency,
                         "tier_id": str(event.tier_id) if event.tier_id else None, **dict(event.data)})
        row = DomainEvent(id=ev.id, type=ev.type, occurred_at=ev.occurred_at, actor_id=ev.actor_id,
                          artist_id=ev.artist_id, subject_type=ev.subject_type, subject_id=ev.subject_id, data=ev.data)
        if idempotent:
            session.flush()
            if session.get(DomainEvent, ev.id) is not None:
                return False
            try:
                with session.begin_nested():
                    session.add(row)
            except IntegrityError:  # a concurrent transaction stored the same fact first
                return False
        else:
            session.add(row)
        on_commit(session, lambda: platform.plugins.notify("on_event", platform=platform, event=ev))
        on_commit(session, lambda: platform.plugins.notify("on_payment_event", platform=platform, event=event))
        return True

    def record_payment(self, session: Session, *, provider: str, external_id: str, user_id: uuid.UUID | None,
                       artist_id: uuid.UUID, amount: int, currency: str, tier_id: uuid.UUID | None = None,
                       occurred_at: datetime | None = None, data: Mapping[str, Any] | None = None,
                       period_start: datetime | None = None, period_end: datetime | None = None
                       ) -> dict[str, Any] | None:
        """A payment of ``amount`` (minor units) to ``artist_id``: split by every plugin's
        ``revenue_shares`` (given the ``PaymentContext``: provider, external_id, user, tier,
        ``occurred_at``, the paid period, ``data``) and published as ``payment.succeeded`` with
        ``platform_fee`` (the ``"platform"`` shares), ``artist_net`` (what ``artist_id`` keeps:
        the amount less every share) and ``shares`` (party, amount, reason, payee_artist_id) in
        its data, in ``session``'s transaction. Idempotent per ``(provider, external_id)``: returns
        the split, or ``None`` when it was already recorded. A failing split raises (nothing is
        recorded: money fails closed)."""
        context = PaymentContext(provider=provider, external_id=external_id, user_id=user_id, tier_id=tier_id,
                                 occurred_at=occurred_at, period_start=period_start, period_end=period_end,
                                 data=dict(data or {}))
        split = self.split(artist_id, amount, currency, payment=context)
        platform_fee = split["platform_fee"]
        period = {k: v.isoformat() for k, v in (("period_start", period_start), ("period_end", period_end)) if v}
        stored = self.publish(session, PaymentEvent(
            type="payment.succeeded", provider=provider, user_id=user_id, artist_id=artist_id, tier_id=tier_id,
            amount=amount, currency=currency, external_id=external_id, occurred_at=occurred_at,
            data={**dict(data or {}), **period, "platform_fee": platform_fee, "artist_net": split["artist_net"],
                  "shares": [share_dict(s) for s in split["shares"]]}),
            idempotent=True)
        return split if stored else None

    def split(self, artist_id: uuid.UUID, amount: int, currency: str,
              payment: PaymentContext | None = None) -> dict[str, Any]:
        """Every plugin's slice of a payment and what the artist keeps (integer minor units):
        first the ``revenue_shares`` (fees), then the one plugin's ``distribute_net`` slices of
        what remains (payees, e.g. a co-op's members), which are appended to ``shares``.
        ``{"gross", "currency", "shares", "platform_fee", "artist_net"}``. ``platform_fee`` is the
        ``"platform"`` shares; ``artist_net`` = gross less every share (a payee's slice is not the
        artist's). ``payment`` is the payment being recorded, ``None`` for a preview (checkout)."""
        if amount < 0:
            raise SplitError("amount must not be negative")
        shares = [s for _, s in self.platform.plugins.collect("revenue_shares", platform=self.platform,
                                                              artist_id=artist_id, amount=amount, currency=currency,
                                                              payment=payment)
                  if isinstance(s, RevenueShare)]
        taken = sum(s.amount for s in shares)
        if any(not isinstance(s.amount, int) or s.amount < 0 for s in shares) or taken > amount:
            raise SplitError(f"revenue shares ({taken}) exceed the payment ({amount}) or are negative")
        net = amount - taken
        payees = [(name, s) for name, s in self.platform.plugins.collect(
            "distribute_net", platform=self.platform, artist_id=artist_id, net=net, currency=currency,
            payment=payment) if isinstance(s, RevenueShare)]
        if len({name for name, _ in payees}) > 1:
            raise SplitError(f"more than one plugin distributes the net of artist {artist_id}: "
                             f"{', '.join(sorted({name for name, _ in payees}))}")
        payees = [s for _, s in payees]
        paid_out = sum(s.amount if isinstance(s.amount, int) else 0 for s in payees)
        if (any(not isinstance(s.amount, int) or isinstance(s.amount, bool) or s.amount < 0
                or s.payee_artist_id is None for s in payees) or paid_out > net):
            raise SplitError(f"distributed shares ({paid_out}) exceed the net ({net}), are negative or have no payee")
        shares += payees
        return {"gross": amount, "currency": currency, "shares": shares, "artist_net": net - paid_out,
                "platform_fee": sum(s.amount for s in shares if s.party == "platform")}
