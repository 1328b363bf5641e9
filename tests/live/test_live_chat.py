"""Chat over REST: history and paging, resume after a last seen id, reactions, and each
moderation rule (moderators, delete, mute, ban hides history, slow mode, members-only, flood
limit under concurrency, the moderation log)."""
from __future__ import annotations

from conftest import grant, schedule, tiers
from musicconnect.testing import concurrently, make_user


def room(live):
    return f"/api/v1/live/rooms/artist-{live.artist.artist_id}"


def say(live, user, text, url=None):
    return live.client.post(f"{url or room(live)}/messages", json={"text": text}, headers=user.headers)


def texts(live, url=None, **params):
    r = live.client.get(f"{url or room(live)}/messages", params=params)
    assert r.status_code == 200, r.text
    return [m["text"] for m in r.json()["messages"]]


def tick(live, seconds=11):
    live.clock.advance(seconds=seconds)
    for u in (live.artist, live.fan):
        u.renew(live.platform)


def test_history_last_50_paging_and_resume(live):
    ids = []
    for i in range(60):
        r = say(live, live.artist, f"m{i}")  # the artist is exempt from the flood limit
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    assert ids == sorted(ids)
    assert texts(live) == [f"m{i}" for i in range(10, 60)]
    assert texts(live, before=ids[10]) == [f"m{i}" for i in range(0, 10)]
    assert texts(live, before=ids[30], limit=5) == [f"m{i}" for i in range(25, 30)]
    assert texts(live, after=ids[56]) == ["m57", "m58", "m59"]  # resume: exactly what was missed
    assert texts(live, after=ids[59]) == []
    r = live.client.get("/api/v1/live/rooms/artist-00000000-0000-0000-0000-000000000000/messages")
    assert r.status_code == 404 and r.json()["type"].endswith("/room-not-found")


def test_reactions_counted_once_per_user(live):
    mid = say(live, live.fan, "drop it").json()["id"]
    url = f"/api/v1/live/messages/{mid}/reactions"
    assert live.client.put(url, json={"emoji": "🔥"}, headers=live.fan.headers).json()["reactions"] == {"🔥": 1}
    assert live.client.put(url, json={"emoji": "🔥"}, headers=live.fan.headers).json()["reactions"] == {"🔥": 1}
    assert live.client.put(url, json={"emoji": "🔥"}, headers=live.artist.headers).json()["reactions"] == {"🔥": 2}
    assert live.client.put(url, json={"emoji": "nope"}, headers=live.fan.headers).status_code == 422
    assert live.client.delete(f"{url}/🔥", headers=live.fan.headers).json()["reactions"] == {"🔥": 1}
    [m] = live.client.get(f"{room(live)}/messages").json()["messages"]
    assert m["reactions"] == {"🔥": 1}


def test_moderators_at_most_five_and_only_by_artist(live):
    p, c, a = live.platform, live.client, live.artist
    base = f"/api/v1/live/artists/{a.artist_id}/moderators"
    mods = [make_user(p, "fan") for _ in range(6)]
    assert c.put(f"{base}/{mods[0].id}", headers=live.fan.headers).status_code == 403
    for m in mods[:5]:
        assert c.put(f"{base}/{m.id}", headers=a.headers).status_code == 200
    assert c.put(f"{base}/{mods[0].id}", headers=a.headers).status_code == 200  # again: no change
    r = c.put(f"{base}/{mods[5].id}", headers=a.headers)
    assert r.status_code == 409 and r.json()["type"].endswith("/too-many-moderators")
    assert len(c.get(base, headers=a.headers).json()["moderators"]) == 5
    c.delete(f"{base}/{mods[0].id}", headers=a.headers)
    assert c.put(f"{base}/{mods[5].id}", headers=a.headers).status_code == 200


def test_delete_mute_ban_and_log(live):
    p, c, a, fan = live.platform, live.client, live.artist, live.fan
    mod = make_user(p, "fan")
    c.put(f"/api/v1/live/artists/{a.artist_id}/moderators/{mod.id}", headers=a.headers)
    troll = make_user(p, "fan")
    m1 = say(live, troll, "spam 1").json()["id"]
    say(live, fan, "hello")
    # a fan may not delete someone else's message, a moderator may
    assert c.delete(f"/api/v1/live/messages/{m1}", headers=fan.headers).status_code == 403
    assert c.delete(f"/api/v1/live/messages/{m1}", headers=mod.headers).status_code == 200
    assert texts(live) == ["hello"]
    sanctions = f"/api/v1/live/artists/{a.artist_id}/sanctions"
    assert c.post(sanctions, json={"user_id": str(troll.id), "kind": "mute", "minutes": 5},
                  headers=fan.headers).status_code == 403
    r = c.post(sanctions, json={"user_id": str(troll.id), "kind": "mute", "minutes": 5}, headers=mod.headers)
    assert r.status_code == 201 and r.json()["until"]
    r = say(live, troll, "muted?")
    assert r.status_code == 403 and r.json()["type"].endswith("/chat-muted")
    live.clock.advance(minutes=6)
    troll.renew(p), fan.renew(p), mod.renew(p), a.renew(p)
    assert say(live, troll, "spam 2").status_code == 201
    assert "spam 2" in texts(live)
    # a moderator cannot ban the artist; only the artist bans a moderator
    assert c.post(sanctions, json={"user_id": str(a.id), "kind": "ban"}, headers=mod.headers).status_code == 403
    r = c.post(sanctions, json={"user_id": str(troll.id), "kind": "ban"}, headers=mod.headers)
    assert r.status_code == 201 and r.json()["until"] is None
    assert texts(live) == ["hello"]  # a ban hides their earlier messages
    r = say(live, troll, "back")
    assert r.status_code == 403 and r.json()["type"].endswith("/chat-banned")
    c.delete(f"{sanctions}/{troll.id}/ban", headers=a.headers)
    assert "spam 2" in texts(live)
    log = c.get(f"/api/v1/live/artists/{a.artist_id}/modlog", headers=a.headers).json()["actions"]
    assert [x["action"] for x in log][::-1] == ["appoint", "delete_message", "mute", "ban", "unban"]
    assert log[-2]["moderator_id"] == str(mod.id) and log[-2]["target_user_id"] == str(troll.id)
    assert c.get(f"/api/v1/live/artists/{a.artist_id}/modlog", headers=mod.headers).status_code == 403


def test_slow_mode_exempts_moderators(live):
    c, a, fan = live.client, live.artist, live.fan
    r = c.patch(f"{room(live)}/settings", json={"slow_mode_seconds": 30}, headers=fan.headers)
    assert r.status_code == 403
    assert c.patch(f"{room(live)}/settings", json={"slow_mode_seconds": 30}, headers=a.headers).json()[
        "slow_mode_seconds"] == 30
    assert say(live, fan, "one").status_code == 201
    r = say(live, fan, "two")
    assert r.status_code == 429 and r.json()["type"].endswith("/chat-slow-mode") and r.json()["retry_after"] == 30
    assert say(live, a, "artist 1").status_code == 201 and say(live, a, "artist 2").status_code == 201
    tick(live, 31)
    assert say(live, fan, "three").status_code == 201


def test_members_only_chat(live):
    p, c, a, fan = live.platform, live.client, live.artist, live.fan
    tid = tiers(p, a.artist_id)
    c.patch(f"{room(live)}/settings", json={"min_tier_id": str(tid["supporter"])}, headers=a.headers)
    r = say(live, fan, "let me in")
    assert r.status_code == 403 and r.json()["type"].endswith("/chat-members-only")
    grant(p, fan.id, a.artist_id, tid["supporter"])
    assert say(live, fan, "thanks").status_code == 201
    c.patch(f"{room(live)}/settings", json={"members_only": False}, headers=a.headers)
    assert say(live, make_user(p, "fan"), "open again").status_code == 201


def test_flood_limit_is_atomic_under_concurrency(live):
    fan = live.fan
    results = concurrently(8, lambda i: say(live, fan, f"burst {i}").status_code)
    assert sorted(results) == [201] * 5 + [429] * 3
    r = say(live, fan, "more")
    assert r.status_code == 429 and r.json()["type"].endswith("/chat-flood")
    tick(live)
    assert say(live, fan, "after the window").status_code == 201


def test_party_chat_follows_party_access_and_end(live):
    p, c = live.platform, live.client
    tid = tiers(p, live.artist.artist_id)
    party = schedule(c, live.artist, live.tracks, visibility="tier", min_tier_id=str(tid["superfan"]))
    url = f"/api/v1/live/rooms/party-{party['id']}"
    r = say(live, live.fan, "hi", url)
    assert r.status_code == 403 and r.json()["type"].endswith("/party-not-allowed")
    assert c.get(f"{url}/messages", headers=live.fan.headers).status_code == 403
    grant(p, live.fan.id, live.artist.artist_id, tid["superfan"])
    assert say(live, live.fan, "hi", url).status_code == 201
    assert c.get(f"{url}/messages").status_code == 401  # anonymous may not read it
    assert [m["text"] for m in c.get(f"{url}/messages", headers=live.fan.headers).json()["messages"]] == ["hi"]
    c.post(f"/api/v1/live/parties/{party['id']}/control", json={"action": "end"}, headers=live.artist.headers)
    r = say(live, live.fan, "late", url)
    assert r.status_code == 409 and r.json()["type"].endswith("/party-ended")
