"""One-click unsubscribe (RFC 8058): ``POST /api/v1/notify/unsubscribe/{token}`` (what mail
clients send, ``List-Unsubscribe=One-Click``; no sign-in: the signed token is the authority) and
``GET`` of the same URL (a page with a button that POSTs). A forged or expired token: 400, a page
that lets the fan sign in (problem+json for API clients)."""
from __future__ import annotations

import html

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel

from musicconnect import Problem
from musicconnect.web import get_platform, problem_response, public

from . import unsubscribe as unsub

router = APIRouter()

TOKEN = Path(min_length=10, max_length=400, pattern=r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$",
             description="the signed token of the link")


class UnsubscribedOut(BaseModel):
    unsubscribed: bool = True
    kind: str
    changed: bool


def _wants_html(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "application/json" not in accept and "problem+json" not in accept


def _page(platform, title: str, body: str, status: int = 200) -> HTMLResponse:
    site = html.escape(getattr(platform.plugin_settings("notify"), "email_site_name", None) or "MusicConnect")
    return HTMLResponse(
        "<!doctype html><html lang=en><meta charset=utf-8><meta name=viewport content='width=device-width'>"
        f"<title>{html.escape(title)} · {site}</title>"
        "<body style='font-family:system-ui,sans-serif;max-width:32em;margin:3em auto;padding:0 1em'>"
        f"<h1>{html.escape(title)}</h1>{body}</body></html>", status_code=status,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


def _what(kind: str) -> str:
    return "all email from us" if kind == unsub.ALL else f"“{kind}” emails"


def _bad(platform, request: Request, exc: unsub.BadToken):
    slug = "unsubscribe-link-expired" if exc.expired else "invalid-unsubscribe-link"
    problem = Problem(400, slug, str(exc), sign_in_url=_sign_in(platform))
    if not _wants_html(request):
        return problem_response(problem, request)
    return _page(platform, "This link does not work",
                 f"<p>{html.escape(str(exc))}.</p><p>Sign in to choose which notifications you get:</p>"
                 f"<p><a href='{html.escape(_sign_in(platform))}'>Sign in</a></p>", status=400)


def _sign_in(platform) -> str:
    configured = getattr(platform.plugin_settings("notify"), "sign_in_url", None)
    return configured or str(platform.settings.base_url).rstrip("/") + "/"


_RESPONSES = {400: {"description": "`invalid-unsubscribe-link` / `unsubscribe-link-expired`: forged, malformed "
                                   "or expired (an HTML page with a sign-in link for browsers)",
                    "content": {"application/problem+json": {}, "text/html": {}}}}


@router.get("/unsubscribe/{token}", response_class=HTMLResponse, dependencies=[Depends(public)], responses=_RESPONSES)
def unsubscribe_page(request: Request, token: str = TOKEN, platform=Depends(get_platform)):
    """The page an unsubscribe link opens: what it stops, and a button that confirms (POST).
    Nothing changes on GET (mail scanners follow links)."""
    try:
        what = unsub.read_token(platform, token)
    except unsub.BadToken as exc:
        return _bad(platform, request, exc)
    return _page(platform, "Unsubscribe",
                 f"<p>Stop {html.escape(_what(what.kind))}?</p>"
                 f"<form method=post><input type=hidden name=List-Unsubscribe value=One-Click>"
                 f"<button type=submit>Unsubscribe</button></form>")


@router.post("/unsubscribe/{token}", response_model=UnsubscribedOut, dependencies=[Depends(public)],
             responses={**_RESPONSES, 200: {"content": {"application/json": {}, "text/html": {}},
                                            "description": "unsubscribed (again: `changed` false)"}})
def unsubscribe_now(request: Request, token: str = TOKEN, platform=Depends(get_platform)):
    """RFC 8058 one-click unsubscribe: takes effect at once, without signing in; idempotent. The
    body (``List-Unsubscribe=One-Click``) is not required: the signed token is the authority."""
    try:
        what = unsub.read_token(platform, token)
    except unsub.BadToken as exc:
        return _bad(platform, request, exc)
    changed = unsub.apply(platform, what)
    if _wants_html(request):
        return _page(platform, "You are unsubscribed",
                     f"<p>You will no longer get {html.escape(_what(what.kind))}.</p>"
                     f"<p><a href='{html.escape(_sign_in(platform))}'>Sign in</a> to change your notification "
                     f"settings.</p>")
    return JSONResponse(UnsubscribedOut(kind=what.kind, changed=changed).model_dump())
