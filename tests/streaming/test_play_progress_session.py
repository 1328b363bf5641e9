"""Play progress is reported by session id (issue 12): an anonymous session needs nothing else (its
server-issued random id is the capability), a signed-in listener's session takes reports from that
listener only."""
from __future__ import annotations

import uuid

from sqlalchemy import select

from helpers import problem
from musicconnect.testing import make_user
from musicconnect_streaming.models import Play


def _report(env, sid, headers=None, **body):
    return env.client.post(f"/api/v1/streaming/plays/{sid}", headers=headers or {},
                           json={"event": "progress", **body})


def _seconds(env, sid) -> float:
    with env.platform.session() as s:
        return s.scalar(select(Play.seconds).where(Play.id == uuid.UUID(sid)))


def test_an_anonymous_session_takes_reports_by_its_id_alone(env, audio, mc_clock):
    tid = env.ready_track(audio(40))
    # started with a client id, reported without it (or with another): the session id is enough
    sid = env.client.post("/api/v1/streaming/plays", json={"track_id": tid, "client_id": "device-1"}).json()["session_id"]
    mc_clock.advance(seconds=12)
    r = _report(env, sid, position=10)
    assert r.status_code == 200, r.text
    assert r.json() == {"session_id": sid, "seconds": 10.0, "counted": False, "completed": False}
    mc_clock.advance(seconds=25)
    r = _report(env, sid, position=31, client_id="someone-else")
    assert r.status_code == 200 and r.json()["counted"] is True
    done = env.client.post(f"/api/v1/streaming/plays/{sid}", json={"event": "complete", "position": 40})
    assert done.status_code == 200 and done.json()["completed"] is True
    # started without any client id at all
    sid2 = env.client.post("/api/v1/streaming/plays", json={"track_id": tid}).json()["session_id"]
    mc_clock.advance(seconds=5)
    assert _report(env, sid2, position=4).json()["seconds"] == 4.0
    # an id the server never issued is still unknown
    problem(_report(env, str(uuid.uuid4()), position=4), 404, "not-found")


def test_a_signed_in_session_takes_reports_from_its_listener_only(env, audio, mc_clock):
    tid = env.ready_track(audio(40))
    fan = env.fan.headers
    sid = env.client.post("/api/v1/streaming/plays", headers=fan, json={"track_id": tid}).json()["session_id"]
    mc_clock.advance(seconds=20)
    assert _report(env, sid, fan, position=15).json()["seconds"] == 15.0

    # without credentials: told what is missing, nothing recorded
    r = problem(_report(env, sid, position=19), 401, "unauthorized")
    assert "signed in" in r["detail"]
    # another account, even naming a client id: as if the session did not exist
    other = make_user(env.platform, "fan")
    problem(_report(env, sid, other.headers, position=19, client_id="device-1"), 404, "not-found")
    problem(_report(env, sid, env.artist.headers, position=19), 404, "not-found")  # the track's own artist too
    assert _seconds(env, sid) == 15.0

    mc_clock.advance(seconds=15)
    r = _report(env, sid, fan, position=34)
    assert r.status_code == 200 and r.json()["seconds"] == 34.0 and r.json()["counted"] is True
