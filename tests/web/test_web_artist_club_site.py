"""The fan club's screens for artists in the web app (no browser): /studio/posts and
/studio/messages are listed by ``GET /api/v1/web/extensions`` for artists only (``audience``) with
their titles while the fan club is enabled, their modules are served, and they are gone when it is
disabled; what the screens read from the API: a post's images with the pipeline's renditions (for
``srcset``/``sizes``/``width``/``height``) and the artist's inbox with the fan's tier."""
from __future__ import annotations

import httpx

import io

import pytest

from tests.helpers import problem

STUDIO = {"/studio/posts": ("Posts", "studio-posts.js"), "/studio/messages": ("Messages", "studio-messages.js")}


@pytest.fixture
def mc_plugins():
    return ["web", "fanclub"]


def _entries(client) -> dict[str, dict]:
    r = client.get("/api/v1/web/extensions")
    assert r.status_code == 200, r.text
    return {e["path"]: e for e in r.json()["extensions"] if e["plugin"] == "fanclub" and e["path"]}


def test_the_artist_screens_are_listed_for_artists_and_served(mc_client):
    listed = _entries(mc_client)
    for path, (title, module) in STUDIO.items():
        e = listed[path]
        assert (e["kind"], e["title"], e["audience"]) == ("page", title, "artists")
        assert e["module"].startswith("/static/ext/fanclub/") and e["module"].endswith(f"/{module}")
        r = mc_client.get(e["module"])
        assert r.status_code == 200 and "javascript" in r.headers["content-type"]
        assert "export default function" in r.text
        r = mc_client.get(path)  # a client route: the shell
        assert r.status_code == 200 and 'id="app"' in r.text
    # the fans' pages stay for everyone
    assert {p: e["audience"] for p, e in listed.items() if not p.startswith("/studio/")} == {
        "/feed": "everyone", "/post": "everyone", "/messages": "everyone", "/backstage": "everyone", "/wrapped": "everyone"}
    # the screens' shared modules are served beside them; the fan screens use the lazy images
    base = listed["/studio/posts"]["module"].rsplit("/", 1)[0]
    for name in ("studio.js", "images.js"):
        assert mc_client.get(f"{base}/{name}").status_code == 200, name
    images = mc_client.get(f"{base}/images.js").text
    assert 'loading="lazy"' in images and "srcset=" in images and "sizes=" in images
    for name in ("feed.js", "post.js"):
        assert 'from "./images.js"' in mc_client.get(f"{base}/{name}").text, name


def test_the_artist_screens_leave_with_the_fan_club(mc_client, mc_platform):
    modules = {p: e["module"] for p, e in _entries(mc_client).items() if p in STUDIO}
    assert set(modules) == set(STUDIO)
    mc_platform.plugins.apply_state({"fanclub": False})
    assert _entries(mc_client) == {}
    for module in modules.values():
        problem(mc_client.get(module), 404)
    mc_platform.plugins.apply_state({"fanclub": True})
    assert {p for p in _entries(mc_client) if p in STUDIO} == set(STUDIO)


def _png(w: int, h: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (w, h), (200, 80, 40)).save(buf, "PNG")
    return buf.getvalue()


def test_a_posts_images_carry_the_pipelines_renditions(mc_client, mc_users):
    """What /studio/posts, /feed and /post put in ``srcset``, ``width`` and ``height``."""
    artist, fan = mc_users.artist, mc_users.fan
    aid = artist.artist_id
    r = mc_client.post(f"/api/v1/fanclub/artists/{aid}/posts", headers=artist.headers,
                       data={"title": "Tour photos", "body": "From Leipzig."},
                       files=[("images", ("wide.png", _png(2000, 1000), "image/png")),
                              ("images", ("small.png", _png(300, 600), "image/png"))])
    assert r.status_code == 201, r.text
    post = r.json()
    # the owner's list (the studio's), the fan's feed (after following) and the post itself agree
    assert mc_client.post(f"/api/v1/fanclub/artists/{aid}/follow", headers=fan.headers).status_code == 204
    seen = [next(p for p in mc_client.get(f"/api/v1/artists/{aid}/content?kind=post", headers=artist.headers).json()
                 if p["id"] == post["id"]),
            next(p for p in mc_client.get("/api/v1/fanclub/feed", headers=fan.headers).json() if p["id"] == post["id"]),
            mc_client.get(f"/api/v1/content/{post['id']}", headers=fan.headers).json()]
    for item in seen:
        images = item["extra"]["images"]
        assert [{k: (v["width"], v["height"]) for k, v in img.items()} for img in images] == [
            {"full": (1600, 800), "thumb": (400, 200)}, {"full": (300, 600), "thumb": (200, 400)}]
        for img in images:
            for rendition in img.values():
                url = rendition["url"]
                # on S3 a rendition is a presigned address of the object store, not of this app
                got = (httpx.get(url, timeout=10) if url.startswith("http") and not url.startswith("http://testserver")
                       else mc_client.get(url))
                assert got.status_code == 200 and got.content[:2] == b"\xff\xd8"  # a JPEG


def test_an_edit_from_the_studio_keeps_the_images(mc_client, mc_users):
    """The edit form sends ``data`` back as read with the new text (PATCH /api/v1/content/{id})."""
    artist = mc_users.artist
    r = mc_client.post(f"/api/v1/fanclub/artists/{artist.artist_id}/posts", headers=artist.headers,
                       data={"title": "Backstage"}, files=[("images", ("a.png", _png(800, 800), "image/png"))])
    assert r.status_code == 201, r.text
    post = r.json()
    r = mc_client.patch(f"/api/v1/content/{post['id']}", headers=artist.headers,
                        json={"title": "Backstage, night one", "data": {**post["data"], "body": "Thank you!"}})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["body"] == "Thank you!" and len(r.json()["extra"]["images"]) == 1
    # a refusal by field, as the edit form shows it: the problem names the field in errors[].loc
    r = mc_client.patch(f"/api/v1/content/{post['id']}", headers=artist.headers,
                        json={"data": {**post["data"], "body": "x" * 20001}})
    body = problem(r, 422)
    assert any(e["loc"][:2] == ["data", "body"] for e in body["errors"]), body
    # a listener is refused the multipart route and the edit
    fan = mc_users.fan
    problem(mc_client.post(f"/api/v1/fanclub/artists/{artist.artist_id}/posts", headers=fan.headers,
                           data={"title": "Not mine"}), 403)
    problem(mc_client.patch(f"/api/v1/content/{post['id']}", headers=fan.headers, json={"title": "Mine"}), 403)
