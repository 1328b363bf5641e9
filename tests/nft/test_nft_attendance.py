"""``attended_party`` end to end with the live plugin: fans listen to a party over its socket, the
host ends it over HTTP, the live plugin emits ``live.party_attended`` for who stayed, and the nft
plugin mints for them on the embedded chain — not for a fan who only dropped by."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from musicconnect.models import ContentItem
from musicconnect.testing import make_user
from nft_world import settle


@pytest.fixture
def mc_plugins():
    return ["nft", "live"]


def _track(p, artist_id) -> uuid.UUID:
    with p.session() as s:
        item = ContentItem(id=uuid.uuid4(), artist_id=artist_id, kind="track", title="Long one", status="ready",
                           visibility="public", publish_at=p.clock.now() - timedelta(days=1),
                           data={"duration": 3600.0})
        s.add(item)
    return item.id


def _evaluated(p, timeout: float = 30.0):
    """Wait until no ``nft.evaluate`` job is queued or running."""
    import time

    from musicconnect.models import Job

    deadline = time.monotonic() + timeout
    while True:
        with p.read() as s:
            busy = s.scalars(select(Job.id).where(Job.actor == "nft.evaluate",
                                                  Job.state.in_(("queued", "running")))).first()
        if busy is None:
            return
        assert time.monotonic() < deadline, "the nft.evaluate job did not finish"
        time.sleep(0.05)


def _wait_joined(p, user_id):
    import time

    from musicconnect_live.models import Attendance

    for _ in range(500):
        with p.read() as s:
            if s.scalar(select(Attendance.id).where(Attendance.user_id == user_id)) is not None:
                return
        time.sleep(0.01)
    raise AssertionError("the socket's stay was never recorded")


def test_listeners_who_stayed_get_the_party_badge(mc_client, mc_platform, mc_users, mc_clock):
    from musicconnect_live.parties import joined, left, sweep
    from musicconnect_nft.models import Token

    p, c, artist = mc_platform, mc_client, mc_users.artist
    stayer, dropper = mc_users.fan, make_user(p, "fan")
    r = c.post("/api/v1/live/parties", headers=artist.headers, json={
        "title": "Album night", "starts_at": (mc_clock.now() + timedelta(days=1)).isoformat(),
        "playlist": [str(_track(p, artist.artist_id))]})
    assert r.status_code == 201, r.text
    party = r.json()
    r = c.post(f"/api/v1/nft/artists/{artist.artist_id}/collections", headers=artist.headers,
               json={"slug": "was-there", "name": "I was there"})
    assert r.status_code == 201, r.text
    collection = r.json()
    r = c.post(f"/api/v1/nft/collections/{collection['id']}/criteria", headers=artist.headers,
               json={"kind": "attended_party", "params": {"party_id": party["id"]}, "title": "Album night"})
    assert r.status_code == 201, r.text

    mc_clock.set(datetime.fromisoformat(party["starts_at"]))
    for u in (artist, stayer, dropper):
        u.renew(p)
    sweep(p)
    url = f"/api/v1/live/parties/{party['id']}/socket"
    with c.websocket_connect(url, headers=stayer.headers) as ws:
        assert ws.receive_json()["type"] == "welcome"
        _wait_joined(p, stayer.id)  # the server records the stay just after the welcome
        # the drive-by listener: 30 s (recorded as the socket would; a TestClient socket's close
        # may be cancelled before the server's cleanup runs)
        stay = joined(p, uuid.UUID(party["id"]), dropper.id)
        mc_clock.advance(seconds=30)
        left(p, stay)
        mc_clock.advance(seconds=600)
        for u in (artist, stayer, dropper):
            u.renew(p)
        r = c.post(f"/api/v1/live/parties/{party['id']}/control", json={"action": "end"}, headers=artist.headers)
        assert r.status_code == 200, r.text
    _evaluated(p)  # the party's end queues an evaluation (a worker thread; Redis in the distributed pass)
    settle(p)
    with p.read() as s:
        toks = s.scalars(select(Token).where(Token.collection_id == uuid.UUID(collection["id"]))).all()
    assert [(t.user_id, t.status) for t in toks] == [(stayer.id, "confirmed")]
    assert toks[0].evidence == {"kind": "attended_party", "party_id": party["id"]}
    mine = c.get("/api/v1/nft/me/tokens", headers=stayer.headers)
    assert mine.status_code == 200 and [t["token_id"] for t in mine.json()] == [toks[0].token_id]
    assert c.get("/api/v1/nft/me/tokens", headers=dropper.headers).json() == []
