"""A person's billing data: their export and their erasure (GDPR Art. 15, 17, 20; docs/privacy.md).

Erasure in one transaction, database work only (it fails closed: a failure rolls every plugin's
part back). What must happen at a payment provider is queued in the same transaction as a job
(``billing.erasure_at_provider``): it is sent only if the erasure commits, and retried until the
provider has done it, so there is never a cancelled subscription without an erasure, nor an
erasure whose cancellation was forgotten. The sandbox is part of this database: its
subscriptions end inside the transaction.

* A fan: their live subscriptions end (Stripe: cancelled now, by the job; sandbox: ended here),
  their subscription rows, customer links and the webhook events naming them go. The payment
  ledger (``billing_revenue``) is kept for tax law with the person's id removed: amount,
  currency, date, artist and tier stay.
* An artist who leaves: their fans' subscriptions to them end the same way, their connected
  account link goes (the Stripe account itself stays at Stripe: it is the artist's, with
  Stripe's own obligations), their prices and products are archived at Stripe (the job) and
  their revenue ledger is kept for tax law, nameless once the core deletes the artist."""
from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import String, cast, delete, func, or_, select, update

from musicconnect.contracts import ErasureReport, ExportPart, Retained
from musicconnect.models import Tier

from . import sandbox
from .models import Account, Customer, Price, Revenue, SandboxObject, Subscription, WebhookEvent
from .state import LIVE_STATUSES

log = logging.getLogger("musicconnect.billing.privacy")

JOB = "erasure_at_provider"  # billing.erasure_at_provider
TAX_WHY = "tax law: invoices and payment records are kept 10 years (e.g. AO §147, UK VAT 6 years)"
TAX_YEARS = 10

NOTES = (
    "customers: your customer record at each payment provider (the provider's id for you). subscriptions: "
    "your memberships paid through a provider, with their tier, price, status and paid period. payments: "
    "each payment, refund or dispute of yours (amounts in minor units: cents). As an artist: your connected "
    "payout account (its status at the provider), your tiers' prices and your revenue ledger (what fans "
    "paid you, without naming them). Card details are never stored here: the provider holds them.")


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def _str(value) -> str | None:
    return str(value) if value is not None else None


def _artist_id(user):
    artist = getattr(user, "artist", None)
    return artist.id if artist is not None else None


def _revenue(r: Revenue, *, fan: bool) -> dict[str, Any]:
    out = {"id": str(r.id), "provider": r.provider, "kind": r.kind, "reference": r.external_id,
           "subscription": r.subscription_id, "artist_id": _str(r.artist_id), "tier_id": _str(r.tier_id),
           "amount": r.gross, "currency": r.currency, "occurred_at": _iso(r.occurred_at)}
    if not fan:
        out.update(provider_fee=r.provider_fee, platform_fee=r.platform_fee, artist_net=r.artist_net)
    return out


def export(platform, session, user) -> ExportPart | None:
    uid, aid = user.id, _artist_id(user)
    records: dict[str, list[dict[str, Any]]] = {}
    records["customers"] = [{"provider": c.provider, "customer_id": c.external_id, "created_at": _iso(c.created_at)}
                            for c in session.scalars(select(Customer).where(Customer.user_id == uid))]
    records["subscriptions"] = [
        {"id": str(x.id), "provider": x.provider, "external_id": x.external_id, "artist_id": _str(x.artist_id),
         "tier_id": _str(x.tier_id), "amount": x.amount, "currency": x.currency, "interval": x.interval,
         "status": x.status, "cancel_at_period_end": x.cancel_at_period_end,
         "current_period_end": _iso(x.current_period_end), "ended_at": _iso(x.ended_at),
         "created_at": _iso(x.created_at)}
        for x in session.scalars(select(Subscription).where(Subscription.user_id == uid)
                                 .order_by(Subscription.created_at))]
    records["payments"] = [_revenue(r, fan=True) for r in session.scalars(
        select(Revenue).where(Revenue.user_id == uid).order_by(Revenue.occurred_at))]
    if aid is not None:
        acct = session.get(Account, aid)
        records["payout_account"] = [] if acct is None else [
            {"provider": acct.provider, "account_id": acct.external_id, "charges_enabled": acct.charges_enabled,
             "payouts_enabled": acct.payouts_enabled, "details_submitted": acct.details_submitted,
             "fee_percent": _str(acct.fee_percent), "updated_at": _iso(acct.updated_at)}]
        tier_ids = select(Tier.id).where(Tier.artist_id == aid)
        records["prices"] = [
            {"provider": p.provider, "tier_id": str(p.tier_id), "interval": p.interval, "amount": p.amount,
             "currency": p.currency, "price_id": p.external_id, "product_id": p.product_id, "active": p.active,
             "created_at": _iso(p.created_at), "archived_at": _iso(p.archived_at)}
            for p in session.scalars(select(Price).where(Price.tier_id.in_(tier_ids)).order_by(Price.created_at))]
        records["revenue"] = [_revenue(r, fan=False) for r in session.scalars(
            select(Revenue).where(Revenue.artist_id == aid).order_by(Revenue.occurred_at))]
    if not any(records.values()):
        return None
    return ExportPart(records=records, notes=NOTES)


def _run(session, stmt) -> int:
    return int(session.execute(stmt.execution_options(synchronize_session=False)).rowcount or 0)


def _naming(column, needles):
    return or_(*(cast(column, String).contains(n) for n in needles))


def erase(platform, session, user) -> ErasureReport:
    uid, aid = user.id, _artist_id(user)
    now = platform.clock.now()
    erased: dict[str, int] = {}
    retained: list[Retained] = []
    customers = list(session.scalars(select(Customer.external_id).where(Customer.user_id == uid)))
    subject = Subscription.user_id == uid if aid is None else or_(Subscription.user_id == uid,
                                                                   Subscription.artist_id == aid)
    subs = list(session.scalars(select(Subscription).where(subject)))
    live = [x for x in subs if x.status in LIVE_STATUSES and x.ended_at is None]
    at_provider: dict[str, dict[str, list[str]]] = {}
    for x in live:
        if x.provider == sandbox.PROVIDER:
            _end_in_sandbox(platform, session, x.external_id)
        else:
            at_provider.setdefault(x.provider, {}).setdefault("subscriptions", []).append(x.external_id)
        x.status, x.ended_at, x.live_key, x.cancel_at_period_end = "canceled", now, None, False
    erased["subscriptions_ended"] = len(live)

    # the payment ledger stays for tax law, without the person
    ledger = Revenue.user_id == uid
    kept = session.scalar(select(func.count()).select_from(Revenue).where(ledger)) or 0
    last = session.scalar(select(func.max(Revenue.occurred_at)).where(ledger))
    if kept:
        _run(session, update(Revenue).where(ledger).values(user_id=None))
        retained.append(Retained("payment records", TAX_WHY, kept,
                                 last + timedelta(days=365 * TAX_YEARS + TAX_YEARS // 4) if last else None))
    if aid is not None:
        mine = Revenue.artist_id == aid
        n = session.scalar(select(func.count()).select_from(Revenue).where(mine)) or 0
        last = session.scalar(select(func.max(Revenue.occurred_at)).where(mine))
        if n:  # the artist's id goes with the artist row (the column is set to NULL on delete)
            retained.append(Retained("revenue records of your artist account", TAX_WHY, n,
                                     last + timedelta(days=365 * TAX_YEARS + TAX_YEARS // 4) if last else None))

    # the provider's webhook events naming them (ids, customer ids): the ledger above is the record
    needles = [str(uid), uid.hex, *customers, *(x.external_id for x in subs)]
    erased["provider_events"] = _run(session, delete(WebhookEvent).where(_naming(WebhookEvent.payload, needles)))
    # the sandbox is this deployment's pretend provider: its copies of them go too
    sb = [str(uid), uid.hex, *(x.external_id for x in subs if x.provider == sandbox.PROVIDER and x.user_id == uid)]
    erased["sandbox_objects"] = _run(session, delete(SandboxObject).where(_naming(SandboxObject.data, sb)))
    erased["subscriptions"] = _run(session, delete(Subscription).where(Subscription.user_id == uid))
    erased["customers"] = _run(session, delete(Customer).where(Customer.user_id == uid))

    if aid is not None:
        acct = session.get(Account, aid)
        if acct is not None:
            if acct.external_id:
                retained.append(Retained(
                    "payout account at Stripe",
                    "the connected account is the artist's own at Stripe, kept by Stripe under its own legal "
                    "obligations; only this platform's link to it was removed", 1))
            erased["payout_account"] = _run(session, delete(Account).where(Account.artist_id == aid))
        tier_ids = select(Tier.id).where(Tier.artist_id == aid)
        prices = list(session.scalars(select(Price).where(Price.tier_id.in_(tier_ids), Price.active.is_(True))))
        for p in prices:
            if p.provider != sandbox.PROVIDER:
                work = at_provider.setdefault(p.provider, {})
                work.setdefault("prices", []).append(p.external_id)
                if p.product_id not in work.setdefault("products", []):
                    work["products"].append(p.product_id)
        erased["prices_archived"] = _run(session, update(Price).where(Price.id.in_([p.id for p in prices]))
                                         .values(active=False, archived_at=now)) if prices else 0
        # the fans' subscriptions to them were ended above; the rows go with the artist (cascade)
    session.flush()
    for provider, work in at_provider.items():
        platform.jobs.enqueue(f"billing.{JOB}", session=session, provider=provider, **work)
    return ErasureReport(erased={k: v for k, v in erased.items() if v}, retained=tuple(retained))


def _end_in_sandbox(platform, session, external_id: str) -> None:
    """End a sandbox subscription now (the sandbox lives in this database: same transaction)."""
    row = session.get(SandboxObject, external_id)
    if row is None or row.kind != "subscription":
        return
    data = dict(row.data)
    if data.get("status") != "canceled":
        data.update(status="canceled", ended_at=int(platform.clock.now().timestamp()), cancel_at_period_end=False)
        row.data, row.updated_at = data, platform.clock.now()


def at_provider(ctx, provider: str, subscriptions: list[str] = (), prices: list[str] = (),
                products: list[str] = ()) -> dict[str, Any]:
    """After an erasure committed: cancel its subscriptions now and archive its prices and products
    at the provider (idempotent: an already cancelled subscription is skipped). A failure raises,
    and the job is retried."""
    platform = ctx.platform
    found = platform.payments.provider(provider)
    done = {"cancelled": 0, "archived": 0}
    from musicconnect.contracts import SubscriptionRef

    for ext in subscriptions:
        current = dict(platform.payments.call(found, "fetch", kind="subscription", object_id=ext))
        if current.get("status") in ("canceled", "incomplete_expired"):
            continue
        ref = SubscriptionRef(provider=provider, external_id=ext, user_id=None, artist_id=None, tier_id=None,
                              interval="month", customer_id=None)
        platform.payments.call(found, "cancel", subscription=ref, at_period_end=False)
        done["cancelled"] += 1
    api = getattr(found, "_api", None)
    if (prices or products) and api is not None:
        client = api(platform)
        for price_id in prices:
            client.archive_price(price_id)
            done["archived"] += 1
        for product_id in products:
            client.update_product(product_id, {"active": False})
    log.info("billing: erasure at %s: %s", provider, done)
    return done
