"""Artist matching on a hand-made overlap: exact Jaccard and lift, audience sizes, reasons,
computed by the scheduled job and read from its table (not recomputed per request)."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from musicconnect.models import DomainEvent

from musicconnect_ai import matching


def emit(p, type_, fan, artist_id, subject=None):
    with p.session() as s:
        p.emit(s, type_, actor_id=fan, artist_id=artist_id, subject=subject or ("artist", artist_id))


def test_overlap_exact_jaccard_and_lift():
    # A: f1..f4, B: f3..f5, C: f6, f7 -> N = 7 fans
    pairs = [("A", f) for f in ("f1", "f2", "f3", "f4")] + [("B", f) for f in ("f3", "f4", "f5")] + \
            [("C", "f6"), ("C", "f7"), ("A", "f1")]  # a repeated pair counts once
    sizes, found = matching.overlap(pairs, min_shared=1)
    assert sizes == {"A": 4, "B": 3, "C": 2}
    (other, shared, jac, lift), = found["A"]
    assert (other, shared) == ("B", 2)
    assert jac == pytest.approx(2 / 5)          # 2 / (4 + 3 - 2)
    assert lift == pytest.approx(2 * 7 / (4 * 3))  # shared over |A||B|/N
    assert found["B"][0][:2] == ("A", 2) and found["C"] == []
    assert matching.overlap(pairs, min_shared=3)[1]["A"] == []


def test_matches_route_serves_the_job_result(mc_client, mc_platform, mc_users, mc_clock):
    p = mc_platform
    a = mc_users.artist  # "Test Artist"
    b = mc_users.make("artist", artist_name="Bee")
    c = mc_users.make("artist", artist_name="Sea")
    fans = [mc_users.make("fan").id for _ in range(7)]
    for f in fans[:4]:
        emit(p, "play.counted", f, a.artist_id, ("content", str(uuid.uuid4())))
    emit(p, "play.completed", fans[0], a.artist_id)  # more engagement of the same fan: still one fan
    for f in fans[2:5]:
        emit(p, "fan.followed", f, b.artist_id)
    for f in fans[5:7]:
        emit(p, "ai.feed_liked", f, c.artist_id)
    emit(p, "play.counted", a.id, a.artist_id)       # the artist listening to themself is no fan
    emit(p, "play.started", fans[5], a.artist_id)    # not engagement
    old = mc_users.make("fan").id
    emit(p, "fan.followed", old, b.artist_id)
    with p.session() as s:  # engagement older than the window is forgotten
        s.execute(update(DomainEvent).where(DomainEvent.actor_id == old)
                  .values(occurred_at=p.clock.now() - timedelta(days=400)))

    assert mc_client.get(f"/api/v1/ai/artists/{a.artist_id}/matches", headers=a.headers).json()["matches"] == []
    spec, = [j for j in matching.JOBS if j.name == "match_artists"]
    assert spec.every_seconds == 6 * 3600
    assert matching.compute(p) == {"artists": 3, "fans": 7, "matches": 2}

    r = mc_client.get(f"/api/v1/ai/artists/{a.artist_id}/matches", headers=a.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["engaged_fans"] == 4 and body["computed_at"] is not None
    m, = body["matches"]
    assert (m["artist_id"], m["name"], m["shared_fans"], m["their_fans"]) == (str(b.artist_id), "Bee", 2, 3)
    assert m["jaccard"] == pytest.approx(0.4) and m["lift"] == pytest.approx(14 / 12)
    assert m["reasons"][0] == "2 engaged fans listen to both Test Artist and Bee"
    assert "1.2× the overlap" in m["reasons"][2]
    # B sees A; C shares nobody
    assert [x["name"] for x in mc_client.get(f"/api/v1/ai/artists/{b.artist_id}/matches",
                                             headers=b.headers).json()["matches"]] == ["Test Artist"]
    assert mc_client.get(f"/api/v1/ai/artists/{c.artist_id}/matches", headers=c.headers).json()["matches"] == []

    # cached: new engagement changes nothing until the job runs again
    emit(p, "play.counted", fans[6], a.artist_id)
    emit(p, "play.counted", fans[5], a.artist_id)
    assert mc_client.get(f"/api/v1/ai/artists/{a.artist_id}/matches", headers=a.headers).json() == body
    matching.compute(p)
    names = [x["name"] for x in mc_client.get(f"/api/v1/ai/artists/{a.artist_id}/matches",
                                              headers=a.headers).json()["matches"]]
    assert names == ["Sea", "Bee"]  # 2 of 6 (Jaccard 1/3) beats 2 of 7 (2/7)

    # the artist themself or an admin
    assert mc_client.get(f"/api/v1/ai/artists/{a.artist_id}/matches", headers=mc_users.admin.headers).status_code == 200
    r = mc_client.get(f"/api/v1/ai/artists/{a.artist_id}/matches", headers=b.headers)
    assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json")
    assert mc_client.get(f"/api/v1/ai/artists/{a.artist_id}/matches", headers=mc_users.fan.headers).status_code == 403
    assert mc_client.get(f"/api/v1/ai/artists/{uuid.uuid4()}/matches", headers=a.headers).status_code == 404


def test_the_scheduled_job_runs_through_the_job_system(mc_client, mc_platform, mc_users):  # client: worker on
    p = mc_platform
    b = mc_users.make("artist", artist_name="Bee")
    for _ in range(2):
        f = mc_users.make("fan").id
        emit(p, "fan.followed", f, mc_users.artist.artist_id)
        emit(p, "fan.followed", f, b.artist_id)
    with p.session() as s:
        p.jobs.enqueue("ai.match_artists", session=s)
    p.jobs.wait_idle(timeout=30)
    with p.session() as s:
        assert s.scalar(select(func.count()).select_from(matching.ArtistMatch)) == 2
        assert s.get(matching.ArtistStats, b.artist_id).engaged_fans == 2
