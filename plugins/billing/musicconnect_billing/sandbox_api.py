"""The sandbox provider's hosted pages (checkout and customer portal) and its test controls.
Every page says plainly that no money moves. All of it answers 404 unless the sandbox is turned
on (``serve --demo`` or ``MC_BILLING_SANDBOX=true``), and never in production.

Everything a page shows is HTML-escaped; the URLs it links or redirects to went through
:func:`musicconnect.web.check_return_url` when the client gave them and are checked again here."""
from __future__ import annotations

import html
import uuid
from typing import Literal

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from musicconnect import Actor, NotFound, Problem
from musicconnect.models import Tier
from musicconnect.web import check_return_url, get_platform, public, scope

from . import providers, sandbox, state, subscriptions
from .models import Subscription
from .sandbox_links import portal_user

# The hosted pages are public (no Authorization header reaches them from a browser): a checkout is
# named by an unguessable id, a portal by a signed, expiring link. The admin control needs "admin".
router = APIRouter(prefix="/sandbox")
BANNER = ("<p style='background:#ffe08a;border:3px solid #b8860b;padding:.6em;font-size:1.2em'>"
          "<b>SANDBOX &mdash; test mode:</b> no real money moves and nothing here is a real payment. "
          "Paid tiers bought here are free; an operator turned this on for a demo or tests.</p>")


def _guard(platform) -> None:
    if providers.SANDBOX not in providers.enabled(platform):
        raise Problem(404, "sandbox-disabled", "the sandbox provider is not enabled on this platform")


def _safe_url(platform, url: str | None) -> str:
    """A stored URL to link or redirect to: itself when still allowed, else the platform's home."""
    home = platform.settings.base_url.rstrip("/") + "/"
    try:
        return check_return_url(platform, url, "url") if url else home
    except Problem:
        return home


# Keyboard use: real buttons and links in reading order, and a focus ring that always shows
# (the browser's own can be faint on the yellow banner); the language is declared for screen readers.
STYLE = ("<style>body{font-family:sans-serif;max-width:40em;margin:2em auto;padding:0 1em;line-height:1.5}"
         "button{font:inherit;padding:.5em 1em;cursor:pointer}"
         "a:focus-visible,button:focus-visible{outline:3px solid #1a4fd6;outline-offset:3px}"
         "form{margin:1em 0}</style>")


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(f"<!doctype html><html lang=en><meta charset=utf-8>"
                        f"<meta name=viewport content='width=device-width,initial-scale=1'>"
                        f"<title>{html.escape(title)}</title>{STYLE}"
                        f"<body><main>{BANNER}<h1>{html.escape(title)}</h1>{body}</main></body></html>")


@router.get("/checkout/{cs_id}", response_class=HTMLResponse, dependencies=[Depends(public)])
def checkout_page(cs_id: str, platform=Depends(get_platform)):
    """The sandbox's hosted checkout page."""
    _guard(platform)
    with platform.session() as s:
        cs = sandbox.get(s, cs_id, "checkout")
        tier = s.get(Tier, uuid.UUID(cs["_tier_id"]))
        price = sandbox.price_of(tier, cs["_interval"])
    amount = f"{price['unit_amount'] / 100:.2f} {price['currency'].upper()} / {cs['_interval']}"
    return _page(f"Support: {tier.name}", f"<p>{html.escape(amount)}</p>"
                 f"<form method=post action='{html.escape(cs_id)}/pay'>"
                 f"<button type=submit>Pay with the sandbox test card</button></form>"
                 f"<p><a href='{html.escape(_safe_url(platform, cs.get('cancel_url')))}'>Cancel</a></p>")


@router.post("/checkout/{cs_id}/pay", dependencies=[Depends(public)],
             responses={303: {"description": "to the success URL (browsers); JSON with Accept: application/json"}})
def pay(cs_id: str, request: Request, platform=Depends(get_platform)):
    """Complete a sandbox checkout (what paying on the hosted page does): 303 to the success URL,
    or JSON for API clients (``Accept: application/json``)."""
    _guard(platform)
    with platform.session() as s:
        cs = sandbox.pay_checkout(platform, s, cs_id)
    state.apply_now(platform, providers.SANDBOX.id, cs["subscription"])
    if "application/json" in request.headers.get("accept", ""):
        with platform.session() as s:
            sub = s.scalar(select(Subscription).where(Subscription.provider == "sandbox",
                                                      Subscription.external_id == cs["subscription"]))
            return {"status": cs["status"], "subscription": cs["subscription"],
                    "subscription_id": str(sub.id) if sub else None}
    return RedirectResponse(_safe_url(platform, cs.get("success_url")), status_code=303)


@router.get("/portal/{token}", response_class=HTMLResponse, dependencies=[Depends(public)])
def portal_page(token: str, return_url: str | None = None, platform=Depends(get_platform)):
    """The sandbox's customer portal: the fan's subscriptions, with cancel, resume and switch tier."""
    _guard(platform)
    user_id = portal_user(platform, token)
    back = check_return_url(platform, return_url, "return_url") if return_url else _safe_url(platform, None)
    parts = []
    with platform.session() as s:
        subs = s.scalars(select(Subscription).where(Subscription.user_id == user_id, Subscription.provider == "sandbox")
                         .order_by(Subscription.created_at.desc())).all()
        for sub in subs:
            tier = s.get(Tier, sub.tier_id)
            others = s.scalars(select(Tier).where(Tier.artist_id == sub.artist_id, Tier.is_active.is_(True),
                                                  Tier.rank > 0, Tier.id != sub.tier_id)).all()
            act = html.escape(f"{token}/subscriptions/{sub.id}")
            buttons = ""
            if sub.status in ("active", "past_due"):
                flip = "resume" if sub.cancel_at_period_end else "cancel"
                buttons += f"<form method=post action='{act}/{flip}'><button>{flip.title()}</button></form>"
                for o in others:
                    buttons += (f"<form method=post action='{act}/change'>"
                                f"<input type=hidden name=tier_id value='{html.escape(str(o.id))}'>"
                                f"<button>Switch to {html.escape(o.name)}</button></form>")
            parts.append(f"<li>{html.escape(tier.name if tier else '?')}: {html.escape(sub.status)}"
                         f"{' (ends at period end)' if sub.cancel_at_period_end else ''}{buttons}</li>")
    body = f"<ul>{''.join(parts) or '<li>No subscriptions.</li>'}</ul><p><a href='{html.escape(back)}'>Back</a></p>"
    return _page("Your subscriptions", body)


@router.post("/portal/{token}/subscriptions/{sub_id}/{action}", dependencies=[Depends(public)], status_code=303,
             response_class=RedirectResponse, responses={303: {"description": "back to the portal page"}},
             openapi_extra={"requestBody": {"content": {"application/x-www-form-urlencoded": {
                 "example": {"tier_id": "0b9f6c2e-4d1a-4e7b-9a53-2f8c1d7e6a40"}}}}})
def portal_action(token: str, sub_id: uuid.UUID, action: Literal["cancel", "resume", "change"], request: Request,
                  tier_id: uuid.UUID = Form(None, description="the tier to switch to (change)"),
                  platform=Depends(get_platform)):
    """A portal button: ``cancel``, ``resume`` or ``change`` (form field ``tier_id``)."""
    _guard(platform)
    actor = Actor(portal_user(platform, token), "fan")
    if action == "change":
        if tier_id is None:
            raise Problem(422, "validation", "tier_id is required")
        subscriptions.change(platform, actor, sub_id, tier_id)
    elif action in ("cancel", "resume"):
        subscriptions.set_cancel(platform, actor, sub_id, action == "cancel")
    else:
        raise NotFound("portal action")
    return RedirectResponse(f"../../{token}", status_code=303)


class RenewIn(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{}, {"fail": True}]}}

    fail: bool = Field(default=False, description="make this renewal's payment fail (the subscription becomes past due)")


@router.post("/subscriptions/{sub_id}/renew")
def renew_now(sub_id: uuid.UUID, body: RenewIn, actor: Actor = Depends(scope("admin")), platform=Depends(get_platform)):
    """Admins, for demos and tests: end this sandbox subscription's period now (renew it, end it
    when cancelled, or with ``fail`` make the renewal payment fail and the subscription past due)."""
    _guard(platform)
    with platform.session() as s:
        sub = s.get(Subscription, sub_id)
        if sub is None or sub.provider != "sandbox":
            raise NotFound("sandbox subscription")
        ext = sub.external_id
        if body.fail:
            sandbox.fail_next_payment(platform, s, ext)
        sandbox.renew(platform, s, sandbox.get(s, ext, "subscription"))
    state.apply_now(platform, providers.SANDBOX.id, ext)
    return subscriptions.current_view(platform, sub_id)
