"""The web app at the site root, without a browser: the shell and its client-route fallback, the
manifest, the service worker, caching headers, the API's 404s staying problem+json, the first
screen's JavaScript budget, the core's site-root mounting, and the extension point."""
from __future__ import annotations

import gzip
import io
import json
import re

import pytest
from PIL import Image

from helpers import problem
from musicconnect_web import site

from web_helpers import guestbook_plugin, siteplugin


def shell_ok(r):
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["cache-control"] == "no-cache"
    assert '<div id="app"' in r.text and f'src="{site.static_base()}/app.js"' in r.text
    imports = json.loads(re.search(r'<script type="importmap">(.*?)</script>', r.text, re.S).group(1))["imports"]
    assert imports and all(v.startswith(f"{site.static_base()}/") for v in imports.values())  # no CDN
    return r


def test_shell_at_root_and_client_routes_but_never_over_the_api(mc_client):
    shell_ok(mc_client.get("/"))
    for path in ("/artists/nova-lane", "/tracks/3f2b1c6e-0000-4000-8000-000000000000", "/checkout/return",
                 "/discover", "/signin", "/guestbook/deep/link/"):
        shell_ok(mc_client.get(path))
    # the API's own 404s stay problem+json, at any depth and for unknown plugins
    for path in ("/api/v1/nope", "/api/v1/artists/nobody-here", "/api/v2/x", "/api", "/api/"):
        problem(mc_client.get(path), 404)
    # the core's pages and operations endpoints are theirs, not the shell's
    assert mc_client.get("/healthz").json()["status"] in ("ok", "degraded")
    assert mc_client.get("/openapi.json").json()["openapi"].startswith("3.")
    assert "<div id=\"app\"" not in mc_client.get("/docs").text
    assert "<div id=\"app\"" not in mc_client.get("/metrics").text
    # a file-looking address is not a page
    problem(mc_client.get("/favicon.ico"), 404)
    problem(mc_client.get("/robots.txt"), 404)
    # the shell is not API: it is not in the OpenAPI document; the extension listing is
    paths = mc_client.get("/openapi.json").json()["paths"]
    assert "/" not in paths and "/sw.js" not in paths and "/api/v1/web/extensions" in paths


def test_manifest_icons_and_offline_page(mc_client):
    r = mc_client.get("/manifest.webmanifest")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/manifest+json")
    m = r.json()
    assert m["name"] == "MusicConnect" and m["start_url"] == "/" and m["scope"] == "/"
    assert m["display"] == "standalone" and re.fullmatch(r"#[0-9a-f]{6}", m["theme_color"])
    sizes = {}
    for icon in m["icons"]:
        got = mc_client.get(icon["src"])
        assert got.status_code == 200 and got.headers["content-type"] == "image/png"
        assert got.headers["cache-control"] == site.IMMUTABLE
        img = Image.open(io.BytesIO(got.content))
        sizes[icon["sizes"]] = img.size
    assert sizes == {"192x192": (192, 192), "512x512": (512, 512)}
    off = mc_client.get("/offline")
    assert off.status_code == 200 and "You are offline" in off.text and off.headers["cache-control"] == "no-cache"
    # the page names the platform as configured (escaped)
    assert "<title>MusicConnect</title>" in mc_client.get("/").text


def test_service_worker_scope_precache_and_cache_names(mc_client):
    r = mc_client.get("/sw.js")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/javascript")
    assert r.headers["service-worker-allowed"] == "/" and r.headers["cache-control"] == "no-cache"
    body = r.text
    assert f'const BUILD = "{site.build_id()}"' in body
    for name in ("mc-shell-${BUILD}", "mc-api-v1", "mc-audio-v1"):
        assert name in body
    precache = json.loads(re.search(r"const PRECACHE = (\[.*?\]);", body, re.S).group(1))
    assert {"/", "/offline", "/manifest.webmanifest", f"{site.static_base()}/app.js",
            f"{site.static_base()}/vendor/preact-11.2.0.mjs", f"{site.static_base()}/vendor/htm-3.1.1.mjs",
            f"{site.static_base()}/vendor/hls.light-1.7.4.min.mjs"} <= set(precache)
    for url in precache:  # an install fails on one missing file: every one must answer
        assert mc_client.get(url).status_code == 200, url


def test_static_files_are_versioned_immutable_and_gzipped(mc_client):
    base = site.static_base()
    r = mc_client.get(f"{base}/app.js", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200 and r.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert r.headers["content-type"].startswith("text/javascript") and r.headers["content-encoding"] == "gzip"
    assert "render(" in r.text  # httpx decodes it: the real file
    plain = mc_client.get(f"{base}/app.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.text == r.text
    assert mc_client.get(f"{base}/vendor/LICENSE.preact").status_code == 200
    # another build's address, a missing file, escaping the folder, hidden files: 404 problems
    problem(mc_client.get("/static/web/0.0.0-old/app.js"), 404)
    problem(mc_client.get(f"{base}/nope.js"), 404)
    problem(mc_client.get(f"{base}/../plugin.py"), 404)
    problem(mc_client.get(f"{base}/%2e%2e/plugin.py"), 404)
    problem(mc_client.get(f"{base}/vendor/%2e%2e/%2e%2e/site.py"), 404)


def _static_imports(rel: str, importmap: dict[str, str], seen: set[str]) -> None:
    """Follow the static ``import ... from "x"`` of a module (not the dynamic ``import()``)."""
    if rel in seen:
        return
    seen.add(rel)
    text = (site.STATIC / rel).read_text()
    for spec in re.findall(r'(?:^|[;\n}])\s*import\s*(?:[\w{}\s,*]+from\s*)?["\']([^"\']+)["\']', text) + \
            re.findall(r'(?:^|[;\n}])\s*export\s*[\w{}\s,*]+from\s*["\']([^"\']+)["\']', text):
        if spec in importmap:
            target = importmap[spec].split(f"{site.static_base()}/", 1)[1]
        else:
            target = str((site.STATIC / rel).parent.joinpath(spec).resolve().relative_to(site.STATIC.resolve()))
        _static_imports(target, importmap, seen)


def test_first_screen_javascript_budget(mc_client):
    """The first screen (the shell, the home screen, Preact, hooks, htm) loads at most 100 KB of
    gzipped JavaScript; hls.js waits for the player route."""
    page = mc_client.get("/").text
    importmap = json.loads(re.search(r'<script type="importmap">(.*?)</script>', page, re.S).group(1))["imports"]
    loaded: set[str] = set()
    _static_imports("app.js", importmap, loaded)
    _static_imports("screens/discover.js", importmap, loaded)  # the home route's module
    assert loaded == set(site.FIRST_SCREEN), loaded  # the list the budget counts is what really loads
    assert not any("hls" in f for f in loaded)
    total = 0
    for rel in loaded:
        r = mc_client.get(f"{site.static_base()}/{rel}", headers={"Accept-Encoding": "gzip"})
        assert r.status_code == 200
        total += len(gzip.compress(r.content, 9))
    assert 10_000 < total <= 100 * 1024, total


@pytest.mark.mc_plugins()
def test_without_the_web_plugin_the_root_is_a_404_problem(mc_client):
    problem(mc_client.get("/"), 404)
    problem(mc_client.get("/artists/x"), 404)


@pytest.mark.parametrize("mc_extra_plugins", [[("sitetest", siteplugin)]])
def test_core_mounts_site_routes_at_the_root_never_under_api(mc_client, mc_users):
    assert mc_client.get("/hello-root").json() == {"hello": "root"}
    problem(mc_client.get("/api/v1/hijack"), 404)  # refused at mount time: the API namespace is not a plugin's
    # an undeclared site route is closed to sessions, like any undeclared route
    problem(mc_client.get("/hello-session"), 401)
    assert mc_client.get("/hello-session", headers=mc_users.fan.headers).json() == {"who": "session"}
    # a declared scope is enforced
    problem(mc_client.get("/hello-token"), 401)
    assert mc_client.get("/hello-token", headers=mc_users.fan.headers).json() == {"user": str(mc_users.fan.id)}


def test_extensions_lists_other_plugins_screens_and_serves_their_modules(mc_make_platform, tmp_path):
    from starlette.testclient import TestClient

    from musicconnect.app import create_app

    p = mc_make_platform(extra_plugins=[("guestbook", guestbook_plugin(tmp_path / "assets"))])
    with TestClient(create_app(p)) as client:
        out = client.get("/api/v1/web/extensions").json()
        assert out["build"] == site.build_id()
        ext = out["extensions"]
        by = {(e["kind"], e["path"] or e["slot"]): e for e in ext}
        assert set(by) == {("page", "/guestbook"), ("nav", "/guestbook/about"), ("component", "artist")}, ext
        page = by[("page", "/guestbook")]
        assert page["plugin"] == "guestbook" and page["title"] == "Guestbook"
        assert re.fullmatch(r"/static/ext/guestbook/[0-9a-f]{10}/guestbook\.js", page["module"])
        r = client.get(page["module"])
        assert r.status_code == 200 and "Signed by the test plugin" in r.text
        assert r.headers["content-type"].startswith("text/javascript") and r.headers["cache-control"] == site.IMMUTABLE
        assert client.get(by[("component", "artist")]["module"]).status_code == 200
        # only its own folder, only the current digest
        problem(client.get(page["module"].replace("guestbook.js", "../../secret.js")), 404)
        problem(client.get(re.sub(r"/[0-9a-f]{10}/", "/0000000000/", page["module"])), 404)
        problem(client.get("/static/ext/nobody/0000000000/x.js"), 404)
        # the plugin's page is a client route of the shell
        shell_ok(client.get("/guestbook"))


def test_a_disabled_web_plugin_leaves_the_root_and_its_files(mc_client, mc_platform):
    shell_ok(mc_client.get("/"))
    mc_platform.plugins.apply_state({"web": False})
    for path in ("/", "/artists/x", "/sw.js", "/manifest.webmanifest", f"{site.static_base()}/app.js",
                 "/api/v1/web/extensions"):
        assert problem(mc_client.get(path), 404)["type"] == "/problems/plugin-disabled", path
    mc_platform.plugins.apply_state({"web": True})
    shell_ok(mc_client.get("/artists/x"))


def test_a_disabled_plugins_screens_leave_the_listing(mc_make_platform, tmp_path):
    from starlette.testclient import TestClient

    from musicconnect.app import create_app

    p = mc_make_platform(extra_plugins=[("guestbook", guestbook_plugin(tmp_path / "assets"))])
    with TestClient(create_app(p)) as client:
        module = client.get("/api/v1/web/extensions").json()["extensions"][0]["module"]
        assert client.get(module).status_code == 200
        p.plugins.apply_state({"guestbook": False})
        assert client.get("/api/v1/web/extensions").json()["extensions"] == []
        problem(client.get(module), 404)


def test_an_entry_for_artists_is_marked_and_an_unknown_audience_left_out(mc_make_platform, tmp_path):
    from starlette.testclient import TestClient

    from musicconnect import hookimpl
    from musicconnect.app import create_app

    assets = tmp_path / "studio-assets"
    assets.mkdir()
    (assets / "gigs.js").write_text('import { html } from "@musicconnect/web";\n'
                                    'export default function Gigs() { return html`<h1>Gigs</h1>`; }\n')

    class gigs:
        @staticmethod
        @hookimpl
        def web_extensions(platform):
            return [{"kind": "assets", "directory": str(assets)},
                    {"kind": "page", "path": "/studio/gigs", "module": "gigs.js", "title": "Gigs", "audience": "artists"},
                    {"kind": "page", "path": "/gigs", "module": "gigs.js", "title": "Gig guide"},
                    {"kind": "nav", "path": "/gigs/admin", "title": "Admin", "audience": "admins"}]

    p = mc_make_platform(extra_plugins=[("gigs", gigs)])
    with TestClient(create_app(p)) as client:
        ext = client.get("/api/v1/web/extensions").json()["extensions"]
        assert [(e["path"], e["audience"]) for e in ext] == [("/studio/gigs", "artists"), ("/gigs", "everyone")]
        # the shell draws the studio menu from it, only for a signed-in artist
        app_js = client.get(f"{site.static_base()}/app.js").text
        assert 'aria-label="Studio"' in app_js and 'e.audience === "artists"' in app_js
