"""Billing routes (mounted at /api/v1/billing)."""
from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any, Literal

import anyio
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from musicconnect import Actor, NotFound, Problem
from musicconnect.models import Artist
from musicconnect.web import check_return_url, ensure_artist_owner, get_platform, public, scope

from . import connect, providers, subscriptions
from .checks import checkout_checks
from .models import Account, Revenue, Subscription

router = APIRouter()
MAX_OFFSET = 1_000_000  # list offsets past this are refused (422), never handed to the database


_URL_RULE = ("an absolute http(s) URL on this platform's own address (MC_BASE_URL) or an origin listed in "
             "MC_ALLOWED_ORIGINS; anything else is refused (422 invalid-return-url)")


class CheckoutIn(BaseModel):
    model_config = {"json_schema_extra": {"examples": [
        {"tier_id": "0b9f6c2e-4d1a-4e7b-9a53-2f8c1d7e6a40", "interval": "month"},
        {"tier_id": "0b9f6c2e-4d1a-4e7b-9a53-2f8c1d7e6a40", "interval": "year", "provider": "sandbox",
         "success_url": "http://127.0.0.1:8000/?checkout=success"}]}}

    tier_id: uuid.UUID = Field(description="a paid tier of the artist (GET /api/v1/artists/{id}/tiers)")
    interval: Literal["month", "year"] = "month"
    provider: str | None = Field(default=None, description="a payment provider id; default: Stripe when configured, "
                                                            "else the sandbox when it is turned on")
    success_url: str | None = Field(default=None, max_length=2000, description=_URL_RULE)
    cancel_url: str | None = Field(default=None, max_length=2000, description=_URL_RULE)


class CheckoutOut(BaseModel):
    """A checkout to send the fan to (`url`). With the offline sandbox (`sandbox: true`) `url`
    is the sandbox's hosted checkout page, `/api/v1/billing/sandbox/checkout/{id}`: a browser pays
    with the page's button (a form POST to `{url}/pay`, answered 303 to `success_url`); an API
    client pays with `POST {url}/pay` and `Accept: application/json` (no body), answered
    `{status, subscription, subscription_id}`. Either way the membership is active at once."""

    provider: str
    id: str = Field(description="the checkout session's id (the sandbox pays it at /api/v1/billing/sandbox/checkout/{id}/pay)")
    url: str = Field(description="where the fan pays: the provider's hosted page (sandbox: POST {url}/pay to pay it)")
    expires_at: int | None = None
    sandbox: bool = Field(default=False, description="true: the offline sandbox (test mode, no real money moves)")


class PortalIn(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{}, {"return_url": "http://127.0.0.1:8000/account"}]}}

    provider: str | None = None
    return_url: str | None = Field(default=None, max_length=2000, description=_URL_RULE)


class ChangeIn(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{"tier_id": "0b9f6c2e-4d1a-4e7b-9a53-2f8c1d7e6a40"}]}}

    tier_id: uuid.UUID = Field(description="another paid tier of the same artist (GET .../preview shows the proration)")


class FeeIn(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{"percent": 7.5}, {"percent": None}]}}

    percent: Decimal | None = Field(default=None, ge=0, le=100, decimal_places=2,
                                    description="the platform fee for this artist; null restores the default")


class ConnectIn(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{}, {"return_url": "http://127.0.0.1:8000/artist/payouts",
                                                        "refresh_url": "http://127.0.0.1:8000/artist/payouts?retry=1"}]}}

    return_url: str | None = Field(default=None, max_length=2000, description=_URL_RULE)
    refresh_url: str | None = Field(default=None, max_length=2000, description=_URL_RULE)


def _provider(platform, provider_id: str | None):
    """The provider to use, from the core's registry: the one asked for (404 when no enabled
    plugin offers it), else billing's first own provider that is on (Stripe, then the sandbox),
    else the only one there is."""
    available = platform.payments.providers()
    if not available:
        raise Problem(503, "payment-provider-not-configured",
                      "this platform takes no payments: no Stripe key is configured (MC_BILLING_STRIPE_SECRET_KEY) "
                      "and the test-mode sandbox is off (it runs only with serve --demo or MC_BILLING_SANDBOX=true)")
    if provider_id is not None:
        return platform.payments.provider(provider_id)
    for own in providers.enabled(platform):
        if own.id in available:
            return available[own.id][1]
    if len(available) == 1:
        return next(iter(available.values()))[1]
    raise Problem(422, "validation", "several payment providers are on: say which one (provider)",
                  available=sorted(available))


def _url(platform, given: str | None, path: str, field: str) -> str:
    """A client's URL to send the user back to (only the platform's own origins), or ours."""
    if given is not None:
        return check_return_url(platform, given, field)
    return f"{platform.settings.base_url.rstrip('/')}{path}"


# ---------------------------------------------------------------- fans

@router.post("/checkout", response_model=CheckoutOut, status_code=201)
async def checkout(body: CheckoutIn, actor: Actor = Depends(scope("billing:write")), platform=Depends(get_platform)):
    """Start a checkout for a paid tier; send the fan to the returned ``url``."""
    provider = _provider(platform, body.provider)
    success_url = _url(platform, body.success_url, "/?checkout=success", "success_url")
    cancel_url = _url(platform, body.cancel_url, "/?checkout=cancelled", "cancel_url")

    def start() -> dict[str, Any]:
        if provider not in (providers.STRIPE, providers.SANDBOX):  # those check inside their transaction
            with platform.read() as s:
                checkout_checks(platform, s, actor.user_id, body.tier_id, body.interval)
        return dict(platform.payments.call(provider, "checkout", user_id=actor.user_id, tier_id=body.tier_id,
                                           interval=body.interval, success_url=success_url, cancel_url=cancel_url))

    result = await anyio.to_thread.run_sync(start)
    return {**result, "provider": provider.id, "sandbox": provider.id == providers.SANDBOX.id}


@router.post("/portal")
async def portal(body: PortalIn, actor: Actor = Depends(scope("billing:write")), platform=Depends(get_platform)):
    """The provider's customer portal (card, invoices, cancel, switch tier); send the fan to ``url``."""
    provider = _provider(platform, body.provider)
    return_url = _url(platform, body.return_url, "/", "return_url")
    result = await anyio.to_thread.run_sync(lambda: dict(platform.payments.call(
        provider, "portal", user_id=actor.user_id, return_url=return_url)))
    return {**result, "provider": provider.id, "sandbox": provider.id == providers.SANDBOX.id}


@router.get("/subscriptions")
def my_subscriptions(limit: int = Query(100, ge=1, le=500), offset: int = Query(0, ge=0, le=MAX_OFFSET),
                     actor: Actor = Depends(scope("billing:read")), platform=Depends(get_platform)):
    """Your subscriptions, newest first, with the entitlement each gives."""
    with platform.session() as s:
        rows = s.scalars(select(Subscription).where(Subscription.user_id == actor.user_id)
                         .order_by(Subscription.created_at.desc(), Subscription.id).offset(offset).limit(limit)).all()
        return [subscriptions.view(s, r) for r in rows]


@router.get("/subscriptions/{sub_id}")
def read_subscription(sub_id: uuid.UUID, actor: Actor = Depends(scope("billing:read")), platform=Depends(get_platform)):
    with platform.session() as s:
        return subscriptions.view(s, subscriptions.mine(s, actor, sub_id))


@router.get("/subscriptions/{sub_id}/preview")
def preview(sub_id: uuid.UUID, tier_id: uuid.UUID | None = None, actor: Actor = Depends(scope("billing:read")),
            platform=Depends(get_platform)):
    """The next invoice, and with ``tier_id`` the next invoice if you changed to that tier
    (prorations included: an upgrade credits unused time and charges the rest of the period)."""
    return subscriptions.preview(platform, actor, sub_id, tier_id)


@router.post("/subscriptions/{sub_id}/change")
def change(sub_id: uuid.UUID, body: ChangeIn, actor: Actor = Depends(scope("billing:write")), platform=Depends(get_platform)):
    """Move the subscription to another tier of the same artist. An upgrade applies at once (with
    proration on the next invoice); a downgrade keeps the higher tier until the period ends."""
    return subscriptions.change(platform, actor, sub_id, body.tier_id)


@router.post("/subscriptions/{sub_id}/cancel")
def cancel(sub_id: uuid.UUID, actor: Actor = Depends(scope("billing:write")), platform=Depends(get_platform)):
    """Cancel at the end of the paid period (access stays until then)."""
    return subscriptions.set_cancel(platform, actor, sub_id, True)


@router.post("/subscriptions/{sub_id}/resume")
def resume(sub_id: uuid.UUID, actor: Actor = Depends(scope("billing:write")), platform=Depends(get_platform)):
    """Undo a cancellation before the period ends."""
    return subscriptions.set_cancel(platform, actor, sub_id, False)


# ---------------------------------------------------------------- artists

@router.get("/connect")
def connect_status(actor: Actor = Depends(scope("artist:write")), platform=Depends(get_platform)):
    """Your payout account: whether it can take payments, what is still due, your platform fee."""
    if actor.artist_id is None:
        raise Problem(403, "not-an-artist", "only artists have payout accounts")
    with platform.session() as s:
        return connect.view(s.get(Account, actor.artist_id), platform.plugin_settings("billing"))


@router.post("/connect")
async def connect_start(body: ConnectIn, actor: Actor = Depends(scope("artist:write")),
                        platform=Depends(get_platform)):
    """Start (or continue) payout onboarding at Stripe; send the artist to the returned ``url``."""
    if actor.artist_id is None:
        raise Problem(403, "not-an-artist", "only artists have payout accounts")
    return_url = _url(platform, body.return_url, "/?connect=done", "return_url")
    refresh_url = _url(platform, body.refresh_url, "/?connect=retry", "refresh_url")
    if not platform.plugin_settings("billing").stripe_enabled:
        raise Problem(409, "stripe-not-configured", "this platform takes no real payments (no Stripe key): "
                                                    "there is nothing to connect")
    return await anyio.to_thread.run_sync(lambda: connect.onboarding_link(
        platform, actor.artist_id, return_url, refresh_url))


@router.post("/connect/refresh")
async def connect_refresh(actor: Actor = Depends(scope("artist:write")), platform=Depends(get_platform)):
    """Ask Stripe for your payout account's status now (what onboarding's ``account.updated``
    webhook brings later): call it when you come back from the onboarding link."""
    if actor.artist_id is None:
        raise Problem(403, "not-an-artist", "only artists have payout accounts")
    settings = platform.plugin_settings("billing")
    if not settings.stripe_enabled:
        raise Problem(409, "stripe-not-configured", "this platform takes no real payments (no Stripe key): "
                                                    "there is no payout account to ask about")
    acct = await anyio.to_thread.run_sync(lambda: connect.refresh(platform, actor.artist_id))
    return connect.view(acct, settings)


@router.put("/artists/{artist_id}/fee")
def set_fee(artist_id: uuid.UUID, body: FeeIn, actor: Actor = Depends(scope("admin")), platform=Depends(get_platform)):
    """Admins: this artist's platform fee (applies to new subscriptions and to the revenue ledger)."""
    with platform.session() as s:
        if s.get(Artist, artist_id) is None:
            raise NotFound("artist")
        acct = connect.ensure_row(s, artist_id, platform.clock.now())
        acct.fee_percent = body.percent
        acct.updated_at = platform.clock.now()
        s.flush()
        platform.emit(s, "billing.fee_changed", actor_id=actor.user_id, artist_id=artist_id,
                      subject=("artist", artist_id), data={"percent": str(body.percent) if body.percent is not None else None})
        return connect.view(acct, platform.plugin_settings("billing"))


@router.get("/artists/{artist_id}/revenue")
def artist_revenue(artist_id: uuid.UUID, limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=MAX_OFFSET),
                   actor: Actor = Depends(scope("analytics:read")), platform=Depends(get_platform)):
    """The revenue ledger of an artist: totals per currency and the latest rows."""
    ensure_artist_owner(actor, artist_id)
    with platform.session() as s:
        totals = s.execute(select(Revenue.currency, func.sum(Revenue.gross), func.sum(Revenue.platform_fee),
                                  func.sum(Revenue.artist_net), func.sum(Revenue.provider_fee))
                           .where(Revenue.artist_id == artist_id).group_by(Revenue.currency)).all()
        rows = s.scalars(select(Revenue).where(Revenue.artist_id == artist_id)
                         .order_by(Revenue.occurred_at.desc(), Revenue.id).offset(offset).limit(limit)).all()
        return {"totals": [{"currency": c, "gross": int(g or 0), "platform_fee": int(p or 0), "artist_net": int(n or 0),
                            "provider_fee": int(f) if f is not None else None} for c, g, p, n, f in totals],
                "entries": [{"kind": r.kind, "provider": r.provider, "external_id": r.external_id, "gross": r.gross,
                             "currency": r.currency, "provider_fee": r.provider_fee, "platform_fee": r.platform_fee,
                             "artist_net": r.artist_net, "tier_id": str(r.tier_id) if r.tier_id else None,
                             "occurred_at": r.occurred_at.isoformat()} for r in rows]}


# ---------------------------------------------------------------- webhooks

async def _webhook(platform, provider_id: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """Any registered provider's webhook: the core's registry finds it (404 otherwise), the
    provider verifies the signature over the raw body, then acts on the verified event."""
    return await anyio.to_thread.run_sync(lambda: platform.payments.receive_webhook(provider_id, headers, body))


WEBHOOK_PATH = "/api/v1/billing/webhooks/{provider_id}"
WEBHOOK_BODY_LIMIT = 1 << 20


@router.post("/webhooks/{provider_id}", responses={400: {"description": "bad signature or payload"}},
             dependencies=[Depends(public)])
async def webhook(provider_id: str, request: Request, platform=Depends(get_platform)):
    """Webhooks of any enabled payment provider (Stripe: ``/api/v1/billing/webhooks/stripe``;
    another plugin's provider: its id). Verified by the provider, stored or applied once per
    event id, acknowledged. Served by the fast path. Public: the provider's signature is the
    authentication."""
    return await _webhook(platform, provider_id, {k.lower(): v for k, v in request.headers.items()},
                          await request.body())


async def webhook_fast(req):
    """The same, before FastAPI runs (see ``musicconnect.fastpath``)."""
    import json

    from musicconnect.fastpath import FastResponse

    body = await req.body(limit=WEBHOOK_BODY_LIMIT)
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in req.scope["headers"]}
    result = await _webhook(req.platform, req.params["provider_id"], headers, body)
    return FastResponse(json.dumps(result).encode())
