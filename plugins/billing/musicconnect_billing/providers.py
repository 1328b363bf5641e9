"""The two payment providers billing registers: Stripe, and the offline sandbox.

Both implement the core's ``PaymentProvider`` (checkout, portal, webhook) plus what the billing
routes need for a subscription (change tier with its invoice preview, cancel, resume)."""
from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any, Mapping

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from musicconnect import Problem
from musicconnect.models import Entitlement, Tier, User

from . import catalog, connect, ledger, revenue, sandbox, state
from .models import Customer, Subscription


# ------------------------------------------------------------------ shared rules
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


def _lines(invoice: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"description": line.get("description"), "amount": int(line.get("amount") or 0),
             "proration": bool(line.get("proration") or (line.get("parent") or {}).get("subscription_item_details", {})
                               .get("proration"))}
            for line in ((invoice.get("lines") or {}).get("data") or [])]


# ------------------------------------------------------------------ Stripe
CHECKOUT_REUSE_SECONDS = 3600


def checkout_key(platform, generation: int, params: dict[str, Any]) -> str:
    """The idempotency key of a Checkout Session: the same fan asking for the same thing (tier,
    interval, price, return URLs: all in ``params``) within the same hour gets the same session back
    from Stripe, so two tabs cannot be paid twice. ``generation`` (the fan's subscriptions of the
    artist so far) changes once a checkout has become a subscription, so a later one is new."""
    window = int(platform.clock.now().timestamp()) // CHECKOUT_REUSE_SECONDS
    digest = hashlib.sha256(json.dumps([window, generation, params], sort_keys=True, default=str).encode()).hexdigest()
    return f"mc-checkout-{digest[:48]}"


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

    def checkout(self, platform, *, user_id, tier_id, interval, success_url, cancel_url) -> dict[str, Any]:
        api = self._api(platform)
        settings = platform.plugin_settings("billing")
        with platform.session() as s:
            tier = checkout_checks(platform, s, user_id, tier_id, interval)
            acct = connect.payable(s, tier.artist_id)
            destination, fee = acct.external_id, revenue.fee_percent(s, settings, tier.artist_id)
            generation = s.scalar(select(func.count()).select_from(Subscription).where(
                Subscription.user_id == user_id, Subscription.artist_id == tier.artist_id))
            s.expunge(tier)
        price = catalog.current_price(platform, api, tier, interval)
        customer = self.customer(platform, api, user_id)
        meta = {"user_id": str(user_id), "artist_id": str(tier.artist_id), "tier_id": str(tier.id)}
        params = {
            "mode": "subscription", "customer": customer, "client_reference_id": str(user_id),
            "line_items": [{"price": price, "quantity": 1}], "success_url": success_url, "cancel_url": cancel_url,
            "metadata": meta,
            "subscription_data": {"application_fee_percent": float(fee), "transfer_data": {"destination": destination},
                                  "metadata": meta}}
        cs = api.create_checkout_session(params, idempotency_key=checkout_key(platform, generation, params))
        return {"provider": self.id, "id": cs["id"], "url": cs["url"], "expires_at": cs.get("expires_at")}

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

    def portal(self, platform, *, user_id, return_url) -> dict[str, Any]:
        with platform.session() as s:
            customer = s.scalar(select(Customer.external_id).where(Customer.provider == self.id,
                                                                   Customer.user_id == user_id))
        if customer is None:
            raise Problem(404, "no-billing-account", "you have no Stripe subscriptions yet")
        ps = self._api(platform).create_portal_session({"customer": customer, "return_url": return_url})
        return {"provider": self.id, "url": ps["url"]}

    def handle_webhook(self, platform, *, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
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
            assert isinstance(event, dict) and isinstance(event.get("id"), str) and isinstance(event.get("type"), str)
        except (ValueError, AssertionError):
            raise Problem(400, "invalid-payload", "the webhook body is not a Stripe event") from None
        ledger_id, duplicate = ledger.receive(platform, self.id, event)
        return {"received": True, "duplicate": duplicate, "id": event["id"]}

    # subscription management
    def change(self, platform, sub: Subscription, tier: Tier, old: Tier) -> dict[str, Any]:
        settings = platform.plugin_settings("billing")
        api = self._api(platform)
        price = catalog.current_price(platform, api, tier, sub.interval)
        current = api.fetch_subscription(sub.external_id)
        item = current["items"]["data"][0]["id"]
        upgrade = tier.rank > old.rank
        behavior = "create_prorations" if upgrade or settings.downgrade_at == "immediately" else "none"
        return api.update_subscription(sub.external_id, {"items": [{"id": item, "price": price}],
                                                         "proration_behavior": behavior,
                                                         "metadata": {"tier_id": str(tier.id)}})

    def preview(self, platform, sub: Subscription, tier: Tier | None, old: Tier) -> dict[str, Any]:
        settings = platform.plugin_settings("billing")
        api = self._api(platform)
        params: dict[str, Any] = {"customer": sub.customer_id, "subscription": sub.external_id}
        if tier is not None and tier.id != old.id:
            price = catalog.current_price(platform, api, tier, sub.interval)
            current = api.fetch_subscription(sub.external_id)
            upgrade = tier.rank > old.rank
            params["subscription_details"] = {
                "items": [{"id": current["items"]["data"][0]["id"], "price": price}],
                "proration_behavior": "create_prorations" if upgrade or settings.downgrade_at == "immediately" else "none"}
        inv = api.preview_invoice(params)
        return {"currency": str(inv.get("currency") or sub.currency).upper(), "amount_due": int(inv.get("amount_due") or 0),
                "lines": _lines(inv), "next_payment_at": inv.get("next_payment_attempt") or inv.get("period_end")}

    def set_cancel(self, platform, sub: Subscription, at_period_end: bool) -> dict[str, Any]:
        return self._api(platform).update_subscription(sub.external_id, {"cancel_at_period_end": at_period_end})

    def fetch(self, platform, sub: Subscription) -> dict[str, Any]:
        return self._api(platform).fetch_subscription(sub.external_id)


# ------------------------------------------------------------------ Sandbox
class SandboxProvider:
    id = "sandbox"
    label = "Sandbox (test mode: no real money)"

    def checkout(self, platform, *, user_id, tier_id, interval, success_url, cancel_url) -> dict[str, Any]:
        with platform.session() as s:
            tier = checkout_checks(platform, s, user_id, tier_id, interval)
            state.remember_customer(s, self.id, user_id, sandbox.customer_of(user_id), platform.clock.now())
            cs = sandbox.create_checkout(platform, s, user_id=user_id, tier=tier, interval=interval,
                                         success_url=success_url, cancel_url=cancel_url)
        return {"provider": self.id, "id": cs["id"], "url": cs["url"], "expires_at": cs["expires_at"]}

    def portal(self, platform, *, user_id, return_url) -> dict[str, Any]:
        from urllib.parse import quote

        from .sandbox_api import portal_token

        base = platform.settings.base_url.rstrip("/")
        token = portal_token(platform, user_id)
        return {"provider": self.id,
                "url": f"{base}/api/v1/billing/sandbox/portal/{token}?return_url={quote(return_url, safe='')}"}

    def handle_webhook(self, platform, *, headers, body) -> dict[str, Any]:
        raise Problem(404, "not-found", "the sandbox reports its events directly; it takes no webhooks")

    def change(self, platform, sub: Subscription, tier: Tier, old: Tier) -> dict[str, Any]:
        settings = platform.plugin_settings("billing")
        prorate = tier.rank > old.rank or settings.downgrade_at == "immediately"
        with platform.session() as s:
            return sandbox.change(platform, s, sub.external_id, tier, old, prorate)

    def preview(self, platform, sub: Subscription, tier: Tier | None, old: Tier) -> dict[str, Any]:
        settings = platform.plugin_settings("billing")
        prorate = tier is not None and (tier.rank > old.rank or settings.downgrade_at == "immediately")
        with platform.session() as s:
            return sandbox.preview(platform, s, sub.external_id, tier, old, prorate)

    def set_cancel(self, platform, sub: Subscription, at_period_end: bool) -> dict[str, Any]:
        with platform.session() as s:
            return sandbox.set_cancel(platform, s, sub.external_id, at_period_end)

    def fetch(self, platform, sub: Subscription) -> dict[str, Any]:
        with platform.session() as s:
            return sandbox.get(s, sub.external_id, "subscription")

    def close_duplicate(self, platform, external_id: str, kept: str | None) -> dict[str, Any]:
        """The sandbox refuses a duplicate when it is paid, so this only meets subscriptions found
        to be duplicates by the upgrade: ended at once and their payments refunded (no money moves)."""
        with platform.session() as s:
            return sandbox.close_duplicate(platform, s, external_id)


STRIPE, SANDBOX = StripeProvider(), SandboxProvider()


def sandbox_on(platform, settings=None) -> bool:
    """The sandbox gives paid tiers away for nothing, so it runs only when asked for: the billing
    setting ``sandbox = true`` (``MC_BILLING_SANDBOX=true``, which ``serve --demo`` sets), and
    never in production. A platform without a Stripe key and without it takes no payments."""
    settings = settings or platform.plugin_settings("billing")
    return bool(settings.sandbox) and not platform.settings.is_production


def enabled(platform) -> list:
    settings = platform.plugin_settings("billing")
    out = []
    if settings.stripe_enabled:
        out.append(STRIPE)
    if sandbox_on(platform, settings):
        out.append(SANDBOX)
    return out


def by_id(provider: str):
    return {"stripe": STRIPE, "sandbox": SANDBOX}[provider]


def apply_now(platform, provider: str, sub_obj: dict[str, Any]) -> None:
    """After a change we asked the provider for, apply its current state at once (the fan sees
    the change now); the webhook that follows finds nothing left to do. The state is refetched
    after a ticket is claimed rather than taken from the change's answer: a worker may claim a
    later ticket while the change is in flight and fetch the state from before it, and only a
    fetch that starts after our claim is sure to be at least as new as every later-ticketed one."""
    settings = platform.plugin_settings("billing")
    external_id = sub_obj["id"]

    def fetch() -> dict[str, Any]:
        if provider == "stripe":
            return STRIPE._api(platform).fetch_subscription(external_id)
        with platform.session() as s:
            return sandbox.get(s, external_id, "subscription")

    with platform.session() as s:
        state.sync(platform, s, settings, provider, external_id, fetch)


def entitlement_of(session: Session, sub: Subscription) -> Entitlement | None:
    return session.scalar(select(Entitlement).where(Entitlement.source == sub.provider,
                                                    Entitlement.source_ref == sub.external_id))
