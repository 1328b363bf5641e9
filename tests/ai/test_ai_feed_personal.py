"""The feed uses what the recommendation side learnt: tracks the fan already plays are not
discovery, the reco model's personal candidates get a boost (the fan's taste cluster above the
other), artists the fan engages with get a little affinity; a failing reco side never takes the
feed down."""
from __future__ import annotations

import uuid
from datetime import timedelta

from musicconnect.models import ContentItem
from musicconnect.testing import make_user

from musicconnect_ai import feed, interactions, recommend


def make_track(p, artist_id, title):
    tid = uuid.uuid4()
    with p.session() as s:
        s.add(ContentItem(id=tid, artist_id=artist_id, kind="track", title=title, status="ready", visibility="public",
                          publish_at=p.clock.now() - timedelta(days=60), data={"version": 1, "duration": 180.0}))
    return tid


def plays(p, fan_id, tracks):
    with p.session() as s:
        for t in tracks:
            interactions.record_track(s, fan_id, t, s.get(ContentItem, t).artist_id, 2.0, p.clock.now())


def test_the_feed_is_personal_and_survives_the_reco_side(mc_client, mc_platform, mc_users, monkeypatch):
    p, fan = mc_platform, mc_users.fan
    artists = {n: make_user(p, "artist", artist_name=n).artist_id for n in ("Alpha", "Beta", "Gamma", "Delta")}
    tracks = {n: [make_track(p, a, f"{n} {i}") for i in range(4)] for n, a in artists.items()}
    rock, jazz = tracks["Alpha"] + tracks["Beta"], tracks["Gamma"] + tracks["Delta"]
    for i in range(8):
        plays(p, make_user(p, "fan").id, rock[i % 3::2])
        plays(p, make_user(p, "fan").id, jazz[i % 3::2])
    plays(p, fan.id, tracks["Alpha"][:2])
    assert recommend.fit(p, threads=1)["status"] == "ok"

    boosts, engaged, played = feed._personal(p, fan.id)
    assert played == set(tracks["Alpha"][:2]) and artists["Alpha"] in engaged
    rock_boost = [boosts.get(t, 0.0) for t in rock if t not in played]
    jazz_boost = [boosts.get(t, 0.0) for t in jazz]
    best = sorted(boosts, key=boosts.get, reverse=True)
    assert set(best[:3]) <= set(rock) and boosts[best[0]] == 1.0  # the fan's taste cluster leads
    assert sum(rock_boost) / len(rock_boost) > sum(jazz_boost) / len(jazz_boost)

    cards = mc_client.get("/api/v1/ai/feed", headers=fan.headers).json()["cards"]
    ids = {uuid.UUID(c["track"]["id"]) for c in cards}
    assert len(cards) == 10 and not ids & played  # what the fan already plays is not discovery

    def broken(platform):
        raise RuntimeError("model store unreachable")

    monkeypatch.setattr(recommend, "active", broken)
    r = mc_client.get("/api/v1/ai/feed", headers=fan.headers)
    assert r.status_code == 200 and len(r.json()["cards"]) == 10
    assert feed._personal(p, fan.id)[0] == {}
