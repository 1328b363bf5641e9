"""Live dashboards over the core's sockets: a snapshot on connect, deltas as events commit (in
this process or another one sharing the database), admins' platform-wide view, and who may watch."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from musicconnect import emit
from musicconnect.app import create_app
from musicconnect.testing import make_user

import musicconnect_analytics.live as live


@pytest.fixture(autouse=True)
def no_coalescing(monkeypatch):
    monkeypatch.setattr(live, "COALESCE_SECONDS", 0.0)


def _emit(p, etype, artist_id, actor_id=None, **data):
    with p.session() as s:
        emit(p, s, etype, actor_id=actor_id, artist_id=artist_id, subject=("content", uuid.uuid4()), data=data)


def _path(artist_id) -> str:
    return f"/api/v1/analytics/artists/{artist_id}/live"


def test_an_artist_gets_a_snapshot_then_deltas(mc_client, mc_platform, mc_users, mc_clock):
    artist, fan = mc_users.artist, mc_users.fan
    a = artist.artist_id
    # history before the connection: 2 plays today, 1 yesterday, one listener 2 minutes ago
    _emit(mc_platform, "play.counted", a, fan.id)
    _emit(mc_platform, "play.started", a, None, listener="anon-1")
    with mc_platform.session() as s:
        emit(mc_platform, s, "play.counted", actor_id=fan.id, artist_id=a, at=mc_clock.now() - timedelta(days=1))
        emit(mc_platform, s, "play.counted", actor_id=fan.id, artist_id=a)
        emit(mc_platform, s, "play.counted", actor_id=fan.id, artist_id=uuid.uuid4())  # another artist
    with mc_client.websocket_connect(_path(a), headers=artist.headers) as ws:
        snap = ws.receive_json()
        assert snap["type"] == "snapshot" and snap["scope"] == "artist" and snap["artist_id"] == str(a)
        assert snap["day"] == "2026-06-01"
        assert snap["figures"]["plays_today"] == 2
        assert snap["figures"]["listeners_now"] == 2  # the signed-in fan and the anonymous player
        assert snap["figures"]["new_supporters_today"] == 0

        _emit(mc_platform, "play.counted", a, fan.id)
        assert ws.receive_json() == {"type": "delta", "at": mc_clock.now().isoformat(), "add": {"plays_today": 1}}
        _emit(mc_platform, "play.counted", uuid.uuid4(), fan.id)  # not this artist's: nothing comes
        _emit(mc_platform, "entitlement.granted", a, None, user_id=str(fan.id))
        assert ws.receive_json()["add"] == {"new_supporters_today": 1}

        ws.send_json({"type": "refresh"})
        snap = ws.receive_json()
        assert snap["figures"]["plays_today"] == 3 and snap["figures"]["new_supporters_today"] == 1

        mc_clock.advance(minutes=10)  # the listeners' window has passed; plays stay (same day)
        ws.send_json({"type": "refresh"})
        snap = ws.receive_json()
        assert snap["figures"]["listeners_now"] == 0 and snap["figures"]["plays_today"] == 3


def test_a_real_comp_counts_as_a_new_supporter(mc_client, mc_platform, mc_users):
    artist = mc_users.artist
    fan = make_user(mc_platform, "fan")
    tier = [t for t in mc_platform.access.tiers(artist.artist_id) if t.rank > 0][0]
    with mc_client.websocket_connect(_path(artist.artist_id), headers=artist.headers) as ws:
        assert ws.receive_json()["figures"]["new_supporters_today"] == 0
        r = mc_client.post(f"/api/v1/artists/{artist.artist_id}/comps", headers=artist.headers,
                           json={"email": fan.email, "tier_id": str(tier.id)})
        assert r.status_code in (200, 201), r.text
        assert ws.receive_json()["add"] == {"new_supporters_today": 1}


def test_coalescing_bounds_the_messages_and_loses_nothing(mc_client, mc_platform, mc_users, monkeypatch):
    monkeypatch.setattr(live, "COALESCE_SECONDS", 0.5)
    artist, fan = mc_users.artist, mc_users.fan
    a = artist.artist_id
    with mc_client.websocket_connect(_path(a), headers=artist.headers) as ws:
        ws.receive_json()
        for _ in range(5):
            _emit(mc_platform, "play.counted", a, fan.id)
            _emit(mc_platform, "fan.followed", a, fan.id)
        assert ws.receive_json()["add"] == {"plays_today": 1}  # the first goes out at once
        # the rest follows in few messages (the timer's, or with a later event), none lost
        total, messages = {"plays_today": 1}, 1
        while sum(total.values()) < 10:
            for k, v in ws.receive_json()["add"].items():
                total[k] = total.get(k, 0) + v
            messages += 1
        assert total == {"plays_today": 5, "new_followers_today": 5} and messages <= 3


def test_only_the_artist_or_an_admin_may_watch(mc_client, mc_platform, mc_users):
    a = mc_users.artist.artist_id
    other = make_user(mc_platform, "artist", artist_name="Other")
    for who in (mc_users.fan, other):
        with mc_client.websocket_connect(_path(a), headers=who.headers) as ws:
            assert ws.receive_json()["problem"] == "analytics-not-your-artist"
            with pytest.raises(WebSocketDisconnect) as exc:
                ws.receive_json()
            assert exc.value.code == 4403
    with mc_client.websocket_connect(_path(a), headers=mc_users.admin.headers) as ws:
        assert ws.receive_json()["artist_id"] == str(a)
    with mc_client.websocket_connect(_path(uuid.uuid4()), headers=mc_users.admin.headers) as ws:
        assert ws.receive_json()["problem"] == "not-found"
    with mc_client.websocket_connect(_path(a)) as ws:  # anonymous
        with pytest.raises(WebSocketDisconnect) as exc:
            ws.receive_json()
        assert exc.value.code == 4401


def test_a_token_without_analytics_read_is_refused(mc_client, mc_users):
    artist = mc_users.artist
    r = mc_client.post("/api/v1/me/tokens", headers=artist.headers, json={"name": "x", "scopes": ["profile:read"]})
    assert r.status_code in (200, 201), r.text
    token = r.json()["token"]
    with mc_client.websocket_connect(_path(artist.artist_id), headers={"Authorization": f"Bearer {token}"}) as ws:
        with pytest.raises(WebSocketDisconnect) as exc:
            ws.receive_json()
        assert exc.value.code == 4403


def test_the_platform_view_is_for_admins(mc_client, mc_platform, mc_users):
    a = mc_users.artist.artist_id
    fan = mc_users.fan
    _emit(mc_platform, "play.counted", a, fan.id)
    _emit(mc_platform, "play.counted", a, fan.id)
    _emit(mc_platform, "play.counted", uuid.uuid4(), fan.id)
    with mc_client.websocket_connect("/api/v1/analytics/live", headers=fan.headers) as ws:
        with pytest.raises(WebSocketDisconnect) as exc:
            ws.receive_json()
        assert exc.value.code == 4403
    with mc_client.websocket_connect("/api/v1/analytics/live", headers=mc_users.admin.headers) as ws:
        snap = ws.receive_json()
        assert snap["scope"] == "platform"
        assert snap["figures"]["plays_today"] == 3
        assert snap["figures"]["listeners_now"] == 1
        assert snap["figures"]["top_artists_today"][0] == {"artist_id": str(a), "name": mc_platform_name(mc_platform, a),
                                                           "plays": 2}
        signups = snap["figures"]["signups_today"]
        make_user(mc_platform, "fan")
        assert ws.receive_json()["add"] == {"signups_today": 1}
        _emit(mc_platform, "play.counted", uuid.uuid4(), fan.id)  # any artist's play counts here
        assert ws.receive_json()["add"] == {"plays_today": 1}
        ws.send_json({"type": "refresh"})
        snap = ws.receive_json()
        assert snap["figures"]["signups_today"] == signups + 1 and snap["figures"]["plays_today"] == 4


def mc_platform_name(p, artist_id):
    from musicconnect.models import Artist

    with p.read() as s:
        return s.get(Artist, artist_id).name


def test_events_committed_by_another_process_reach_the_figures(mc_make_platform, mc_redis_url, monkeypatch):
    """Two platforms on one database stand for two API processes: the socket is held by A, the
    events are committed by B. The snapshot is read from the database, so A's resync counts them;
    with Redis (the distributed run) B's deltas reach A's socket too."""
    extra = {"redis_url": mc_redis_url} if mc_redis_url else {}
    a_proc = mc_make_platform(**extra)
    b_proc = mc_make_platform(**extra)
    artist = make_user(a_proc, "artist", artist_name="Nova")
    fan = make_user(a_proc, "fan")
    with TestClient(create_app(a_proc)) as client:
        with client.websocket_connect(_path(artist.artist_id), headers=artist.headers) as ws:
            assert ws.receive_json()["figures"]["plays_today"] == 0
            _emit(b_proc, "play.counted", artist.artist_id, fan.id)
            _emit(b_proc, "play.counted", artist.artist_id, fan.id)
            if mc_redis_url:
                got = ws.receive_json()["add"]["plays_today"] + ws.receive_json()["add"]["plays_today"]
                assert got == 2
            ws.send_json({"type": "refresh"})
            msg = ws.receive_json()
            while msg["type"] != "snapshot":
                msg = ws.receive_json()
            assert msg["figures"]["plays_today"] == 2 and msg["figures"]["listeners_now"] == 1
