"""The subscription state machine: a provider's subscription object (Stripe's shape, which the
sandbox copies) becomes our row and one core entitlement, and payment events are published.

Order-independence: callers hand in the provider's *current* object, never the possibly stale
copy inside a webhook. Each fetch is preceded by a ticket claimed from our row (a short
transaction, so no lock is held across the network); a fetch is applied only when its ticket is
newer than the last one applied. A higher ticket was claimed later, so its fetch began after the
event behind every lower ticket arrived: it sees all their changes, and skipping an older fetch
loses nothing."""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from musicconnect.contracts import PaymentEvent
from musicconnect.models import Entitlement, Tier, User

from .models import Customer, Price, Subscription
from .settings import BillingSettings

log = logging.getLogger("musicconnect.billing")
ENDED_STATUSES = ("canceled", "unpaid", "incomplete_expired", "paused")
LIVE_STATUSES = ("active", "trialing", "past_due")
DUPLICATE_JOB = "billing.close_duplicate"


def ts(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    return datetime.fromtimestamp(int(value), tz=timezone.utc)


@dataclass
class Snapshot:
    external_id: str
    customer_id: str | None
    status: str
    price_id: str | None
    tier_id: uuid.UUID | None
    amount: int
    currency: str
    interval: str
    current_period_end: datetime | None
    cancel_at_period_end: bool
    ended_at: datetime | None
    metadata: dict[str, Any] = field(default_factory=dict)


def snapshot_of(session: Session, provider: str, sub: dict[str, Any]) -> Snapshot:
    items = ((sub.get("items") or {}).get("data") or [{}])
    item = items[0]
    price = item.get("price") or item.get("plan") or {}
    amount = price.get("unit_amount", price.get("amount")) or 0
    interval = (price.get("recurring") or {}).get("interval") or price.get("interval") or "month"
    tier_id = _uuid((price.get("metadata") or {}).get("tier_id"))
    if tier_id is None and price.get("id"):
        tier_id = session.scalar(select(Price.tier_id).where(Price.provider == provider,
                                                             Price.external_id == price["id"]))
    period_end = item.get("current_period_end") or sub.get("current_period_end")
    return Snapshot(external_id=sub["id"], customer_id=sub.get("customer"), status=sub.get("status") or "incomplete",
                    price_id=price.get("id"), tier_id=tier_id, amount=int(amount),
                    currency=str(price.get("currency") or "usd").upper(), interval=interval,
                    current_period_end=ts(period_end),
                    cancel_at_period_end=bool(sub.get("cancel_at_period_end") or sub.get("cancel_at")),
                    ended_at=ts(sub.get("ended_at")), metadata=dict(sub.get("metadata") or {}))


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def _insert(session: Session):
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def insert_ignore(session: Session, model, **values) -> bool:
    """``INSERT .. ON CONFLICT DO NOTHING`` (any unique key): one idempotent statement, so
    concurrent creators of the same row never fail. Returns whether this call inserted it."""
    return session.execute(_insert(session)(model).values(**values).on_conflict_do_nothing()).rowcount == 1


def remember_customer(session: Session, provider: str, user_id: uuid.UUID, external_id: str, now: datetime) -> None:
    """The fan's customer at ``provider`` (one per fan and provider), stored once whoever races."""
    insert_ignore(session, Customer, id=uuid.uuid4(), provider=provider, user_id=user_id, external_id=external_id,
                  created_at=now)


def live_key(user_id: uuid.UUID, artist_id: uuid.UUID) -> str:
    return f"{user_id.hex}:{artist_id.hex}"


def take_membership(session: Session, row: Subscription) -> Subscription | None:
    """Make ``row`` its fan's one live membership of its artist: set the unique ``live_key``.

    The database decides: a second row with the same key is refused by the unique index (on
    PostgreSQL the statement waits for a concurrent holder's transaction and fails once it
    commits; SQLite writers are serial). Done in a SAVEPOINT after everything else is flushed, so
    a refusal undoes only this. Returns ``None`` when ``row`` holds the membership, else the row
    that does."""
    key = live_key(row.user_id, row.artist_id)
    if row.live_key == key:
        return None
    for _ in range(3):
        session.flush()
        try:
            with session.begin_nested():
                row.live_key = key
                session.flush()
            return None
        except IntegrityError:
            holder = session.scalar(select(Subscription).where(Subscription.live_key == key)
                                    .execution_options(populate_existing=True))
            if holder is not None:
                return holder
            # (released between the two statements: try again)
    raise RuntimeError(f"could not take the membership {key}")


def lock_row(session: Session, provider: str, external_id: str, now: datetime) -> Subscription:
    """Our row for a subscription, created if new, locked for this transaction, so processing of
    one subscription is serial across workers. ``INSERT .. ON CONFLICT DO NOTHING`` waits for a
    concurrent creator (and takes SQLite's write lock); PostgreSQL then locks the row."""
    insert = _insert(session)
    for _ in range(5):
        session.execute(insert(Subscription).values(
            id=uuid.uuid4(), provider=provider, external_id=external_id, status="incomplete", amount=0,
            currency="USD", interval="month", cancel_at_period_end=False, sync_ticket=0, applied_ticket=0,
            created_at=now, updated_at=now,
        ).on_conflict_do_nothing(index_elements=["provider", "external_id"]))
        row = session.scalar(select(Subscription).where(Subscription.provider == provider,
                                                        Subscription.external_id == external_id)
                             .with_for_update().execution_options(populate_existing=True))
        if row is not None:  # (None: deleted between the two statements; insert again)
            row.updated_at = now
            return row
    raise RuntimeError(f"could not create or lock the row of subscription {external_id}")


def claim(platform, provider: str, external_id: str) -> int:
    """A ticket for one fetch of a subscription (its own short transaction)."""
    with platform.session() as s:
        row = lock_row(s, provider, external_id, platform.clock.now())
        row.sync_ticket = (row.sync_ticket or 0) + 1
        return row.sync_ticket


def sync(platform, session: Session, settings: BillingSettings, provider: str, external_id: str,
         fetch) -> tuple[Subscription | None, str]:
    """Claim a ticket, ``fetch()`` the provider's current object outside any transaction, then
    apply it in ``session`` unless a newer fetch got there first."""
    ticket = claim(platform, provider, external_id)
    current = fetch()
    row = lock_row(session, provider, external_id, platform.clock.now())
    if ticket <= (row.applied_ticket or 0):
        if row.user_id is None or row.tier_id is None:  # the newer fetch could not be tied to a fan either
            return None, f"unknown customer or price for subscription {external_id}"
        return row, "a newer state was already applied"
    row.applied_ticket = ticket
    return apply(platform, session, settings, provider, current, row)


def apply_now(platform, provider: str, external_id: str) -> tuple[Subscription | None, str]:
    """Apply a subscription's current state at the provider now (after a change we asked for, a
    payment on a hosted page): the fan sees it at once, and the webhook that follows finds nothing
    left to do. The state is fetched (through the core's provider registry) after a ticket is
    claimed rather than taken from the change's answer: a worker may claim a later ticket while
    the change is in flight and fetch the state from before it, and only a fetch that starts
    after our claim is sure to be at least as new as every later-ticketed one."""
    settings = platform.plugin_settings("billing")
    payments = platform.payments
    found = payments.provider(provider)

    def fetch() -> dict[str, Any]:
        return dict(payments.call(found, "fetch", kind="subscription", object_id=external_id))

    with platform.session() as s:
        return sync(platform, s, settings, provider, external_id, fetch)


def resolve_user(session: Session, provider: str, snap: Snapshot, row: Subscription) -> uuid.UUID | None:
    if row.user_id is not None:
        return row.user_id
    if snap.customer_id:
        found = session.scalar(select(Customer.user_id).where(Customer.provider == provider,
                                                              Customer.external_id == snap.customer_id))
        if found is not None:
            return found
    meta = _uuid(snap.metadata.get("user_id"))
    if meta is not None and session.get(User, meta) is not None:
        return meta
    return None


def apply(platform, session: Session, settings: BillingSettings, provider: str, sub: dict[str, Any],
          row: Subscription | None = None) -> tuple[Subscription | None, str]:
    """Bring our row and the entitlement in line with ``sub``. Returns ``(row, note)``; the row is
    ``None`` when the subscription cannot be tied to a known fan and tier (stored, not applied)."""
    now = platform.clock.now()
    snap = snapshot_of(session, provider, sub)
    row = row or lock_row(session, provider, snap.external_id, now)
    user_id = resolve_user(session, provider, snap, row)
    tier = session.get(Tier, snap.tier_id) if snap.tier_id else None
    if user_id is None or tier is None:
        what = "customer" if user_id is None else "price"
        log.warning("billing: %s subscription %s has an unknown %s; stored, not applied", provider, snap.external_id, what)
        return None, f"unknown {what} for subscription {snap.external_id}"
    previous_end = row.current_period_end
    row.user_id, row.artist_id, row.customer_id = user_id, tier.artist_id, snap.customer_id or row.customer_id
    row.tier_id, row.price_id, row.amount, row.currency, row.interval = (tier.id, snap.price_id, snap.amount,
                                                                         snap.currency, snap.interval)
    row.status, row.cancel_at_period_end = snap.status, snap.cancel_at_period_end
    row.current_period_end = snap.current_period_end
    row.ended_at = snap.ended_at or (row.ended_at if snap.status in ENDED_STATUSES else None)
    if snap.status in ENDED_STATUSES and row.ended_at is None:
        row.ended_at = now
    row.past_due_since = (row.past_due_since or now) if snap.status == "past_due" else None
    if snap.status in ENDED_STATUSES:
        row.live_key = None  # the membership is free for the fan's next subscription
    elif snap.status in LIVE_STATUSES and row.duplicate_of is None:
        holder = take_membership(session, row)
        if holder is not None:
            _mark_duplicate(platform, session, row, holder)
    if row.duplicate_of is None:
        _entitled_tier(session, settings, row, tier, previous_end, now)
    session.flush()
    return row, settle(platform, session, settings, row)


def _mark_duplicate(platform, session: Session, row: Subscription, holder: Subscription) -> None:
    """``row`` went live while ``holder`` is the fan's membership of the artist (two checkouts
    paid, two tabs): it never entitles; a job cancels it at the provider and refunds what it took."""
    row.duplicate_of = holder.id
    log.warning("billing: %s subscription %s duplicates %s (fan %s, artist %s): cancelling and refunding it",
                row.provider, row.external_id, holder.external_id, row.user_id, row.artist_id)
    session.flush()
    platform.jobs.enqueue(DUPLICATE_JOB, session=session, subject=("billing-subscription", row.id),
                          subscription_id=str(row.id))


def _entitled_tier(session: Session, settings: BillingSettings, row: Subscription, tier: Tier,
                   previous_end: datetime | None, now: datetime) -> None:
    held = session.get(Tier, row.entitled_tier_id) if row.entitled_tier_id else None
    if held is None or held.artist_id != tier.artist_id or tier.rank >= held.rank or settings.downgrade_at == "immediately":
        row.entitled_tier_id, row.entitled_until = tier.id, None
        return
    # a downgrade: the higher tier stays until the end of the period it was paid for
    if row.entitled_until is None:
        row.entitled_until = previous_end or row.current_period_end or now
    if now >= row.entitled_until:
        row.entitled_tier_id, row.entitled_until = tier.id, None


def settle(platform, session: Session, settings: BillingSettings, row: Subscription) -> str:
    """Make the core entitlement match the row, and publish what changed."""
    now = platform.clock.now()
    if row.duplicate_of is not None:  # a duplicate never entitles (one granted before the rule is revoked)
        ent = session.scalar(select(Entitlement).where(Entitlement.source == row.provider,
                                                       Entitlement.source_ref == row.external_id))
        if ent is not None and ent.status != "ended":
            platform.entitlements.revoke(session, ent)
        return f"duplicate of subscription {row.duplicate_of}: not entitling, cancelled and refunded"
    if row.entitled_until is not None and now >= row.entitled_until:
        row.entitled_tier_id, row.entitled_until = row.tier_id, None
    ents = platform.entitlements
    ent = session.scalar(select(Entitlement).where(Entitlement.source == row.provider,
                                                   Entitlement.source_ref == row.external_id))
    status, expires = _desired(settings, row, now)
    if status is None:  # incomplete: nothing granted yet
        return "pending payment"
    if status == "ended":
        if ent is None or ent.status == "ended":
            return "ended"
        ents.revoke(session, ent)
        _publish(platform, session, "subscription.ended", row)
        return "ended"
    if ent is None:
        ents.grant(session, user_id=row.user_id, artist_id=row.artist_id, tier_id=row.entitled_tier_id,
                   source=row.provider, source_ref=row.external_id, status=status, expires_at=expires)
        _publish(platform, session, "subscription.created", row)
        if status == "cancelled":
            _publish(platform, session, "subscription.cancelled", row)
        return "granted"
    before = (ent.tier_id, ent.status, ent.expires_at)
    if ent.status == "ended":  # Stripe does not revive a canceled subscription; keep the end
        return "ended"
    ents.update(session, ent, tier_id=row.entitled_tier_id, status=status, expires_at=expires)
    if (ent.tier_id, ent.status, ent.expires_at) == before:
        return "unchanged"
    if status == "cancelled" and before[1] != "cancelled":
        _publish(platform, session, "subscription.cancelled", row)
    else:
        _publish(platform, session, "subscription.updated", row)
    return "updated"


def _desired(settings: BillingSettings, row: Subscription, now: datetime) -> tuple[str | None, datetime | None]:
    if row.status in ENDED_STATUSES:
        return "ended", None
    if row.status not in LIVE_STATUSES:
        return None, None
    end = row.current_period_end
    if row.status == "past_due":
        grace_end = (row.past_due_since or now) + timedelta(days=settings.past_due_grace_days)
        return "past_due", grace_end
    if row.cancel_at_period_end:
        return "cancelled", end
    return "active", (end + timedelta(hours=settings.renewal_leeway_hours)) if end else None


def _publish(platform, session: Session, type_: str, row: Subscription) -> None:
    platform.payments.publish(session, PaymentEvent(
        type=type_, provider=row.provider, user_id=row.user_id, artist_id=row.artist_id, tier_id=row.entitled_tier_id,
        amount=row.amount, currency=row.currency, external_id=row.external_id, occurred_at=platform.clock.now(),
        data={"subscription": row.external_id, "status": row.status, "interval": row.interval,
              "cancel_at_period_end": row.cancel_at_period_end,
              "paid_tier_id": str(row.tier_id) if row.tier_id else None}))
