"""Exclusive posts with images and tracks, the fan feed, comments and reactions."""
from __future__ import annotations

import io
from datetime import timedelta

import httpx

from PIL import Image
from sqlalchemy import func, select

from helpers import problem
from musicconnect.models import ContentItem
from musicconnect.testing import make_user


def png(w=2400, h=1800, color=(10, 120, 200)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), color).save(buf, "PNG")
    return buf.getvalue()


def post(client, artist, files=None, **data):
    return client.post(f"/api/v1/fanclub/artists/{artist.artist_id}/posts", headers=artist.headers,
                       data={k: str(v) for k, v in data.items()}, files=files or [])


def test_post_with_images_for_a_tier(env):
    client, p, artist, fan, tiers = env
    r = post(client, artist, files=[("images", ("a.png", png(), "image/png")), ("images", ("b.png", png(800, 600), "image/png"))],
             title="Tour photos", body="From the van", visibility="tier", required_tier_id=tiers["supporter"].id)
    assert r.status_code == 201, r.text
    item = r.json()
    imgs = item["extra"]["images"]
    assert [(i["full"]["width"], i["thumb"]["width"]) for i in imgs] == [(1600, 400), (800, 400)]
    url = imgs[0]["thumb"]["url"]
    body = client.get(url[len("http://testserver"):]).content if url.startswith("http://testserver") else httpx.get(url).content
    with Image.open(io.BytesIO(body)) as im:
        assert im.format == "JPEG" and im.size == (400, 300)
    problem(client.get(f"/api/v1/content/{item['id']}", headers=fan.headers), 403)
    client.post(f"/api/v1/artists/{artist.artist_id}/comps", headers=artist.headers,
                json={"email": fan.email, "tier_id": str(tiers["superfan"].id)})
    seen = client.get(f"/api/v1/content/{item['id']}", headers=fan.headers).json()
    assert seen["data"]["body"] == "From the van" and len(seen["extra"]["images"]) == 2
    assert client.delete(f"/api/v1/content/{item['id']}", headers=artist.headers).status_code == 204
    assert list(p.storage.list(f"posts/{item['id']}/")) == []


def test_post_bad_uploads_store_nothing(env):
    client, p, artist, fan, tiers = env
    problem(post(client, artist, files=[("images", ("x.png", b"not an image", "image/png"))], title="x"), 415)
    problem(post(client, artist, files=[("images", ("x.png", b"", "image/png"))], title="x"), 415)
    big = b"\x89PNG" + b"0" * (16 * 1024 * 1024)
    problem(post(client, artist, files=[("images", ("big.png", big, "image/png"))], title="x"), 413)
    problem(post(client, artist, title=""), 422)
    problem(post(client, artist, title="x", track_ids="not-a-uuid"), 422)
    problem(post(client, artist, title="x", track_ids="00000000-0000-0000-0000-000000000000"), 422)
    problem(client.post(f"/api/v1/fanclub/artists/{artist.artist_id}/posts", headers=fan.headers, data={"title": "x"}), 403)
    with p.session() as s:
        assert s.scalar(select(func.count()).select_from(ContentItem)) == 0
    assert list(p.storage.list("posts/")) == []


def test_feed_follows_and_supports_with_teasers(env, mc_clock):
    client, p, artist, fan, tiers = env
    other = make_user(p, "artist", artist_name="Other")
    stranger = make_user(p, "artist", artist_name="Stranger")
    post(client, artist, title="Public hello")
    post(client, artist, title="Supporters only", visibility="tier", required_tier_id=tiers["supporter"].id)
    post(client, artist, title="Coming soon", publish_at=(mc_clock.now() + timedelta(days=3)).isoformat())
    post(client, other, title="Other's news")
    post(client, stranger, title="Not followed")
    assert client.get("/api/v1/fanclub/feed", headers=fan.headers).json() == []
    client.post(f"/api/v1/fanclub/artists/{artist.artist_id}/follow", headers=fan.headers)
    client.post(f"/api/v1/artists/{other.artist_id}/comps", headers=other.headers,
                json={"email": fan.email, "tier_id": str(p.access.tiers(other.artist_id)[1].id)})
    items = client.get("/api/v1/fanclub/feed", headers=fan.headers).json()
    assert {(i["title"], i["locked"]) for i in items} == {("Public hello", False), ("Supporters only", True),
                                                         ("Other's news", False)}
    page = client.get("/api/v1/fanclub/feed?limit=1", headers=fan.headers).json()
    assert len(page) == 1


def test_comments_and_reactions_by_members(env, mc_clock):
    client, p, artist, fan, tiers = env
    item = post(client, artist, title="Vote for the encore").json()
    url = f"/api/v1/fanclub/content/{item['id']}"
    problem(client.post(f"{url}/comments", headers=fan.headers, json={"body": "me!"}), 403, "members-only")
    problem(client.put(f"{url}/reactions/heart", headers=fan.headers), 403, "members-only")
    client.post(f"/api/v1/fanclub/artists/{artist.artist_id}/join", headers=fan.headers)  # free membership is enough
    assert client.post(f"{url}/comments", headers=fan.headers, json={"body": "Night Drive!"}).status_code == 201
    mc_clock.advance(seconds=1)  # comments of the same instant are ordered by id
    assert client.post(f"{url}/comments", headers=artist.headers, json={"body": "Noted"}).status_code == 201
    for _ in range(2):
        assert client.put(f"{url}/reactions/fire", headers=fan.headers).status_code == 204
    client.put(f"{url}/reactions/heart", headers=artist.headers)
    problem(client.put(f"{url}/reactions/thumbsdown", headers=fan.headers), 422)
    out = client.get(f"{url}/comments").json()
    assert [c["body"] for c in out["comments"]] == ["Night Drive!", "Noted"]
    assert out["reactions"]["fire"] == 1 and out["reactions"]["heart"] == 1
    client.delete(f"{url}/reactions/fire", headers=fan.headers)
    assert client.get(f"{url}/comments").json()["reactions"]["fire"] == 0
    gated = post(client, artist, title="Superfans", visibility="tier", required_tier_id=tiers["superfan"].id).json()
    problem(client.post(f"/api/v1/fanclub/content/{gated['id']}/comments", headers=fan.headers, json={"body": "x"}), 403)
    problem(client.get(f"/api/v1/fanclub/content/{gated['id']}/comments", headers=fan.headers), 404)


def test_the_feed_follows_follows_and_entitlements_at_once(env):
    """The fan's artist set is cached per fan; following, unfollowing and an entitlement change
    drop it, so the very next feed read shows the change."""
    client, p, artist, fan, tiers = env
    aid = artist.artist_id
    made = client.post(f"/api/v1/fanclub/artists/{aid}/posts", headers=artist.headers,
                       data={"title": "Hello", "body": "x"})
    assert made.status_code == 201, made.text
    feed = "/api/v1/fanclub/feed"
    assert client.get(feed, headers=fan.headers).json() == []  # cached: follows nobody
    assert client.post(f"/api/v1/fanclub/artists/{aid}/follow", headers=fan.headers).status_code == 204
    assert [i["title"] for i in client.get(feed, headers=fan.headers).json()] == ["Hello"]
    assert client.delete(f"/api/v1/fanclub/artists/{aid}/follow", headers=fan.headers).status_code == 204
    assert client.get(feed, headers=fan.headers).json() == []
    r = client.post(f"/api/v1/artists/{aid}/comps", headers=artist.headers,
                    json={"email": fan.email, "tier_id": str(tiers["superfan"].id)})
    assert r.status_code == 201, r.text
    assert [i["title"] for i in client.get(feed, headers=fan.headers).json()] == ["Hello"]  # a supporter now
