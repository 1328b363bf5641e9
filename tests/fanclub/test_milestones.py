"""Fan milestones as domain events: first support, 100th play, 1 year as a member, top-10 fan of
the month (the last two from scheduled jobs, once per period platform-wide)."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

import musicconnect_fanclub.plugin as fanclub
from musicconnect.models import DomainEvent
from musicconnect.testing import make_user


def milestones(p):
    with p.session() as s:
        return sorted((str(e.actor_id), e.data["milestone"], e.data.get("month"), e.data.get("rank"))
                      for e in s.scalars(select(DomainEvent).where(DomainEvent.type == "fan.milestone")))


def test_milestones(mc_make_platform, mc_clock):
    p = mc_make_platform(extra_plugins=[("fanclub", fanclub)], entry_points=False)
    p.start()
    artist = make_user(p, "artist", artist_name="M")
    fans = [make_user(p, "fan") for _ in range(12)]
    tiers = {t.key: t for t in p.access.tiers(artist.artist_id)}
    t0 = mc_clock.now()  # 2026-06-01 12:00
    with p.session() as s:
        p.entitlements.grant(s, user_id=fans[0].id, artist_id=artist.artist_id, tier_id=tiers["supporter"].id,
                             source="test", source_ref="f0", starts_at=t0 - timedelta(days=400))
        p.entitlements.grant(s, user_id=fans[1].id, artist_id=artist.artist_id, tier_id=tiers["free"].id,
                             source="test", source_ref="f1", starts_at=t0 - timedelta(days=100))
    # fan i plays i+1 times in June; fan 11 plays 100 times
    with p.session() as s:
        for i, fan in enumerate(fans):
            for _ in range(100 if i == 11 else i + 1):
                p.emit(s, "play.counted", actor_id=fan.id, artist_id=artist.artist_id, subject=("content", uuid.uuid4()),
                       data={"seconds": 31})
    p.jobs.wait_idle(30)
    assert (str(fans[11].id), "plays_100", None, None) in milestones(p)
    assert (str(fans[0].id), "first_support", None, None) in milestones(p)
    p.jobs.run_schedules()
    p.jobs.wait_idle(30)
    assert (str(fans[0].id), "member_1y", None, None) in milestones(p)
    assert not [m for m in milestones(p) if m[1] == "member_1y" and m[0] == str(fans[1].id)]
    assert not [m for m in milestones(p) if m[1] == "top10_month"]  # June is not over
    assert p.jobs.run_schedules() == []  # same hour: nothing new to run
    mc_clock.set(datetime(2026, 7, 1, 0, 30, tzinfo=timezone.utc))
    p.jobs.run_schedules()
    p.jobs.wait_idle(30)
    top = sorted((m[3], m[0]) for m in milestones(p) if m[1] == "top10_month")
    assert [r for r, _ in top] == list(range(1, 11)) and top[0][1] == str(fans[11].id)
    assert str(fans[0].id) not in {u for _, u in top} and str(fans[1].id) not in {u for _, u in top}
    assert all(m[2] == "2026-06" for m in milestones(p) if m[1] == "top10_month")
    mc_clock.advance(hours=1)
    p.jobs.run_schedules()
    p.jobs.wait_idle(30)
    assert len([m for m in milestones(p) if m[1] == "top10_month"]) == 10  # not awarded twice
    assert len([m for m in milestones(p) if m[1] == "member_1y"]) == 1
