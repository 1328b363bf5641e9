"""Regression tests for what the hostile review of issue 9's work found in the core (each failed
before its fix)."""
from __future__ import annotations

import asyncio

import pytest
from starlette.testclient import TestClient

from helpers import bearer, problem
from musicconnect.app import create_app
from musicconnect.testing import concurrently, make_user


def test_times_out_of_range_are_422_not_500(mc_client, mc_users):
    artist = mc_users.artist
    url = f"/api/v1/artists/{artist.artist_id}/content"
    for when in ("9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"):
        problem(mc_client.post(url, headers=artist.headers, json={"kind": "post", "title": "x", "publish_at": when}),
                422, "validation")
    tiers = mc_client.get(f"/api/v1/artists/{artist.artist_id}/tiers").json()
    problem(mc_client.post(f"/api/v1/artists/{artist.artist_id}/comps", headers=artist.headers, json={
        "email": mc_users.fan.email, "tier_id": tiers[1]["id"], "expires_at": "9999-12-31T23:59:59-14:00"}),
        422, "validation")


def test_concurrent_sign_ups_for_one_email(mc_make_platform):
    # the address limits (the core's, and the moderation plugin's sign-up burst rule) out of the way:
    # this is about twelve racing inserts of one email
    p = mc_make_platform(register_ip_limit="1000/hour",
                         plugin_config={"moderation": {"abuse_signups_per_address_hour": 1000}})
    with TestClient(create_app(p)) as client:
        codes = concurrently(12, lambda i: client.post("/api/v1/auth/register", json={
            "email": "same@example.com", "password": "a-long-passphrase", "role": "fan"}).status_code)
    assert sorted(codes) == [201] + [409] * 11, codes


def test_made_up_tokens_are_counted(mc_make_platform):
    p = mc_make_platform(rate_limit_anonymous="5/day")
    with TestClient(create_app(p)) as client:
        codes = [client.get("/api/v1/me/entitlements", headers=bearer(f"mcp_made-up-{i}")).status_code
                 for i in range(7)]
        assert codes == [401] * 5 + [429] * 2
        fast = [client.get("/api/v1/me", headers=bearer(f"mcp_other-{i}")).status_code for i in range(2)]
        assert fast == [429, 429]  # the fast path counts callers too


def test_all_of_a_users_tokens_share_one_budget(mc_make_platform):
    p = mc_make_platform(rate_limit_token="3/day")
    fan = make_user(p, "fan")
    with TestClient(create_app(p)) as client:
        toks = [client.post("/api/v1/me/tokens", headers=fan.headers,
                            json={"name": f"t{i}", "scopes": ["profile:read"]}).json()["token"] for i in range(2)]
        codes = [client.get("/api/v1/me/entitlements", headers=bearer(toks[i % 2])).status_code for i in range(5)]
        assert codes == [200, 200, 200, 429, 429]


def test_a_comp_refusal_does_not_tell_whether_an_email_has_an_account(mc_client, mc_users):
    artist = mc_users.artist
    aid = artist.artist_id
    tiers = mc_client.get(f"/api/v1/artists/{aid}/tiers").json()
    retired = mc_client.post(f"/api/v1/artists/{aid}/tiers", headers=artist.headers, json={
        "key": "old", "name": "Old", "rank": 7, "price_amount": 900, "currency": "USD", "perks": {}}).json()
    assert mc_client.delete(f"/api/v1/artists/{aid}/tiers/{retired['id']}", headers=artist.headers).status_code == 204
    a = mc_client.post(f"/api/v1/artists/{aid}/comps", headers=artist.headers,
                       json={"email": mc_users.fan.email, "tier_id": retired["id"]})
    b = mc_client.post(f"/api/v1/artists/{aid}/comps", headers=artist.headers,
                       json={"email": "nobody-here@example.com", "tier_id": retired["id"]})
    assert (a.status_code, a.json()["type"]) == (b.status_code, b.json()["type"])
    assert tiers  # the artist's own tiers were listed


def test_someone_elses_unreleased_item_is_404_to_edit(mc_client, mc_users, mc_clock):
    from datetime import timedelta

    artist, other = mc_users.artist, mc_users.make("artist", artist_name="Other")
    later = (mc_clock.now() + timedelta(days=2)).isoformat()
    item = mc_client.post(f"/api/v1/artists/{artist.artist_id}/content", headers=artist.headers,
                          json={"kind": "post", "title": "soon", "publish_at": later, "status": "ready"}).json()
    for method in ("patch", "delete"):
        kw = {"json": {"title": "mine now"}} if method == "patch" else {}
        problem(getattr(mc_client, method)(f"/api/v1/content/{item['id']}", headers=other.headers, **kw), 404,
                "not-found")
    problem(mc_client.post(f"/api/v1/content/{item['id']}/take-down", headers=other.headers, json={"reason": "x"}),
            404, "not-found")


def test_server_managed_data_cannot_be_wiped(mc_make_platform):
    import testplugins

    p = mc_make_platform(extra_plugins=[("recorder", testplugins.make_recorder())], entry_points=False)
    artist = make_user(p, "artist", artist_name="A")
    with TestClient(create_app(p)) as client:
        item = client.post(f"/api/v1/artists/{artist.artist_id}/content", headers=artist.headers,
                           json={"kind": "memo", "title": "m"}).json()
        problem(client.patch(f"/api/v1/content/{item['id']}", headers=artist.headers, json={"data": {}}), 422,
                "content-data-not-accepted")


def test_metric_ids_are_deduplicated_and_capped(mc_client, mc_users):
    artist = mc_users.artist
    url = f"/api/v1/artists/{artist.artist_id}/metrics"
    out = mc_client.get(url + "?metric=members_current&metric=members_current", headers=artist.headers).json()
    assert [m["id"] for m in out["metrics"]] == ["members_current"]
    problem(mc_client.get(url + "?" + "&".join(["metric=members_current"] * 51), headers=artist.headers), 422,
            "validation")


def test_guesses_from_elsewhere_do_not_lock_the_owner_out(mc_make_platform):
    p = mc_make_platform(login_failures_limit="5/minute", login_account_limit="100/hour")
    fan = make_user(p, "fan")
    app = create_app(p)
    with TestClient(app, client=("203.0.113.9", 4000)) as attacker:
        codes = [attacker.post("/api/v1/auth/login", json={"email": fan.email, "password": "guess"}).status_code
                 for _ in range(7)]
        assert codes == [401] * 5 + [429] * 2
    with TestClient(app, client=("198.51.100.7", 4000)) as owner:
        assert owner.post("/api/v1/auth/login", json={"email": fan.email, "password": fan.password}).status_code == 200


def test_password_checks_queue_on_the_event_loop_and_overflow_is_503():
    from musicconnect.errors import Problem
    from musicconnect.identity.passwords import PasswordGate

    gate = PasswordGate(slots=1, max_waiting=2)
    inside, peak = [0], [0]

    async def check(i):
        try:
            async with gate.turn():
                inside[0] += 1
                peak[0] = max(peak[0], inside[0])
                await asyncio.sleep(0.02)
                inside[0] -= 1
                return "ok"
        except Problem as exc:
            return exc.status

    async def main():
        return await asyncio.gather(*(check(i) for i in range(6)))

    out = asyncio.run(main())
    assert peak[0] == 1
    assert out.count("ok") == 3 and out.count(503) == 3  # one in, two waiting, the rest told at once


@pytest.mark.parametrize("path", ["/api/v1/auth/login", "/api/v1/auth/register"])
def test_hashing_routes_are_async(mc_app, path):
    """They wait for a hashing turn on the event loop and never park a request thread."""
    import inspect

    from musicconnect.routescopes import api_routes

    route = next(r for r in api_routes(mc_app) if r.path == path)
    assert inspect.iscoroutinefunction(route.endpoint)
