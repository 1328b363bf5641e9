"""Billing's Stripe provider: the core's ``PaymentProvider`` contract on Stripe (destination
charges on the platform account; see docs/billing.md), plus two billing-only calls: the
processing fee of a charge and closing a duplicate subscription."""
from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from typing import Any

from musicconnect import Problem
from musicconnect.contracts import ProviderEvent, SubscriptionRef
from musicconnect.models import Tier, User
from sqlalchemy import func, select

from . import catalog, connect, ledger, revenue, state
from .checks import checkout_checks
from .models import Account, Customer, Subscription

CHECKOUT_REUSE_SECONDS = 3600


def checkout_key(platform, generation: int, params: dict[str, Any]) -> str:
    """The idempotency key of a Checkout Session: the same fan asking for the same thing (tier,
    interval, price, return URLs: all in ``params``) within the same hour gets the same session back
    from Stripe, so two tabs cannot be paid twice. ``generation`` (the fan's subscriptions of the
    artist so far) changes once a checkout has become a subscription, so a later one is new."""
    window = int(platform.clock.now().timestamp()) // CHECKOUT_REUSE_SECONDS
    digest = hashlib.sha256(json.dumps([window, generation, params], sort_keys=True, default=str).encode()).hexdigest()
    return f"mc-checkout-{digest[:48]}"


def invoice_lines(invoice: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"description": line.get("description"), "amount": int(line.get("amount") or 0),
             "proration": bool(line.get("proration") or (line.get("parent") or {}).get("subscription_item_details", {})
                               .get("proration"))}
            for line in ((invoice.get("lines") or {}).get("data") or [])]


def _tiers(platform, sub: SubscriptionRef, tier_id: uuid.UUID | None) -> tuple[Tier | None, Tier]:
    with platform.read() as s:
        old = s.get(Tier, sub.tier_id)
        tier = s.get(Tier, tier_id) if tier_id else None
        for t in (old, tier):
            if t is not None:
                s.expunge(t)
    if old is None or (tier_id and (tier is None or tier.artist_id != sub.artist_id)):
        raise Problem(404, "not-found", "no such tier of this artist")
    return tier, old


def charges_separately(platform, artist_id: uuid.UUID, amount: int, currency: str) -> bool:
    """Whether the core's preview split of this artist's payment has a share paid out to another
    artist (``payee_artist_id``: a co-op's members): then the charge stays on the platform (no
    destination, no application fee) and the payee's plugin transfers each share; the seller
    needs no connected account of its own."""
    split = platform.payments.split(artist_id, amount, currency, payment=None)
    return any(share.payee_artist_id is not None for share in split["shares"])


def payout_account(platform, artist_id: uuid.UUID) -> str:
    """The artist's connected account, when it can receive transfers; else 409
    ``payout-account-missing`` (before anything moves)."""
    with platform.read() as s:
        acct = s.get(Account, artist_id)
        external, payouts = (acct.external_id, acct.payouts_enabled) if acct is not None else (None, False)
    if not external or not payouts:
        raise Problem(409, "payout-account-missing", "this artist has no payout account that can receive "
                      "transfers yet (payout onboarding unfinished)", artist_id=str(artist_id))
    return external


class StripeProvider:
    id = "stripe"
    label = "Stripe"

    def _api(self, platform):
        from .stripe_gateway import StripeGateway

        return StripeGateway(platform.plugin_settings("billing"))

    def customer(self, platform, api, user_id: uuid.UUID) -> str:
        with platform.session() as s:
            found = s.scalar(select(Customer.external_id).where(Customer.provider == self.id,
                                                                Customer.user_id == user_id))
            user = s.get(User, user_id)
            email, name = user.email, user.display_name
        if found:
            return found
        # concurrent checkouts get the same customer from Stripe (the idempotency key) and store it once
        created = api.create_customer({"email": email, "name": name, "metadata": {"user_id": str(user_id)}},
                                      idempotency_key=f"mc-customer-{user_id}")
        with platform.session() as s:
            state.remember_customer(s, self.id, user_id, created["id"], platform.clock.now())
        return created["id"]

    # ---------------------------------------------------------------- checkout and portal
    def checkout(self, platform, *, user_id, tier_id, interval, success_url, cancel_url) -> dict[str, Any]:
        api = self._api(platform)
        settings = platform.plugin_settings("billing")
        with platform.session() as s:
            tier = checkout_checks(platform, s, user_id, tier_id, interval)
            generation = s.scalar(select(func.count()).select_from(Subscription).where(
                Subscription.user_id == user_id, Subscription.artist_id == tier.artist_id))
            s.expunge(tier)
        amount = tier.price_amount if interval == "month" else tier.yearly_amount
        separate = charges_separately(platform, tier.artist_id, amount, tier.currency)  # own sessions
        if not separate:
            with platform.session() as s:
                acct = connect.payable(s, tier.artist_id)
                destination, fee = acct.external_id, revenue.fee_percent(s, settings, tier.artist_id)
        price = catalog.current_price(platform, api, tier, interval)
        customer = self.customer(platform, api, user_id)
        meta = {"user_id": str(user_id), "artist_id": str(tier.artist_id), "tier_id": str(tier.id)}
        params = {
            "mode": "subscription", "customer": customer, "client_reference_id": str(user_id),
            "line_items": [{"price": price, "quantity": 1}], "success_url": success_url, "cancel_url": cancel_url,
            "metadata": meta,
            "subscription_data": {"metadata": meta} if separate else {
                "application_fee_percent": float(fee), "transfer_data": {"destination": destination},
                "metadata": meta}}
        cs = api.create_checkout_session(params, idempotency_key=checkout_key(platform, generation, params))
        return {"provider": self.id, "id": cs["id"], "url": cs["url"], "expires_at": cs.get("expires_at")}

    def portal(self, platform, *, user_id, return_url) -> dict[str, Any]:
        with platform.session() as s:
            customer = s.scalar(select(Customer.external_id).where(Customer.provider == self.id,
                                                                   Customer.user_id == user_id))
        if customer is None:
            raise Problem(404, "no-billing-account", "you have no Stripe subscriptions yet")
        ps = self._api(platform).create_portal_session({"customer": customer, "return_url": return_url})
        return {"provider": self.id, "url": ps["url"]}

    # ---------------------------------------------------------------- subscription changes
    def _proration(self, platform, tier: Tier, old: Tier) -> str:
        upgrade = tier.rank > old.rank
        immediately = platform.plugin_settings("billing").downgrade_at == "immediately"
        return "create_prorations" if upgrade or immediately else "none"

    def change(self, platform, *, subscription: SubscriptionRef, tier_id: uuid.UUID) -> dict[str, Any]:
        tier, old = _tiers(platform, subscription, tier_id)
        api = self._api(platform)
        price = catalog.current_price(platform, api, tier, subscription.interval)
        current = api.fetch_subscription(subscription.external_id)
        item = current["items"]["data"][0]["id"]
        return api.update_subscription(subscription.external_id, {
            "items": [{"id": item, "price": price}], "proration_behavior": self._proration(platform, tier, old),
            "metadata": {"tier_id": str(tier.id)}})

    def preview_change(self, platform, *, subscription: SubscriptionRef, tier_id: uuid.UUID | None) -> dict[str, Any]:
        tier, old = _tiers(platform, subscription, tier_id)
        api = self._api(platform)
        params: dict[str, Any] = {"customer": subscription.customer_id, "subscription": subscription.external_id}
        if tier is not None and tier.id != old.id:
            price = catalog.current_price(platform, api, tier, subscription.interval)
            current = api.fetch_subscription(subscription.external_id)
            params["subscription_details"] = {
                "items": [{"id": current["items"]["data"][0]["id"], "price": price}],
                "proration_behavior": self._proration(platform, tier, old)}
        inv = api.preview_invoice(params)
        return {"currency": str(inv.get("currency") or old.currency).upper(),
                "amount_due": int(inv.get("amount_due") or 0), "lines": invoice_lines(inv),
                "next_payment_at": inv.get("next_payment_attempt") or inv.get("period_end")}

    def cancel(self, platform, *, subscription: SubscriptionRef, at_period_end: bool = True) -> dict[str, Any]:
        if not at_period_end:
            return self._api(platform).cancel_subscription_now(subscription.external_id)
        return self._api(platform).update_subscription(subscription.external_id, {"cancel_at_period_end": True})

    def resume(self, platform, *, subscription: SubscriptionRef) -> dict[str, Any]:
        return self._api(platform).update_subscription(subscription.external_id, {"cancel_at_period_end": False})

    # ---------------------------------------------------------------- webhooks and the provider's truth
    def verify_webhook(self, platform, *, headers: Mapping[str, str], body: bytes) -> ProviderEvent:
        import stripe

        settings = platform.plugin_settings("billing")
        secrets = settings.webhook_secrets()
        if not secrets:
            raise Problem(503, "webhook-secret-missing", "no Stripe webhook secret is configured")
        signature = headers.get("stripe-signature")
        if not signature:
            raise Problem(400, "invalid-signature", "the Stripe-Signature header is missing")
        for secret in secrets:
            try:
                stripe.WebhookSignature.verify_header(body.decode("utf-8", "replace"), signature, secret, 300)
                break
            except stripe.SignatureVerificationError:
                continue
        else:
            raise Problem(400, "invalid-signature", "the webhook signature does not verify with any configured secret")
        try:
            event = json.loads(body)
        except ValueError:
            event = None
        # an explicit check, not an assert: `python -O` strips asserts
        if not (isinstance(event, dict) and isinstance(event.get("id"), str) and isinstance(event.get("type"), str)):
            raise Problem(400, "invalid-payload", "the webhook body is not a Stripe event")
        obj = (event.get("data") or {}).get("object") or {}
        obj = obj if isinstance(obj, dict) else {}
        return ProviderEvent(provider=self.id, id=event["id"], type=event["type"], object_kind=obj.get("object"),
                             object_id=obj.get("id") if isinstance(obj.get("id"), str) else None,
                             created=event.get("created") if isinstance(event.get("created"), int) else None,
                             payload=event)

    def receive_event(self, platform, *, event: ProviderEvent) -> dict[str, Any]:
        """Store the event once in billing's ledger and queue its processing (which refetches the
        subscription it is about: the event is a trigger, Stripe is the truth)."""
        _, duplicate = ledger.receive(platform, self.id, dict(event.payload))
        return {"duplicate": duplicate}

    def fetch(self, platform, *, kind: str, object_id: str) -> dict[str, Any]:
        api = self._api(platform)
        if kind == "subscription":
            return api.fetch_subscription(object_id)
        if kind == "account":
            return api.fetch_account(object_id)
        if kind == "invoice":
            return api.fetch_invoice(object_id)
        if kind == "charge":
            found = api.charge(object_id)
            if found is None:
                raise Problem(404, "payment-object-not-found", f"Stripe: no charge behind {object_id}")
            return found
        raise Problem(404, "payment-object-not-found", f"Stripe: billing does not fetch {kind} objects")

    # ---------------------------------------------------------------- separate charges and transfers
    def transfer(self, platform, *, artist_id, amount: int, currency: str, source_ref: str | None,
                 idempotency_key: str, metadata: Mapping[str, str] | None = None) -> dict[str, Any]:
        """A Stripe Transfer of ``amount`` to the artist's connected account, funded by the charge
        of the paid invoice ``source_ref`` (``source_transaction``: Stripe waits for the funds) and
        grouped by it (``transfer_group``); Stripe's idempotency key is ``idempotency_key``."""
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            raise Problem(422, "validation", "a transfer needs a positive integer amount (minor units)")
        destination = payout_account(platform, artist_id)
        api = self._api(platform)
        params: dict[str, Any] = {"amount": amount, "currency": currency.lower(), "destination": destination,
                                  "metadata": {"artist_id": str(artist_id), **dict(metadata or {})}}
        if source_ref:
            params["transfer_group"] = source_ref
            invoice = api.fetch_invoice(source_ref) if source_ref.startswith("in_") else None
            charge = revenue.charge_ref_of(invoice) if invoice else source_ref
            found = api.charge(charge) if charge else None
            if found is None:
                raise Problem(409, "payment-not-settled", f"Stripe: no charge behind {source_ref} to transfer from")
            params["source_transaction"] = found["id"]
        tr = api.create_transfer(params, idempotency_key=idempotency_key)
        return {"id": tr["id"], "status": "reversed" if tr.get("reversed") else "paid",
                "amount": tr["amount"], "destination": tr["destination"]}

    def reverse_transfer(self, platform, *, transfer_id: str, amount: int, idempotency_key: str) -> dict[str, Any]:
        """A Transfer reversal of ``amount`` (never more than is left of the transfer: Stripe
        refuses, and so does billing, 409 ``transfer-over-reversed``)."""
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            raise Problem(422, "validation", "a reversal needs a positive integer amount (minor units)")
        api = self._api(platform)
        tr = api.fetch_transfer(transfer_id)
        if amount > int(tr["amount"]) - int(tr.get("amount_reversed") or 0):
            raise Problem(409, "transfer-over-reversed", "more than is left of this transfer",
                          transfer_id=transfer_id, left=int(tr["amount"]) - int(tr.get("amount_reversed") or 0))
        trr = api.create_transfer_reversal(transfer_id, {"amount": amount}, idempotency_key=idempotency_key)
        return {"id": trr["id"], "status": "reversed", "amount": trr["amount"], "transfer": transfer_id}

    # ---------------------------------------------------------------- billing's own extensions
    def charge_fee(self, platform, ref: str) -> int | None:
        return self._api(platform).charge_fee(ref)

    def close_duplicate(self, platform, external_id: str, kept: str | None) -> dict[str, Any]:
        """Cancel a duplicate subscription at once, without proration (its payments are refunded
        whole instead), then refund every invoice it paid, reversing the transfer to the artist
        and the platform's application fee. Idempotent: a rerun finds it cancelled and refunded."""
        api = self._api(platform)
        sub = api.fetch_subscription(external_id)
        if sub.get("status") != "canceled":
            api.cancel_subscription_now(external_id, {
                "prorate": False, "invoice_now": False,
                "cancellation_details": {"comment": f"duplicate of {kept}: refunded by MusicConnect"}})
        refunded, refunds = 0, []
        for inv in api.list_invoices({"subscription": external_id, "limit": 100}).get("data") or []:
            ref = revenue.charge_ref_of(inv)
            if inv.get("status") != "paid" or not int(inv.get("amount_paid") or 0) or not ref:
                continue
            charge = api.charge(ref)
            left = int(charge["amount"]) - int(charge.get("amount_refunded") or 0) if charge else 0
            if left <= 0:
                continue
            refund = api.create_refund({
                "charge": charge["id"], "amount": left, "reason": "duplicate", "reverse_transfer": True,
                "refund_application_fee": True,
                "metadata": {"subscription": external_id, "duplicate_of": kept or "", "invoice": inv["id"]}},
                idempotency_key=f"mc-duplicate-refund-{inv['id']}-{left}")
            refunded += left
            refunds.append(refund["id"])
        return {"cancelled": external_id, "refunded": refunded, "refunds": refunds}
