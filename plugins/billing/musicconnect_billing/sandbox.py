"""The offline sandbox provider's "remote": Stripe-shaped subscriptions, invoices and checkout
sessions kept in the database, changed by the same operations Stripe offers, and reported as
events through the same ledger and state machine. No money moves; it refuses production."""
from __future__ import annotations

import calendar
import secrets
import uuid
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from musicconnect import Problem
from musicconnect.models import Tier

from . import ledger, state
from .models import SandboxObject

PROVIDER = "sandbox"


def add_interval(dt: datetime, interval: str) -> datetime:
    if interval == "year":
        months = 12
    else:
        months = 1
    month = dt.month - 1 + months
    year, month = dt.year + month // 12, month % 12 + 1
    day = min(dt.day, calendar.monthrange(year, month)[1])
    return dt.replace(year=year, month=month, day=day)


def _id(prefix: str) -> str:
    return f"{prefix}_sbx_{secrets.token_hex(12)}"


def get(session: Session, obj_id: str, kind: str) -> dict[str, Any]:
    row = session.get(SandboxObject, obj_id)
    if row is None or row.kind != kind:
        raise Problem(404, "not-found", f"no sandbox {kind} {obj_id}")
    return dict(row.data)


def put(platform, session: Session, kind: str, data: dict[str, Any]) -> dict[str, Any]:
    now = platform.clock.now()
    row = session.get(SandboxObject, data["id"])
    if row is None:
        session.add(SandboxObject(id=data["id"], kind=kind, data=data, created_at=now, updated_at=now))
    else:
        row.data, row.updated_at = dict(data), now
    session.flush()
    return data


def emit(platform, session: Session, type_: str, obj: dict[str, Any], previous: dict | None = None) -> None:
    event = {"id": _id("evt"), "object": "event", "type": type_, "created": int(platform.clock.now().timestamp()),
             "data": {"object": {k: v for k, v in obj.items() if not k.startswith("_")}}}
    if previous:
        event["data"]["previous_attributes"] = previous
    ledger.store(platform, session, PROVIDER, event)


def price_of(tier: Tier, interval: str) -> dict[str, Any]:
    amount = tier.price_amount if interval == "month" else tier.yearly_amount
    return {"id": f"price_sbx_{tier.id.hex}_{interval}_{amount}", "object": "price", "unit_amount": amount,
            "currency": tier.currency.lower(), "recurring": {"interval": interval},
            "metadata": {"tier_id": str(tier.id), "artist_id": str(tier.artist_id)}}


def customer_of(user_id: uuid.UUID) -> str:
    return f"cus_sbx_{user_id.hex}"


# ------------------------------------------------------------------ checkout
def create_checkout(platform, session: Session, *, user_id, tier: Tier, interval: str, success_url: str,
                    cancel_url: str) -> dict[str, Any]:
    cs = {"id": _id("cs"), "object": "checkout.session", "mode": "subscription", "status": "open",
          "customer": customer_of(user_id), "client_reference_id": str(user_id), "subscription": None,
          "success_url": success_url, "cancel_url": cancel_url, "_tier_id": str(tier.id), "_interval": interval,
          "expires_at": int((platform.clock.now() + timedelta(hours=24)).timestamp())}
    cs["url"] = f"{platform.settings.base_url.rstrip('/')}/api/v1/billing/sandbox/checkout/{cs['id']}"
    return put(platform, session, "checkout", cs)


def pay_checkout(platform, session: Session, cs_id: str) -> dict[str, Any]:
    """Pay an open checkout: one atomic change (``open`` → ``complete``, a conditional UPDATE that
    exactly one of concurrent payers wins; the others get 409 ``checkout-closed``), then the fan's
    membership of the artist is claimed (the unique ``live_key``) before the subscription exists:
    a fan who already has a live subscription gets 409 ``already-subscribed`` and nothing changes."""
    cs = get(session, cs_id, "checkout")
    now = platform.clock.now()
    if cs["status"] != "open":
        raise Problem(409, "checkout-closed", "this sandbox checkout is no longer open")
    if now.timestamp() > cs["expires_at"]:
        raise Problem(410, "checkout-expired", "this sandbox checkout has expired; start a new one")
    tier = session.get(Tier, uuid.UUID(cs["_tier_id"]))
    if tier is None or not tier.is_active:
        raise Problem(409, "tier-retired", "this tier is no longer offered")
    sub_id = _id("sub")
    done = {**cs, "status": "complete", "subscription": sub_id}
    claimed = session.execute(
        update(SandboxObject)
        .where(SandboxObject.id == cs_id, SandboxObject.kind == "checkout",
               SandboxObject.data["status"].as_string() == "open")
        .values(data=done, updated_at=now).execution_options(synchronize_session=False)).rowcount
    if claimed != 1:
        raise Problem(409, "checkout-closed", "this sandbox checkout is no longer open")
    row = state.lock_row(session, PROVIDER, sub_id, now)
    row.user_id, row.artist_id, row.tier_id = uuid.UUID(cs["client_reference_id"]), tier.artist_id, tier.id
    row.customer_id = cs["customer"]
    holder = state.take_membership(session, row)
    if holder is not None:  # raising rolls back the claim too: the checkout stays open
        raise Problem(409, "already-subscribed", "you already support this artist: change the tier of your "
                      "subscription instead", subscription_id=str(holder.id))
    price = price_of(tier, cs["_interval"])
    end = add_interval(now, cs["_interval"])
    sub = {"id": sub_id, "object": "subscription", "customer": cs["customer"], "status": "active",
           "cancel_at_period_end": False, "current_period_start": int(now.timestamp()),
           "current_period_end": int(end.timestamp()), "ended_at": None, "created": int(now.timestamp()),
           "metadata": {"user_id": cs["client_reference_id"], "tier_id": str(tier.id), "artist_id": str(tier.artist_id)},
           "items": {"object": "list", "data": [{"id": _id("si"), "price": price,
                                                 "current_period_start": int(now.timestamp()),
                                                 "current_period_end": int(end.timestamp())}]},
           "_pending": [], "_fail_next": False}
    put(platform, session, "subscription", sub)
    emit(platform, session, "customer.subscription.created", sub)
    _invoice(platform, session, sub, [{"description": f"{tier.name} ({cs['_interval']})", "amount": price["unit_amount"],
                                       "proration": False}], paid=True)
    emit(platform, session, "checkout.session.completed", done)
    return done


def close_duplicate(platform, session: Session, sub_id: str) -> dict[str, Any]:
    """End a duplicate subscription now and refund every invoice it paid (``charge.refunded``)."""
    sub = get(session, sub_id, "subscription")
    now = int(platform.clock.now().timestamp())
    if sub["status"] != "canceled":
        sub.update(status="canceled", ended_at=now, cancel_at_period_end=False)
        put(platform, session, "subscription", sub)
        emit(platform, session, "customer.subscription.deleted", sub)
    refunded = 0
    for row in session.scalars(select(SandboxObject).where(
            SandboxObject.kind == "invoice", SandboxObject.data["subscription"].as_string() == sub_id)).all():
        inv = dict(row.data)
        if inv["status"] != "paid" or inv.get("_refunded") or not inv["amount_paid"]:
            continue
        inv["_refunded"] = True
        put(platform, session, "invoice", inv)
        emit(platform, session, "charge.refunded", {
            "id": inv["charge"], "object": "charge", "amount": inv["amount_paid"], "currency": inv["currency"],
            "amount_refunded": inv["amount_paid"], "refunded": True, "invoice": inv["id"]})
        refunded += inv["amount_paid"]
    return {"cancelled": sub_id, "refunded": refunded}


def _invoice(platform, session: Session, sub: dict, lines: list[dict], *, paid: bool) -> dict[str, Any]:
    now = int(platform.clock.now().timestamp())
    total = sum(line["amount"] for line in lines)
    inv = {"id": _id("in"), "object": "invoice", "subscription": sub["id"], "customer": sub["customer"],
           "currency": sub["items"]["data"][0]["price"]["currency"], "amount_due": max(total, 0),
           "amount_paid": max(total, 0) if paid else 0, "status": "paid" if paid else "open",
           "attempt_count": 1, "charge": _id("ch"), "lines": {"data": lines},
           # the period this invoice pays for (Stripe has it on the subscription line: ``lines[].period``)
           "period_start": sub["current_period_start"], "period_end": sub["current_period_end"],
           "status_transitions": {"paid_at": now if paid else None}}
    put(platform, session, "invoice", inv)
    emit(platform, session, "invoice.paid" if paid else "invoice.payment_failed", inv)
    return inv


# ------------------------------------------------------------------ changes
def _fraction_left(sub: dict, now: datetime) -> Decimal:
    start, end = sub["current_period_start"], sub["current_period_end"]
    if end <= start:
        return Decimal(0)
    return max(Decimal(0), min(Decimal(1), Decimal(end - int(now.timestamp())) / Decimal(end - start)))


def proration_lines(sub: dict, old_price: dict, new_price: dict, now: datetime, old_name: str, new_name: str) -> list[dict]:
    frac = _fraction_left(sub, now)
    q = lambda v: int((Decimal(v) * frac).quantize(Decimal(1), ROUND_HALF_UP))  # noqa: E731
    return [{"description": f"Unused time on {old_name}", "amount": -q(old_price["unit_amount"]), "proration": True},
            {"description": f"Remaining time on {new_name}", "amount": q(new_price["unit_amount"]), "proration": True}]


def change(platform, session: Session, sub_id: str, tier: Tier, old_tier: Tier, prorate: bool) -> dict[str, Any]:
    sub = get(session, sub_id, "subscription")
    item = sub["items"]["data"][0]
    interval = item["price"]["recurring"]["interval"]
    price = price_of(tier, interval)
    previous = {"items": {"data": [dict(item)]}}
    if prorate:
        sub["_pending"] = list(sub.get("_pending") or []) + proration_lines(
            sub, item["price"], price, platform.clock.now(), old_tier.name, tier.name)
    item["price"] = price
    put(platform, session, "subscription", sub)
    emit(platform, session, "customer.subscription.updated", sub, previous)
    return sub


def set_cancel(platform, session: Session, sub_id: str, at_period_end: bool) -> dict[str, Any]:
    sub = get(session, sub_id, "subscription")
    if sub["status"] == "canceled":
        raise Problem(409, "subscription-ended", "this subscription has already ended")
    if sub["cancel_at_period_end"] != at_period_end:
        sub["cancel_at_period_end"] = at_period_end
        put(platform, session, "subscription", sub)
        emit(platform, session, "customer.subscription.updated", sub, {"cancel_at_period_end": not at_period_end})
    return sub


def fail_next_payment(platform, session: Session, sub_id: str) -> dict[str, Any]:
    sub = get(session, sub_id, "subscription")
    sub["_fail_next"] = True
    return put(platform, session, "subscription", sub)


def renew(platform, session: Session, sub: dict) -> dict[str, Any]:
    """The period ended: end a cancelled subscription, otherwise bill the next period."""
    now = platform.clock.now()
    item = sub["items"]["data"][0]
    if sub["cancel_at_period_end"] or sub["status"] == "past_due" and sub.get("_past_due_until", 0) <= now.timestamp():
        sub.update(status="canceled", ended_at=int(now.timestamp()))
        put(platform, session, "subscription", sub)
        emit(platform, session, "customer.subscription.deleted", sub)
        return sub
    lines = list(sub.get("_pending") or []) + [{"description": "Renewal", "amount": item["price"]["unit_amount"],
                                                "proration": False}]
    if sub.get("_fail_next"):
        sub["_fail_next"] = False
        sub["status"] = "past_due"
        sub["_past_due_until"] = int((now + timedelta(days=platform.plugin_settings("billing").past_due_grace_days)).timestamp())
        put(platform, session, "subscription", sub)
        _invoice(platform, session, sub, lines, paid=False)
        emit(platform, session, "customer.subscription.updated", sub, {"status": "active"})
        return sub
    start = datetime.fromtimestamp(sub["current_period_end"], tz=now.tzinfo)
    start = max(start, now) if sub["status"] == "past_due" else start
    end = add_interval(start, item["price"]["recurring"]["interval"])
    sub.update(status="active", current_period_start=int(start.timestamp()), current_period_end=int(end.timestamp()),
               _pending=[])
    item.update(current_period_start=sub["current_period_start"], current_period_end=sub["current_period_end"])
    put(platform, session, "subscription", sub)
    _invoice(platform, session, sub, lines, paid=True)
    emit(platform, session, "customer.subscription.updated", sub, {"current_period_end": item["current_period_end"]})
    return sub


def renew_due(ctx) -> dict[str, int]:
    """Scheduled: renew (or end) every sandbox subscription whose period has ended."""
    platform = ctx.platform
    now = int(platform.clock.now().timestamp())
    done = 0
    with platform.session() as s:
        for row in s.scalars(select(SandboxObject).where(SandboxObject.kind == "subscription")).all():
            data = row.data
            if (data["status"] == "active" and data["current_period_end"] <= now
                    or data["status"] == "past_due" and data.get("_past_due_until", 0) <= now):
                renew(platform, s, dict(data))
                done += 1
    return {"renewed": done}


def preview(platform, session: Session, sub_id: str, tier: Tier | None, old_tier: Tier, prorate: bool) -> dict[str, Any]:
    sub = get(session, sub_id, "subscription")
    item = sub["items"]["data"][0]
    price = item["price"]
    lines = list(sub.get("_pending") or [])
    if tier is not None and tier.id != old_tier.id:
        new = price_of(tier, price["recurring"]["interval"])
        if prorate:
            lines += proration_lines(sub, price, new, platform.clock.now(), old_tier.name, tier.name)
        price = new
    lines.append({"description": f"{(tier or old_tier).name} (next period)", "amount": price["unit_amount"],
                  "proration": False})
    return {"currency": price["currency"].upper(), "amount_due": max(0, sum(line["amount"] for line in lines)),
            "lines": lines, "next_payment_at": sub["current_period_end"]}


# ------------------------------------------------------------------ separate charges and transfers
# Transfers to artists' (simulated) payout accounts, Stripe-shaped (``tr_...``, ``trr_...``), kept
# with the sandbox's other objects. Every artist of the platform has a simulated payout account;
# no money moves. The same idempotency key is the same object (its id derives from the key).

def _keyed(prefix: str, key: str) -> str:
    import hashlib

    return f"{prefix}_sbx_{hashlib.sha256(key.encode()).hexdigest()[:32]}"


def _locked(session: Session, obj_id: str, kind: str) -> SandboxObject | None:
    return session.scalar(select(SandboxObject).where(SandboxObject.id == obj_id, SandboxObject.kind == kind)
                          .with_for_update())


def _insert_once(platform, session: Session, kind: str, data: dict[str, Any]) -> dict[str, Any] | None:
    """Store a keyed object unless it exists; ``None`` when another request stored it first."""
    from sqlalchemy.exc import IntegrityError

    now = platform.clock.now()
    try:
        with session.begin_nested():
            session.add(SandboxObject(id=data["id"], kind=kind, data=data, created_at=now, updated_at=now))
    except IntegrityError:
        return None
    return data


def create_transfer(platform, session: Session, *, artist_id: uuid.UUID, amount: int, currency: str,
                    source_ref: str | None, idempotency_key: str, metadata: dict[str, str]) -> dict[str, Any]:
    from musicconnect.models import Artist

    tr_id = _keyed("tr", idempotency_key)
    existing = session.get(SandboxObject, tr_id)
    if existing is not None:
        return dict(existing.data)
    if session.get(Artist, artist_id) is None:
        raise Problem(409, "payout-account-missing", "this artist has no payout account", artist_id=str(artist_id))
    source = None
    if source_ref:
        inv = _locked(session, source_ref, "invoice")  # serialises transfers from one payment
        if inv is None or inv.data.get("status") != "paid":
            raise Problem(409, "payment-not-settled", f"no paid sandbox invoice {source_ref} to transfer from")
        if str(inv.data.get("currency", "")).lower() != currency.lower():
            raise Problem(422, "validation", "a transfer is in the currency of the payment it comes from")
        sent = sum(int(r.data["amount"]) for r in session.scalars(select(SandboxObject).where(
            SandboxObject.kind == "transfer", SandboxObject.data["transfer_group"].as_string() == source_ref)).all())
        if sent + amount > int(inv.data["amount_paid"]):
            raise Problem(409, "transfer-exceeds-payment", f"transfers from {source_ref} would exceed what it paid",
                          paid=int(inv.data["amount_paid"]), transferred=sent)
        source = inv.data.get("charge")
    tr = {"id": tr_id, "object": "transfer", "amount": amount, "amount_reversed": 0, "currency": currency.lower(),
          "destination": f"acct_sbx_{artist_id.hex}", "source_transaction": source, "transfer_group": source_ref,
          "reversed": False, "metadata": dict(metadata), "reversals": [],
          "created": int(platform.clock.now().timestamp())}
    stored = _insert_once(platform, session, "transfer", tr)
    if stored is None:
        return dict(session.get(SandboxObject, tr_id).data)
    emit(platform, session, "transfer.created", tr)
    return tr


def reverse_transfer(platform, session: Session, *, transfer_id: str, amount: int,
                     idempotency_key: str) -> dict[str, Any]:
    trr_id = _keyed("trr", idempotency_key)
    existing = session.get(SandboxObject, trr_id)
    if existing is not None:
        return dict(existing.data)
    row = _locked(session, transfer_id, "transfer")
    if row is None:
        raise Problem(404, "payment-object-not-found", f"no sandbox transfer {transfer_id}")
    tr = dict(row.data)
    left = int(tr["amount"]) - int(tr.get("amount_reversed") or 0)
    if amount > left:
        raise Problem(409, "transfer-over-reversed", "more than is left of this transfer", transfer_id=transfer_id,
                      left=left)
    trr = {"id": trr_id, "object": "transfer_reversal", "amount": amount, "currency": tr["currency"],
           "transfer": transfer_id, "created": int(platform.clock.now().timestamp())}
    if _insert_once(platform, session, "transfer_reversal", trr) is None:
        return dict(session.get(SandboxObject, trr_id).data)
    tr["amount_reversed"] = int(tr.get("amount_reversed") or 0) + amount
    tr["reversed"] = tr["amount_reversed"] == int(tr["amount"])
    tr["reversals"] = list(tr.get("reversals") or []) + [trr_id]
    put(platform, session, "transfer", tr)
    emit(platform, session, "transfer.reversed", tr)
    return trr
