"""The fan club through HTTP: perks validation, follow/join, DMs with quota, backstage, metrics."""
from __future__ import annotations

from datetime import datetime, timezone


from helpers import problem
from musicconnect.testing import make_user


def comp(client, artist, fan, tier):
    r = client.post(f"/api/v1/artists/{artist.artist_id}/comps", headers=artist.headers,
                    json={"email": fan.email, "tier_id": str(tier.id)})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_inconsistent_perks_are_422(env):
    client, p, artist, fan, tiers = env
    base = f"/api/v1/artists/{artist.artist_id}/tiers"
    for tier, perks in ((tiers["superfan"], {"direct_messages": -1}), (tiers["free"], {"early_access": 24}),
                        (tiers["supporter"], {"early_access": 0}), (tiers["supporter"], {"virtual_backstage": "yes"}),
                        (tiers["free"], {"virtual_backstage": True}), (tiers["supporter"], {"direct_messages": 2.5})):
        problem(client.patch(f"{base}/{tier.id}", headers=artist.headers, json={"perks": perks}), 422, "invalid-perks")
    ok = client.patch(f"{base}/{tiers['supporter'].id}", headers=artist.headers,
                      json={"perks": {"exclusive_tracks": True, "direct_messages": 2, "early_access": 12}})
    assert ok.status_code == 200
    problem(client.post(base, headers=artist.headers, json={"key": "vip", "name": "VIP", "rank": 3, "price_amount": 5000,
                                                            "perks": {"direct_messages": -5}}), 422, "invalid-perks")


def test_dm_quota_in_the_artists_time_zone(env, mc_clock):
    client, p, artist, fan, tiers = env
    client.patch(f"/api/v1/artists/{artist.artist_id}", headers=artist.headers, json={"timezone": "Pacific/Auckland"})
    url = f"/api/v1/fanclub/artists/{artist.artist_id}/messages"
    problem(client.post(url, headers=fan.headers, json={"body": "hi"}), 403, "no-dm-perk")
    comp(client, artist, fan, tiers["superfan"])  # 5 messages a month
    # 2026-06-01 12:00 UTC is 2026-06-02 00:00 in Auckland (UTC+12): the month resets on 2026-07-01 Auckland time
    for i in range(5):
        r = client.post(url, headers=fan.headers, json={"body": f"message {i}"})
        assert r.status_code == 201, r.text
        assert r.json()["remaining"] == 4 - i
    body = problem(client.post(url, headers=fan.headers, json={"body": "one more"}), 429, "dm-quota-exceeded")
    assert body["resets_at"] == "2026-06-30T12:00:00+00:00"  # midnight 1 July in Auckland
    me = client.get(f"/api/v1/fanclub/artists/{artist.artist_id}/me", headers=fan.headers).json()
    assert me["direct_messages"] == {"limit": 5, "used": 5, "remaining": 0, "resets_at": "2026-06-30T12:00:00+00:00",
                                     "timezone": "Pacific/Auckland"}
    # the artist replies without limit
    conv = f"/api/v1/fanclub/artists/{artist.artist_id}/conversations/{fan.id}/messages"
    for _ in range(7):
        assert client.post(conv, headers=artist.headers, json={"body": "thanks!"}).status_code == 201
    inbox = client.get(f"/api/v1/fanclub/artists/{artist.artist_id}/conversations", headers=artist.headers).json()
    assert inbox[0]["fan_id"] == str(fan.id) and inbox[0]["messages"] == 12
    assert len(client.get(url, headers=fan.headers).json()) == 12
    # 1 July in Auckland: a new month
    mc_clock.set(datetime(2026, 6, 30, 12, 0, 1, tzinfo=timezone.utc))
    fan.renew(p)
    assert client.post(url, headers=fan.headers, json={"body": "new month"}).status_code == 201


def test_dm_bad_targets(env):
    client, p, artist, fan, tiers = env
    problem(client.post("/api/v1/fanclub/artists/00000000-0000-0000-0000-000000000000/messages", headers=fan.headers,
                        json={"body": "hi"}), 404)
    problem(client.post(f"/api/v1/fanclub/artists/{fan.id}/messages", headers=fan.headers, json={"body": "hi"}), 404)
    problem(client.post(f"/api/v1/fanclub/artists/{artist.artist_id}/messages", headers=fan.headers, json={"body": ""}), 422)
    problem(client.post(f"/api/v1/fanclub/artists/{artist.artist_id}/conversations/{fan.id}/messages",
                        headers=artist.headers, json={"body": "unprompted"}), 404)
    other = make_user(p, "artist", artist_name="Other")
    problem(client.get(f"/api/v1/fanclub/artists/{artist.artist_id}/conversations", headers=other.headers), 403)


def test_backstage_needs_the_perk(env):
    client, p, artist, fan, tiers = env
    url = f"/api/v1/fanclub/artists/{artist.artist_id}/backstage"
    post = client.post(url, headers=artist.headers, json={"body": "Welcome backstage"}).json()
    problem(client.post(url, headers=fan.headers, json={"body": "let me in"}), 403, "no-backstage-perk")
    problem(client.get(url, headers=fan.headers), 403, "no-backstage-perk")
    comp(client, artist, fan, tiers["supporter"])
    problem(client.get(url, headers=fan.headers), 403)  # supporters have no backstage by default
    comp(client, artist, fan, tiers["superfan"])
    r = client.post(f"{url}/{post['id']}/replies", headers=fan.headers, json={"body": "hello!"})
    assert r.status_code == 201
    thread = client.get(url, headers=fan.headers).json()
    assert thread[0]["body"] == "Welcome backstage" and [x["body"] for x in thread[0]["replies"]] == ["hello!"]
    problem(client.post(f"{url}/00000000-0000-0000-0000-000000000000/replies", headers=fan.headers, json={"body": "x"}), 404)


def test_follow_join_funnel_metrics_and_first_support(env):
    client, p, artist, fan, tiers = env
    a = artist.artist_id
    fan2, fan3 = make_user(p, "fan"), make_user(p, "fan")
    assert client.post(f"/api/v1/fanclub/artists/{a}/follow", headers=fan.headers).status_code == 204
    assert client.post(f"/api/v1/fanclub/artists/{a}/join", headers=fan2.headers).json()["tier"] == "free"
    client.post(f"/api/v1/fanclub/artists/{a}/join", headers=fan3.headers)
    comp(client, artist, fan3, tiers["supporter"])
    ms = {m["id"]: m["value"] for m in client.get(f"/api/v1/artists/{a}/metrics", headers=artist.headers).json()["metrics"]}
    assert ms["members_by_tier"] == {"free": 2, "supporter": 1}
    assert ms["conversion_funnel"] == {"listeners": 0, "followers": 3, "free_members": 2, "paid_members": 1}
    assert ms["top_fans"][0]["user_id"] == str(fan3.id) and ms["top_fans"][0]["tier_rank"] == 1
    assert client.delete(f"/api/v1/fanclub/artists/{a}/join", headers=fan2.headers).status_code == 204
    problem(client.delete(f"/api/v1/fanclub/artists/{a}/join", headers=fan2.headers), 404)
    from sqlalchemy import select

    from musicconnect.models import DomainEvent
    with p.session() as s:
        ms = s.scalars(select(DomainEvent).where(DomainEvent.type == "fan.milestone")).all()
    assert [(m.actor_id, m.data["milestone"]) for m in ms] == [(fan3.id, "first_support")]


def test_text_posts_through_the_core(env, mc_clock):
    client, p, artist, fan, tiers = env
    url = f"/api/v1/artists/{artist.artist_id}/content"
    r = client.post(url, headers=artist.headers, json={"kind": "post", "title": "Diary", "visibility": "tier",
                                                       "required_tier_id": str(tiers["supporter"].id),
                                                       "data": {"body": "secret notes"}})
    assert r.status_code == 201
    problem(client.get(f"/api/v1/content/{r.json()['id']}", headers=fan.headers), 403)
    comp(client, artist, fan, tiers["supporter"])
    assert client.get(f"/api/v1/content/{r.json()['id']}", headers=fan.headers).json()["data"] == {"body": "secret notes"}
    problem(client.post(url, headers=artist.headers, json={"kind": "post", "title": "x", "data": {"body": 5}}), 422)
