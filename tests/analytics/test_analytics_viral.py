"""Viral potential (models): share links through the HTTP API with server-side attribution, the
planted viral track ranked first, empty data."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from musicconnect.models import ContentItem, DomainEvent

from musicconnect_analytics import rollups, synthetic, viral
from musicconnect_analytics.model_store import ShareClick

pytestmark = pytest.mark.mc_plugins("analytics")


def _track(p, artist_id, title="Song", visibility="public"):
    tid = uuid.uuid4()
    with p.session() as s:
        s.add(ContentItem(id=tid, artist_id=artist_id, kind="track", title=title, status="ready",
                          visibility=visibility, publish_at=p.clock.now() - timedelta(days=3), data={}))
    return tid


def _event(p, type_, actor, artist_id, track=None, at=None, data=None):
    with p.session() as s:
        p.emit(s, type_, actor_id=actor, artist_id=artist_id, subject=("content", track) if track else None,
               data=data or {}, at=at)


def test_share_link_clicks_and_attribution(mc_client, mc_platform, mc_users):
    p, artist, sharer = mc_platform, mc_users.artist, mc_users.fan
    song = _track(p, artist.artist_id)
    other = _track(p, artist.artist_id, "Other")
    r = mc_client.post(f"/api/v1/analytics/tracks/{song}/share-links", headers=sharer.headers)
    assert r.status_code == 201, r.text
    code = r.json()["code"]
    assert r.json()["url"] == f"/api/v1/analytics/s/{code}"
    # the same link every time, one analytics.shared event (the rollups count it as a share)
    assert mc_client.post(f"/api/v1/analytics/tracks/{song}/share-links", headers=sharer.headers).json()["code"] == code
    with p.read() as s:
        assert s.scalar(select(func.count()).select_from(DomainEvent).where(DomainEvent.type == "analytics.shared")) == 1
    assert mc_client.post(f"/api/v1/analytics/tracks/{uuid.uuid4()}/share-links",
                          headers=sharer.headers).status_code == 404
    assert mc_client.post(f"/api/v1/analytics/tracks/{song}/share-links").status_code == 401

    newcomer, regular, late = (mc_users.make("fan") for _ in range(3))
    _event(p, "play.started", regular.id, artist.artist_id, other, at=p.clock.now() - timedelta(days=30))
    for who in (newcomer, regular, late):
        opened = mc_client.get(f"/api/v1/analytics/s/{code}", headers=who.headers)
        assert opened.status_code == 200 and opened.json()["content_id"] == str(song)
    mc_client.get(f"/api/v1/analytics/s/{code}", headers=newcomer.headers)  # a repeat: not a second click
    mc_client.get(f"/api/v1/analytics/s/{code}", headers=sharer.headers)  # the sharer's own: not a click
    assert mc_client.get(f"/api/v1/analytics/s/{code}", params={"client_id": "browser-1234"}).status_code == 200
    assert mc_client.get("/api/v1/analytics/s/nosuchcode").status_code == 404
    with p.read() as s:
        assert s.scalar(select(func.count()).select_from(ShareClick)) == 4
    now = p.clock.now()
    _event(p, "play.started", newcomer.id, artist.artist_id, song, at=now + timedelta(minutes=5))
    _event(p, "fan.followed", newcomer.id, artist.artist_id, at=now + timedelta(minutes=9))
    _event(p, "play.started", regular.id, artist.artist_id, song, at=now + timedelta(hours=2))
    _event(p, "play.started", late.id, artist.artist_id, song, at=now + timedelta(days=8))  # past the window
    anon = viral.visitor_of(None, "browser-1234", "")
    _event(p, "play.started", None, artist.artist_id, song, at=now + timedelta(hours=1), data={"listener": anon})
    _event(p, "play.started", sharer.id, artist.artist_id, song, at=now - timedelta(days=1))
    p.clock.advance(days=9)
    result = viral.fit_viral(p, artist.artist_id)
    row = next(t for t in result["tracks"] if t["content_id"] == str(song))
    assert (row["shares"], row["sharers"], row["clicks"]) == (1, 1, 4)
    assert row["attributed_plays"] == 3  # newcomer, regular, anonymous; not the late one
    assert row["attributed_follows"] == 1 and row["new_listeners"] == 2  # the regular had listened before
    assert row["listeners"] == 4 and row["share_rate"] == 0.25 and row["k_factor"] == 0.5
    assert result["tracks"][0]["content_id"] == str(song)
    # the artist reads the ranking; a fan may not
    r = mc_client.get(f"/api/v1/analytics/artists/{artist.artist_id}/viral", headers=mc_users.artist.renew(p).headers)
    assert r.status_code == 200 and r.json()["tracks"][0]["k_factor"] == 0.5
    assert mc_client.get(f"/api/v1/analytics/artists/{artist.artist_id}/viral",
                         headers=sharer.renew(p).headers).status_code == 403


def test_planted_viral_track_ranks_first(mc_client, mc_platform, mc_users):
    artist = mc_users.artist
    truths = synthetic.generate(mc_platform, artist.artist_id, fans=800, weeks=12, plays_per_week=1.0, tracks=5,
                                seed=8)
    rollups.rebuild(mc_platform, artist.artist_id)
    mc_platform.jobs.run_schedules()
    mc_platform.jobs.wait_idle()
    m = mc_client.get(f"/api/v1/artists/{artist.artist_id}/metrics", params={"metric": "analytics_viral_potential"},
                      headers=artist.headers).json()["metrics"][0]["value"]
    assert m["fitted_at"] is not None
    first = m["tracks"][0]
    assert first["content_id"] == truths["viral_track_id"]
    assert first["k_factor"] > 2 * m["tracks"][1]["k_factor"]
    assert first["attributed_plays"] > 0 and first["attributed_follows"] > 0
    assert len(first["growth_curve"]) == viral.CURVE_DAYS and first["baseline_curve"]


def test_no_tracks_is_an_empty_ranking(mc_client, mc_platform, mc_users):
    artist = mc_users.artist
    r = mc_client.get(f"/api/v1/analytics/artists/{artist.artist_id}/viral", headers=artist.headers)
    assert r.status_code == 200 and r.json() == {"artist_id": str(artist.artist_id), "fitted_at": None, "tracks": []}
    assert viral.fit_viral(mc_platform, artist.artist_id)["tracks"] == []


def test_anonymous_clicks_are_capped_per_address_and_dead_tracks_do_not_resolve(mc_client, mc_platform, mc_users):
    """A script cycling client ids from one address cannot inflate a track's clicks; a track that
    was taken down no longer resolves (nor shows its title)."""
    p, artist, sharer = mc_platform, mc_users.artist, mc_users.fan
    song = _track(p, artist.artist_id)
    code = mc_client.post(f"/api/v1/analytics/tracks/{song}/share-links", headers=sharer.headers).json()["code"]
    for i in range(viral.ANON_CLICKS_PER_HOUR + 15):
        r = mc_client.get(f"/api/v1/analytics/s/{code}", params={"client_id": f"bot-client-{i:04d}"})
        assert r.status_code == 200  # still resolves: only the counting stops
    with p.read() as s:
        assert s.scalar(select(func.count()).select_from(ShareClick)) == viral.ANON_CLICKS_PER_HOUR
    # a signed-in visitor is counted (accounts are not capped by address)
    mc_client.get(f"/api/v1/analytics/s/{code}", headers=mc_users.make("fan").headers)
    with p.read() as s:
        assert s.scalar(select(func.count()).select_from(ShareClick)) == viral.ANON_CLICKS_PER_HOUR + 1
    with p.session() as s:
        s.get(ContentItem, song).status = "taken_down"
    r = mc_client.get(f"/api/v1/analytics/s/{code}")
    assert r.status_code == 404 and "Song" not in r.text


def test_the_click_cap_holds_when_requests_arrive_at_once(mc_client, mc_platform, mc_users):
    """60 anonymous clicks from one address at the same moment: no more than the cap is counted."""
    from musicconnect.testing import concurrently

    p, artist, sharer = mc_platform, mc_users.artist, mc_users.fan
    song = _track(p, artist.artist_id)
    code = mc_client.post(f"/api/v1/analytics/tracks/{song}/share-links", headers=sharer.headers).json()["code"]
    codes = concurrently(60, lambda i: mc_client.get(f"/api/v1/analytics/s/{code}",
                                                     params={"client_id": f"burst-client-{i:04d}"}).status_code)
    assert codes == [200] * 60
    with p.read() as s:
        assert s.scalar(select(func.count()).select_from(ShareClick)) == viral.ANON_CLICKS_PER_HOUR
