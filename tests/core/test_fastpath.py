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


def _counter_plugin():
    """A third-party plugin with one fast route declared once: scope, a query parameter, a
    documented JSON answer."""
    import types

    import orjson
    from pydantic import BaseModel

    from musicconnect import hookimpl
    from musicconnect.fastpath import FastResponse, FastRoute, QueryParam

    class Count(BaseModel):
        item: str
        times: int
        caller: str

    async def count(req):
        """How often an item was counted. Needs ``content:read``.

        More words for the description."""
        actor = await req.actor()
        times = int(req.query.get("times", "1"))
        return FastResponse(orjson.dumps({"item": req.params["item_id"], "times": times, "caller": str(actor.user_id)}))

    mod = types.ModuleType("counter_plugin")
    mod.register_fast_routes = hookimpl(lambda platform: [FastRoute(
        "GET", "/api/v1/counter/items/{item_id}", count, scope="content:read",
        query=(QueryParam("times", "how many", int),), response_model=Count)])
    return mod


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "fastapi"])
def test_a_fast_route_is_declared_once_and_documented_and_served_both_ways(mc_make_platform, fast):
    from starlette.testclient import TestClient

    from musicconnect.app import create_app
    from musicconnect.routescopes import undeclared_routes

    p = mc_make_platform(extra_plugins=[("counter", _counter_plugin())], entry_points=False, fast_path=fast)
    fan = make_user(p, "fan")
    app = create_app(p)
    item = "3f0c6a57-0b8e-4a8e-9d7a-3c4a2b1e0f00"
    with TestClient(app) as client:
        op = client.get("/openapi.json").json()["paths"]["/api/v1/counter/items/{item_id}"]["get"]
        assert op["summary"] == "How often an item was counted"
        assert "More words" in op["description"] and op["tags"] == ["counter"]
        assert [(x["name"], x["in"]) for x in op["parameters"]] == [("item_id", "path"), ("times", "query")]
        assert op["security"] == [{"HTTPBearer": []}]
        assert op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/Count")
        assert undeclared_routes(app) == []
        r = client.get(f"/api/v1/counter/items/{item}?times=3", headers=fan.headers)
        assert r.status_code == 200, r.text
        assert r.json() == {"item": item, "times": 3, "caller": str(fan.id)}
        remaining = [int(client.get(f"/api/v1/counter/items/{item}", headers=fan.headers).headers["ratelimit"]
                         .rsplit("r=", 1)[1].split(";")[0]) for _ in range(2)]
        assert remaining[0] - remaining[1] == 1  # counted once per request on either path
        problem(client.get(f"/api/v1/counter/items/{item}"), 401, "unauthorized")
        tok = client.post("/api/v1/me/tokens", headers=fan.headers,
                          json={"name": "n", "scopes": ["profile:read"]}).json()["token"]
        problem(client.get(f"/api/v1/counter/items/{item}", headers=bearer(tok)), 403, "insufficient-scope")
        p.plugins.apply_state({"counter": False})
        problem(client.get(f"/api/v1/counter/items/{item}", headers=fan.headers), 404, "plugin-disabled")
