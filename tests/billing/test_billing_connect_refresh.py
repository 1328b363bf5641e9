"""``POST /api/v1/billing/connect/refresh``: an artist back from Stripe's onboarding asks for the
payout account's status now, before (or without) the ``account.updated`` webhook."""
from __future__ import annotations

from tests.helpers import problem


def test_refresh_reads_the_account_from_stripe_after_onboarding(stripe_env):
    env = stripe_env
    url = "/api/v1/billing/connect/refresh"
    # nothing connected yet: the status says so, nothing is created at Stripe
    before = env.client.post(url, headers=env.artist.headers)
    assert before.status_code == 200, before.text
    assert (before.json()["connected"], before.json()["account_id"]) == (False, None)

    r = env.client.post("/api/v1/billing/connect", json={}, headers=env.artist.headers)
    assert r.status_code == 200, r.text
    acct = r.json()["account_id"]
    started = env.client.post(url, headers=env.artist.headers).json()
    assert started["connected"] and started["account_id"] == acct
    assert not started["payouts_enabled"] and not started["details_submitted"]
    assert "external_account" in started["requirements"]

    # the artist finishes onboarding at Stripe; no webhook is delivered
    env.stripe.post(f"/_test/onboarding/{acct}/complete")
    stale = env.client.get("/api/v1/billing/connect", headers=env.artist.headers).json()
    assert not stale["payouts_enabled"]  # only the webhook or a refresh brings the news
    done = env.client.post(url, headers=env.artist.headers)
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["charges_enabled"] and body["payouts_enabled"] and body["details_submitted"]
    assert body["requirements"] == []
    # stored: the status route and checkout see it
    assert env.client.get("/api/v1/billing/connect", headers=env.artist.headers).json()["payouts_enabled"]
    r = env.client.post("/api/v1/billing/checkout", json={"tier_id": str(env.tiers["supporter"].id)},
                        headers=env.fan.headers)
    assert r.status_code == 201, r.text


def test_refresh_is_for_artists_with_the_scope(stripe_env):
    url = "/api/v1/billing/connect/refresh"
    problem(stripe_env.client.post(url, headers=stripe_env.fan.headers), 403, "not-an-artist")
    problem(stripe_env.client.post(url), 401)
    token = stripe_env.client.post("/api/v1/me/tokens", headers=stripe_env.artist.headers,
                                   json={"name": "read only", "scopes": ["analytics:read"]})
    assert token.status_code == 201, token.text
    problem(stripe_env.client.post(url, headers={"Authorization": f"Bearer {token.json()['token']}"}),
            403, "insufficient-scope")


def test_refresh_without_stripe_says_there_is_nothing_to_ask(sandbox_env):
    url = "/api/v1/billing/connect/refresh"
    # the sandbox has no payout accounts: said in words
    problem(sandbox_env.client.post(url, headers=sandbox_env.artist.headers), 409, "stripe-not-configured")
    assert url in sandbox_env.client.get("/openapi.json").json()["paths"]
