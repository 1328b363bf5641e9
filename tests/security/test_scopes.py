"""Issue 9, hole 2: every route of the core and of every installed plugin declares the scope it
needs, one mechanism enforces it, and a token can do exactly what its scopes allow.

The two tests over the whole app are generic: a new plugin's routes are checked the day it is
installed, without anyone writing a test for them.
"""
from __future__ import annotations

import typing
import uuid
from enum import Enum

import pytest
from helpers import bearer, problem
from musicconnect.routescopes import api_routes, declaration_of, undeclared_routes


def _token(platform, user_id, scopes) -> str:
    from musicconnect.models import User

    with platform.session() as s:
        _, secret = platform.tokens.create_api_token(s, s.get(User, user_id), "matrix", list(scopes), None)
    return secret


def _value(annotation):
    """A valid value for a path parameter of this type."""
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return str(typing.get_args(annotation)[0])
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return str(next(iter(annotation)).value)
    if annotation is uuid.UUID:
        return str(uuid.uuid4())
    if annotation is int:
        return "1"
    return "x"


def _url(route) -> str:
    params = {p.name: _value(p.field_info.annotation) for p in route.dependant.path_params}
    return route.path_format.format(**params)


def _calls(app):
    for route in api_routes(app):
        for method in sorted(route.methods - {"HEAD"}):
            yield method, route, declaration_of(route)


def test_every_route_declares_its_scope(mc_app, mc_client):
    """The meta-test: no FastAPI route and no fast route of the core or any plugin is undeclared."""
    assert undeclared_routes(mc_app) == []
    fast = [f"{r.method} {r.path}" for r in mc_app.fast.routes() if r.scope is None]
    assert fast == []
    # and every declared scope is one a token can be given
    known = mc_app.state.platform.scopes()
    for _, route, decl in _calls(mc_app):
        if decl.scope not in (None, "session"):
            assert decl.scope in known, f"{route.path} declares {decl.scope!r}, which no plugin registers"
    for r in mc_app.fast.routes():
        if r.scope != "public":
            assert r.scope in known, f"fast route {r.path} declares {r.scope!r}, which no plugin registers"


def test_an_undeclared_plugin_route_is_closed_to_tokens_and_anonymous(mc_make_platform, mc_users):
    """Fail closed: a third-party route that forgot to declare still refuses personal tokens."""
    import types

    from fastapi import APIRouter, Depends
    from starlette.testclient import TestClient

    from musicconnect import hookimpl
    from musicconnect.app import create_app
    from musicconnect.web import current_actor

    router = APIRouter()

    @router.post("/do")
    def do(actor=Depends(current_actor)):
        return {"ok": str(actor.user_id)}

    p = mc_make_platform(extra_plugins=[("forgetful", types.SimpleNamespace(
        register_routes=hookimpl(lambda platform: router)))], entry_points=False)
    from musicconnect.testing import make_user

    fan = make_user(p, "fan")
    app = create_app(p)
    assert undeclared_routes(app) == ["POST /api/v1/forgetful/do"]
    with TestClient(app) as client:
        problem(client.post("/api/v1/forgetful/do"), 401, "unauthorized")
        every = list(p.scopes())
        problem(client.post("/api/v1/forgetful/do", headers=bearer(_token(p, fan.id, every))), 403,
                "insufficient-scope")
        assert client.post("/api/v1/forgetful/do", headers=fan.headers).json() == {"ok": str(fan.id)}


def test_token_matrix_over_every_route(mc_app, mc_client, mc_users):
    """For every route: a token that holds every scope but the declared one is refused with 403
    ``insufficient-scope``; a token that holds only that scope is never refused for its scope."""
    platform = mc_app.state.platform
    admin = mc_users.admin
    known = list(platform.scopes())
    without: dict[str, str] = {}
    only: dict[str, str] = {}
    checked = 0
    for method, route, decl in _calls(mc_app):
        if decl.public:
            continue
        url = _url(route)
        kw = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
        if decl.scope == "session":
            every = without.setdefault("*", _token(platform, admin.id, known))
            problem(mc_client.request(method, url, headers=bearer(every), **kw), 403, "insufficient-scope")
            checked += 1
            continue
        lacking = without.setdefault(decl.scope, _token(platform, admin.id, [s for s in known if s != decl.scope]))
        holding = only.setdefault(decl.scope, _token(platform, admin.id, [decl.scope]))
        r = mc_client.request(method, url, headers=bearer(lacking), **kw)
        if decl.optional:  # treated as anonymous: never a scope error
            assert "insufficient-scope" not in r.text, (method, url, r.text)
        else:
            assert r.status_code == 403 and r.json()["type"] == "/problems/insufficient-scope", (method, url, r.text)
        r = mc_client.request(method, url, headers=bearer(holding), **kw)
        assert "insufficient-scope" not in r.text, (method, url, r.status_code, r.text)
        checked += 1
    assert checked > 40  # the whole app, not a handful


def test_fast_routes_enforce_their_scope(mc_app, mc_client, mc_users):
    platform = mc_app.state.platform
    fan = mc_users.fan
    known = list(platform.scopes())
    for r in mc_app.fast.routes():
        if r.scope == "public" or r.optional:
            continue
        url = r.path
        for name in [seg[1:-1] for seg in r.path.split("/") if seg.startswith("{")]:
            url = url.replace("{" + name + "}", str(uuid.uuid4()))
        lacking = _token(platform, fan.id, [s for s in known if s != r.scope])
        problem(mc_client.request(r.method, url, headers=bearer(lacking)), 403, "insufficient-scope")


# ------------------------------------------------------------ the holes the review found

def test_analytics_token_cannot_act_as_the_artist(mc_client, mc_users):
    artist = mc_users.artist
    tok = bearer(_token(mc_client.app.state.platform, artist.id, ["analytics:read"]))
    aid = artist.artist_id
    problem(mc_client.patch("/api/v1/me", json={"display_name": "pwned"}, headers=tok), 403, "insufficient-scope")
    problem(mc_client.patch(f"/api/v1/artists/{aid}", json={"name": "pwned"}, headers=tok), 403, "insufficient-scope")
    problem(mc_client.post(f"/api/v1/artists/{aid}/content", json={"kind": "post", "title": "x"}, headers=tok), 403,
            "insufficient-scope")
    problem(mc_client.post("/api/v1/me/tokens", json={"name": "more", "scopes": ["admin"]}, headers=tok), 403,
            "insufficient-scope")
    assert mc_client.get(f"/api/v1/artists/{aid}/metrics", headers=tok).status_code == 200  # what it may do
    assert mc_client.get("/api/v1/me", headers=artist.headers).json()["display_name"] != "pwned"


def test_tokens_only_carry_known_scopes(mc_client, mc_users):
    body = problem(mc_client.post("/api/v1/me/tokens", json={"name": "t", "scopes": ["content:read", "root:all"]},
                                  headers=mc_users.fan.headers), 422, "unknown-scope")
    assert body["unknown"] == ["root:all"]
    listed = mc_client.get("/api/v1/scopes").json()
    assert {"profile:read", "content:write", "admin"} <= set(listed)
    assert all(isinstance(v, str) and v for v in listed.values())


def test_a_fan_token_without_admin_scope_is_not_an_admin(mc_client, mc_users):
    admin = mc_users.admin
    tok = bearer(_token(mc_client.app.state.platform, admin.id, ["profile:read"]))
    problem(mc_client.get("/api/v1/plugins", headers=tok), 403, "insufficient-scope")
    assert mc_client.get("/api/v1/plugins", headers=admin.headers).status_code == 200
    fan_admin_scope = bearer(_token(mc_client.app.state.platform, mc_users.fan.id, ["admin"]))
    problem(mc_client.get("/api/v1/plugins", headers=fan_admin_scope), 403, "forbidden")


@pytest.mark.parametrize("path", ["/api/v1/me/tokens"])
def test_session_only_routes_refuse_every_token(mc_client, mc_users, path):
    every = bearer(_token(mc_client.app.state.platform, mc_users.fan.id, list(mc_client.app.state.platform.scopes())))
    problem(mc_client.get(path, headers=every), 403, "insufficient-scope")
    assert mc_client.get(path, headers=mc_users.fan.headers).status_code == 200
