"""/docs and /redoc work without internet access: every script, style sheet and icon they use is
served by the platform itself, under a versioned URL that browsers may cache for good."""
from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from musicconnect.routescopes import api_routes, declaration_of

CDN_HOSTS = ("cdn.jsdelivr.net", "unpkg.com", "fonts.googleapis.com", "cdnjs.cloudflare.com")


class _Refs(HTMLParser):
    """The URLs a page loads: ``<script src>``, ``<link href>``, ``<img src>``."""

    def __init__(self):
        super().__init__()
        self.refs: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and attrs.get("src"):
            self.refs.append((tag, attrs["src"]))
        elif tag == "link" and attrs.get("href"):
            self.refs.append((attrs.get("rel") or tag, attrs["href"]))
        elif tag == "img" and attrs.get("src"):
            self.refs.append((tag, attrs["src"]))


def refs_of(html: str) -> list[tuple[str, str]]:
    parser = _Refs()
    parser.feed(html)
    return parser.refs


@pytest.mark.parametrize("page,needs", [("/docs", {"script", "stylesheet"}), ("/redoc", {"script"})])
def test_docs_pages_load_only_local_assets(mc_client, page, needs):
    resp = mc_client.get(page)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/html")
    refs = refs_of(resp.text)
    kinds = {kind for kind, _ in refs}
    assert needs <= kinds, refs
    for kind, url in refs:
        assert not re.match(r"(?i)^(https?:)?//", url), f"{page} loads {url} from another host"
        assert url.startswith("/docs/assets/"), url
        asset = mc_client.get(url)
        assert asset.status_code == 200, url
        ctype = asset.headers["content-type"]
        if kind == "script":
            assert ctype.startswith("text/javascript"), (url, ctype)
            assert len(asset.content) > 100_000  # the real bundle, not a stub
        elif kind == "stylesheet":
            assert ctype.startswith("text/css"), (url, ctype)
            assert len(asset.content) > 10_000
        else:
            assert ctype == "image/png" and asset.content.startswith(b"\x89PNG")
        cache = asset.headers["cache-control"]
        assert "immutable" in cache and int(re.search(r"max-age=(\d+)", cache).group(1)) >= 30 * 24 * 3600


def test_swagger_page_wires_the_bundle_to_the_openapi_document(mc_client):
    html = mc_client.get("/docs").text
    assert "SwaggerUIBundle(" in html and "'/openapi.json'" in html
    assert '"persistAuthorization": true' in html
    spec = mc_client.get("/openapi.json")
    assert spec.status_code == 200 and spec.json()["paths"]
    assert '<redoc spec-url="/openapi.json">' in mc_client.get("/redoc").text


def test_asset_urls_are_versioned_by_content(mc_client):
    url = dict((k, u) for k, u in refs_of(mc_client.get("/docs").text))["script"]
    digest = url.split("/")[3]
    assert re.fullmatch(r"[0-9a-f]{16}", digest)
    body = mc_client.get(url).content
    import hashlib

    assert hashlib.sha256(body).hexdigest().startswith(digest)
    stale = mc_client.get(url.replace(digest, "0" * 16))
    assert stale.status_code == 404
    assert stale.headers["content-type"] == "application/problem+json"
    assert mc_client.get("/docs/assets/" + digest + "/../../openapi.json").status_code == 404
    assert mc_client.get(f"/docs/assets/{digest}/secret.key").status_code == 404


def test_assets_are_compressed_and_revalidate(mc_client):
    url = dict(refs_of(mc_client.get("/docs").text))["script"]
    plain = mc_client.get(url, headers={"accept-encoding": "identity"})
    assert "content-encoding" not in plain.headers
    raw = mc_client.get(url, headers={"accept-encoding": "gzip"})
    assert raw.headers["content-encoding"] == "gzip" and raw.content == plain.content  # httpx decodes
    assert int(raw.headers["content-length"]) < len(plain.content) / 2
    refused = mc_client.get(url, headers={"accept-encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers
    again = mc_client.get(url, headers={"if-none-match": plain.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_docs_routes_declare_public_and_stay_out_of_the_schema(mc_app, mc_client):
    found = {r.path: declaration_of(r) for r in api_routes(mc_app)
             if r.path in ("/docs", "/redoc", "/docs/assets/{digest}/{name}")}
    assert set(found) == {"/docs", "/redoc", "/docs/assets/{digest}/{name}"}
    assert all(d is not None and d.public for d in found.values())
    paths = mc_client.get("/openapi.json").json()["paths"]
    assert not any(p.startswith(("/docs", "/redoc")) for p in paths)


def test_no_html_page_of_the_app_loads_from_a_cdn(mc_app, mc_client):
    """Every GET route without path parameters that answers HTML names no CDN host."""
    checked, seen = 0, set()
    for route in [*api_routes(mc_app), *mc_app.routes]:
        path = getattr(route, "path", "")
        if "GET" not in (getattr(route, "methods", None) or ()) or "{" in path or path.startswith("/api/"):
            continue
        if path in seen:
            continue
        seen.add(path)
        resp = mc_client.get(path)
        if resp.headers.get("content-type", "").startswith("text/html"):
            checked += 1
            for host in CDN_HOSTS:
                assert host not in resp.text, f"{path} loads from {host}"
    assert checked >= 2  # /docs and /redoc at least
