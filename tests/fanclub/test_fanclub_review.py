"""What a hostile review of the issue 9 work found in the fan club, each with its regression test:
image decompression bombs, uniqueness races that answered 500, out-of-range dates, post images
that kept serving after a take-down, attached tracks the JSON API took unchecked, an unbounded
comment list and a shared Wrapped card rendered on every request."""
from __future__ import annotations

import io
import time
import uuid
from datetime import timedelta

import httpx
from PIL import Image
from sqlalchemy import func, select

from helpers import PeakRSS, needs_proc, png_bomb, problem
from musicconnect.models import ContentItem, DomainEvent, Entitlement
from musicconnect.testing import concurrently, make_user
from musicconnect_fanclub.models import Comment, Follow, Reaction, WrappedShare




def post(client, artist, files=None, **data):
    return client.post(f"/api/v1/fanclub/artists/{artist.artist_id}/posts", headers=artist.headers,
                       data={k: str(v) for k, v in data.items()}, files=files or [])


def fetch(client, url: str) -> httpx.Response:
    return client.get(url[len("http://testserver"):]) if url.startswith("http://testserver") else httpx.get(url, timeout=10)


def events(p, type_: str) -> int:
    with p.session() as s:
        return s.scalar(select(func.count()).select_from(DomainEvent).where(DomainEvent.type == type_))


# ---------------------------------------------------------------- 1. decompression bombs

@needs_proc
def test_image_bomb_is_refused_from_its_header_before_decoding(env):
    """A 9.7 KB 8900x8900 1-bit PNG took the server from 139 MB to 954 MB and 15 s of CPU."""
    client, p, artist, fan, tiers = env
    bomb = png_bomb(8900, 8900)
    assert len(bomb) < 200_000
    with PeakRSS() as rss:
        started = time.monotonic()
        r = post(client, artist, files=[("images", ("bomb.png", bomb, "image/png"))], title="boom")
        took = time.monotonic() - started
    body = problem(r, 413, "image-too-large")
    assert "megapixels" in body["detail"]
    assert rss.growth_mb < 60, f"the refusal decoded the image: +{rss.growth_mb:.0f} MB"
    assert took < 3, took
    with p.session() as s:
        assert s.scalar(select(func.count()).select_from(ContentItem)) == 0
    assert list(p.storage.list("posts/")) == []


@needs_proc
def test_four_bombs_at_once_stay_bounded(env):
    client, p, artist, fan, tiers = env
    bomb = png_bomb(8900, 8900)
    over = png_bomb(6400, 6400)  # 41 MP: just over the cap
    with PeakRSS() as rss:
        codes = concurrently(4, lambda i: post(client, artist, title=f"boom {i}",
                                               files=[("images", ("b.png", over if i % 2 else bomb, "image/png"))]
                                               ).status_code)
    assert codes == [413] * 4, codes
    assert rss.growth_mb < 100, f"+{rss.growth_mb:.0f} MB"


def test_big_legitimate_photo_still_resized_with_its_orientation(env):
    """A 24 MP camera JPEG (EXIF orientation 6: rotate 90 degrees) is accepted, decoded at a
    reduced scale, and stored upright."""
    client, p, artist, fan, tiers = env
    im = Image.new("RGB", (6000, 4000), (30, 90, 160))
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=70, exif=exif)
    del im
    r = post(client, artist, files=[("images", ("photo.jpg", buf.getvalue(), "image/jpeg"))], title="Photo")
    assert r.status_code == 201, r.text
    img = r.json()["extra"]["images"][0]
    assert (img["full"]["width"], img["full"]["height"]) == (1067, 1600)  # portrait now
    assert (img["thumb"]["width"], img["thumb"]["height"]) == (267, 400)
    with Image.open(io.BytesIO(fetch(client, img["full"]["url"]).content)) as out:
        assert out.format == "JPEG" and out.size == (1067, 1600) and out.mode == "RGB"
    # palette and 1-bit images are converted after the downscale, still to RGB JPEG
    buf = io.BytesIO()
    Image.new("P", (2000, 1000), 3).save(buf, "GIF")
    r = post(client, artist, files=[("images", ("a.gif", buf.getvalue(), "image/gif"))], title="Gif")
    assert r.status_code == 201, r.text
    assert r.json()["extra"]["images"][0]["full"] == {**r.json()["extra"]["images"][0]["full"], "width": 1600, "height": 800}


# ---------------------------------------------------------------- 2. uniqueness races

def test_concurrent_follows_unfollows_one_row_one_event(env):
    client, p, artist, fan, tiers = env
    url = f"/api/v1/fanclub/artists/{artist.artist_id}/follow"
    codes = concurrently(40, lambda i: client.post(url, headers=fan.headers).status_code)
    assert codes == [204] * 40, codes
    with p.session() as s:
        assert s.scalar(select(func.count()).select_from(Follow)) == 1
    assert events(p, "fan.followed") == 1
    codes = concurrently(30, lambda i: client.delete(url, headers=fan.headers).status_code)
    assert codes == [204] * 30, codes
    with p.session() as s:
        assert s.scalar(select(func.count()).select_from(Follow)) == 0
    assert events(p, "fan.unfollowed") == 1


def test_concurrent_joins_and_leaves_one_membership_one_event(env):
    client, p, artist, fan, tiers = env
    url = f"/api/v1/fanclub/artists/{artist.artist_id}/join"
    answers = concurrently(40, lambda i: client.post(url, headers=fan.headers))
    assert [r.status_code for r in answers] == [201] * 40, [(r.status_code, r.text[:200]) for r in answers]
    assert len({r.json()["entitlement_id"] for r in answers}) == 1
    with p.session() as s:
        assert s.scalar(select(func.count()).select_from(Entitlement).where(Entitlement.user_id == fan.id)) == 1
        assert s.scalar(select(func.count()).select_from(Follow)) == 1
    assert events(p, "entitlement.granted") == 1
    assert client.get(f"/api/v1/fanclub/artists/{artist.artist_id}/me", headers=fan.headers).json()["tier"]["key"] == "free"

    codes = concurrently(30, lambda i: client.delete(url, headers=fan.headers).status_code)
    assert sorted(codes) == [204] + [404] * 29, codes  # exactly one leave; the rest find no membership
    assert events(p, "entitlement.revoked") == 1
    assert client.get(f"/api/v1/fanclub/artists/{artist.artist_id}/me", headers=fan.headers).json()["tier"] is None

    # joining again after leaving, at once: one re-activation
    answers = concurrently(20, lambda i: client.post(url, headers=fan.headers))
    assert [r.status_code for r in answers] == [201] * 20, [(r.status_code, r.text[:200]) for r in answers]
    with p.session() as s:
        rows = s.scalars(select(Entitlement).where(Entitlement.user_id == fan.id)).all()
    assert [r.status for r in rows] == ["active"]
    assert events(p, "entitlement.updated") == 1


def test_concurrent_reactions_one_row_one_event(env):
    client, p, artist, fan, tiers = env
    item = client.post(f"/api/v1/artists/{artist.artist_id}/content", headers=artist.headers,
                       json={"kind": "post", "title": "Hi", "data": {"body": "x"}}).json()
    client.post(f"/api/v1/fanclub/artists/{artist.artist_id}/join", headers=fan.headers)
    url = f"/api/v1/fanclub/content/{item['id']}/reactions/heart"
    codes = concurrently(40, lambda i: client.put(url, headers=fan.headers).status_code)
    assert codes == [204] * 40, codes
    with p.session() as s:
        assert s.scalar(select(func.count()).select_from(Reaction)) == 1
    assert events(p, "fan.reacted") == 1
    counts = client.get(f"/api/v1/fanclub/content/{item['id']}/comments", headers=fan.headers).json()["reactions"]
    assert counts["heart"] == 1
    codes = concurrently(30, lambda i: client.delete(url, headers=fan.headers).status_code)
    assert codes == [204] * 30, codes
    with p.session() as s:
        assert s.scalar(select(func.count()).select_from(Reaction)) == 0


# ---------------------------------------------------------------- 3. out-of-range dates

def test_wrapped_months_outside_the_range_are_422(env):
    client, p, artist, fan, tiers = env
    for month in ("0000-01", "0001-01", "1000-01", "1999-12", "3000-01", "9999-12"):
        problem(client.get(f"/api/v1/fanclub/me/wrapped/{month}", headers=fan.headers), 422)
        problem(client.get(f"/api/v1/fanclub/me/wrapped/{month}.png", headers=fan.headers), 422)
        problem(client.post(f"/api/v1/fanclub/me/wrapped/{month}/shares", headers=fan.headers, json={}), 422)
    # a month that has not started has no Wrapped: creating a share says so, as opening one does
    for month in ("2026-07", "2999-12"):
        body = problem(client.post(f"/api/v1/fanclub/me/wrapped/{month}/shares", headers=fan.headers, json={}), 422)
        assert "not started" in body["detail"]
    with p.session() as s:
        assert s.scalar(select(func.count()).select_from(WrappedShare)) == 0
        s.add(WrappedShare(token="early", user_id=fan.id, month="2999-12", sections="minutes",
                           created_at=p.clock.now()))  # a row written before the check
    problem(client.get("/api/v1/fanclub/wrapped/early"), 422)
    problem(client.get("/api/v1/fanclub/wrapped/early.png"), 422)
    ok = client.post("/api/v1/fanclub/me/wrapped/2026-06/shares", headers=fan.headers, json={})
    assert ok.status_code == 201, ok.text
    assert client.get(ok.json()["url"]).status_code == 200


def test_post_publish_at_out_of_range_is_422_and_feed_cursors_clamp(env):
    client, p, artist, fan, tiers = env
    for value in ("9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59Z",
                  "0001-01-01T00:00:00Z", "1899-12-31T23:59:59Z", "3000-01-01T00:00:00Z"):
        body = problem(post(client, artist, title="When?", publish_at=value), 422, "validation")
        assert "publish_at" in body["detail"], body
    with p.session() as s:
        assert s.scalar(select(func.count()).select_from(ContentItem)) == 0
    for value in ("1900-01-01T00:00:00+14:00", "2999-12-31T23:59:59-14:00"):  # the ends, in any zone
        assert post(client, artist, title="Edge", publish_at=value).status_code == 201
    r = post(client, artist, title="Old news", publish_at="1999-05-01T10:00:00+02:00")
    assert r.status_code == 201, r.text
    assert r.json()["publish_at"].startswith("1999-05-01T08:00:00")
    client.post(f"/api/v1/fanclub/artists/{artist.artist_id}/follow", headers=fan.headers)
    # a paging cursor is never refused for its year: past every time is no bound, before every time is empty
    everything = ["Old news", "Edge"]  # the 2999 one is not released yet
    for value, titles in (("9999-12-31T23:59:59-14:00", everything), ("9999-12-31T23:59:59Z", everything),
                          ("0001-01-01T00:00:00+14:00", []), ("0001-01-01T00:00:00Z", []),
                          ("0229-10-19T23:53:24Z", []), ("2000-01-01T00:00:00Z", everything)):
        r = client.get("/api/v1/fanclub/feed", params={"before": value}, headers=fan.headers)
        assert r.status_code == 200, (value, r.text)
        assert [i["title"] for i in r.json()] == titles, (value, r.json())


# ---------------------------------------------------------------- 5. take-down kills image links

def test_take_down_kills_every_outstanding_image_link(env):
    client, p, artist, fan, tiers = env
    buf = io.BytesIO()
    Image.new("RGB", (800, 600), (200, 40, 40)).save(buf, "PNG")
    item = post(client, artist, files=[("images", ("a.png", buf.getvalue(), "image/png"))], title="Photo").json()
    urls = [size["url"] for img in item["extra"]["images"] for size in img.values()]
    public = client.get(f"/api/v1/content/{item['id']}").json()["extra"]["images"][0]["thumb"]["url"]
    assert all(fetch(client, u).status_code == 200 for u in [*urls, public])
    r = client.post(f"/api/v1/content/{item['id']}/take-down", headers=artist.headers, json={"reason": "copyright"})
    assert r.status_code == 200, r.text
    assert all(fetch(client, u).status_code in (403, 404) for u in [*urls, public]), \
        [fetch(client, u).status_code for u in urls]
    assert list(p.storage.list(f"posts/{item['id']}/")) == []
    assert len(list(p.storage.list(f"quarantine/posts/{item['id']}/"))) == 2
    owner_view = client.get(f"/api/v1/content/{item['id']}", headers=artist.headers).json()
    assert "images" not in owner_view["extra"]  # nothing signed for a taken-down post
    assert client.delete(f"/api/v1/content/{item['id']}", headers=artist.headers).status_code == 204
    assert list(p.storage.list(f"quarantine/posts/{item['id']}/")) == []


# ---------------------------------------------------------------- 6. attached tracks, one rule

def _track(p, artist_id, *, released=True) -> uuid.UUID:
    """A track row as the streaming plugin makes it (this platform runs the fan club only)."""
    tid = uuid.uuid4()
    now = p.clock.now()
    with p.session() as s:
        s.add(ContentItem(id=tid, artist_id=artist_id, kind="track", title="T", description="", status="ready",
                          visibility="public", publish_at=now if released else now + timedelta(days=30),
                          data={}, created_at=now, updated_at=now))
    return tid


def test_json_api_and_form_take_only_the_artists_own_tracks(env):
    client, p, artist, fan, tiers = env
    other = make_user(p, "artist", artist_name="Other")
    own, theirs_unreleased, theirs = (_track(p, artist.artist_id), _track(p, other.artist_id, released=False),
                                      _track(p, other.artist_id))
    a_post = client.post(f"/api/v1/artists/{artist.artist_id}/content", headers=artist.headers,
                         json={"kind": "post", "title": "Hi", "data": {"body": "x"}}).json()
    url = f"/api/v1/artists/{artist.artist_id}/content"
    for bad in (theirs_unreleased, theirs, uuid.uuid4(), a_post["id"]):
        body = problem(client.post(url, headers=artist.headers,
                                   json={"kind": "post", "title": "x", "data": {"body": "x", "tracks": [str(bad)]}}),
                       422, "validation")
        assert str(bad) in body["detail"]
        problem(client.patch(f"/api/v1/content/{a_post['id']}", headers=artist.headers,
                             json={"data": {"body": "x", "tracks": [str(own), str(bad)]}}), 422, "validation")
        problem(post(client, artist, title="x", track_ids=f"{own},{bad}"), 422, "validation")
    with p.session() as s:
        assert s.scalar(select(func.count()).select_from(ContentItem).where(ContentItem.kind == "post")) == 1
        assert s.get(ContentItem, uuid.UUID(a_post["id"])).data == {"body": "x"}
    ok = client.post(url, headers=artist.headers, json={"kind": "post", "title": "x",
                                                        "data": {"body": "x", "tracks": [str(own)]}})
    assert ok.status_code == 201 and ok.json()["data"]["tracks"] == [str(own)], ok.text
    ok = client.patch(f"/api/v1/content/{a_post['id']}", headers=artist.headers,
                      json={"data": {"body": "y", "tracks": [str(own)]}})
    assert ok.status_code == 200 and ok.json()["data"]["tracks"] == [str(own)], ok.text
    ok = post(client, artist, title="x", track_ids=str(own))
    assert ok.status_code == 201 and ok.json()["data"]["tracks"] == [str(own)], ok.text


# ---------------------------------------------------------------- 7. bounded comments, cached card

def test_comment_list_is_paged(env, mc_clock):
    client, p, artist, fan, tiers = env
    item = client.post(f"/api/v1/artists/{artist.artist_id}/content", headers=artist.headers,
                       json={"kind": "post", "title": "Hi", "data": {"body": "x"}}).json()
    now = p.clock.now()
    with p.session() as s:
        for i in range(120):
            s.add(Comment(id=uuid.uuid4(), content_id=uuid.UUID(item["id"]), user_id=fan.id, body=f"c{i}",
                          created_at=now + timedelta(seconds=i)))
    url = f"/api/v1/fanclub/content/{item['id']}/comments"
    first = client.get(url).json()["comments"]
    assert [c["body"] for c in first] == [f"c{i}" for i in range(50)]  # default 50, oldest first
    page = client.get(url, params={"limit": 100, "offset": 100}).json()["comments"]
    assert [c["body"] for c in page] == [f"c{i}" for i in range(100, 120)]
    for q in ({"limit": 0}, {"limit": 101}, {"offset": -1}, {"offset": 2 ** 70}, {"limit": 2 ** 70}):
        problem(client.get(url, params=q), 422)


def test_shared_card_is_rendered_once(env, monkeypatch):
    client, p, artist, fan, tiers = env
    from musicconnect_fanclub import wrapped

    calls = []
    real = wrapped.card_png
    monkeypatch.setattr(wrapped, "card_png", lambda *a, **k: calls.append(1) or real(*a, **k))
    wrapped.CARDS.clear()
    share = client.post("/api/v1/fanclub/me/wrapped/2026-06/shares", headers=fan.headers,
                        json={"sections": ["minutes"], "show_name": True}).json()
    answers = [client.get(share["image"]) for _ in range(5)]
    assert [r.status_code for r in answers] == [200] * 5
    assert len({r.content for r in answers}) == 1 and answers[0].headers["content-type"] == "image/png"
    assert len(calls) == 1, len(calls)
    etag = answers[0].headers["etag"]
    again = client.get(share["image"], headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert len(calls) == 1
    # revoked: the cached card is not served
    assert client.delete(f"/api/v1/fanclub/me/wrapped/shares/{share['token']}", headers=fan.headers).status_code == 204
    problem(client.get(share["image"]), 404)
