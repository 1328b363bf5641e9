"""Security regressions of the billing plugin (issue 9): portal links signed with the platform's
generated key from the first request, return URLs limited to the platform's own origins, the
sandbox off unless asked for, bounded list parameters, route scopes."""
from __future__ import annotations

import hashlib
import hmac
import time

import musicconnect_billing.plugin as billing
import musicconnect_fanclub.plugin as fanclub
from tests.billing.conftest import _env
from tests.helpers import problem


def _forge(user_id, key: bytes) -> str:
    exp = int(time.time()) + 3600
    msg = f"{user_id.hex}.{exp}"
    return f"{msg}.{hmac.new(key, msg.encode(), hashlib.sha256).hexdigest()[:32]}"


def test_portal_links_cannot_be_forged_on_a_fresh_process(mc_make_platform):
    """Hole 3: until something loaded the generated secret, portal links were signed with a
    constant. A second process over the same data directory, before it served anything, must
    refuse a link signed with the empty key and accept one signed by the first process."""
    from starlette.testclient import TestClient

    from musicconnect.app import create_app
    from musicconnect_billing.sandbox_links import portal_token

    p1, artist, fan, admin, tiers, client1 = _env(mc_make_platform, {"sandbox": True})
    genuine = portal_token(p1, fan.id)
    client1.close()
    # a freshly started process on the same data directory: nothing has loaded the key yet
    p2 = mc_make_platform(extra_plugins=[("billing", billing), ("fanclub", fanclub)], entry_points=False,
                         plugin_config={"billing": {"sandbox": True}})
    assert p2.settings.model_dump().get("secret_key") is None
    with TestClient(create_app(p2, state_poll_interval=0.2)) as client:
        for key in (b"|billing-sandbox-portal", b"", b"billing-sandbox-portal"):
            problem(client.get(f"/api/v1/billing/sandbox/portal/{_forge(fan.id, key)}"), 403, "portal-link-expired")
        page = client.get(f"/api/v1/billing/sandbox/portal/{genuine}")
        assert page.status_code == 200, page.text
        assert "Your subscriptions" in page.text


# ---------------------------------------------------------------- hole 7: return URLs

BAD_URLS = ["javascript:alert(document.cookie)", "data:text/html,<script>alert(1)</script>", "https://evil.example/",
            "http://testserver.evil.com/", "//evil.example/", "https://user@evil.example/",
            "http://user@testserver/", "http:\\\\evil.example", "http://testserver\\@evil.example/", "/relative",
            "http://testserver:8080/", "https://testserver/", "http://testserver/\nLocation: x", "http:/evil.example"]


def _checkout_body(env, **urls):
    return {"tier_id": str(env.tiers["supporter"].id), **urls}


def test_client_urls_are_limited_to_the_platforms_own_origins(sandbox_env):
    env = sandbox_env
    for url in BAD_URLS:
        for field in ("success_url", "cancel_url"):
            body = problem(env.client.post("/api/v1/billing/checkout", json=_checkout_body(env, **{field: url}),
                                           headers=env.fan.headers), 422, "invalid-return-url")
            assert body["field"] == field
        problem(env.client.post("/api/v1/billing/portal", json={"return_url": url}, headers=env.fan.headers),
                422, "invalid-return-url")
        problem(env.client.post("/api/v1/billing/connect", json={"return_url": url}, headers=env.artist.headers),
                422, "invalid-return-url")
        problem(env.client.post("/api/v1/billing/connect", json={"refresh_url": url}, headers=env.artist.headers),
                422, "invalid-return-url")
    # nothing was started by any of those
    from musicconnect_billing.models import SandboxObject

    with env.platform.session() as s:
        assert s.query(SandboxObject).count() == 0

    # the platform's own address works, and is where paying sends the fan
    r = env.client.post("/api/v1/billing/checkout", headers=env.fan.headers, json=_checkout_body(
        env, success_url="http://testserver/thanks?x=1", cancel_url="HTTP://TESTSERVER:80/back"))
    assert r.status_code == 201, r.text
    page = env.client.get(r.json()["url"])
    assert "href='HTTP://TESTSERVER:80/back'" in page.text
    paid = env.client.post(r.json()["url"] + "/pay", follow_redirects=False)
    assert paid.status_code == 303 and paid.headers["location"] == "http://testserver/thanks?x=1"

    # the portal link's own return_url is checked too (the link can be edited by whoever holds it)
    url = env.client.post("/api/v1/billing/portal", json={"return_url": "http://testserver/account"},
                          headers=env.fan.headers).json()["url"]
    assert "href='http://testserver/account'" in env.client.get(url).text
    base = url.split("?")[0]
    for bad in ("javascript:alert(1)", "https://evil.example/", "//evil.example"):
        problem(env.client.get(base, params={"return_url": bad}), 422, "invalid-return-url")
    assert "href='http://testserver/'" in env.client.get(base).text


def test_an_allow_listed_origin_works(mc_make_platform):
    p, artist, fan, admin, tiers, client = _env(mc_make_platform, {"sandbox": True},
                                                allowed_origins="https://app.example.com, http://localhost:5173")
    with client:
        for ok in ("https://app.example.com/after-pay", "https://APP.example.com:443/x", "http://localhost:5173/"):
            r = client.post("/api/v1/billing/portal", json={"return_url": ok}, headers=fan.headers)
            assert r.status_code == 200, (ok, r.text)
        for bad in ("http://app.example.com/", "https://app.example.com:8443/", "https://app.example.com.evil/",
                    "http://localhost:5174/"):
            problem(client.post("/api/v1/billing/portal", json={"return_url": bad}, headers=fan.headers),
                    422, "invalid-return-url")
        r = client.post("/api/v1/billing/checkout", headers=fan.headers, json={
            "tier_id": str(tiers["supporter"].id), "success_url": "https://app.example.com/thanks"})
        assert r.status_code == 201, r.text
        paid = client.post(r.json()["url"] + "/pay", follow_redirects=False)
        assert paid.headers["location"] == "https://app.example.com/thanks"


def test_sandbox_pages_escape_and_recheck_stored_urls(sandbox_env):
    """A checkout stored before the rule (or before the allow-list shrank) links and redirects home."""
    from musicconnect_billing import sandbox

    env = sandbox_env
    with env.platform.session() as s:
        cs = sandbox.create_checkout(env.platform, s, user_id=env.fan.id, tier=env.tiers["supporter"], interval="month",
                                     success_url="javascript:alert(1)", cancel_url="'><script>alert(1)</script>")
    page = env.client.get(cs["url"])
    assert page.status_code == 200
    assert "<script>" not in page.text and "javascript:" not in page.text
    assert "href='http://testserver/'" in page.text
    paid = env.client.post(cs["url"] + "/pay", follow_redirects=False)
    assert paid.status_code == 303 and paid.headers["location"] == "http://testserver/"


# ---------------------------------------------------------------- hole 8: the sandbox is opt-in

def test_without_stripe_or_an_explicit_sandbox_nothing_is_sold(mc_make_platform):
    from sqlalchemy import select

    from musicconnect.models import Entitlement
    from musicconnect_billing.models import SandboxObject, Subscription

    p, artist, fan, admin, tiers, client = _env(mc_make_platform, {})  # development, no Stripe key, no sandbox
    with client:
        assert client.get("/api/v1/payment-providers").json() == []
        body = problem(client.post("/api/v1/billing/checkout", json={"tier_id": str(tiers["supporter"].id)},
                                   headers=fan.headers), 503, "payment-provider-not-configured")
        assert "MC_BILLING_SANDBOX" in body["detail"]
        problem(client.post("/api/v1/billing/checkout", json={"tier_id": str(tiers["supporter"].id),
                                                              "provider": "sandbox"}, headers=fan.headers),
                503, "payment-provider-not-configured")
        problem(client.post("/api/v1/billing/portal", json={}, headers=fan.headers), 503,
                "payment-provider-not-configured")
        problem(client.get("/api/v1/billing/sandbox/checkout/cs_sbx_0123"), 404, "sandbox-disabled")
        problem(client.post("/api/v1/billing/sandbox/checkout/cs_sbx_0123/pay"), 404, "sandbox-disabled")
        with p.session() as s:
            assert s.scalars(select(Entitlement).where(Entitlement.user_id == fan.id)).all() == []
            assert s.scalars(select(Subscription)).all() == []
            assert s.scalars(select(SandboxObject)).all() == []


def test_a_sandbox_that_is_on_says_so_loudly(mc_make_platform, caplog):
    import logging

    with caplog.at_level(logging.WARNING, logger="musicconnect.billing"):
        p, artist, fan, admin, tiers, client = _env(mc_make_platform, {"sandbox": True})
        with client:
            r = client.post("/api/v1/billing/checkout", json={"tier_id": str(tiers["supporter"].id)}, headers=fan.headers)
            assert r.status_code == 201 and r.json()["sandbox"] is True and r.json()["provider"] == "sandbox"
            page = client.get(r.json()["url"])
            assert "SANDBOX" in page.text and "no real money" in page.text
            portal = client.post("/api/v1/billing/portal", json={}, headers=fan.headers).json()
            assert portal["sandbox"] is True and "SANDBOX" in client.get(portal["url"]).text
    assert any(rec.levelname == "WARNING" and "BILLING SANDBOX IS ON" in rec.getMessage() for rec in caplog.records)


def test_serve_demo_turns_the_sandbox_on(monkeypatch):
    """``serve --demo`` (what scripts/demo.py runs) asks for the sandbox; nothing else does."""
    import os

    import musicconnect_cli.main as cli

    seen = {}

    class Stop(Exception):
        pass

    def fake_connected():
        seen["sandbox"] = os.environ.get("MC_BILLING_SANDBOX")
        raise Stop

    monkeypatch.setattr(cli, "connected", fake_connected)
    # set first, so that teardown restores the variable as it was before the test (absent, or its
    # value), not the "true" serve --demo put there, which would leak into later tests
    monkeypatch.setenv("MC_BILLING_SANDBOX", "placeholder")
    monkeypatch.delenv("MC_BILLING_SANDBOX")
    for demo, expected in ((False, None), (True, "true")):
        try:
            cli.serve(host="127.0.0.1", port=1, demo=demo, workers=1, migrate_db=False)
        except (Stop, SystemExit):
            pass
        assert seen.pop("sandbox") == expected
        monkeypatch.delenv("MC_BILLING_SANDBOX", raising=False)


# ---------------------------------------------------------------- hole 6: bounded lists

def test_list_parameters_are_bounded(sandbox_env):
    env = sandbox_env
    huge = str(2 ** 64)
    for params in ({"offset": huge}, {"offset": "-1"}, {"limit": "0"}, {"limit": huge}):
        problem(env.client.get("/api/v1/billing/subscriptions", params=params, headers=env.fan.headers), 422)
        problem(env.client.get(f"/api/v1/billing/artists/{env.artist.artist_id}/revenue", params=params,
                               headers=env.artist.headers), 422)
    r = env.client.get("/api/v1/billing/subscriptions", params={"offset": 5, "limit": 1}, headers=env.fan.headers)
    assert r.status_code == 200 and r.json() == []


# ---------------------------------------------------------------- hole 2: route scopes

def _token(client, user, *scopes) -> dict:
    r = client.post("/api/v1/me/tokens", json={"name": "t", "scopes": list(scopes)}, headers=user.headers)
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def test_billing_routes_need_their_scopes(sandbox_env):
    env = sandbox_env
    body = {"tier_id": str(env.tiers["supporter"].id)}
    profile_only = _token(env.client, env.fan, "profile:read")
    problem(env.client.post("/api/v1/billing/checkout", json=body, headers=profile_only), 403, "insufficient-scope")
    problem(env.client.post("/api/v1/billing/portal", json={}, headers=profile_only), 403, "insufficient-scope")
    problem(env.client.get("/api/v1/billing/subscriptions", headers=profile_only), 403, "insufficient-scope")

    reader = _token(env.client, env.fan, "billing:read")
    problem(env.client.post("/api/v1/billing/checkout", json=body, headers=reader), 403, "insufficient-scope")
    assert env.client.get("/api/v1/billing/subscriptions", headers=reader).json() == []

    writer = _token(env.client, env.fan, "billing:write")
    r = env.client.post("/api/v1/billing/checkout", json=body, headers=writer)
    assert r.status_code == 201, r.text
    env.client.post(r.json()["url"] + "/pay")  # the hosted page is public: the browser sends no token
    env.wait()
    [sub] = env.client.get("/api/v1/billing/subscriptions", headers=reader).json()
    problem(env.client.post(f"/api/v1/billing/subscriptions/{sub['id']}/cancel", headers=reader), 403,
            "insufficient-scope")
    assert env.client.post(f"/api/v1/billing/subscriptions/{sub['id']}/cancel", headers=writer).status_code == 200

    # artists: revenue needs analytics:read, payouts artist:write; the admin fee needs the admin scope
    revenue = f"/api/v1/billing/artists/{env.artist.artist_id}/revenue"
    problem(env.client.get(revenue, headers=_token(env.client, env.artist, "content:write")), 403, "insufficient-scope")
    assert env.client.get(revenue, headers=_token(env.client, env.artist, "analytics:read")).status_code == 200
    problem(env.client.get("/api/v1/billing/connect", headers=_token(env.client, env.artist, "analytics:read")),
            403, "insufficient-scope")
    fee = f"/api/v1/billing/artists/{env.artist.artist_id}/fee"
    problem(env.client.put(fee, json={"percent": 5}, headers=_token(env.client, env.admin, "profile:read")),
            403, "insufficient-scope")
    assert env.client.put(fee, json={"percent": 5}, headers=_token(env.client, env.admin, "admin")).status_code == 200

    scopes = env.client.get("/api/v1/scopes").json()
    names = {s["name"] if isinstance(s, dict) else s for s in scopes} if isinstance(scopes, list) else set(scopes)
    assert {"billing:read", "billing:write"} <= names


def test_every_billing_route_declares_its_scope(sandbox_env):
    from musicconnect.routescopes import api_routes, declaration_of, undeclared_routes

    app = sandbox_env.client.app
    assert [r for r in undeclared_routes(app) if "/billing/" in r] == []
    declared = {(m, r.path): declaration_of(r).describe() for r in api_routes(app) if "/billing/" in r.path
                for m in r.methods}
    assert declared[("POST", "/api/v1/billing/checkout")] == "billing:write"
    assert declared[("GET", "/api/v1/billing/subscriptions")] == "billing:read"
    assert declared[("POST", "/api/v1/billing/webhooks/{provider_id}")] == "public"
    assert declared[("GET", "/api/v1/billing/sandbox/portal/{token}")] == "public"
    assert declared[("POST", "/api/v1/billing/sandbox/subscriptions/{sub_id}/renew")] == "admin"
    from musicconnect_billing.plugin import register_fast_routes

    assert [r.scope for r in register_fast_routes(sandbox_env.platform)] == ["public"]
