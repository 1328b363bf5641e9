"""The artist's studio screens, without a browser: the streaming and analytics plugins declare
them through ``web_extensions`` (listed while enabled, gone when disabled, their modules served),
their links are for artists only (``audience: artists``: the studio menu of signed-in artists;
fans never see them, and the screens refuse non-artists themselves, checked in the browser test), and the per-day plays the dashboard draws
(``analytics_plays``, read from the rollups)."""
from __future__ import annotations

import re
import uuid

import pytest

from helpers import problem

pytestmark = pytest.mark.mc_plugins("web", "streaming", "analytics")

STREAMING = {("page", "/studio/upload"), ("page", "/studio/tracks"), ("component", "artist"),
             ("page", "/downloads"), ("component", "track")}  # offline downloads (test_web_offline*)
ANALYTICS = {("page", "/studio/dashboard"), ("component", "artist")}


def _listing(client) -> dict[str, set]:
    out: dict[str, set] = {}
    for e in client.get("/api/v1/web/extensions").json()["extensions"]:
        out.setdefault(e["plugin"], set()).add((e["kind"], e["path"] or e["slot"]))
    return out


def test_studio_screens_are_declared_served_and_only_in_the_artists_menu(mc_client):
    ext = mc_client.get("/api/v1/web/extensions").json()["extensions"]
    mine = [e for e in ext if e["plugin"] in ("streaming", "analytics")]
    assert _listing(mc_client) == {"streaming": STREAMING, "analytics": ANALYTICS}, ext
    # the menu links of the studio are for artists; everything else has no link at all
    titled = {(e["path"], e["title"], e["audience"]) for e in mine if e["title"]}
    assert titled == {("/studio/upload", "Upload", "artists"), ("/studio/tracks", "Tracks", "artists"),
                      ("/studio/dashboard", "Dashboard", "artists")}
    assert [e for e in mine if e["kind"] == "nav"] == []
    for e in mine:
        assert re.fullmatch(rf"/static/ext/{e['plugin']}/[0-9a-f]{{10}}/[a-z-]+\.js", e["module"]), e
        r = mc_client.get(e["module"])
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript"), e
        assert "export default function" in r.text
    modules = {e["path"]: mc_client.get(e["module"]).text for e in mine if e["kind"] == "page"}
    # the upload reports bytes sent (XMLHttpRequest upload progress) and the job's progress
    upload = next(e["module"] for e in mine if e["path"] == "/studio/upload")
    common = mc_client.get(upload.replace("upload.js", "common.js"))
    assert common.status_code == 200 and "xhr.upload.onprogress" in common.text
    assert 'id="upload-progress"' in modules["/studio/upload"] and "transcode-progress" in modules["/studio/upload"]
    assert "analytics/artists/" in modules["/studio/dashboard"] and "<svg" in modules["/studio/dashboard"]
    # each is a client route of the shell
    for path in ("/studio/upload", "/studio/tracks", "/studio/dashboard"):
        r = mc_client.get(path)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), path


def test_a_disabled_plugins_studio_screens_leave_the_listing(mc_client, mc_platform):
    upload = next(e["module"] for e in mc_client.get("/api/v1/web/extensions").json()["extensions"]
                  if e["path"] == "/studio/upload")
    mc_platform.plugins.apply_state({"streaming": False})
    assert _listing(mc_client) == {"analytics": ANALYTICS}
    problem(mc_client.get(upload), 404)
    mc_platform.plugins.apply_state({"streaming": False, "analytics": False})
    assert _listing(mc_client) == {}
    mc_platform.plugins.apply_state({"streaming": True, "analytics": True})
    assert _listing(mc_client) == {"streaming": STREAMING, "analytics": ANALYTICS}
    assert mc_client.get(upload).status_code == 200


def test_plays_per_day_counts_counted_plays_of_each_day(mc_client, mc_users, mc_platform, mc_clock):
    """``analytics_plays``: every day of the period listed, counted plays and completions from
    the streaming plugin's events, only this artist's, only its owner (or an admin) reads it."""
    artist = mc_users.artist
    other = uuid.uuid4()
    track = uuid.uuid4()
    now = mc_clock.now()

    def emit(kind, artist_id=artist.artist_id):
        with mc_platform.session() as s:
            mc_platform.emit(s, kind, actor_id=mc_users.fan.id, artist_id=artist_id, subject=("content", track),
                             data={"session_id": str(uuid.uuid4()), "seconds": 31.0})

    for kind in ("play.counted", "play.counted", "play.completed", "play.started"):
        emit(kind)
    emit("play.counted", artist_id=other)  # another artist's play is not this one's
    url = f"/api/v1/analytics/artists/{artist.artist_id}/metrics/analytics_plays?days=7"
    out = mc_client.get(url, headers=artist.headers).json()
    assert out["dimension"] == "day" and out["unit"] == "plays"
    days = out["value"]
    assert len(days) >= 7 and len({d["day"] for d in days}) == len(days)
    today = now.date().isoformat()
    assert days[-1] == {"day": today, "plays": 2, "completions": 1, "downloads": 0}
    assert all(d["plays"] == 0 for d in days[:-1])
    # listed with every metric (what the dashboard loads), and only for the artist's own dashboard
    every = mc_client.get(f"/api/v1/analytics/artists/{artist.artist_id}/metrics?days=7", headers=artist.headers).json()
    assert next(m for m in every["metrics"] if m["id"] == "analytics_plays")["value"] == days
    problem(mc_client.get(url, headers=mc_users.fan.headers), 403)
    assert mc_client.get(url, headers=mc_users.admin.headers).json()["value"] == days
