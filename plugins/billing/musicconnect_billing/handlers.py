"""What each of billing's provider events does (Stripe's event shapes, which the sandbox copies).
Subscription-bearing events refetch the subscription from the provider (through the core's
registry: ``platform.payments``) under a ticket, so the outcome never depends on delivery order."""
from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy.orm import Session

from musicconnect import Problem
from musicconnect.models import User

from . import connect, revenue, state

log = logging.getLogger("musicconnect.billing")
SUBSCRIPTION_EVENTS = ("customer.subscription.created", "customer.subscription.updated",
                       "customer.subscription.deleted", "customer.subscription.paused",
                       "customer.subscription.resumed", "customer.subscription.pending_update_applied",
                       "customer.subscription.pending_update_expired", "customer.subscription.trial_will_end")


def sync_subscription(platform, session: Session, provider: str, sub_id: str) -> tuple[str, str]:
    settings = platform.plugin_settings("billing")
    payments = platform.payments
    found = payments.provider(provider)
    try:
        applied, note = state.sync(platform, session, settings, provider, sub_id, lambda: dict(
            payments.call(found, "fetch", kind="subscription", object_id=sub_id)))
    except Problem as exc:
        if exc.status != 404:
            raise
        log.warning("billing: %s subscription %s does not exist at the provider; event stored, not applied",
                    provider, sub_id)
        return "ignored", f"subscription {sub_id} does not exist at {provider}"
    if applied is None:  # our row stays, without a fan: a later event may still tie it to one
        return "ignored", note
    return "processed", note


def _remember_customer(platform, provider: str, customer: str | None, user_ref: Any) -> None:
    """Tie a checkout's customer to its fan (own short transaction: no lock held later)."""
    if not customer or not user_ref:
        return
    try:
        user_id = uuid.UUID(str(user_ref))
    except ValueError:
        return
    with platform.session() as s:
        if s.get(User, user_id) is not None:
            state.remember_customer(s, provider, user_id, customer, platform.clock.now())  # once, whoever races


def handle(platform, session: Session, provider: str, type_: str, event: dict[str, Any]) -> tuple[str, str]:
    """Apply one event; returns ``(status, note)`` with status ``processed`` or ``ignored``."""
    obj = (event.get("data") or {}).get("object") or {}
    if type_ in SUBSCRIPTION_EVENTS:
        return sync_subscription(platform, session, provider, obj["id"])
    if type_ == "checkout.session.completed":
        _remember_customer(platform, provider, obj.get("customer"), obj.get("client_reference_id"))
        if not obj.get("subscription"):
            return "ignored", "checkout without a subscription"
        sub = obj["subscription"]
        return sync_subscription(platform, session, provider, sub if isinstance(sub, str) else sub["id"])
    if type_ in ("invoice.paid", "invoice.payment_failed"):
        sub_id = revenue.invoice_subscription(obj)
        if not sub_id:
            return "ignored", "invoice without a subscription"
        status, note = sync_subscription(platform, session, provider, sub_id)
        if status == "ignored":
            return status, note
        if type_ == "invoice.paid":
            found = platform.payments.provider(provider)
            fee_of = getattr(found, "charge_fee", None)
            return "processed", revenue.record_payment(platform, session, provider, obj,
                                                       (lambda ref: fee_of(platform, ref)) if fee_of else None)
        return "processed", revenue.record_failure(platform, session, provider, obj)
    if type_ == "charge.refunded":
        note = revenue.record_refund(platform, session, provider, obj)
        return ("ignored" if "unknown" in note else "processed"), note
    if type_ == "charge.dispute.created":
        refs = [obj.get("charge") if isinstance(obj.get("charge"), str) else None, obj.get("payment_intent")]
        note = revenue.record_reversal(platform, session, provider, "dispute", refs, obj["id"],
                                       int(obj.get("amount") or 0), "payment.disputed")
        return ("ignored" if "unknown" in note else "processed"), note
    if type_ == "charge.dispute.closed":
        if obj.get("status") != "won":
            return "ignored", f"dispute {obj.get('id')} closed {obj.get('status')}: the money stays with the customer"
        note = revenue.record_dispute_won(platform, session, provider, obj)
        return ("ignored" if "never recorded" in note else "processed"), note
    if type_ == "account.updated":
        return connect.sync_account(platform, session, provider, obj["id"])
    return "ignored", f"{type_} is not handled"
