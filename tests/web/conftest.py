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


# --------------------------------------------------------------------------- the real browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--mute-audio"]


@pytest.fixture
def browser(tmp_path):
    """A fresh headless Chromium (Debian's: Playwright's own download is not available here)
    driven by Playwright; skips with the reason when either is missing."""
    import os
    import shutil

    path = os.environ.get("MC_TEST_CHROMIUM") or (CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium"))
    if not path:
        pytest.skip("Chromium is not installed (apt-get install chromium; scripts/test.py does it)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("Playwright for Python is not installed (pip install -e '.[test]')")
    with sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(str(tmp_path / "chromium-profile"), executable_path=path,
                                                    headless=True, args=CHROMIUM_ARGS,
                                                    viewport={"width": 1100, "height": 800})
        try:
            yield ctx
        finally:
            ctx.close()


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


@pytest.fixture
def shots(tmp_path):
    """``shots(page, "01-home")`` saves a full-page screenshot under this test's tmp dir."""
    folder = tmp_path / "screenshots"
    folder.mkdir()

    def take(page, name: str) -> Path:
        out = folder / f"{name}.png"
        page.screenshot(path=str(out), full_page=True)
        return out

    take.folder = folder
    return take


@pytest.fixture
def thread_server():
    """``thread_server(app)`` -> base URL: uvicorn serving an in-process app on a free port (for
    platforms with test plugins that a separate process could not load)."""
    import threading
    import time

    import uvicorn

    from helpers import free_port

    servers = []

    def start(app) -> str:
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
            time.sleep(0.05)
        servers.append((server, thread))
        return f"http://127.0.0.1:{port}"

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(10)
