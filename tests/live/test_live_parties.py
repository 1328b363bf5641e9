"""Listening parties over the HTTP API: scheduling, validation, RSVP, visibility, the clock,
host controls, gating per listener, transitions (events) and the recap."""
from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select

from conftest import add_track, grant, schedule, tiers
from musicconnect.models import DomainEvent
from musicconnect.testing import make_user
from musicconnect_live.parties import sweep


def events(p, type_):
    with p.session() as s:
        return s.scalars(select(DomainEvent).where(DomainEvent.type == type_)).all()


def test_schedule_party_emits_event_and_reads_back(live):
    party = schedule(live.client, live.artist, live.tracks, timezone="Europe/Paris", description="with me")
    assert party["status"] == "scheduled" and party["timezone"] == "Europe/Paris"
    assert party["starts_at_local"].endswith("+02:00")
    assert [t["track_id"] for t in party["playlist"]] == [str(t) for t in live.tracks]
    assert [t["duration"] for t in party["playlist"]] == [120.0, 90.0]
    [ev] = events(live.platform, "live.party_scheduled")
    assert ev.subject_id == party["id"] and ev.artist_id == live.artist.artist_id
    r = live.client.get(f"/api/v1/live/parties/{party['id']}")
    assert r.status_code == 200 and r.json()["title"] == "Premiere"


def test_schedule_validation(live):
    c, a = live.client, live.artist
    other = make_user(live.platform, "artist", artist_name="Other")
    foreign = add_track(live.platform, other.artist_id, "Theirs")
    draft = add_track(live.platform, a.artist_id, "Draft", status="processing")
    base = {"title": "x", "starts_at": "2026-06-03T20:00:00+00:00"}

    def post(headers=a.headers, **kw):
        return c.post("/api/v1/live/parties", json={**base, **kw}, headers=headers)

    r = post(playlist=[str(foreign)])
    assert r.status_code == 422 and r.json()["type"].endswith("/invalid-playlist")
    assert post(playlist=[str(draft)]).json()["type"].endswith("/invalid-playlist")
    assert post(playlist=[str(live.tracks[0])] * 2).json()["type"].endswith("/invalid-playlist")
    assert post(starts_at="9999-12-31T23:59:59-23:00").json()["type"].endswith("/invalid-party")  # no overflow
    assert post(starts_at="2028-06-03T20:00:00+00:00").status_code == 422  # more than a year ahead
    assert post(starts_at="2026-06-03T20:00:00").status_code == 422  # no time zone
    r = post(starts_at="2026-05-01T20:00:00+00:00")
    assert r.status_code == 422 and "future" in r.json()["detail"]
    assert post(timezone="Mars/Olympus").json()["type"].endswith("/invalid-party")
    assert post(visibility="tier").json()["type"].endswith("/invalid-party")  # no tier
    assert post(visibility="tier", min_tier_id=str(tiers(live.platform, other.artist_id)["supporter"])).status_code == 422
    assert post(headers=live.fan.headers).status_code == 403  # fans do not schedule
    assert post(headers=other.headers, artist_id=str(a.artist_id)).status_code == 403  # nor other artists for them
    assert c.post("/api/v1/live/parties", json=base).status_code == 401


def test_rsvp_is_idempotent_and_problems(live):
    party = schedule(live.client, live.artist, live.tracks)
    url = f"/api/v1/live/parties/{party['id']}/rsvp"
    assert live.client.put(url, headers=live.fan.headers).json() == {"rsvped": True, "rsvps": 1}
    assert live.client.put(url, headers=live.fan.headers).json() == {"rsvped": True, "rsvps": 1}
    got = live.client.get(f"/api/v1/live/parties/{party['id']}", headers=live.fan.headers).json()
    assert got["rsvps"] == 1 and got["rsvped"] is True
    assert live.client.delete(url, headers=live.fan.headers).json() == {"rsvped": False, "rsvps": 0}
    r = live.client.put("/api/v1/live/parties/00000000-0000-0000-0000-000000000000/rsvp", headers=live.fan.headers)
    assert r.status_code == 404 and r.json()["type"].endswith("/party-not-found")
    live.client.post(f"/api/v1/live/parties/{party['id']}/control", json={"action": "end"}, headers=live.artist.headers)
    r = live.client.put(url, headers=live.fan.headers)
    assert r.status_code == 409 and r.json()["type"].endswith("/party-ended")


def test_visibility_followers_and_tier(live):
    p, c = live.platform, live.client
    tid = tiers(p, live.artist.artist_id)
    fol = schedule(c, live.artist, live.tracks, visibility="followers")
    vip = schedule(c, live.artist, live.tracks, visibility="tier", min_tier_id=str(tid["superfan"]))
    r = c.get(f"/api/v1/live/parties/{fol['id']}", headers=live.fan.headers)
    assert r.status_code == 403 and r.json()["type"].endswith("/party-not-allowed")
    assert r.json()["reason"] == "followers only"
    assert c.get(f"/api/v1/live/parties/{fol['id']}").status_code == 401
    with p.session() as s:  # the fan club records follows as domain events; the live plugin reads those
        p.emit(s, "fan.followed", actor_id=live.fan.id, artist_id=live.artist.artist_id)
    assert c.get(f"/api/v1/live/parties/{fol['id']}", headers=live.fan.headers).status_code == 200
    r = c.get(f"/api/v1/live/parties/{vip['id']}", headers=live.fan.headers)
    assert r.status_code == 403 and r.json()["reason"] == "tier required"
    assert r.json()["required_tier"] == str(tid["superfan"])
    listed = c.get(f"/api/v1/live/artists/{live.artist.artist_id}/parties", headers=live.fan.headers).json()
    assert {x["id"] for x in listed["parties"]} == {fol["id"]}
    grant(p, live.fan.id, live.artist.artist_id, tid["superfan"])
    assert c.get(f"/api/v1/live/parties/{vip['id']}", headers=live.fan.headers).status_code == 200


def test_transitions_emit_once_and_playlist_end_ends_party(live):
    p = live.platform
    party = schedule(live.client, live.artist, live.tracks, starts_in=timedelta(hours=1))
    sweep(p)
    assert events(p, "live.party_starting") == []
    live.clock.advance(minutes=46)
    sweep(p)
    sweep(p)
    assert len(events(p, "live.party_starting")) == 1
    live.clock.advance(minutes=14)
    assert sweep(p) == 1 and sweep(p) == 0
    assert len(events(p, "live.party_started")) == 1
    live.fan.renew(p)
    st = live.client.get(f"/api/v1/live/parties/{party['id']}", headers=live.fan.headers).json()
    assert st["status"] == "live" and st["state"]["playing"] is True and st["state"]["position"] == 0
    live.clock.advance(seconds=130)  # 10 s into the second track
    st = live.client.get(f"/api/v1/live/parties/{party['id']}", headers=live.fan.headers).json()["state"]
    assert st["index"] == 1 and abs(st["position"] - 10) < 1e-6 and st["track_id"] == str(live.tracks[1])
    live.clock.advance(seconds=100)
    sweep(p)
    [ended] = events(p, "live.party_ended")
    assert ended.data["reason"] == "playlist"
    assert live.client.get(f"/api/v1/live/parties/{party['id']}").json()["status"] == "ended"


def test_host_controls_pause_seek_skip_end(live):
    c = live.client
    party = schedule(c, live.artist, live.tracks)
    url = f"/api/v1/live/parties/{party['id']}/control"
    r = c.post(url, json={"action": "pause"}, headers=live.artist.headers)
    assert r.status_code == 409 and r.json()["type"].endswith("/party-not-started")
    live.start(party["id"])
    live.clock.advance(seconds=20)
    assert c.post(url, json={"action": "pause"}, headers=live.fan.headers).status_code == 403
    st = c.post(url, json={"action": "pause"}, headers=live.artist.headers).json()
    assert st["playing"] is False and abs(st["position"] - 20) < 1e-6
    live.clock.advance(seconds=30)  # paused: the position stays
    assert abs(c.get(f"/api/v1/live/parties/{party['id']}").json()["state"]["position"] - 20) < 1e-6
    st = c.post(url, json={"action": "seek", "position": 100}, headers=live.artist.headers).json()
    assert st["position"] == 100 and st["playing"] is False
    r = c.post(url, json={"action": "seek", "position": 500}, headers=live.artist.headers)
    assert r.status_code == 422 and r.json()["type"].endswith("/invalid-seek")
    c.post(url, json={"action": "resume"}, headers=live.artist.headers)
    live.clock.advance(seconds=5)
    st = c.get(f"/api/v1/live/parties/{party['id']}").json()["state"]
    assert st["playing"] and abs(st["position"] - 105) < 1e-6
    st = c.post(url, json={"action": "skip"}, headers=live.artist.headers).json()
    assert st["index"] == 1 and st["position"] == 0
    version = st["version"]
    st = c.post(url, json={"action": "end"}, headers=live.artist.headers).json()
    assert st["status"] == "ended" and st["version"] > version
    r = c.post(url, json={"action": "resume"}, headers=live.artist.headers)
    assert r.status_code == 409 and r.json()["type"].endswith("/party-ended")


def test_gating_per_listener(live):
    p, c = live.platform, live.client
    tid = tiers(p, live.artist.artist_id)
    paid = add_track(p, live.artist.artist_id, "Members", tier_id=tid["supporter"])
    party = schedule(c, live.artist, [live.tracks[0], paid])
    member = make_user(p, "fan")
    grant(p, member.id, live.artist.artist_id, tid["supporter"])
    for user, locked in ((live.fan, True), (member, False), (live.artist, False)):
        pl = c.get(f"/api/v1/live/parties/{party['id']}", headers=user.headers).json()["playlist"]
        assert pl[0]["locked"] is False and pl[0]["master_url"] == f"/api/v1/streaming/tracks/{live.tracks[0]}/master.m3u8"
        assert pl[1]["locked"] is locked
        assert (pl[1]["master_url"] is None) is locked
    anon = c.get(f"/api/v1/live/parties/{party['id']}").json()["playlist"]
    assert anon[1]["locked"] is True and anon[1]["master_url"] is None


def test_recap_counts_listeners_messages_followers_supporters(live):
    from musicconnect_live.parties import joined, left

    p, c = live.platform, live.client
    tid = tiers(p, live.artist.artist_id)
    party = schedule(c, live.artist, live.tracks)
    r = c.get(f"/api/v1/live/parties/{party['id']}/recap")
    assert r.status_code == 409 and r.json()["type"].endswith("/party-not-ended")
    live.start(party["id"])
    other = make_user(p, "fan")
    pid = uuid.UUID(party["id"])
    a = joined(p, pid, live.fan.id)
    joined(p, pid, other.id)
    live.clock.advance(seconds=30)
    assert c.post(f"/api/v1/live/rooms/party-{party['id']}/messages", json={"text": "hi"},
                  headers=live.fan.headers).status_code == 201
    with p.session() as s:
        p.emit(s, "fan.followed", actor_id=other.id, artist_id=live.artist.artist_id)
    grant(p, other.id, live.artist.artist_id, tid["supporter"])
    live.clock.advance(seconds=60)
    left(p, a)
    live.clock.advance(seconds=60)
    live.artist.renew(p)
    c.post(f"/api/v1/live/parties/{party['id']}/control", json={"action": "end"}, headers=live.artist.headers)
    rec = c.get(f"/api/v1/live/parties/{party['id']}/recap").json()
    assert rec["peak_listeners"] == 2 and rec["unique_listeners"] == 2
    assert [m["listeners"] for m in rec["listeners"]] == [2, 2, 1]
    assert rec["messages"] == 1 and rec["new_followers"] == 1 and rec["new_supporters"] == 1


def test_party_attended_once_per_listener_who_stayed(live):
    """At the end, one ``live.party_attended`` per signed-in listener with 5 minutes in total
    (two overlapping tabs count once, two separate stays add up); a drive-by join is not attendance."""
    from musicconnect_live.parties import joined, left

    p, c = live.platform, live.client
    long = [add_track(p, live.artist.artist_id, "Long", duration=3600.0)]
    party = schedule(c, live.artist, long)
    live.start(party["id"])
    pid = uuid.UUID(party["id"])
    tabs, twice, driveby = live.fan, make_user(p, "fan"), make_user(p, "fan")
    t1, t2 = joined(p, pid, tabs.id), joined(p, pid, tabs.id)  # two tabs, 4 minutes together
    first = joined(p, pid, twice.id)
    joined(p, pid, None)  # an anonymous listener is never counted
    d = joined(p, pid, driveby.id)
    live.clock.advance(seconds=10)
    left(p, d)
    live.clock.advance(seconds=170)
    left(p, first)  # 3 minutes
    live.clock.advance(seconds=60)
    left(p, t1), left(p, t2)
    live.clock.advance(seconds=60)
    back = joined(p, pid, twice.id)  # back for 2 more: 5 in all
    live.clock.advance(seconds=120)
    left(p, back)
    live.clock.advance(seconds=600)  # a long party: 5 minutes are needed, not half of it
    live.artist.renew(p)
    assert events(p, "live.party_attended") == []  # decided at the end
    r = c.post(f"/api/v1/live/parties/{party['id']}/control", json={"action": "end"}, headers=live.artist.headers)
    assert r.status_code == 200
    got = {e.actor_id: e for e in events(p, "live.party_attended")}
    assert set(got) == {twice.id}
    assert got[twice.id].subject_id == party["id"] and got[twice.id].artist_id == live.artist.artist_id
    assert got[twice.id].data["minutes"] == 5.0
    c.post(f"/api/v1/live/parties/{party['id']}/control", json={"action": "end"}, headers=live.artist.headers)
    sweep(p)
    assert len(events(p, "live.party_attended")) == 1  # ending is once, so is attendance


def test_short_party_half_of_it_is_attendance(live):
    from musicconnect_live.parties import joined

    p, c = live.platform, live.client
    party = schedule(c, live.artist, live.tracks)
    live.start(party["id"])
    pid = uuid.UUID(party["id"])
    live.clock.advance(seconds=60)
    joined(p, pid, live.fan.id)  # 2 of a 3-minute party
    live.clock.advance(seconds=120)
    live.artist.renew(p)
    c.post(f"/api/v1/live/parties/{party['id']}/control", json={"action": "end"}, headers=live.artist.headers)
    [ev] = events(p, "live.party_attended")
    assert ev.actor_id == live.fan.id and ev.data["minutes"] == 2.0
