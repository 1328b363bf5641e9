"""Implicit feedback learnt from domain events: additive weights per (fan, track) and (fan,
artist), anonymous plays and non-track subjects ignored, the matrix, rebuild from the events."""
from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select

from musicconnect.models import ContentItem

from musicconnect_ai import interactions
from musicconnect_ai.interactions import Affinity, Interaction


def make_track(p, artist_id, title="Song", **kw):
    tid = uuid.uuid4()
    with p.session() as s:
        s.add(ContentItem(id=tid, artist_id=artist_id, kind=kw.pop("kind", "track"), title=title,
                          status=kw.pop("status", "ready"), visibility=kw.pop("visibility", "public"),
                          publish_at=p.clock.now() - timedelta(days=3), data={}, **kw))
    return tid


def event(p, type_, actor, artist_id, track=None, data=None, subject=None):
    with p.session() as s:
        p.emit(s, type_, actor_id=actor, artist_id=artist_id,
               subject=subject or (("content", track) if track else None), data=data or {})


def test_events_become_additive_weights_and_rebuild_agrees(mc_platform, mc_users):
    p, artist, fan = mc_platform, mc_users.artist, mc_users.fan
    song, other = make_track(p, artist.artist_id), make_track(p, artist.artist_id, "Other")
    post = make_track(p, artist.artist_id, "A post", kind="fanclub_post")
    event(p, "play.started", fan.id, artist.artist_id, song)        # not engagement yet
    event(p, "play.counted", fan.id, artist.artist_id, song)
    event(p, "play.completed", fan.id, artist.artist_id, song)
    event(p, "play.counted", fan.id, artist.artist_id, song)
    event(p, "fan.reacted", fan.id, artist.artist_id, other, data={"kind": "heart"})
    event(p, "fan.reacted", fan.id, artist.artist_id, post, data={"kind": "heart"})   # not a track
    event(p, "play.counted", None, artist.artist_id, song)           # anonymous: nobody to learn about
    event(p, "play.counted", fan.id, artist.artist_id, subject=("content", "not-a-uuid"))
    event(p, "fan.followed", fan.id, artist.artist_id, subject=("artist", artist.artist_id))
    event(p, "entitlement.granted", artist.id, artist.artist_id, subject=("entitlement", uuid.uuid4()),
          data={"user_id": str(fan.id)})
    with p.read() as s:
        got = {r.content_id: (r.weight, r.events) for r in s.scalars(select(Interaction))}
        aff = s.scalars(select(Affinity)).all()
    assert got == {song: (3.0, 3), other: (2.0, 1)}
    assert [(a.user_id, a.weight, a.follows, a.supports) for a in aff] == [(fan.id, 3 + 2 + 3 + 5, 1, 1)]

    m = interactions.weights(p)
    assert m.fans == [fan.id] and set(m.tracks) == {song, other} and m.matrix.shape == (1, 2)
    assert m.matrix[0, m.tracks.index(song)] == 3.0 and m.track_artists == [artist.artist_id] * 2
    assert interactions.fans_of_artist(p, artist.artist_id) == {fan.id: 13.0}
    assert interactions.followed_artists(p, fan.id) == {artist.artist_id: 13.0}

    event(p, "fan.unfollowed", fan.id, artist.artist_id, subject=("artist", artist.artist_id))
    assert interactions.followed_artists(p, fan.id) == {artist.artist_id: 10.0}
    stats = interactions.rebuild(p)
    assert stats["pairs"] == 2
    with p.read() as s:
        assert {r.content_id: (r.weight, r.events) for r in s.scalars(select(Interaction))} == got
        a = s.scalars(select(Affinity)).one()
    assert (a.weight, a.follows, a.supports) == (10.0, 0, 1)


def test_negative_weights_stay_out_of_the_matrix(mc_platform, mc_users):
    p, artist, fan = mc_platform, mc_users.artist, mc_users.fan
    song = make_track(p, artist.artist_id)
    event(p, "ai.feed_skipped", fan.id, artist.artist_id, song)
    assert interactions.fan_tracks(p, fan.id) == {song: -0.5}
    m = interactions.weights(p)
    assert m.fans == [] and m.matrix.shape == (0, 0)
