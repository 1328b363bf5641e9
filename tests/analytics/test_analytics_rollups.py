"""Rollups: additive counters per artist x day x metric x dimension, fed by domain events as they
commit (buffered, flushed atomically) and rebuildable from the events table."""
from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import func, select

from musicconnect.testing import concurrently, make_user
from musicconnect_analytics import rollups
from musicconnect_analytics.rollups import Rollup

T0 = datetime(2026, 5, 10, 12, 0, tzinfo=timezone.utc)


def emit(p, type_, artist_id, *, actor=None, subject=None, at=T0, data=None):
    with p.session() as s:
        p.emit(s, type_, actor_id=actor, artist_id=artist_id, subject=subject, at=at, data=data or {})


def table(p, artist_id=None):
    """Every rollup row (after a flush) as {(metric, day, dimension): value}."""
    rollups.flush(p)
    with p.session() as s:
        q = select(Rollup)
        if artist_id:
            q = q.where(Rollup.artist_id == artist_id)
        return {(r.metric, r.day.isoformat(), r.dimension): r.value for r in s.scalars(q) if r.value}


def test_plays_follows_and_shares_roll_up_per_day_and_dimension(mc_platform):
    p = mc_platform
    a = make_user(p, "artist", artist_name="Nova").artist_id
    f1, f2 = uuid.uuid4(), uuid.uuid4()
    track = uuid.uuid4()
    emit(p, "play.counted", a, actor=f1, subject=("content", track))
    emit(p, "play.counted", a, actor=f1, subject=("content", track), at=T0 + timedelta(hours=1))
    emit(p, "play.counted", a, actor=f2, subject=("content", track), at=T0 + timedelta(days=1))
    emit(p, "play.counted", a, subject=("content", track))  # anonymous: a play, no fan
    emit(p, "play.started", a, actor=f1, subject=("content", track))  # not a play yet
    emit(p, "fan.followed", a, actor=f1, subject=("artist", a))
    emit(p, "fan.unfollowed", a, actor=f1, subject=("artist", a), at=T0 + timedelta(days=1))
    emit(p, "viral.shared", a, actor=f2, subject=("content", track))
    got = table(p, a)
    d0, d1 = "2026-05-10", "2026-05-11"
    assert got == {
        ("plays", d0, ""): 3, ("plays", d0, str(track)): 3, ("plays", d1, ""): 1, ("plays", d1, str(track)): 1,
        ("fan_plays", d0, str(f1)): 2, ("fan_plays", d1, str(f2)): 1,
        ("follows", d0, ""): 1, ("unfollows", d1, ""): 1,
        ("shares", d0, ""): 1, ("shares", d0, str(track)): 1,
    }


def test_events_of_other_artists_and_without_artist_are_apart(mc_platform):
    p = mc_platform
    a = make_user(p, "artist").artist_id
    b = make_user(p, "artist").artist_id
    emit(p, "play.counted", a, actor=uuid.uuid4(), subject=("content", uuid.uuid4()))
    emit(p, "play.counted", None, actor=uuid.uuid4())
    assert table(p, b) == {}
    assert sum(v for (m, _, dim), v in table(p, a).items() if m == "plays" and dim == "") == 1


def test_concurrent_events_from_many_threads_add_up_exactly(mc_platform):
    p = mc_platform
    a = make_user(p, "artist").artist_id
    fans = [uuid.uuid4() for _ in range(4)]
    track = uuid.uuid4()
    per_thread = 40

    def work(i):
        for k in range(per_thread):
            emit(p, "play.counted", a, actor=fans[k % 4], subject=("content", track),
                 at=T0 + timedelta(days=k % 3))
            if k % 10 == 0:  # flushes race with the other threads' additions
                rollups.flush(p)
        return True

    assert concurrently(8, work) == [True] * 8
    got = table(p, a)
    assert sum(v for (m, _, dim), v in got.items() if m == "plays" and dim == "") == 8 * per_thread
    assert sum(v for (m, _, dim), v in got.items() if m == "fan_plays") == 8 * per_thread
    assert got[("fan_plays", "2026-05-10", str(fans[0]))] == 8 * len([k for k in range(per_thread) if k % 4 == 0 and k % 3 == 0])


def test_the_buffer_flushes_itself_within_a_few_seconds(mc_platform):
    import time

    p = mc_platform
    a = make_user(p, "artist").artist_id
    emit(p, "play.counted", a, actor=uuid.uuid4(), subject=("content", uuid.uuid4()))
    deadline = time.monotonic() + 10
    found = 0
    while time.monotonic() < deadline and not found:
        time.sleep(0.2)
        with p.session() as s:  # read the table directly: no flush by the reader
            found = s.scalar(select(func.coalesce(func.sum(Rollup.value), 0)).where(
                Rollup.artist_id == a, Rollup.metric == "plays", Rollup.dimension == ""))
    assert found == 1


def test_rebuild_equals_incremental_and_is_idempotent(mc_platform):
    p = mc_platform
    a = make_user(p, "artist").artist_id
    b = make_user(p, "artist").artist_id
    fans = [uuid.uuid4() for _ in range(3)]
    track = uuid.uuid4()
    for k in range(50):  # 50 days: two rebuild chunks
        emit(p, "play.counted", a if k % 5 else b, actor=fans[k % 3], subject=("content", track),
             at=T0 + timedelta(days=k, hours=k % 24))
    emit(p, "fan.followed", a, actor=fans[0], subject=("artist", a))
    emit(p, "track.downloaded", a, actor=fans[1], subject=("content", track))
    emit(p, "fan.commented", a, actor=fans[2], subject=("content", track))
    emit(p, "payment.succeeded", a, actor=fans[0], subject=("payment", "in_1"),
         data={"provider": "sandbox", "amount": 500, "currency": "EUR", "platform_fee": 50, "artist_net": 450,
               "subscription": "sub_1"})
    incremental = table(p)
    assert incremental[("gross", "2026-05-10", "source:subscriptions")] == 500
    result = rollups.rebuild(p)
    assert result.chunks == 2 and result.events == 54
    assert table(p) == incremental
    assert rollups.rebuild(p).events == 54
    assert table(p) == incremental
    only_b = rollups.rebuild(p, b)
    assert only_b.events == 10
    assert table(p) == incremental


def test_days_of_a_window():
    from musicconnect import MetricWindow

    w = MetricWindow(start=datetime(2026, 5, 1, tzinfo=timezone.utc), end=datetime(2026, 5, 31, tzinfo=timezone.utc))
    assert rollups.days_of(w) == (date(2026, 5, 1), date(2026, 5, 30))
    w = MetricWindow(start=datetime(2026, 5, 1, 12, tzinfo=timezone.utc), end=datetime(2026, 5, 31, 12, tzinfo=timezone.utc))
    assert rollups.days_of(w) == (date(2026, 5, 1), date(2026, 5, 31))


def test_the_buffer_is_written_when_the_process_stops(mc_platform, monkeypatch):
    p = mc_platform
    monkeypatch.setattr(rollups, "FLUSH_SECONDS", 600)  # no timer flush during the test
    a = make_user(p, "artist").artist_id

    def stored():
        with p.session() as s:  # read the table directly: no flush by the reader
            return s.scalar(select(func.coalesce(func.sum(Rollup.value), 0)).where(
                Rollup.artist_id == a, Rollup.metric == "plays", Rollup.dimension == ""))

    emit(p, "play.counted", a, actor=uuid.uuid4(), subject=("content", uuid.uuid4()))
    assert stored() == 0  # still in the buffer
    p.plugins.notify("on_shutdown", platform=p)  # what Platform.close() does
    assert stored() == 1
