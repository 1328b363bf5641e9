"""A third-party payment provider, written the way an outsider would: only the core's public API
(``musicconnect``, ``.contracts``, ``.models``), no billing import, no change to billing.

"Invoice" sells a tier by a hosted invoice page (a fake remote service, :class:`InvoiceService`,
stands in for the provider's servers). When the invoice is paid the service posts a webhook
signed with HMAC-SHA256 (``X-Invoice-Signature: t=<unix time>,v1=<hex>`` over ``"<t>.<body>"``).
The provider verifies it, refetches the invoice from the service (the body is trusted for its ids
only), grants the entitlement and records the payment: the core splits it by every plugin's
``revenue_shares`` (the platform fee) and publishes ``payment.succeeded`` once per invoice.

``make_plugin(secret)`` returns ``(plugin, service)``; pass ``("invoice", plugin)`` to
``mc_make_platform(extra_plugins=...)``.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
from datetime import timedelta
from typing import Any

from musicconnect import Problem, hookimpl
from musicconnect.contracts import ProviderEvent
from musicconnect.models import Tier

TOLERANCE_SECONDS = 300
PERIOD = timedelta(days=30)


def signature(secret: str, body: bytes, at: int | None = None) -> str:
    at = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={mac}"


class InvoiceService:
    """The provider's remote service (in memory): invoices, and signed webhooks about them."""

    def __init__(self, secret: str):
        self.secret = secret
        self.invoices: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def create(self, *, user_id, artist_id, tier_id, amount: int, currency: str) -> dict[str, Any]:
        inv_id = f"inv_{secrets.token_hex(8)}"
        invoice = {"id": inv_id, "status": "open", "amount": amount, "currency": currency,
                   "url": f"https://invoices.example/pay/{inv_id}", "paid_at": None,
                   "metadata": {"user_id": str(user_id), "artist_id": str(artist_id), "tier_id": str(tier_id)}}
        with self._lock:
            self.invoices[inv_id] = invoice
        return dict(invoice)

    def get(self, inv_id: str) -> dict[str, Any] | None:
        with self._lock:
            found = self.invoices.get(inv_id)
            return dict(found) if found else None

    def pay(self, inv_id: str, paid_at: int) -> tuple[bytes, dict[str, str]]:
        """The fan pays on the hosted page: the invoice is paid and a webhook is signed."""
        with self._lock:
            self.invoices[inv_id].update(status="paid", paid_at=paid_at)
        return self.webhook({"id": f"evt_{secrets.token_hex(8)}", "type": "invoice.paid", "invoice": inv_id,
                             # a copy of the amount, as many providers send: never trusted (refetched)
                             "amount": self.invoices[inv_id]["amount"]})

    def webhook(self, event: dict[str, Any], secret: str | None = None) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(event).encode()
        return body, {"X-Invoice-Signature": signature(secret or self.secret, body),
                      "Content-Type": "application/json"}


class InvoiceProvider:
    """The ``PaymentProvider`` contract: checkout, webhook verification, receiving an event,
    fetching an object. No portal and no subscription changes: the core answers 501 for those."""

    id = "invoice"
    label = "Invoice (pay by bank transfer)"

    def __init__(self, service: InvoiceService):
        self.service = service

    def checkout(self, platform, *, user_id, tier_id, interval, success_url, cancel_url):
        if interval != "month":
            raise Problem(422, "validation", "invoices are monthly")
        with platform.read() as s:
            tier = s.get(Tier, tier_id)
            if tier is None or tier.price_amount <= 0:
                raise Problem(404, "not-found", "no such paid tier")
            artist_id, amount, currency = tier.artist_id, tier.price_amount, tier.currency
        invoice = self.service.create(user_id=user_id, artist_id=artist_id, tier_id=tier_id, amount=amount,
                                      currency=currency)
        return {"id": invoice["id"], "url": invoice["url"], "expires_at": None}

    def verify_webhook(self, platform, *, headers, body) -> ProviderEvent:
        try:
            parts = dict(p.split("=", 1) for p in headers.get("x-invoice-signature", "").split(","))
            at, given = int(parts["t"]), parts["v1"]
        except (KeyError, ValueError):
            raise Problem(400, "invalid-signature", "the X-Invoice-Signature header is missing or malformed") from None
        good = signature(self.service.secret, body, at).split("v1=")[1]
        if not hmac.compare_digest(good.encode(), given.encode()) or abs(time.time() - at) > TOLERANCE_SECONDS:
            raise Problem(400, "invalid-signature", "the invoice webhook signature does not verify")
        try:
            event = json.loads(body)
            assert isinstance(event, dict) and isinstance(event.get("id"), str) and isinstance(event.get("invoice"), str)
        except (ValueError, AssertionError):
            raise Problem(400, "invalid-payload", "the webhook body is not an invoice event") from None
        return ProviderEvent(provider=self.id, id=event["id"], type=str(event.get("type")), object_kind="invoice",
                             object_id=event["invoice"], created=at, payload=event)

    def fetch(self, platform, *, kind, object_id):
        found = self.service.get(object_id) if kind == "invoice" else None
        if found is None:
            raise Problem(404, "payment-object-not-found", f"no {kind} {object_id}")
        return found

    def receive_event(self, platform, *, event: ProviderEvent):
        if event.type != "invoice.paid":
            return {"ignored": event.type}
        invoice = self.fetch(platform, kind="invoice", object_id=event.object_id)  # the truth, not the body
        if invoice["status"] != "paid":
            return {"ignored": "the invoice is not paid"}
        meta = invoice["metadata"]
        user_id, artist_id, tier_id = (uuid.UUID(meta[k]) for k in ("user_id", "artist_id", "tier_id"))
        with platform.session() as s:
            ent = platform.entitlements.grant(s, user_id=user_id, artist_id=artist_id, tier_id=tier_id,
                                              source=self.id, source_ref=invoice["id"])
            if ent.expires_at is None:
                platform.entitlements.update(s, ent, expires_at=ent.starts_at + PERIOD)
            split = platform.payments.record_payment(
                s, provider=self.id, external_id=invoice["id"], user_id=user_id, artist_id=artist_id,
                tier_id=tier_id, amount=invoice["amount"], currency=invoice["currency"])
        return {"duplicate": split is None}


def make_plugin(secret: str = "inv_whsec_test") -> tuple[type, InvoiceService]:
    service = InvoiceService(secret)
    provider = InvoiceProvider(service)

    class plugin:
        @staticmethod
        @hookimpl
        def register_payment_providers(platform):
            return [provider]

    return plugin, service
