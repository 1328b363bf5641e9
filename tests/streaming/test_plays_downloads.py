"""Play counting (30 s, de-duplicated), analytics events, metrics, and superfan downloads."""
from __future__ import annotations

import io

import av
from sqlalchemy import select

from helpers import problem
from musicconnect.models import DomainEvent


def test_play_counts_after_30_seconds_once_per_window(env, audio, mc_clock):
    tid = env.ready_track(audio(40))
    h = env.fan.headers
    sid = env.client.post("/api/v1/streaming/plays", headers=h, json={"track_id": tid}).json()["session_id"]
    # a report ahead of the wall clock is capped: 100 s claimed after 10 s does not count
    mc_clock.advance(seconds=10)
    r = env.client.post(f"/api/v1/streaming/plays/{sid}", headers=h, json={"event": "progress", "position": 100}).json()
    assert not r["counted"] and r["seconds"] < 15
    mc_clock.advance(seconds=21)
    r = env.client.post(f"/api/v1/streaming/plays/{sid}", headers=h, json={"event": "progress", "position": 31}).json()
    assert r["counted"]
    mc_clock.advance(seconds=10)
    r = env.client.post(f"/api/v1/streaming/plays/{sid}", headers=h, json={"event": "complete", "position": 40}).json()
    assert r["completed"]
    # the same listener again within the window: a session, but no second counted play
    sid2 = env.client.post("/api/v1/streaming/plays", headers=h, json={"track_id": tid}).json()["session_id"]
    mc_clock.advance(seconds=35)
    assert not env.client.post(f"/api/v1/streaming/plays/{sid2}", headers=h,
                               json={"event": "progress", "position": 35}).json()["counted"]
    # an anonymous listener counts separately
    anon = env.client.post("/api/v1/streaming/plays", json={"track_id": tid, "client_id": "device-1"}).json()["session_id"]
    mc_clock.advance(seconds=31)
    assert env.client.post(f"/api/v1/streaming/plays/{anon}",
                           json={"event": "progress", "position": 31, "client_id": "device-1"}).json()["counted"]
    # the session id alone is enough for an anonymous session (tests/streaming/test_play_progress_session.py)
    assert env.client.post(f"/api/v1/streaming/plays/{anon}", json={"event": "progress", "position": 5}).json()["counted"]
    env.artist.renew(env.platform)
    ms = {m["id"]: m["value"] for m in env.client.get(f"/api/v1/artists/{env.artist.artist_id}/metrics",
                                                      headers=env.artist.headers).json()["metrics"]}
    assert ms["plays_30d"] == 2 and ms["listeners_30d"] == 2
    assert ms["completion_rate"] == round(1 / 3, 4)
    assert ms["top_tracks"] == [{"content_id": tid, "title": "a-40-1", "plays": 2}]
    with env.platform.session() as s:
        types = s.scalars(select(DomainEvent.type).where(DomainEvent.type.like("play.%"))).all()
    assert sorted(set(types)) == ["play.completed", "play.counted", "play.started"] and types.count("play.counted") == 2


def test_play_bad_input(env, audio):
    tid = env.ready_track(audio(6))
    problem(env.client.post("/api/v1/streaming/plays", json={"track_id": "00000000-0000-0000-0000-000000000000"}), 404)
    sid = env.client.post("/api/v1/streaming/plays", headers=env.fan.headers, json={"track_id": tid}).json()["session_id"]
    problem(env.client.post(f"/api/v1/streaming/plays/{sid}", headers=env.fan.headers, json={"event": "pause", "position": 1}), 422)
    problem(env.client.post(f"/api/v1/streaming/plays/{sid}", headers=env.fan.headers, json={"event": "progress", "position": -1}), 422)


def test_superfan_downloads_with_monthly_limit(env, audio, mc_clock):
    tid = env.ready_track(audio(8), title="Take Me Home")
    superfan = env.tiers["superfan"]
    env.client.patch(f"/api/v1/artists/{env.artist.artist_id}/tiers/{superfan.id}", headers=env.artist.headers,
                     json={"perks": {**superfan.perks, "offline_downloads": 2}})
    url = f"/api/v1/streaming/tracks/{tid}/download"
    problem(env.client.post(url, headers=env.fan.headers), 403)  # no perk
    problem(env.client.post(url), 401)
    env.client.post(f"/api/v1/artists/{env.artist.artist_id}/comps", headers=env.artist.headers,
                    json={"email": env.fan.email, "tier_id": str(superfan.id)})
    first = env.client.post(url, headers=env.fan.headers)
    assert first.status_code == 200, first.text
    d = first.json()
    assert d["filename"] == "Band - Take Me Home.m4a" and d["used_this_month"] == 1 and d["monthly_limit"] == 2
    body = env.fetch(d["url"]).content
    with av.open(io.BytesIO(body)) as c:
        assert c.format.name.startswith("mov") and c.metadata.get("title") == "Take Me Home"
        assert c.metadata.get("artist") == "Band"
        assert c.streams.audio[0].codec_context.name == "aac" and 7.5 < c.duration / 1e6 < 8.5
    assert env.client.post(url, headers=env.fan.headers).status_code == 200
    body = problem(env.client.post(url, headers=env.fan.headers), 429, "download-limit")
    assert body["resets_at"].startswith("2026-07-01")
    mc_clock.set(mc_clock.now().replace(month=7, day=1, hour=0, minute=1))  # a new month
    env.fan.renew(env.platform)
    assert env.client.post(url, headers=env.fan.headers).status_code == 200
