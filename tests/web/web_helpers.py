"""Helpers the web plugin's tests import (a module of its own: ``from conftest import`` would
pick whichever folder's conftest pytest loaded first when several folders run together)."""
from __future__ import annotations

from contextlib import contextmanager
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


@contextmanager
def served(proc_env: dict, plugins: str | list[str], **env: str):
    """``with served(proc_env, "web,streaming", MC_SOMETHING="1") as base:`` a real
    ``musicconnect serve`` process on a free port with these plugins (and ``MC_BASE_URL`` set to its
    address), ready when the block starts, stopped (terminated, killed after 10 s) when it ends."""
    from helpers import free_port, serve_process, wait_ready

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    names = plugins if isinstance(plugins, str) else ",".join(plugins)
    proc = serve_process({**proc_env, "MC_PLUGINS": names, "MC_BASE_URL": base, **env}, port)
    try:
        wait_ready(proc, base)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except Exception:
            proc.kill()


def seed_tracks(base: str, audio_dir, seconds: int = 12, more: dict[str, int] | None = None) -> dict:
    """Through the HTTP API of the running server: an artist with a public and a gated track,
    both transcoded from generated audio (the streaming plugin's pipeline, ffmpeg), and ``more``
    public tracks (title: seconds). Returns the artist's id, the tracks' ids by title and the
    supporter tier's name."""
    import time

    import httpx

    from helpers import bearer, register
    from musicconnect_streaming import media

    with httpx.Client(base_url=base, timeout=30) as c:
        artist = register(c, "nova@example.com", role="artist", artist_name="Nova Lane", display_name="Nova")
        h = bearer(artist["tokens"]["access_token"])
        artist_id = artist["user"]["artist"]["id"]
        tiers = {t["key"]: t for t in c.get(f"/api/v1/artists/{artist_id}/tiers").json()}
        tracks = {}
        wanted = [("Open Sky", seconds, {"visibility": "public"}),
                  ("Backstage Demo", seconds, {"visibility": "tier", "required_tier_id": tiers["supporter"]["id"]}),
                  *((title, secs, {"visibility": "public"}) for title, secs in (more or {}).items())]
        for seed, (title, secs, fields) in enumerate(wanted, 1):
            wav = audio_dir / f"{seed}.wav"
            media.generated_tone(wav, secs, seed=seed)
            with open(wav, "rb") as fh:
                r = c.post(f"/api/v1/streaming/artists/{artist_id}/tracks", headers=h,
                           files={"file": (wav.name, fh, "audio/wav")}, data={"title": title, **fields})
            assert r.status_code == 202, r.text
            tracks[title] = r.json()["id"]
        deadline = time.monotonic() + 180
        for track_id in tracks.values():
            while (status := c.get(f"/api/v1/streaming/tracks/{track_id}", headers=h).json()["status"]) != "ready":
                assert status in ("processing", "pending", "draft") and time.monotonic() < deadline, status
                time.sleep(0.5)
    return {"artist_id": artist_id, "tracks": tracks, "supporter": tiers["supporter"]["name"]}


AXE = Path(__file__).parent / "vendor" / "axe-4.14.1.min.js"


def axe_audit(page, name: str) -> list[dict]:
    """axe-core's serious and critical violations of the page as it is now (WCAG 2.x A and AA
    rules and best practices), each tagged with ``name``."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=AXE.read_text())
    out = page.evaluate("""async () => {
      const r = await axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]},
                                         resultTypes: ["violations"]});
      return r.violations.filter((v) => v.impact === "serious" || v.impact === "critical")
        .map((v) => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ") + " :: " + n.failureSummary)}));
    }""")
    return [{"screen": name, **v} for v in out]

