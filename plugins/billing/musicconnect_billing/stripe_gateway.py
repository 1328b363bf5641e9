"""Stripe through its official SDK, as plain dicts, with provider errors turned into problems."""
from __future__ import annotations

import logging
import threading
import time
from typing import Any

import stripe

from musicconnect import Problem, span

from .settings import BillingSettings

log = logging.getLogger("musicconnect.billing.stripe")
_clients: dict[tuple[str, str | None, float], stripe.StripeClient] = {}
_lock = threading.Lock()


class ProviderUnavailable(Exception):
    """The provider could not be reached or failed (5xx): retry later."""


class _KeyInUse(Exception):
    """Stripe's 409 ``idempotency_key_in_use``: the same key is in flight in another request."""


IN_USE_RETRIES = 20


def client(settings: BillingSettings) -> stripe.StripeClient:
    key = settings.stripe_secret_key.get_secret_value() if settings.stripe_secret_key else ""
    if not key:
        raise Problem(503, "payment-provider-not-configured", "Stripe is not configured on this platform")
    ident = (key, settings.stripe_api_base, settings.stripe_timeout_seconds)
    with _lock:
        found = _clients.get(ident)
        if found is None:
            http = stripe.HTTPXClient(timeout=settings.stripe_timeout_seconds, allow_sync_methods=True) if hasattr(stripe, "HTTPXClient") else None
            kwargs: dict[str, Any] = {"max_network_retries": 0 if settings.stripe_api_base else 2}
            if settings.stripe_api_base:
                kwargs["base_addresses"] = {"api": settings.stripe_api_base}
            if http is not None:
                kwargs["http_client"] = http
            found = _clients[ident] = stripe.StripeClient(key, **kwargs)
        return found


def _operation(fn) -> str:
    """``customers.create`` of a bound StripeClient method (the span's name)."""
    owner = type(getattr(fn, "__self__", None)).__name__.removesuffix("Service")
    return f"{owner[:1].lower() + owner[1:]}.{getattr(fn, '__name__', 'call')}" if owner else "call"


def plain(obj: Any) -> dict[str, Any]:
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


class StripeGateway:
    """The calls the billing plugin makes to Stripe; every result is a plain dict."""

    provider = "stripe"

    def __init__(self, settings: BillingSettings):
        self.settings = settings
        self.c = client(settings)

    def _call(self, fn, *args, **kwargs) -> dict[str, Any]:
        for attempt in range(IN_USE_RETRIES + 1):
            try:
                return self._call_once(fn, *args, **kwargs)
            except _KeyInUse:
                # another request with the same idempotency key is still running at Stripe (two tabs,
                # two workers): its answer is ours once it is done
                time.sleep(0.1 * (attempt + 1))
        raise ProviderUnavailable("Stripe: a request with the same idempotency key is still in progress")

    def _call_once(self, fn, *args, **kwargs) -> dict[str, Any]:
        with span(f"stripe {_operation(fn)}", kind="client", **{"server.address": "stripe",
                                                                 "rpc.system": "stripe"}):
            return self._call_stripe(fn, *args, **kwargs)

    def _call_stripe(self, fn, *args, **kwargs) -> dict[str, Any]:
        try:
            return plain(fn(*args, **kwargs))
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                raise Problem(404, "payment-object-not-found", f"Stripe: {exc.user_message or exc}") from None
            raise Problem(502, "payment-provider-rejected", f"Stripe refused the request: {exc.user_message or exc}") from None
        except stripe.CardError as exc:
            raise Problem(402, "card-declined", exc.user_message or "the card was declined") from None
        except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
            raise ProviderUnavailable(f"Stripe unreachable: {exc}") from None
        except stripe.StripeError as exc:
            if exc.http_status == 409 and ((exc.json_body or {}).get("error") or {}).get("code") == "idempotency_key_in_use":
                raise _KeyInUse() from None
            if (exc.http_status or 500) >= 500:
                raise ProviderUnavailable(f"Stripe failed: {exc}") from None
            raise Problem(502, "payment-provider-rejected", f"Stripe refused the request: {exc}") from None

    @staticmethod
    def _opts(idempotency_key: str | None) -> dict[str, Any] | None:
        return {"idempotency_key": idempotency_key} if idempotency_key else None

    # catalog
    def create_product(self, params: dict, idempotency_key: str) -> dict:
        return self._call(self.c.v1.products.create, params=params, options=self._opts(idempotency_key))

    def update_product(self, product_id: str, params: dict) -> dict:
        return self._call(self.c.v1.products.update, product_id, params=params)

    def create_price(self, params: dict, idempotency_key: str) -> dict:
        return self._call(self.c.v1.prices.create, params=params, options=self._opts(idempotency_key))

    def archive_price(self, price_id: str) -> dict:
        return self._call(self.c.v1.prices.update, price_id, params={"active": False})

    # customers and sessions
    def create_customer(self, params: dict, idempotency_key: str) -> dict:
        return self._call(self.c.v1.customers.create, params=params, options=self._opts(idempotency_key))

    def create_checkout_session(self, params: dict, idempotency_key: str | None = None) -> dict:
        return self._call(self.c.v1.checkout.sessions.create, params=params, options=self._opts(idempotency_key))

    def create_portal_session(self, params: dict) -> dict:
        return self._call(self.c.v1.billing_portal.sessions.create, params=params)

    # subscriptions
    def fetch_subscription(self, sub_id: str) -> dict:
        return self._call(self.c.v1.subscriptions.retrieve, sub_id)

    def update_subscription(self, sub_id: str, params: dict) -> dict:
        return self._call(self.c.v1.subscriptions.update, sub_id, params=params)

    def cancel_subscription_now(self, sub_id: str, params: dict | None = None) -> dict:
        return self._call(self.c.v1.subscriptions.cancel, sub_id, params=params or {})

    def fetch_invoice(self, invoice_id: str) -> dict:
        return self._call(self.c.v1.invoices.retrieve, invoice_id)

    def list_invoices(self, params: dict) -> dict:
        return self._call(self.c.v1.invoices.list, params=params)

    def create_refund(self, params: dict, idempotency_key: str) -> dict:
        return self._call(self.c.v1.refunds.create, params=params, options=self._opts(idempotency_key))

    def preview_invoice(self, params: dict) -> dict:
        return self._call(self.c.v1.invoices.create_preview, params=params)

    # Connect
    def create_account(self, params: dict, idempotency_key: str) -> dict:
        return self._call(self.c.v1.accounts.create, params=params, options=self._opts(idempotency_key))

    def fetch_account(self, account_id: str) -> dict:
        return self._call(self.c.v1.accounts.retrieve, account_id)

    def create_account_link(self, params: dict) -> dict:
        return self._call(self.c.v1.account_links.create, params=params)

    # separate charges and transfers
    def create_transfer(self, params: dict, idempotency_key: str) -> dict:
        return self._call(self.c.v1.transfers.create, params=params, options=self._opts(idempotency_key))

    def fetch_transfer(self, transfer_id: str) -> dict:
        return self._call(self.c.v1.transfers.retrieve, transfer_id)

    def list_transfers(self, params: dict) -> dict:
        return self._call(self.c.v1.transfers.list, params=params)

    def create_transfer_reversal(self, transfer_id: str, params: dict, idempotency_key: str) -> dict:
        return self._call(self.c.v1.transfers.reversals.create, transfer_id, params=params,
                          options=self._opts(idempotency_key))

    def charge(self, charge_or_intent: str) -> dict | None:
        """The charge behind a charge or PaymentIntent id (None when the intent has none yet)."""
        if charge_or_intent.startswith("pi_"):
            pi = self._call(self.c.v1.payment_intents.retrieve, charge_or_intent)
            charge = pi.get("latest_charge")
            charge = charge.get("id") if isinstance(charge, dict) else charge
            if not charge:
                return None
        else:
            charge = charge_or_intent
        return self._call(self.c.v1.charges.retrieve, charge)

    def charge_fee(self, charge_or_intent: str) -> int | None:
        """Stripe's processing fee of a charge (from its balance transaction), when known."""
        charge = self.charge(charge_or_intent)
        if charge is None:
            return None
        txn = charge.get("balance_transaction")
        if isinstance(txn, str):
            txn = self._call(self.c.v1.balance_transactions.retrieve, txn)
        return int(txn["fee"]) if isinstance(txn, dict) and txn.get("fee") is not None else None

    def ping(self) -> dict:
        return self._call(self.c.v1.balance.retrieve)
