"""The party socket end to end over the TestClient: join, ping/pong, host seek reaching a listener,
chat delivery, resume after reconnect, a ban hiding messages, per-listener locks, refusals."""
from __future__ import annotations

import pytest
from starlette.websockets import WebSocketDisconnect

from conftest import add_track, grant, schedule, tiers
from musicconnect.testing import make_user


def url(party):
    return f"/api/v1/live/parties/{party['id']}/socket"


def until(ws, kind, limit=20):
    for _ in range(limit):
        msg = ws.receive_json()
        if msg["type"] == kind:
            return msg
    raise AssertionError(f"no {kind} message")


def test_join_ping_seek_and_chat(live):
    c = live.client
    party = schedule(c, live.artist, live.tracks)
    live.start(party["id"])
    live.clock.advance(seconds=12)
    with c.websocket_connect(url(party), headers=live.fan.headers) as fan, \
            c.websocket_connect(url(party), headers=live.artist.headers) as host:
        welcome = fan.receive_json()
        assert welcome["type"] == "welcome" and welcome["host"] is False and welcome["messages"] == []
        assert welcome["state"]["playing"] and abs(welcome["state"]["position"] - 12) < 1e-6  # late joiner
        assert host.receive_json()["host"] is True
        fan.send_json({"type": "ping", "t0": 1.5})
        pong = until(fan, "pong")
        assert pong["t0"] == 1.5 and pong["t1"] == pong["t2"] == live.clock.now().timestamp()
        host.send_json({"type": "control", "action": "seek", "position": 60})
        st = until(fan, "state")
        assert st["position"] == 60 and st["index"] == 0 and st["playing"] is True
        assert until(host, "state")["version"] == st["version"]
        fan.send_json({"type": "control", "action": "pause"})
        err = until(fan, "error")
        assert err["problem"] == "party-not-allowed" and err["status"] == 403
        fan.send_json({"type": "chat", "text": "what a song"})
        got = until(host, "chat")
        assert got["text"] == "what a song" and got["user_id"] == str(live.fan.id)
        fan.send_json({"type": "nonsense"})
        assert until(fan, "error")["problem"] == "invalid-message"
    # REST control reaches sockets too
    with c.websocket_connect(url(party)) as anon:
        assert anon.receive_json()["user_id"] is None
        r = c.post(f"/api/v1/live/parties/{party['id']}/control", json={"action": "skip"}, headers=live.artist.headers)
        assert r.status_code == 200
        assert until(anon, "state")["index"] == 1


def test_resume_after_reconnect_without_gaps_or_duplicates(live):
    c = live.client
    party = schedule(c, live.artist, live.tracks)
    room = f"/api/v1/live/rooms/party-{party['id']}/messages"
    with c.websocket_connect(url(party), headers=live.fan.headers) as ws:
        ws.receive_json()
        c.post(room, json={"text": "a"}, headers=live.artist.headers)
        last = until(ws, "chat")["id"]
    for t in ("b", "c"):  # while the fan is away
        c.post(room, json={"text": t}, headers=live.artist.headers)
    with c.websocket_connect(f"{url(party)}?last_seen_id={last}", headers=live.fan.headers) as ws:
        w = ws.receive_json()
        assert w["resumed"] is True and [m["text"] for m in w["messages"]] == ["b", "c"]
        ws.send_json({"type": "history", "before": w["messages"][0]["id"]})
        assert [m["text"] for m in until(ws, "history")["messages"]] == ["a"]


def test_ban_hides_messages_for_new_joiners(live):
    c, a = live.client, live.artist
    party = schedule(c, a, live.tracks)
    troll = make_user(live.platform, "fan")
    room = f"/api/v1/live/rooms/party-{party['id']}/messages"
    c.post(room, json={"text": "buy my stuff"}, headers=troll.headers)
    c.post(room, json={"text": "welcome"}, headers=a.headers)
    with c.websocket_connect(url(party), headers=live.fan.headers) as ws:
        assert [m["text"] for m in ws.receive_json()["messages"]] == ["buy my stuff", "welcome"]
        c.post(f"/api/v1/live/artists/{a.artist_id}/sanctions", json={"user_id": str(troll.id), "kind": "ban"},
               headers=a.headers)
        assert until(ws, "banned")["user_id"] == str(troll.id)
    with c.websocket_connect(url(party), headers=live.fan.headers) as ws:
        assert [m["text"] for m in ws.receive_json()["messages"]] == ["welcome"]
    with c.websocket_connect(url(party), headers=troll.headers) as ws:
        ws.receive_json()
        ws.send_json({"type": "chat", "text": "again"})
        assert until(ws, "error")["problem"] == "chat-banned"


def test_locks_per_listener_and_refusals(live):
    p, c = live.platform, live.client
    tid = tiers(p, live.artist.artist_id)
    paid = add_track(p, live.artist.artist_id, "Members", tier_id=tid["supporter"])
    party = schedule(c, live.artist, [live.tracks[0], paid])
    member = make_user(p, "fan")
    grant(p, member.id, live.artist.artist_id, tid["supporter"])
    with c.websocket_connect(url(party), headers=live.fan.headers) as ws:
        pl = ws.receive_json()["party"]["playlist"]
        assert [t["locked"] for t in pl] == [False, True] and pl[1]["master_url"] is None
    with c.websocket_connect(url(party), headers=member.headers) as ws:
        pl = ws.receive_json()["party"]["playlist"]
        assert [t["locked"] for t in pl] == [False, False] and pl[1]["master_url"].endswith(f"{paid}/master.m3u8")
    vip = schedule(c, live.artist, live.tracks, visibility="tier", min_tier_id=str(tid["superfan"]))
    with c.websocket_connect(url(vip), headers=live.fan.headers) as ws:
        assert ws.receive_json()["problem"] == "party-not-allowed"
        with pytest.raises(WebSocketDisconnect) as e:
            ws.receive_json()
        assert e.value.code == 4403
    with c.websocket_connect("/api/v1/live/parties/00000000-0000-0000-0000-000000000000/socket") as ws:
        assert ws.receive_json()["problem"] == "party-not-found"
    c.post(f"/api/v1/live/parties/{party['id']}/control", json={"action": "end"}, headers=live.artist.headers)
    with c.websocket_connect(url(party), headers=live.fan.headers) as ws:
        assert ws.receive_json()["problem"] == "party-ended"
        with pytest.raises(WebSocketDisconnect) as e:
            ws.receive_json()
        assert e.value.code == 4409


def test_artist_live_room_socket_chat_and_resume(live):
    c = live.client
    path = f"/api/v1/live/artists/{live.artist.artist_id}/room/socket"
    with c.websocket_connect(path, headers=live.fan.headers) as fan, c.websocket_connect(path) as anon:
        w = fan.receive_json()
        assert w["room"] == f"artist:{live.artist.artist_id}" and w["moderator"] is False
        anon.receive_json()
        fan.send_json({"type": "chat", "text": "hello room"})
        got = until(anon, "chat")
        assert got["text"] == "hello room"
        anon.send_json({"type": "chat", "text": "me too"})
        assert until(anon, "error")["problem"] == "unauthorized"
    c.post(f"/api/v1/live/rooms/artist-{live.artist.artist_id}/messages", json={"text": "later"},
           headers=live.artist.headers)
    with c.websocket_connect(f"{path}?last_seen_id={got['id']}", headers=live.fan.headers) as fan:
        assert [m["text"] for m in fan.receive_json()["messages"]] == ["later"]
    with c.websocket_connect("/api/v1/live/artists/00000000-0000-0000-0000-000000000000/room/socket") as ws:
        assert ws.receive_json()["problem"] == "room-not-found"
