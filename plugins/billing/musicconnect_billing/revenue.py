"""The revenue ledger (payments, refunds, disputes) and the metrics computed from it."""
from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from musicconnect.contracts import PaymentEvent
from musicconnect.models import DomainEvent

from .models import Account, Revenue, Subscription
from .state import LIVE_STATUSES, insert_ignore, ts


def fee_percent(session: Session, settings, artist_id: uuid.UUID) -> Decimal:
    override = session.scalar(select(Account.fee_percent).where(Account.artist_id == artist_id))
    return Decimal(str(override)) if override is not None else Decimal(settings.platform_fee_percent)


def fee_of(amount: int, percent: Decimal) -> int:
    return int((Decimal(amount) * percent / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def invoice_subscription(invoice: dict[str, Any]) -> str | None:
    sub = invoice.get("subscription")
    if isinstance(sub, dict):
        sub = sub.get("id")
    if sub:
        return sub
    parent = invoice.get("parent") or {}
    return ((parent.get("subscription_details") or {}).get("subscription")) or None


def charge_ref_of(invoice: dict[str, Any]) -> str | None:
    for key in ("charge", "payment_intent"):
        value = invoice.get(key)
        if isinstance(value, dict):
            value = value.get("id")
        if value:
            return value
    return None


def invoice_period(invoice: dict[str, Any]):
    """The period an invoice pays for: its subscription line's ``period`` (Stripe puts the
    service period there; the invoice's own ``period_start``/``period_end`` are the previous
    period for a renewal), else the invoice's fields. ``(start, end)`` as datetimes or None."""
    for line in ((invoice.get("lines") or {}).get("data") or []):
        period = line.get("period") or {}
        if period.get("start") and period.get("end") and not line.get("proration"):
            return ts(period["start"]), ts(period["end"])
    return ts(invoice.get("period_start")), ts(invoice.get("period_end"))


def record_payment(platform, session: Session, provider: str, invoice: dict[str, Any],
                   fee_of_charge=None) -> str:
    """One row per paid invoice (idempotent by invoice id) and a ``payment.succeeded`` event.
    ``fee_of_charge(ref)`` looks up the provider's processing fee, when it can."""
    amount = int(invoice.get("amount_paid") or 0)
    if amount <= 0:
        return "nothing paid"
    exists = session.scalar(select(Revenue.id).where(Revenue.provider == provider, Revenue.kind == "payment",
                                                     Revenue.external_id == invoice["id"]))
    if exists is not None:
        return "payment already recorded"
    sub_id = invoice_subscription(invoice)
    row = session.scalar(select(Subscription).where(Subscription.provider == provider,
                                                    Subscription.external_id == sub_id)) if sub_id else None
    if row is None or row.artist_id is None:
        return f"payment for unknown subscription {sub_id}"
    currency = str(invoice.get("currency") or row.currency).upper()
    at = ts((invoice.get("status_transitions") or {}).get("paid_at")) or platform.clock.now()
    charge_ref = charge_ref_of(invoice)
    provider_fee = fee_of_charge(charge_ref) if fee_of_charge and charge_ref else None
    # the core splits it (every plugin's revenue_shares) and publishes payment.succeeded once; the
    # provider's fee goes with it, so that dashboards can show what the artist really keeps
    period_start, period_end = invoice_period(invoice)
    split = platform.payments.record_payment(
        session, provider=provider, external_id=invoice["id"], user_id=row.user_id, artist_id=row.artist_id,
        tier_id=row.tier_id, amount=amount, currency=currency, occurred_at=at,
        period_start=period_start, period_end=period_end,
        data={"subscription": sub_id, **({"charge": charge_ref} if charge_ref else {}),
              **({"provider_fee": provider_fee} if provider_fee is not None else {})})
    if split is None:
        return "payment already recorded"
    session.add(Revenue(id=uuid.uuid4(), provider=provider, kind="payment", external_id=invoice["id"],
                        charge_ref=charge_ref, subscription_id=sub_id, artist_id=row.artist_id,
                        user_id=row.user_id, tier_id=row.tier_id, gross=amount, currency=currency,
                        provider_fee=provider_fee, platform_fee=split["platform_fee"],
                        artist_net=split["artist_net"], occurred_at=at))
    session.flush()
    return "payment recorded"


def record_foreign_payment(platform, event: PaymentEvent) -> str:
    """Another plugin's provider was paid (``payment.succeeded`` from ``platform.payments.record_payment``,
    which carries the core's split): the artist's revenue ledger and metrics show it too. Once per
    payment, whoever races (the ledger's unique key). ``platform_fee`` and ``artist_net`` mean what
    they mean in the core's event (the ``platform`` shares; what the artist keeps after every
    share), as for billing's own payments: a payee's slice (a co-op member's) is in neither."""
    data = dict(event.data)
    if event.artist_id is None or not event.external_id or "artist_net" not in data or event.amount is None:
        return "not a recorded payment"
    with platform.session() as s:
        inserted = insert_ignore(
            s, Revenue, id=uuid.uuid4(), provider=event.provider, kind="payment", external_id=event.external_id,
            charge_ref=None, subscription_id=data.get("subscription"), artist_id=event.artist_id,
            user_id=event.user_id, tier_id=event.tier_id, gross=int(event.amount),
            currency=str(event.currency or "USD").upper(), provider_fee=data.get("provider_fee"),
            platform_fee=int(data.get("platform_fee", int(event.amount) - int(data["artist_net"]))),
            artist_net=int(data["artist_net"]),
            occurred_at=event.occurred_at or platform.clock.now())
    return "payment recorded" if inserted else "payment already recorded"


def record_failure(platform, session: Session, provider: str, invoice: dict[str, Any]) -> str:
    sub_id = invoice_subscription(invoice)
    row = session.scalar(select(Subscription).where(Subscription.provider == provider,
                                                    Subscription.external_id == sub_id)) if sub_id else None
    if row is None or row.artist_id is None:
        return f"failed payment for unknown subscription {sub_id}"
    ref = f"{invoice['id']}:{invoice.get('attempt_count') or 1}"
    seen = session.scalar(select(DomainEvent.id).where(DomainEvent.type == "payment.failed",
                                                       DomainEvent.subject_id == ref))
    if seen is None:
        platform.payments.publish(session, PaymentEvent(
            type="payment.failed", provider=provider, user_id=row.user_id, artist_id=row.artist_id,
            tier_id=row.tier_id, amount=int(invoice.get("amount_due") or 0),
            currency=str(invoice.get("currency") or row.currency).upper(), external_id=ref,
            occurred_at=platform.clock.now(), data={"subscription": sub_id, "invoice": invoice["id"]}))
    return "payment failure recorded"


def _payment_for(session: Session, provider: str, refs: list[str]) -> Revenue | None:
    refs = [r for r in refs if r]
    if not refs:
        return None
    return session.scalar(select(Revenue).where(Revenue.provider == provider, Revenue.kind == "payment",
                                                Revenue.charge_ref.in_(refs)))


def original_shares(session: Session, provider: str, payment_id: str) -> list[dict[str, Any]]:
    """The shares (with payees) the core recorded with a payment's ``payment.succeeded``."""
    fact = session.scalar(select(DomainEvent).where(
        DomainEvent.type == "payment.succeeded", DomainEvent.subject_type == "payment",
        DomainEvent.subject_id == payment_id[:64], DomainEvent.data["provider"].as_string() == provider))
    return list((fact.data or {}).get("shares") or []) if fact is not None else []


def _part(value: int, amount: int, gross: int) -> int:
    return int((Decimal(value) * amount / gross).quantize(Decimal(1), ROUND_HALF_UP)) if gross else 0


def record_reversal(platform, session: Session, provider: str, kind: str, refs: list[str], external_id: str,
                    amount: int, event_type: str) -> str:
    """A refund or dispute: a negative row taking back the platform fee and the artist's net in
    proportion (a payee's slice is the payee plugin's to claw back: the event carries the
    original ``shares`` and the ``fraction`` reversed, ``{"refunded_amount", "amount"}``)."""
    payment = _payment_for(session, provider, refs)
    if payment is None:
        return f"{kind} for an unknown payment ({', '.join(r for r in refs if r)})"
    if session.scalar(select(Revenue.id).where(Revenue.provider == provider, Revenue.kind == kind,
                                               Revenue.external_id == external_id)) is not None:
        return f"{kind} already recorded"
    amount = min(amount, payment.gross)
    fee_back = _part(payment.platform_fee, amount, payment.gross)
    net_back = _part(payment.artist_net, amount, payment.gross)
    if payment.platform_fee + payment.artist_net == payment.gross:  # no payee: the artist bears the rest
        net_back = amount - fee_back
    session.add(Revenue(id=uuid.uuid4(), provider=provider, kind=kind, external_id=external_id,
                        charge_ref=payment.charge_ref, subscription_id=payment.subscription_id,
                        artist_id=payment.artist_id, user_id=payment.user_id, tier_id=payment.tier_id, gross=-amount,
                        currency=payment.currency, platform_fee=-fee_back, artist_net=-net_back,
                        occurred_at=platform.clock.now()))
    session.flush()
    reversed_total = -(session.scalar(select(func.coalesce(func.sum(Revenue.gross), 0)).where(
        Revenue.provider == provider, Revenue.kind == kind, Revenue.charge_ref == payment.charge_ref)) or 0)
    platform.payments.publish(session, PaymentEvent(
        type=event_type, provider=provider, user_id=payment.user_id, artist_id=payment.artist_id,
        tier_id=payment.tier_id, amount=amount, currency=payment.currency, external_id=external_id,
        occurred_at=platform.clock.now(),
        data={"payment": payment.external_id, "charge": payment.charge_ref,
              "shares": original_shares(session, provider, payment.external_id),
              "fraction": {"refunded_amount": amount, "amount": payment.gross},
              f"{kind}_total": reversed_total}))
    return f"{kind} recorded"


def record_dispute_won(platform, session: Session, provider: str, dispute: dict[str, Any]) -> str:
    """A dispute closed in the platform's favour: the money comes back. A positive row undoing the
    dispute's, and ``payment.dispute_won`` with the same ``shares`` / ``fraction`` (once)."""
    lost = session.scalar(select(Revenue).where(Revenue.provider == provider, Revenue.kind == "dispute",
                                                Revenue.external_id == dispute["id"]))
    if lost is None:
        return f"won dispute {dispute['id']} was never recorded"
    if session.scalar(select(Revenue.id).where(Revenue.provider == provider, Revenue.kind == "dispute_won",
                                               Revenue.external_id == dispute["id"])) is not None:
        return "won dispute already recorded"
    payment = _payment_for(session, provider, [lost.charge_ref])
    session.add(Revenue(id=uuid.uuid4(), provider=provider, kind="dispute_won", external_id=dispute["id"],
                        charge_ref=lost.charge_ref, subscription_id=lost.subscription_id, artist_id=lost.artist_id,
                        user_id=lost.user_id, tier_id=lost.tier_id, gross=-lost.gross, currency=lost.currency,
                        platform_fee=-lost.platform_fee, artist_net=-lost.artist_net,
                        occurred_at=platform.clock.now()))
    session.flush()
    platform.payments.publish(session, PaymentEvent(
        type="payment.dispute_won", provider=provider, user_id=lost.user_id, artist_id=lost.artist_id,
        tier_id=lost.tier_id, amount=-lost.gross, currency=lost.currency, external_id=f"{dispute['id']}:won",
        occurred_at=platform.clock.now(),
        data={"payment": payment.external_id if payment else None, "charge": lost.charge_ref, "dispute": dispute["id"],
              "shares": original_shares(session, provider, payment.external_id) if payment else [],
              "fraction": {"refunded_amount": -lost.gross, "amount": payment.gross if payment else -lost.gross}}),
        idempotent=True)
    return "won dispute recorded"


def record_refund(platform, session: Session, provider: str, charge: dict[str, Any]) -> str:
    refs = [charge.get("id"), charge.get("payment_intent") if isinstance(charge.get("payment_intent"), str) else None]
    payment = _payment_for(session, provider, refs)
    if payment is None:
        return f"refund for an unknown payment ({charge.get('id')})"
    already = -(session.scalar(select(func.coalesce(func.sum(Revenue.gross), 0)).where(
        Revenue.provider == provider, Revenue.kind == "refund", Revenue.charge_ref == payment.charge_ref)) or 0)
    total = int(charge.get("amount_refunded") or 0)
    if total <= already:
        return "refund already recorded"
    return record_reversal(platform, session, provider, "refund", refs, f"{charge['id']}:{total}", total - already,
                           "payment.refunded")


# ---------------------------------------------------------------- metrics

def _money(rows) -> int | dict[str, int]:
    by = {cur: int(total) for cur, total in rows if total}
    if len(by) <= 1:
        return next(iter(by.values()), 0)
    return by


def revenue_30d(platform, artist_id, window):
    with platform.session() as s:
        return _money(s.execute(select(Revenue.currency, func.sum(Revenue.gross)).where(
            Revenue.artist_id == artist_id, Revenue.occurred_at >= window.start, Revenue.occurred_at < window.end)
            .group_by(Revenue.currency)).all())


def _live(artist_id, now):
    return (Subscription.artist_id == artist_id, Subscription.status.in_(LIVE_STATUSES),
            Subscription.duplicate_of.is_(None),  # a duplicate is being cancelled and refunded
            (Subscription.current_period_end.is_(None)) | (Subscription.current_period_end > now - timedelta(days=1)))


def mrr(platform, artist_id, window):
    with platform.session() as s:
        rows = s.execute(select(Subscription.currency, Subscription.interval, func.sum(Subscription.amount))
                         .where(*_live(artist_id, window.end)).group_by(Subscription.currency, Subscription.interval)).all()
    totals: dict[str, Decimal] = {}
    for cur, interval, amount in rows:
        monthly = Decimal(amount or 0) / (12 if interval == "year" else 1)
        totals[cur] = totals.get(cur, Decimal(0)) + monthly
    return _money((c, int(v.quantize(Decimal(1), ROUND_HALF_UP))) for c, v in totals.items())


def active_subscribers(platform, artist_id, window):
    with platform.session() as s:
        return int(s.scalar(select(func.count(func.distinct(Subscription.user_id))).where(*_live(artist_id, window.end))) or 0)


def churned_30d(platform, artist_id, window):
    with platform.session() as s:
        return int(s.scalar(select(func.count()).select_from(Subscription).where(
            Subscription.artist_id == artist_id, Subscription.ended_at >= window.start,
            Subscription.ended_at < window.end)) or 0)


def arpu(platform, artist_id, window):
    revenue = revenue_30d(platform, artist_id, window)
    subs = active_subscribers(platform, artist_id, window)
    if not subs:
        return 0
    if isinstance(revenue, dict):
        return {c: v // subs for c, v in revenue.items()}
    return int((Decimal(revenue) / subs).quantize(Decimal(1), ROUND_HALF_UP))
