"""Scoped personal API tokens for third-party clients."""
from __future__ import annotations

from helpers import bearer, problem


def test_token_lifecycle_and_scopes(mc_client, mc_users, mc_clock):
    artist = mc_users.artist
    r = mc_client.post("/api/v1/me/tokens", headers=artist.headers,
                       json={"name": "stats bot", "scopes": ["profile:read", "analytics:read"], "expires_in_days": 30})
    assert r.status_code == 201, r.text
    created = r.json()
    secret = created["token"]
    assert secret.startswith("mcp_") and created["prefix"] == secret[:10]
    h = bearer(secret)
    assert mc_client.get("/api/v1/me", headers=h).json()["id"] == str(artist.id)
    assert mc_client.get(f"/api/v1/artists/{artist.artist_id}/metrics", headers=h).status_code == 200
    # a scope it lacks
    body = problem(mc_client.post(f"/api/v1/artists/{artist.artist_id}/tiers", headers=h,
                                  json={"key": "vip", "name": "VIP", "rank": 5, "price_amount": 2500}),
                   403, "insufficient-scope")
    assert body["required_scope"] == "artist:write"
    # tokens cannot mint tokens
    problem(mc_client.post("/api/v1/me/tokens", headers=h, json={"name": "x", "scopes": ["profile:read"]}), 403)
    listed = mc_client.get("/api/v1/me/tokens", headers=artist.headers).json()
    assert [t["name"] for t in listed] == ["stats bot"] and "token" not in listed[0]
    assert listed[0]["last_used_at"] is not None
    # expiry
    mc_clock.advance(days=31)
    problem(mc_client.get("/api/v1/me", headers=h), 401, "token-expired")


def test_revoked_token_is_rejected_at_once(mc_client, mc_users):
    fan = mc_users.fan
    created = mc_client.post("/api/v1/me/tokens", headers=fan.headers,
                             json={"name": "player", "scopes": ["profile:read"]}).json()
    h = bearer(created["token"])
    assert mc_client.get("/api/v1/me", headers=h).status_code == 200  # now cached
    assert mc_client.delete(f"/api/v1/me/tokens/{created['id']}", headers=fan.headers).status_code == 204
    problem(mc_client.get("/api/v1/me", headers=h), 401)
    problem(mc_client.get("/api/v1/me", headers=bearer("mcp_not-a-real-token")), 401)


def test_token_bad_input(mc_client, mc_users):
    h = mc_users.fan.headers
    problem(mc_client.post("/api/v1/me/tokens", headers=h, json={"name": "x", "scopes": ["Everything!"]}), 422)
    problem(mc_client.post("/api/v1/me/tokens", headers=h, json={"name": "x", "scopes": []}), 422)
    problem(mc_client.delete("/api/v1/me/tokens/00000000-0000-0000-0000-000000000000", headers=h), 404)
    other = mc_client.post("/api/v1/me/tokens", headers=mc_users.artist.headers,
                           json={"name": "mine", "scopes": ["profile:read"]}).json()
    problem(mc_client.delete(f"/api/v1/me/tokens/{other['id']}", headers=h), 404)
