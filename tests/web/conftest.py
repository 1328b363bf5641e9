"""Fixtures for the web plugin's tests: the web plugin alone by default (the browser tests add
streaming), and a third-party test plugin that declares screens through ``web_extensions``."""
from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import APIRouter, Depends

from musicconnect import hookimpl
from musicconnect.web import public, scope


@pytest.fixture
def mc_plugins():
    return ["web"]


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
