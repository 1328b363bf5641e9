"""The fast path answers exactly as the FastAPI routes do, errors included."""
from __future__ import annotations

import pytest

import testplugins
from helpers import bearer, problem

from musicconnect.testing import make_user


@pytest.fixture(params=[True, False], ids=["fast", "fastapi"])
def client_and_users(request, mc_make_platform):
    from starlette.testclient import TestClient

    from musicconnect.app import create_app
    from musicconnect.testing import make_user

    p = mc_make_platform(fast_path=request.param)
    users = {r: make_user(p, r, artist_name="Band" if r == "artist" else None) for r in ("fan", "artist")}
    app = create_app(p)
    assert bool(app.fast) is request.param
    with TestClient(app) as client:
        yield client, users, p


def test_me_same_on_both_paths(client_and_users):
    client, users, p = client_and_users
    r = client.get("/api/v1/me", headers=users["artist"].headers)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["email"] == users["artist"].email and body["artist"]["name"] == "Band"
    problem(client.get("/api/v1/me"), 401, "unauthorized")
    problem(client.get("/api/v1/me", headers=bearer("nonsense")), 401, "unauthorized")
    problem(client.get("/api/v1/me", headers={"Authorization": "Token abc"}), 401, "unauthorized")
    tok = client.post("/api/v1/me/tokens", headers=users["fan"].headers,
                      json={"name": "n", "scopes": ["content:read"]}).json()["token"]
    body = problem(client.get("/api/v1/me", headers=bearer(tok)), 403, "insufficient-scope")
    assert body["instance"] == "/api/v1/me"


def test_fast_routes_of_plugins_follow_enabled_state(mc_make_platform):
    from starlette.testclient import TestClient

    from musicconnect.app import create_app

    rec = testplugins.make_recorder()
    p = mc_make_platform(extra_plugins=[("recorder", rec)], entry_points=False)
    app = create_app(p)
    with TestClient(app) as client:
        assert client.get("/api/v1/recorder/echo/x").json() == {"echo": "x"}
        p.plugins.apply_state({"recorder": False})
        problem(client.get("/api/v1/recorder/echo/x"), 404, "plugin-disabled")
        assert client.get("/api/v1/recorder/echo/x/y").status_code == 404  # no template matches: FastAPI's 404
        text = client.get("/metrics", headers=make_user(p, "admin").headers).text
        assert 'route="/api/v1/recorder/echo/{word}",status="200"' in text


def test_fast_router_matching():
    from musicconnect.fastpath import FastRoute, FastRouter

    async def h(req):
        return None

    r = FastRouter()
    r.add(FastRoute("GET", "/a/{x}/key", h))
    r.add(FastRoute("GET", "/a/fixed/key", h))
    r.add(FastRoute("GET", "/b", h))
    assert r.match("GET", "/a/fixed/key")[1] == {}
    assert r.match("GET", "/a/123/key")[1] == {"x": "123"}
    assert r.match("POST", "/a/123/key") is None
    assert r.match("GET", "/a/123/keys") is None
    assert r.match("GET", "/a/123") is None
    assert r.match("GET", "/b")[1] == {}
