"""Artists' payout accounts (Stripe Connect Express): onboarding links and status."""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from musicconnect import Problem
from musicconnect.models import Artist, User

from .models import Account


def percent(value) -> str:
    """7.50 → "7.5", 10 → "10"."""
    from decimal import Decimal

    return format(Decimal(str(value)).quantize(Decimal("0.01")).normalize(), "f")


def view(acct: Account | None, settings) -> dict[str, Any]:
    if acct is None:
        return {"connected": False, "account_id": None, "charges_enabled": False, "payouts_enabled": False,
                "details_submitted": False, "requirements": [], "fee_percent": percent(settings.platform_fee_percent),
                "fee_override": False}
    return {"connected": bool(acct.external_id), "account_id": acct.external_id,
            "charges_enabled": acct.charges_enabled, "payouts_enabled": acct.payouts_enabled,
            "details_submitted": acct.details_submitted, "requirements": list(acct.requirements or []),
            "fee_percent": percent(acct.fee_percent if acct.fee_percent is not None else settings.platform_fee_percent),
            "fee_override": acct.fee_percent is not None}


def ensure_row(session: Session, artist_id: uuid.UUID, now) -> Account:
    acct = session.get(Account, artist_id)
    if acct is None:
        acct = Account(artist_id=artist_id, provider="stripe", requirements=[], updated_at=now)
        session.add(acct)
        session.flush()
    return acct


def onboarding_link(platform, artist_id: uuid.UUID, return_url: str, refresh_url: str) -> dict[str, Any]:
    """Create the artist's connected account once, then an onboarding link to finish it."""
    from .stripe_gateway import StripeGateway

    settings = platform.plugin_settings("billing")
    api = StripeGateway(settings)
    with platform.session() as s:
        artist = s.get(Artist, artist_id)
        email = s.scalar(select(User.email).where(User.id == artist.user_id)) if artist else None
        acct = ensure_row(s, artist_id, platform.clock.now())
        if not acct.external_id:
            created = api.create_account({
                "type": "express", "country": settings.connect_country, "email": email,
                "capabilities": {"card_payments": {"requested": True}, "transfers": {"requested": True}},
                "metadata": {"artist_id": str(artist_id)}}, idempotency_key=f"mc-account-{artist_id}")
            acct.external_id = created["id"]
            _copy(acct, created, platform.clock.now())
        account_id = acct.external_id
    link = api.create_account_link({"account": account_id, "type": "account_onboarding",
                                    "return_url": return_url, "refresh_url": refresh_url})
    return {"url": link["url"], "expires_at": link.get("expires_at"), "account_id": account_id}


def refresh(platform, artist_id: uuid.UUID) -> Account | None:
    """Ask Stripe for the artist's connected account now and store what it says (what the
    ``account.updated`` webhook does, for an artist back from onboarding before the webhook)."""
    from .stripe_gateway import StripeGateway

    with platform.session() as s:
        acct = s.get(Account, artist_id)
        account_id = acct.external_id if acct is not None else None
    if not account_id:
        return None
    current = StripeGateway(platform.plugin_settings("billing")).fetch_account(account_id)
    with platform.session() as s:
        acct = s.scalar(select(Account).where(Account.artist_id == artist_id).with_for_update())
        _copy(acct, current, platform.clock.now())
        s.flush()
        return acct


def _copy(acct: Account, obj: dict[str, Any], now) -> None:
    acct.charges_enabled = bool(obj.get("charges_enabled"))
    acct.payouts_enabled = bool(obj.get("payouts_enabled"))
    acct.details_submitted = bool(obj.get("details_submitted"))
    acct.requirements = list(((obj.get("requirements") or {}).get("currently_due")) or [])
    acct.updated_at = now


def sync_account(platform, session: Session, provider: str, account_id: str) -> tuple[str, str]:
    acct = session.scalar(select(Account).where(Account.external_id == account_id).with_for_update())
    if acct is None:
        return "ignored", f"unknown connected account {account_id}"
    current = platform.payments.call(provider, "fetch", kind="account", object_id=account_id)
    _copy(acct, current, platform.clock.now())
    session.flush()
    return "processed", f"account {account_id}: charges {'on' if acct.charges_enabled else 'off'}"


def payable(session: Session, artist_id: uuid.UUID) -> Account:
    acct = session.get(Account, artist_id)
    if acct is None or not acct.external_id:
        raise Problem(409, "artist-not-payable", "this artist has not connected a payout account yet")
    if not acct.charges_enabled:
        raise Problem(409, "artist-not-payable", "this artist's payout account cannot take payments yet "
                                                 "(onboarding unfinished)")
    return acct
