"""A web app's static files and shell (declared ``static_public``) are not counted against the
anonymous API rate limit, the API still is, and no ``/api/`` route may be declared uncounted."""
from __future__ import annotations

import re

import pytest
from fastapi import APIRouter, Depends
from starlette.testclient import TestClient

from musicconnect import hookimpl
from musicconnect.app import create_app
from musicconnect.routescopes import api_routes, declaration_of, uncounted_api_routes
from musicconnect.web import public, static_public

pytestmark = pytest.mark.mc_plugins("web")


def _cold_load(client) -> list[str]:
    """What a first visit fetches: the shell, then every file it names (modules, styles, the
    manifest), the worker and what the worker precaches; returns the addresses fetched."""
    shell = client.get("/artists/nova-lane")
    assert shell.status_code == 200, shell.text
    named = {u for u in re.findall(r'(?:src|href)="(/[^"]+)"', shell.text) if u != "/docs"}  # the core's API docs
    assert any(u.startswith("/static/web/") for u in named), shell.text
    worker = client.get("/sw.js")
    assert worker.status_code == 200
    precached = {u for u in re.findall(r'"(/[^"]*)"', worker.text)
                 if u.startswith("/static/web/") or u in ("/", "/offline", "/manifest.webmanifest")}
    fetched = ["/artists/nova-lane", "/sw.js"]
    for url in sorted(named | precached):
        r = client.get(url)
        assert r.status_code == 200, (url, r.status_code, r.text[:200])
        assert "ratelimit" not in r.headers, url  # not counted: no RateLimit fields
        fetched.append(url)
    return fetched


def test_loading_the_app_many_times_never_spends_the_anonymous_api_budget(mc_make_platform):
    p = mc_make_platform(rate_limit_anonymous="3/hour")
    with TestClient(create_app(p)) as client:
        fetched = []
        for _ in range(5):
            fetched += _cold_load(client)
        assert len(fetched) > 5 * 15  # the shell, its modules, vendored files, icons, manifest, offline
        assert {"/manifest.webmanifest", "/offline", "/"} <= set(fetched)
        # the API is counted: the extension listing the app asks (public, under /api/) spends it
        for left in (2, 1, 0):
            r = client.get("/api/v1/web/extensions")
            assert r.status_code == 200
            assert r.headers["ratelimit"].startswith(f'"anonymous";r={left};')
        refused = client.get("/api/v1/artists")
        assert refused.status_code == 429
        assert refused.json()["type"] == "/problems/rate-limited"
        # ... and the app itself still loads once the visitor's API budget is spent
        assert client.get("/").status_code == 200
        assert len(_cold_load(client)) == len(fetched) // 5


def test_the_web_plugins_site_routes_are_declared_static_and_the_api_is_not(mc_app):
    site = {r.path: declaration_of(r) for r in api_routes(mc_app) if not r.path.startswith("/api/")
            and r.path not in ("/docs", "/redoc", "/openapi.json", "/healthz", "/readyz", "/metrics")}
    for path in ("/", "/sw.js", "/manifest.webmanifest", "/offline", "/static/web/{build}/{rel:path}"):
        assert site[path].describe() == "public (static, not counted)", path
    listing = next(declaration_of(r) for r in api_routes(mc_app) if r.path == "/api/v1/web/extensions")
    assert listing.describe() == "public" and listing.counted
    assert uncounted_api_routes(mc_app) == []


class sneaky:
    """A plugin that declares one of its API routes static (uncounted): the meta-check names it."""

    @staticmethod
    @hookimpl
    def register_routes(platform):
        router = APIRouter()

        @router.get("/free", dependencies=[Depends(static_public)])
        def free():
            return {"free": True}

        @router.get("/counted", dependencies=[Depends(public)])
        def counted():
            return {"free": False}

        return router


def test_an_api_route_declared_static_is_named_by_the_meta_check(mc_make_platform):
    app = create_app(mc_make_platform(extra_plugins=[("sneaky", sneaky)]))
    assert uncounted_api_routes(app) == ["GET /api/v1/sneaky/free"]
