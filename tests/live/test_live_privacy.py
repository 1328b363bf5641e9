"""The live plugin's part of a person's data export and erasure (GDPR): a fan's RSVPs, chat,
reactions, moderator roles and sanctions; an artist's parties, stream key, sessions and recordings."""
from __future__ import annotations

import json
import uuid

from sqlalchemy import func, or_, select

from musicconnect.models import User
from musicconnect.testing import make_user
from musicconnect_live import privacy
from musicconnect_live.ingest_models import LiveStreamKey, LiveStreamSession
from musicconnect_live.models import (Attendance, ChatLimit, ChatMessage, ModAction, Moderator, Party, Reaction,
                                      Rsvp, Sanction)


def schedule(client, artist, tracks) -> dict:
    """A party of ``artist`` in two days (the frozen clock's 2026-06-01 12:00 UTC)."""
    body = {"title": "Premiere", "starts_at": "2026-06-03T12:00:00+00:00", "playlist": [str(t) for t in tracks]}
    r = client.post("/api/v1/live/parties", json=body, headers=artist.headers)
    assert r.status_code == 201, r.text
    return r.json()


def _room(live):
    return f"/api/v1/live/rooms/artist-{live.artist.artist_id}"


def _ok(r, code=(200, 201, 204)):
    assert r.status_code in code, r.text
    return r.json() if r.content else None


def _naming(p, uid) -> int:
    with p.read() as s:
        n = 0
        for model, cols in ((Rsvp, ("user_id",)), (Attendance, ("user_id",)), (ChatMessage, ("user_id",)),
                            (Reaction, ("user_id",)), (Moderator, ("user_id",)), (Sanction, ("user_id",)),
                            (ChatLimit, ("user_id",)), (ModAction, ("moderator_id", "target_user_id")),
                            (Party, ("host_id",))):
            n += s.scalar(select(func.count()).select_from(model).where(or_(*(getattr(model, c) == uid for c in cols))))
        return n


def _chat(live, user, text):
    return _ok(live.client.post(f"{_room(live)}/messages", json={"text": text}, headers=user.headers))["id"]


def test_a_fan_exports_and_erases_their_live_data(live):
    c, p, a, fan = live.client, live.platform, live.artist, live.fan
    other, troll = make_user(p), make_user(p)
    party = schedule(c, a, live.tracks)
    for u in (fan, other):
        _ok(c.put(f"/api/v1/live/parties/{party['id']}/rsvp", headers=u.headers))
    artist_says = _chat(live, a, "welcome")
    mine = _chat(live, fan, "hello from me")
    theirs = _chat(live, other, "hello from them")
    _ok(c.put(f"/api/v1/live/messages/{artist_says}/reactions", json={"emoji": "🔥"}, headers=fan.headers))
    _ok(c.put(f"/api/v1/live/messages/{mine}/reactions", json={"emoji": "🔥"}, headers=other.headers))
    _ok(c.put(f"/api/v1/live/messages/{theirs}/reactions", json={"emoji": "🔥"}, headers=other.headers))
    _ok(c.put(f"/api/v1/live/artists/{a.artist_id}/moderators/{fan.id}", headers=a.headers))
    _ok(c.post(f"/api/v1/live/artists/{a.artist_id}/sanctions", json={"user_id": str(troll.id), "kind": "mute",
                                                                     "minutes": 5}, headers=fan.headers))
    elsewhere = make_user(p, "artist", artist_name="Elsewhere")
    with p.session() as s:
        s.add(Attendance(party_id=uuid.UUID(party["id"]), user_id=fan.id, joined_at=p.clock.now()))
        s.add(Sanction(artist_id=elsewhere.artist_id, user_id=fan.id, kind="ban", created_at=p.clock.now()))
        s.add(ModAction(artist_id=elsewhere.artist_id, moderator_id=elsewhere.id, action="ban", target_user_id=fan.id,
                        data={"user_id": str(fan.id)}, created_at=p.clock.now()))

    with p.read() as s:
        part = dict(p.export_user_data(s, s.get(User, fan.id)))["live"]
    r = part.records
    json.dumps(r)
    assert [m["text"] for m in r["chat_messages"]] == ["hello from me"]
    assert r["chat_reactions"] == [{"message_id": str(artist_says), "emoji": "🔥"}]
    assert [x["party_id"] for x in r["rsvps"]] == [party["id"]] and len(r["attendance"]) == 1
    assert [x["artist_id"] for x in r["moderator_roles"]] == [str(a.artist_id)]
    assert [(x["kind"], x["artist_id"]) for x in r["sanctions"]] == [("ban", str(elsewhere.artist_id))]
    assert sorted((x["action"], x["by_you"], x["about_you"]) for x in r["moderation_log"]) == [
        ("appoint", False, True), ("ban", False, True), ("mute", True, False)]
    assert "parties" not in r and part.files == ()

    others = _naming(p, other.id)
    with p.session() as s:
        report = privacy.erase(p, s, s.get(User, fan.id))
    assert report.erased["chat_messages"] == 1 and report.erased["chat_reactions"] == 2  # theirs + on theirs
    assert _naming(p, fan.id) == 0
    assert _naming(p, other.id) == others - 1  # only their reaction on the erased message went
    with p.read() as s:
        assert s.scalar(select(func.count()).select_from(ChatMessage).where(ChatMessage.text.contains("from me"))) == 0
        assert s.scalar(select(func.count()).select_from(ModAction).where(ModAction.action == "ban")) == 1  # anonymised
        assert all(str(fan.id) not in json.dumps(x.data) for x in s.scalars(select(ModAction)))
        assert s.get(Party, uuid.UUID(party["id"])) is not None  # the artist's party stays
    got = c.get(f"{_room(live)}/messages").json()["messages"]
    assert [m["text"] for m in got] == ["welcome", "hello from them"]


def test_an_artist_who_leaves_takes_parties_sessions_and_recordings(live):
    c, p, a, fan = live.client, live.platform, live.artist, live.fan
    party = schedule(c, a, live.tracks)
    _ok(c.put(f"/api/v1/live/parties/{party['id']}/rsvp", headers=fan.headers))
    _chat(live, fan, "hi artist")
    sid = uuid.uuid4()
    key = f"live-recordings/{sid}/recording.aac"
    p.storage.put_bytes(key, b"\xff\xf1 aac", "audio/aac")
    with p.session() as s:
        s.add(LiveStreamKey(artist_id=a.artist_id, key_hash="0" * 64, hint="abcd", created_at=p.clock.now()))
        s.add(LiveStreamSession(id=sid, artist_id=a.artist_id, title="Late show", status="ended", port=1935,
                                aes_key=b"k" * 16, created_at=p.clock.now(), recording_key=key))
    stays = make_user(p, "artist", artist_name="Stays")
    with p.read() as s:
        part = dict(p.export_user_data(s, s.get(User, a.id)))["live"]
    assert [x["title"] for x in part.records["parties"]] == ["Premiere"]
    assert [x["title"] for x in part.records["live_sessions"]] == ["Late show"]
    assert [(f.path, f.storage_key) for f in part.files] == [(f"recordings/{sid}.aac", key)]
    assert part.records["stream_key"][0]["hint"] == "abcd"
    with p.session() as s:
        report = privacy.erase(p, s, s.get(User, a.id))
    # the recording, and the session's prefixes (listed when the purge runs: segments written meanwhile go too)
    assert set(report.storage_keys) == {key, f"live/{sid}/", f"live-recordings/{sid}/"}
    assert report.erased["parties"] == 1 and report.erased["live_sessions"] == 1 and report.erased["stream_key"] == 1
    with p.read() as s:
        aid = a.artist_id
        for model in (Party, LiveStreamKey, LiveStreamSession, ChatMessage, Moderator, Sanction):
            assert s.scalar(select(func.count()).select_from(model).where(model.artist_id == aid)) == 0, model
        assert s.scalar(select(func.count()).select_from(Rsvp)) == 0  # the party's RSVPs went with it
        assert s.get(User, fan.id) is not None and stays.artist_id is not None


def test_a_moderator_who_leaves_does_not_take_the_artists_party_with_them(live):
    """A party the person hosted as a moderator of another artist is that artist's: it stays (the
    artist hosts it from now on); their own artist's parties go."""
    c, p, a = live.client, live.platform, live.artist
    party = schedule(c, a, live.tracks)
    for role in ("fan", "artist"):
        mod = make_user(p, role, artist_name="Mod Squad" if role == "artist" else None)
        with p.session() as s:
            s.add(Moderator(artist_id=a.artist_id, user_id=mod.id, created_at=p.clock.now()))
            s.get(Party, uuid.UUID(party["id"])).host_id = mod.id
        own = None
        if role == "artist":
            own = schedule(c, mod, [])
        with p.session() as s:
            report = privacy.erase(p, s, s.get(User, mod.id))
        assert report.erased["parties_hosted_for_others"] == 1 and report.erased["moderator_roles"] == 1
        with p.read() as s:
            kept = s.get(Party, uuid.UUID(party["id"]))
            # no longer theirs: deleting their user row (ON DELETE CASCADE) cannot take it along
            assert kept is not None and kept.host_id == a.id and kept.title == "Premiere"
            if own is not None:
                assert s.get(Party, uuid.UUID(own["id"])) is None and report.erased["parties"] == 1
