"""Hook implementations of the billing plugin."""
from __future__ import annotations

import logging
import uuid
from pathlib import Path

from sqlalchemy import select

from musicconnect import JobSpec, Metric, RevenueShare, hookimpl

from . import duplicates, models, privacy, processing, providers, revenue, sandbox, state  # noqa: F401 (models: tables join the metadata)
from .settings import BillingSettings

log = logging.getLogger("musicconnect.billing")


@hookimpl
def register_settings(platform):
    return BillingSettings


@hookimpl
def register_scopes(platform):
    return {"billing:read": "read your subscriptions and their next invoices",
            "billing:write": "start checkouts, open the billing portal, change, cancel or resume subscriptions"}


@hookimpl
def register_migrations(platform):
    return Path(__file__).parent / "migrations"


@hookimpl
def register_routes(platform):
    from .api import router
    from .sandbox_api import router as sandbox_router

    return [router, sandbox_router]


@hookimpl
def on_startup(platform):
    """Say loudly, at every start, when the sandbox (paid tiers for free) is on, and when nothing
    takes payments."""
    settings = platform.plugin_settings("billing")
    if providers.sandbox_on(platform, settings):
        log.warning("BILLING SANDBOX IS ON: test mode, no real money moves and every paid tier can be had for "
                    "free through /api/v1/billing/sandbox; for demos and tests only (turned on by serve --demo or "
                    "MC_BILLING_SANDBOX=true)")
    elif settings.sandbox:
        log.error("billing: sandbox = true is ignored in production (MC_ENV=production)")
    elif not settings.stripe_enabled:
        log.warning("billing: no payment provider: set MC_BILLING_STRIPE_SECRET_KEY (checkouts answer 503 "
                    "payment-provider-not-configured until then)")


@hookimpl
def register_fast_routes(platform):
    from musicconnect.fastpath import FastRoute

    from .api import WEBHOOK_PATH, webhook_fast

    return [FastRoute("POST", WEBHOOK_PATH, webhook_fast, scope="public")]  # the provider's signature authenticates


@hookimpl
def register_commands(platform):
    from .cli import make_app

    return make_app(platform)


@hookimpl
def register_payment_providers(platform):
    return providers.enabled(platform)


@hookimpl
def on_payment_event(platform, event):
    """Another plugin's provider was paid: its payment joins the artist's revenue ledger (billing's
    own providers write theirs while processing the invoice, with the processing fee)."""
    if event.type == "payment.succeeded" and event.provider not in providers.OWN:
        revenue.record_foreign_payment(platform, event)


@hookimpl
def revenue_shares(platform, artist_id, amount, currency):
    """The platform's application fee: 10% by default, or the artist's override."""
    settings = platform.plugin_settings("billing")
    with platform.session() as s:
        pct = revenue.fee_percent(s, settings, artist_id)
    fee = revenue.fee_of(amount, pct)
    return [RevenueShare("platform", fee, f"platform fee {pct}%")] if fee else []


# ---------------------------------------------------------------- jobs

def _sync_artist(ctx, artist_id: str):
    from .catalog import sync_artist
    from .stripe_gateway import StripeGateway

    settings = ctx.platform.plugin_settings("billing")
    if not settings.stripe_enabled:
        return {"skipped": "stripe is not configured"}
    return sync_artist(ctx.platform, StripeGateway(settings), uuid.UUID(artist_id))


def _settle_due(ctx):
    """Scheduled: apply downgrades whose paid period at the higher tier is over."""
    platform = ctx.platform
    settings = platform.plugin_settings("billing")
    now = platform.clock.now()
    done = 0
    with platform.session() as s:
        for row in s.scalars(select(models.Subscription).where(models.Subscription.entitled_until <= now)).all():
            state.settle(platform, s, settings, row)
            done += 1
    return {"settled": done}


def _sandbox_renew(ctx):
    if providers.SANDBOX not in providers.enabled(ctx.platform):
        return {"skipped": "sandbox disabled"}
    return sandbox.renew_due(ctx)


@hookimpl
def register_jobs(platform):
    return [JobSpec("process_event", processing.process, max_retries=0),
            JobSpec("sync_artist", _sync_artist, max_retries=5, min_backoff_ms=5000),
            JobSpec("retry_events", processing.retry_due, max_retries=0, every_seconds=30),
            JobSpec("settle_downgrades", _settle_due, max_retries=0, every_seconds=300),
            JobSpec("sandbox_renewals", _sandbox_renew, max_retries=0, every_seconds=60),
            JobSpec(duplicates.JOB, duplicates.close, max_retries=5, min_backoff_ms=5000),
            JobSpec("close_duplicates", duplicates.sweep, max_retries=0, every_seconds=600),
            JobSpec(privacy.JOB, privacy.at_provider, max_retries=8, min_backoff_ms=30000)]


@hookimpl
def on_event(platform, event):
    """Keep Stripe's catalogue in line with tiers: any tier change re-syncs the artist's prices."""
    if not event.type.startswith("tier.") or event.artist_id is None:
        return
    if platform.plugin_settings("billing").stripe_enabled:
        platform.jobs.enqueue("billing.sync_artist", subject=("artist", event.artist_id),
                              artist_id=str(event.artist_id))


# ---------------------------------------------------------------- analytics

@hookimpl
def register_metrics(platform):
    return [
        Metric("revenue_30d", "Revenue", "Payments minus refunds and disputes in the window (minor units)",
               revenue.revenue_30d, unit="money"),
        Metric("mrr", "Monthly recurring revenue", "Live subscriptions, yearly ones counted as a twelfth (minor units)",
               revenue.mrr, unit="money"),
        Metric("active_subscribers", "Active subscribers", "Fans with a live paid subscription",
               revenue.active_subscribers),
        Metric("churned_30d", "Churned subscriptions", "Paid subscriptions that ended in the window",
               revenue.churned_30d),
        Metric("arpu", "Revenue per subscriber", "Revenue in the window divided by active subscribers (minor units)",
               revenue.arpu, unit="money"),
    ]


# ---------------------------------------------------------------- demo

@hookimpl
def seed_demo(platform, session, demo):
    """Yearly prices on the demo tiers (two months free), and the cast's paid memberships as sandbox
    subscriptions with their payments (``demo.py``)."""
    from .demo import seed

    seed(platform, session, demo)


# ---------------------------------------------------------------- notifications (read by a notifications plugin)

@hookimpl
def register_notification_kinds(platform):
    from musicconnect import NotificationKind

    return [NotificationKind("billing.payment_failed", "Failed payments", "payment.failed",
                             {"title": "Your payment to {artist_name} failed",
                              "body": "We could not charge your card. Update your payment method to keep your membership.",
                              "url": "/settings/billing"}, "actor", default_channels=("inbox", "email"))]


# ---------------------------------------------------------------- the web app (docs/web.md)

@hookimpl
def web_extensions(platform):
    """The fan's billing screens: Join/Upgrade on the artist page, the checkout's return page
    (it polls the entitlements), the membership page (change, cancel, resume, the portal), and
    the artists' payouts page (the payout account's status, Stripe's onboarding link, earnings)."""
    return [{"kind": "assets", "directory": str(Path(__file__).parent / "web")},
            {"kind": "component", "slot": "artist", "module": "join.js"},
            {"kind": "component", "slot": "checkout-return", "module": "return.js"},
            {"kind": "page", "path": "/membership", "module": "membership.js", "title": "Membership"},
            {"kind": "page", "path": "/studio/payouts", "module": "payouts.js", "title": "Payouts",
             "audience": "artists"}]


@hookimpl
def export_user_data(platform, session, user):
    return privacy.export(platform, session, user)


@hookimpl
def erase_user_data(platform, session, user):
    return privacy.erase(platform, session, user)
