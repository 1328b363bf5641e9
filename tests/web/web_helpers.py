"""Helpers the web plugin's tests import (a module of its own: ``from conftest import`` would
pick whichever folder's conftest pytest loaded first when several folders run together)."""
from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends

from musicconnect import hookimpl
from musicconnect.web import public, scope

GUESTBOOK_JS = """import { html } from "@musicconnect/web";
export default function Guestbook() {
  return html`<section><h1>Guestbook</h1><p id="guestbook-hello">Signed by the test plugin.</p></section>`;
}
"""


def guestbook_plugin(assets: Path):
    """A third-party plugin (never imported by the web plugin): a page with its own ES module, a
    nav link, a component for the artist slot, and entries the web plugin must leave out."""
    assets.mkdir(parents=True, exist_ok=True)
    (assets / "guestbook.js").write_text(GUESTBOOK_JS)
    (assets / "badge.js").write_text('import { html } from "@musicconnect/web";\n'
                                     'export default function Badge() { return html`<p class="badge">Signed!</p>`; }\n')

    class guestbook:
        @staticmethod
        @hookimpl
        def web_extensions(platform):
            return [{"kind": "assets", "directory": str(assets)},
                    {"kind": "page", "path": "/guestbook", "module": "guestbook.js", "title": "Guestbook"},
                    {"kind": "nav", "path": "/guestbook/about", "title": "About the guestbook"},
                    {"kind": "component", "slot": "artist", "module": "badge.js"},
                    # left out: a CDN module, a reserved path, a missing file name, an unknown kind
                    {"kind": "page", "path": "/cdn", "module": "https://cdn.example/x.js", "title": "CDN"},
                    {"kind": "page", "path": "/api/v1/x", "module": "guestbook.js", "title": "API"},
                    {"kind": "page", "path": "/up", "module": "../../etc/passwd.js"},
                    {"kind": "widget", "path": "/w"}, "not a dict"]

    return guestbook


class siteplugin:
    """Uses the core's register_site_routes: a page at the root, one undeclared route (closed)
    and one under /api/ (refused)."""

    @staticmethod
    @hookimpl
    def register_site_routes(platform):
        router = APIRouter()

        @router.get("/hello-root", dependencies=[Depends(public)])
        def hello():
            return {"hello": "root"}

        @router.get("/hello-session")
        def undeclared():
            return {"who": "session"}

        @router.get("/hello-token")
        def token(actor=Depends(scope("profile:read"))):
            return {"user": str(actor.user_id)}

        @router.get("/api/v1/hijack", dependencies=[Depends(public)])
        def hijack():
            return {"hijacked": True}

        return router


class Console:
    """What the page logged: errors and uncaught exceptions (a failing test prints them)."""

    def __init__(self, page):
        self.errors: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.errors.append(f"{m.text} @ {m.location}"))
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))

    def unexpected(self, *allowed: str) -> list[str]:
        """Errors but the expected ones (e.g. the 403 a gated track answers, which Chromium logs)."""
        return [e for e in self.errors if not any(a in e for a in allowed)]


PASSWORD = "a-long-passphrase"   # the browser tests' accounts


def sign_in(page, base: str, email: str, next_path: str = "/", password: str = PASSWORD) -> None:
    """Sign in through the app's form and wait until the app shows the signed-in header."""
    page.goto(f"{base}/signin?next={next_path}")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Sign out").wait_for()
