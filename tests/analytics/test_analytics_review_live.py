"""Review: the live sockets' snapshot cost is bounded per room, whatever the clients do (a
client sending refreshes in a loop, or a crowd of sockets watching one artist)."""
from __future__ import annotations

import uuid

from musicconnect import emit

import musicconnect_analytics.live as live


def _counting(monkeypatch):
    calls = []
    real = live.figures

    def counted(platform, artist_id):
        calls.append(artist_id)
        return real(platform, artist_id)

    monkeypatch.setattr(live, "figures", counted)
    return calls


def _path(artist_id) -> str:
    return f"/api/v1/analytics/artists/{artist_id}/live"


def test_a_refresh_loop_does_not_read_the_database_each_time(mc_client, mc_users, monkeypatch):
    calls = _counting(monkeypatch)
    artist = mc_users.artist
    with mc_client.websocket_connect(_path(artist.artist_id), headers=artist.headers) as ws:
        assert ws.receive_json()["type"] == "snapshot"
        for _ in range(30):
            ws.send_json({"type": "refresh"})
            snap = ws.receive_json()
            assert snap["type"] == "snapshot" and snap["artist_id"] == str(artist.artist_id)
    # 31 snapshots sent; the database was read for the burst (and perhaps a refill), not 31 times
    assert 1 <= len(calls) <= live.SNAPSHOT_BURST + 2


def test_many_sockets_of_one_artist_share_the_reads(mc_client, mc_platform, mc_users, monkeypatch):
    calls = _counting(monkeypatch)
    artist = mc_users.artist
    a = artist.artist_id
    with mc_platform.session() as s:
        emit(mc_platform, s, "play.counted", actor_id=mc_users.fan.id, artist_id=a, subject=("content", uuid.uuid4()))
    socks = []
    try:
        for _ in range(12):
            ws = mc_client.websocket_connect(_path(a), headers=artist.headers).__enter__()
            socks.append(ws)
            assert ws.receive_json()["figures"]["plays_today"] == 1
    finally:
        for ws in socks:
            ws.__exit__(None, None, None)
    assert len(calls) <= live.SNAPSHOT_BURST + 2


def test_a_refresh_after_an_event_is_still_fresh(mc_client, mc_platform, mc_users, monkeypatch):
    """The budget does not make a client's first refresh stale: it counts an event at once."""
    monkeypatch.setattr(live, "COALESCE_SECONDS", 0.0)
    artist = mc_users.artist
    a = artist.artist_id
    with mc_client.websocket_connect(_path(a), headers=artist.headers) as ws:
        assert ws.receive_json()["figures"]["plays_today"] == 0
        with mc_platform.session() as s:
            emit(mc_platform, s, "play.counted", actor_id=mc_users.fan.id, artist_id=a,
                 subject=("content", uuid.uuid4()))
        msg = ws.receive_json()
        assert msg["type"] == "delta"
        ws.send_json({"type": "refresh"})
        assert ws.receive_json()["figures"]["plays_today"] == 1
