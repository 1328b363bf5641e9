"""The monthly "Wrapped" report: JSON, PNG card, and a public link limited to what the fan shares."""
from __future__ import annotations

import io
import uuid

from PIL import Image

from helpers import problem


def listen(p, fan, artist, title, sessions, seconds):
    """What the streaming plugin records: a track item and play events."""
    with p.session() as s:
        item = p.content.create(s, artist_id=artist.artist_id, kind="post", title=title, status="ready")
        for _ in range(sessions):
            sid = str(uuid.uuid4())
            p.emit(s, "play.counted", actor_id=fan.id, artist_id=artist.artist_id, subject=("content", item.id),
                   data={"session_id": sid, "seconds": 30})
            p.emit(s, "play.completed", actor_id=fan.id, artist_id=artist.artist_id, subject=("content", item.id),
                   data={"session_id": sid, "seconds": seconds})


def test_report_card_and_share(env):
    client, p, artist, fan, _ = env
    listen(p, fan, artist, "Night Drive", 3, 180)
    listen(p, fan, artist, "Garage Demo", 1, 60)
    tiers = {t.key: t for t in p.access.tiers(artist.artist_id)}
    client.post(f"/api/v1/artists/{artist.artist_id}/comps", headers=artist.headers,
                json={"email": fan.email, "tier_id": str(tiers["superfan"].id)})  # also a first_support milestone
    r = client.get("/api/v1/fanclub/me/wrapped/2026-06", headers=fan.headers).json()
    assert r["minutes"] == 10.0  # 3 x 180 s + 60 s
    assert r["top_artists"] == [{"artist_id": str(artist.artist_id), "name": "Club", "plays": 4}]
    assert [(t["title"], t["plays"]) for t in r["top_tracks"]] == [("Night Drive", 3), ("Garage Demo", 1)]
    assert r["support"]["tiers"] == [{"artist": "Club", "tier": "Superfan", "source": "comp"}]
    assert [m["milestone"] for m in r["milestones"]] == ["first_support"]
    png = client.get("/api/v1/fanclub/me/wrapped/2026-06.png", headers=fan.headers)
    assert png.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(png.content)) as im:
        assert im.size == (1080, 1350)
    share = client.post("/api/v1/fanclub/me/wrapped/2026-06/shares", headers=fan.headers,
                        json={"sections": ["minutes", "top_tracks"]}).json()
    public = client.get(share["url"]).json()  # no sign-in
    assert public == {"month": "2026-06", "minutes": 10.0, "top_tracks": r["top_tracks"]}
    assert "support" not in public and "name" not in public and "top_artists" not in public
    assert client.get(share["image"]).headers["content-type"] == "image/png"
    named = client.post("/api/v1/fanclub/me/wrapped/2026-06/shares", headers=fan.headers,
                        json={"sections": ["minutes"], "show_name": True}).json()
    assert client.get(named["url"]).json()["name"] == fan.email.split("@")[0]
    assert client.delete(f"/api/v1/fanclub/me/wrapped/shares/{share['token']}", headers=fan.headers).status_code == 204
    problem(client.get(share["url"]), 404)
    problem(client.delete(f"/api/v1/fanclub/me/wrapped/shares/{named['token']}", headers=artist.headers), 404)


def test_wrapped_bad_input(env):
    client, p, artist, fan, _ = env
    problem(client.get("/api/v1/fanclub/me/wrapped/2026-13", headers=fan.headers), 422)
    problem(client.get("/api/v1/fanclub/me/wrapped/2030-01", headers=fan.headers), 422)
    problem(client.post("/api/v1/fanclub/me/wrapped/2026-06/shares", headers=fan.headers,
                        json={"sections": ["passwords"]}), 422)
    problem(client.get("/api/v1/fanclub/wrapped/nope"), 404)
    problem(client.get("/api/v1/fanclub/me/wrapped/2026-06"), 401)
    empty = client.get("/api/v1/fanclub/me/wrapped/2026-05", headers=fan.headers).json()
    assert empty["minutes"] == 0 and empty["top_artists"] == []
