"""Streaming's part of a person's data export and erasure: a listener's plays and downloads, an
artist's uploads (metadata and original files); on erasure plays are anonymised, downloads go, and
an artist who leaves takes every row and every stored object of their tracks with them."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, or_, select

from musicconnect.models import User
from musicconnect.testing import make_user
from musicconnect_streaming import plugin
from musicconnect_streaming.models import Download, DownloadCount, Play, Track, TrackVersion

pytestmark = pytest.mark.mc_plugins("streaming", "fanclub")  # its own part, whatever the others do


def _play(env, user, tid, mc_clock):
    h = user.headers if user else {}
    sid = env.client.post("/api/v1/streaming/plays", headers=h, json={"track_id": str(tid)}).json()["session_id"]
    mc_clock.advance(seconds=40)
    r = env.client.post(f"/api/v1/streaming/plays/{sid}", headers=h, json={"event": "progress", "position": 35})
    assert r.json()["counted"], r.text


def _part(env, hook, user_id):
    with env.platform.session() as s:
        return getattr(plugin, hook)(env.platform, s, s.get(User, user_id))


def _count(s, model, *conds):
    return s.scalar(select(func.count()).select_from(model).where(*conds))


def test_listener_and_leaving_artist(env, audio, mc_clock):
    p = env.platform
    other_artist = make_user(p, "artist", artist_name="Stays")
    other_fan = make_user(p, "fan")
    tid = uuid.UUID(env.ready_track(audio(8), title="Take Me Home", filename="take me home.flac"))
    r = env.upload(audio(8, seed=2), user=other_artist, artist_id=other_artist.artist_id, title="Still Here")
    assert r.status_code == 202, r.text
    kept_tid = uuid.UUID(r.json()["id"])
    p.jobs.wait_idle(120)
    for who in (env.fan, other_fan):
        _play(env, who, tid, mc_clock)
    _play(env, env.fan, kept_tid, mc_clock)
    superfan = env.tiers["superfan"]
    env.client.patch(f"/api/v1/artists/{env.artist.artist_id}/tiers/{superfan.id}", headers=env.artist.headers,
                     json={"perks": {**superfan.perks, "offline_downloads": 5}})
    for who in (env.fan, other_fan):
        env.client.post(f"/api/v1/artists/{env.artist.artist_id}/comps", headers=env.artist.headers,
                        json={"email": who.email, "tier_id": str(superfan.id)})
        assert env.client.post(f"/api/v1/streaming/tracks/{tid}/download", headers=who.headers).status_code == 200

    # the listener's export: plays and downloads
    part = _part(env, "export_user_data", env.fan.id)
    assert sorted(x["track"] for x in part.records["plays"]) == ["Still Here", "Take Me Home"]
    assert all(x["counted"] for x in part.records["plays"])
    assert [x["track"] for x in part.records["downloads"]] == ["Take Me Home"]
    assert not part.files and "uploads" not in part.records
    # the artist's export: uploads' metadata and the original audio
    part = _part(env, "export_user_data", env.artist.id)
    (upload,) = part.records["uploads"]
    assert upload["title"] == "Take Me Home" and upload["versions"][0]["filename"] == "take me home.flac"
    (original,) = part.files
    assert original.path == f"uploads/{tid}/v1-take_me_home.flac"
    assert p.storage.get_bytes(original.storage_key) == audio(8).read_bytes()

    # the listener is erased: plays anonymised (counts stay), downloads gone, others untouched
    with p.session() as s:
        report = plugin.erase_user_data(p, s, s.get(User, env.fan.id))
    assert report.erased["plays_anonymised"] == 2 and report.erased["downloads"] == 1
    assert report.erased["download_counts"] == 1 and not report.storage_keys
    fan = str(env.fan.id)
    with p.session() as s:
        assert _count(s, Play, or_(Play.user_id == env.fan.id, Play.listener.contains(fan))) == 0
        assert _count(s, Download, Download.user_id == env.fan.id) == 0
        assert _count(s, DownloadCount, DownloadCount.user_id == env.fan.id) == 0
        assert _count(s, Play, Play.content_id == tid, Play.counted_at.is_not(None)) == 2  # the artist's count
        assert _count(s, Play, Play.user_id == other_fan.id) == 1
        assert _count(s, Download, Download.user_id == other_fan.id) == 1

    # the artist leaves: every row and every stored object of their tracks
    stored = set(p.storage.list(f"tracks/{tid}/"))
    kept_stored = set(p.storage.list(f"tracks/{kept_tid}/"))
    assert any(k.endswith(".ts") for k in stored) and any("waveform" in k for k in stored)
    assert any("preview" in k for k in stored) and original.storage_key in stored
    with p.session() as s:
        report = plugin.erase_user_data(p, s, s.get(User, env.artist.id))
    # prefixes, listed when the purge runs (what a transcode writes meanwhile goes too)
    assert set(report.storage_keys) == {f"tracks/{tid}/", f"quarantine/tracks/{tid}/"}
    assert all(any(k.startswith(pre) for pre in report.storage_keys) for k in stored)
    assert not any(k.startswith(pre) for pre in report.storage_keys for k in kept_stored)
    assert report.erased["tracks"] == 1 and report.erased["track_versions"] == 1
    assert report.erased["plays_of_their_tracks"] == 2 and report.erased["downloads_of_their_tracks"] == 1
    with p.session() as s:
        aid = env.artist.artist_id
        assert _count(s, Track, Track.artist_id == aid) == 0
        assert _count(s, TrackVersion, TrackVersion.content_id == tid) == 0
        assert _count(s, Play, Play.artist_id == aid) == 0
        assert _count(s, Download, Download.artist_id == aid) == 0
        # the other artist's track, its files and its plays stay
        assert _count(s, Track, Track.artist_id == other_artist.artist_id) == 1
        assert _count(s, Play, Play.content_id == kept_tid) == 1
    assert set(p.storage.list(f"tracks/{kept_tid}/")) == kept_stored
