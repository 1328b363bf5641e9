"""Issue 10, part 1: a request path that cannot deadlock the connection pool.

Every unit of work (a request, a job) holds at most one pooled connection: the pool counts
checkouts per unit (``musicconnect.db.ConnectionUse``). With the pool at the smallest size the
sizing rule allows and a short pool timeout, every GET route is called by an anonymous visitor, a
member and the artist with cold caches, and every list route takes 200 concurrent requests: no
5xx, and no request ever checks out a second connection while it holds one.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest
from starlette.testclient import TestClient

from musicconnect import db as mcdb
from musicconnect.app import create_app
from musicconnect.routescopes import api_routes
from musicconnect.testing import concurrently, make_user

pytestmark = pytest.mark.slow


@pytest.fixture
def world(mc_make_platform, tmp_path):
    from musicconnect_streaming import media

    p = mc_make_platform(request_threads=2, worker_threads=1, db_pool_size=2 + 1 + 4, db_pool_timeout=3.0,
                         rate_limits_enabled=False, max_pending_requests=100_000)
    artist, fan, member = make_user(p, "artist", artist_name="Band"), make_user(p, "fan"), make_user(p, "fan")
    app = create_app(p)
    with TestClient(app) as client:
        aid = artist.artist_id
        tiers = client.get(f"/api/v1/artists/{aid}/tiers").json()
        paid = next(t for t in tiers if t["price_amount"] > 0)
        assert client.post(f"/api/v1/artists/{aid}/comps", headers=artist.headers,
                           json={"email": member.email, "tier_id": paid["id"]}).status_code == 201
        posts = [client.post(f"/api/v1/fanclub/artists/{aid}/posts", headers=artist.headers,
                             data={"title": f"post {i}", "body": "hello", **(
                                 {"visibility": "tier", "required_tier_id": paid["id"]} if i % 2 else {})}).json()["id"]
                 for i in range(4)]
        for who in (fan, member):
            client.post(f"/api/v1/fanclub/artists/{aid}/follow", headers=who.headers)
            client.post(f"/api/v1/fanclub/content/{posts[0]}/comments", headers=who.headers, json={"body": "nice"})
            client.put(f"/api/v1/fanclub/content/{posts[0]}/reactions/heart", headers=who.headers)
        wav = tmp_path / "t.wav"
        media.generated_tone(wav, 6, seed=3)
        with open(wav, "rb") as fh:
            up = client.post(f"/api/v1/streaming/artists/{aid}/tracks", headers=artist.headers,
                             files={"file": ("t.wav", fh, "audio/wav")}, data={"title": "Song"})
        assert up.status_code == 202, up.text
        p.jobs.wait_idle(120)
        values = {"artist_id": str(aid), "artist_ref": str(aid), "content_id": posts[0], "track_id": up.json()["id"],
                  "fan_id": str(member.id), "month": datetime.now(timezone.utc).strftime("%Y-%m"),
                  "kind": "heart", "post_id": posts[0]}
        yield client, p, app, {"anonymous": {}, "member": member.headers, "artist": artist.headers}, values


def _get_urls(app, values):
    for route in api_routes(app):
        if "GET" not in route.methods or route.path in ("/metrics", "/readyz"):
            continue
        url = route.path_format
        for prm in route.dependant.path_params:
            url = url.replace("{" + prm.name + "}", values.get(prm.name, str(uuid.uuid4())))
        yield url


def test_no_request_holds_two_connections(world):
    client, p, app, callers, values = world
    urls = list(_get_urls(app, values))
    assert len(urls) > 25
    nested = []
    for url in urls:
        for who, headers in callers.items():
            p.cache.clear()  # cold caches: every loader runs
            mcdb.RECORDER = recorded = []
            try:
                r = client.get(url, headers=headers)
            finally:
                mcdb.RECORDER = None
            assert r.status_code < 500, (who, url, r.status_code, r.text)
            worst = max((u.max_held for u in recorded), default=0)
            if worst > 1:
                nested.append((who, url, worst))
    assert nested == []


def test_list_routes_hold_200_concurrent_requests(world):
    client, p, app, callers, values = world
    lists = []
    for url in _get_urls(app, values):
        for who, headers in callers.items():
            r = client.get(url, headers=headers)
            if r.status_code == 200 and r.headers["content-type"].startswith("application/json") \
                    and isinstance(r.json(), list):
                lists.append((who, url, headers))
    assert len(lists) >= 15, lists
    for who, url, headers in lists:
        p.cache.clear()
        mcdb.RECORDER = recorded = []
        try:
            codes = concurrently(200, lambda i: client.get(url, headers=headers).status_code, timeout=120)
        finally:
            mcdb.RECORDER = None
        assert all(c == 200 for c in codes), (who, url, sorted(set(map(str, codes))))
        assert max(u.max_held for u in recorded) <= 1, (who, url)


def _queries(client, p, url, headers) -> int:
    p.cache.clear()  # cold: the worst case
    mcdb.RECORDER = recorded = []
    try:
        r = client.get(url, headers=headers)
    finally:
        mcdb.RECORDER = None
    assert r.status_code == 200, (url, r.text)
    # only this request's unit: jobs that earlier writes queued (notifications...) may run meanwhile
    return sum(u.queries for u in recorded if u.what == f"GET {url.split('?')[0]}")


def test_read_routes_have_no_n_plus_1(world):
    """Part 2: the routes every fan hits run a fixed, small number of queries whatever the number
    of items they list (the process cache serves what it can; the rest is one query per concern)."""
    client, p, app, callers, values = world
    aid, post = values["artist_id"], values["content_id"]
    member, artist = callers["member"], callers["artist"]
    routes = [(f"/api/v1/artists/{aid}/content", {}), (f"/api/v1/artists/{aid}/content", member),
              (f"/api/v1/artists/{aid}", {}), ("/api/v1/artists", {}), (f"/api/v1/artists/{aid}/tiers", {}),
              ("/api/v1/fanclub/feed", member), (f"/api/v1/fanclub/content/{post}/comments", {}),
              (f"/api/v1/fanclub/content/{post}/comments", member), (f"/api/v1/content/{post}", member),
              (f"/api/v1/streaming/tracks/{values['track_id']}", member), ("/api/v1/me/entitlements", member)]
    before = [_queries(client, p, url, h) for url, h in routes]
    assert min(before) > 0, list(zip([u for u, _ in routes], before))  # cold caches: every route was counted
    tiers = client.get(f"/api/v1/artists/{aid}/tiers").json()
    paid = next(t for t in tiers if t["price_amount"] > 0)
    for i in range(8):  # four times the items
        client.post(f"/api/v1/fanclub/artists/{aid}/posts", headers=artist, data={
            "title": f"more {i}", "body": "x", **({"visibility": "tier", "required_tier_id": paid["id"]} if i % 2 else {})})
        client.post(f"/api/v1/fanclub/content/{post}/comments", headers=member, json={"body": f"c{i}"})
    after = [_queries(client, p, url, h) for url, h in routes]
    grew = [(url, b, a) for (url, _), b, a in zip(routes, before, after) if a > b]
    assert grew == []
    # the budget: 8 queries, plus one for each plugin that grants extra entitlements (nft's
    # backstage holders, a co-op's bundle holders: one cached query per concern, cold)
    extra = len(p.plugins.pm.hook.extra_entitlements.get_hookimpls())
    assert max(after) <= 8 + extra, list(zip([u for u, _ in routes], after))
