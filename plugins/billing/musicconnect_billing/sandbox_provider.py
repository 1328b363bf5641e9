"""Billing's offline sandbox as a ``PaymentProvider``: Stripe-shaped objects kept in the database
(``sandbox.py``), hosted pages of its own (``sandbox_api.py``). It reports its events straight
into billing's ledger, so it takes no webhooks."""
from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

from musicconnect import Problem
from musicconnect.contracts import ProviderEvent, SubscriptionRef
from musicconnect.models import Tier

from . import sandbox, state
from .checks import checkout_checks
from .sandbox_links import portal_token

KINDS = ("subscription", "invoice", "checkout", "transfer", "transfer_reversal")


class SandboxProvider:
    id = sandbox.PROVIDER
    label = "Sandbox (test mode: no real money)"

    def checkout(self, platform, *, user_id, tier_id, interval, success_url, cancel_url) -> dict[str, Any]:
        with platform.session() as s:
            tier = checkout_checks(platform, s, user_id, tier_id, interval)
            state.remember_customer(s, self.id, user_id, sandbox.customer_of(user_id), platform.clock.now())
            cs = sandbox.create_checkout(platform, s, user_id=user_id, tier=tier, interval=interval,
                                         success_url=success_url, cancel_url=cancel_url)
        return {"provider": self.id, "id": cs["id"], "url": cs["url"], "expires_at": cs["expires_at"]}

    def portal(self, platform, *, user_id, return_url) -> dict[str, Any]:
        base = platform.settings.base_url.rstrip("/")
        token = portal_token(platform, user_id)
        return {"provider": self.id,
                "url": f"{base}/api/v1/billing/sandbox/portal/{token}?return_url={quote(return_url, safe='')}"}

    @staticmethod
    def _prorate(platform, tier: Tier | None, old: Tier) -> bool:
        immediately = platform.plugin_settings("billing").downgrade_at == "immediately"
        return tier is not None and (tier.rank > old.rank or immediately)

    def change(self, platform, *, subscription: SubscriptionRef, tier_id: uuid.UUID) -> dict[str, Any]:
        with platform.session() as s:
            tier, old = s.get(Tier, tier_id), s.get(Tier, subscription.tier_id)
            if tier is None or old is None or tier.artist_id != subscription.artist_id:
                raise Problem(404, "not-found", "no such tier of this artist")
            return sandbox.change(platform, s, subscription.external_id, tier, old, self._prorate(platform, tier, old))

    def preview_change(self, platform, *, subscription: SubscriptionRef, tier_id: uuid.UUID | None) -> dict[str, Any]:
        with platform.session() as s:
            old = s.get(Tier, subscription.tier_id)
            tier = s.get(Tier, tier_id) if tier_id else None
            if old is None or (tier_id and (tier is None or tier.artist_id != subscription.artist_id)):
                raise Problem(404, "not-found", "no such tier of this artist")
            return sandbox.preview(platform, s, subscription.external_id, tier, old, self._prorate(platform, tier, old))

    def cancel(self, platform, *, subscription: SubscriptionRef, at_period_end: bool = True) -> dict[str, Any]:
        if not at_period_end:
            raise Problem(501, "payment-provider-unsupported", "the sandbox cancels at the end of the period only",
                          provider=self.id, capability="cancel")
        with platform.session() as s:
            return sandbox.set_cancel(platform, s, subscription.external_id, True)

    def resume(self, platform, *, subscription: SubscriptionRef) -> dict[str, Any]:
        with platform.session() as s:
            return sandbox.set_cancel(platform, s, subscription.external_id, False)

    def verify_webhook(self, platform, *, headers, body) -> ProviderEvent:
        raise Problem(404, "not-found", "the sandbox reports its events directly; it takes no webhooks")

    def receive_event(self, platform, *, event: ProviderEvent) -> dict[str, Any]:
        raise Problem(404, "not-found", "the sandbox reports its events directly; it takes no webhooks")

    def fetch(self, platform, *, kind: str, object_id: str) -> dict[str, Any]:
        """The sandbox's "remote" copy, read in the unit of work's open session when there is one
        (a job processing an event reads what its own transaction sees)."""
        if kind not in KINDS:
            raise Problem(404, "payment-object-not-found", f"the sandbox has no {kind} objects")
        with platform.read() as s:
            return sandbox.get(s, object_id, kind)

    # ---------------------------------------------------------------- separate charges and transfers
    def transfer(self, platform, *, artist_id, amount: int, currency: str, source_ref: str | None,
                 idempotency_key: str, metadata=None) -> dict[str, Any]:
        """A simulated transfer to the artist's payout account, from the paid invoice
        ``source_ref`` (never more than it paid, in total); idempotent by ``idempotency_key``."""
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            raise Problem(422, "validation", "a transfer needs a positive integer amount (minor units)")
        with platform.session() as s:
            tr = sandbox.create_transfer(platform, s, artist_id=uuid.UUID(str(artist_id)), amount=amount,
                                         currency=currency, source_ref=source_ref, idempotency_key=idempotency_key,
                                         metadata={k: str(v) for k, v in dict(metadata or {}).items()})
        return {"id": tr["id"], "status": "reversed" if tr["reversed"] else "paid", "amount": tr["amount"],
                "destination": tr["destination"]}

    def reverse_transfer(self, platform, *, transfer_id: str, amount: int, idempotency_key: str) -> dict[str, Any]:
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            raise Problem(422, "validation", "a reversal needs a positive integer amount (minor units)")
        with platform.session() as s:
            trr = sandbox.reverse_transfer(platform, s, transfer_id=transfer_id, amount=amount,
                                           idempotency_key=idempotency_key)
        return {"id": trr["id"], "status": "reversed", "amount": trr["amount"], "transfer": transfer_id}

    # ---------------------------------------------------------------- billing's own extensions
    def charge_fee(self, platform, ref: str) -> int | None:
        return None  # no money moves, no processing fee

    def close_duplicate(self, platform, external_id: str, kept: str | None) -> dict[str, Any]:
        """The sandbox refuses a duplicate when it is paid, so this only meets subscriptions found
        to be duplicates by the upgrade: ended at once and their payments refunded (no money moves)."""
        with platform.session() as s:
            return sandbox.close_duplicate(platform, s, external_id)
