"""The weekly summary: the scheduled job emits one ``analytics.weekly_summary`` event per artist
and ISO week with the week's figures (counted on hand-made events), never twice, and the notify
plugin turns it into the artist's inbox item and email."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from musicconnect import emit
from musicconnect.models import DomainEvent
from musicconnect.testing import make_user

from musicconnect_analytics import summary

MONDAY = datetime(2026, 5, 25, tzinfo=timezone.utc)  # 2026-W22; the fixtures' clock is 2026-06-01 12:00


def _at(p, when, etype, artist_id, actor_id=None, subject=None):
    with p.session() as s:
        emit(p, s, etype, actor_id=actor_id, artist_id=artist_id, at=when,
             subject=subject or ("content", uuid.uuid4()))


def _backdate(p, *artist_ids):
    """Test users are made "now"; the job only summarises artists who existed during the week."""
    from sqlalchemy import update

    from musicconnect.models import Artist

    with p.session() as s:
        s.execute(update(Artist).where(Artist.id.in_(artist_ids)).values(created_at=MONDAY - timedelta(days=30)))


def _summaries(p, artist_id=None):
    with p.read() as s:
        q = select(DomainEvent).where(DomainEvent.type == "analytics.weekly_summary")
        if artist_id is not None:
            q = q.where(DomainEvent.artist_id == artist_id)
        return s.scalars(q).all()


def test_iso_weeks():
    assert summary.iso_week(now=datetime(2026, 6, 1, 12, tzinfo=timezone.utc)) == (
        "2026-W22", MONDAY, MONDAY + timedelta(days=7))
    assert summary.iso_week(now=datetime(2026, 5, 31, 23, tzinfo=timezone.utc))[0] == "2026-W21"
    assert summary.iso_week("2026-w01")[1] == datetime(2025, 12, 29, tzinfo=timezone.utc)
    with pytest.raises(ValueError):
        summary.iso_week("last week")


def test_the_job_summarises_the_week_once_and_notify_delivers_it(mc_client, mc_platform, mc_users, mc_clock):
    p, artist = mc_platform, mc_users.artist
    a = artist.artist_id
    fans = [make_user(p, "fan") for _ in range(3)]
    _backdate(p, a)
    with p.session() as s:
        track = p.content.create(s, artist_id=a, kind="track", title="Night Drive", status="ready")
        track_id = track.id
    song = ("content", track_id)
    for i, fan in enumerate(fans):  # this week: 3 listeners, 5 plays, 4 of Night Drive
        _at(p, MONDAY + timedelta(days=i, hours=3), "play.counted", a, fan.id, song)
    _at(p, MONDAY + timedelta(days=4), "play.counted", a, fans[0].id, song)
    _at(p, MONDAY + timedelta(days=5), "play.counted", a, fans[1].id)
    _at(p, MONDAY - timedelta(days=2), "play.counted", a, fans[0].id)  # the week before: 2 plays
    _at(p, MONDAY - timedelta(days=3), "play.counted", a, fans[1].id)
    _at(p, MONDAY + timedelta(days=7, hours=1), "play.counted", a, fans[1].id)  # this week: not counted
    _at(p, MONDAY + timedelta(days=1), "fan.followed", a, fans[2].id, ("artist", a))
    _at(p, MONDAY + timedelta(days=2), "entitlement.granted", a, None, ("entitlement", uuid.uuid4()))
    _at(p, MONDAY + timedelta(days=2), "play.counted", uuid.uuid4(), fans[2].id)  # another artist
    with p.session() as s:  # money: 12.00 paid (1.20 platform fee) this week, 5.00 the week before
        for when, amount in ((MONDAY + timedelta(days=3), 1200), (MONDAY - timedelta(days=1), 500)):
            emit(p, s, "payment.succeeded", actor_id=fans[0].id, artist_id=a, at=when, subject=("payment", uuid.uuid4()),
                 data={"amount": amount, "platform_fee": amount // 10, "currency": "usd"})

    queued = p.jobs.run_schedules()
    assert queued
    p.jobs.wait_idle()
    mine = _summaries(p, a)
    assert len(mine) == 1
    ev = mine[0]
    assert ev.subject_type == "week" and ev.subject_id == "2026-W22"
    d = ev.data
    assert (d["plays"], d["plays_previous_week"], d["plays_change"], d["listeners"]) == (5, 2, "+150%", 3)
    assert (d["top_track"], d["top_track_plays"]) == ("Night Drive", 4)
    assert (d["new_followers"], d["new_supporters"], d["lost_supporters"]) == (1, 1, 0)
    assert d["start"] == MONDAY.isoformat()
    assert d["net_revenue"] == 1080 and d["net_revenue_text"].startswith("10.80 ")

    # the artist's inbox holds it, rendered; an email went out too
    r = mc_client.get("/api/v1/notify/inbox", headers=artist.headers)
    assert r.status_code == 200, r.text
    items = [i for i in r.json()["items"] if i["kind"] == "analytics.weekly_summary"]
    assert len(items) == 1
    assert items[0]["title"] == "Your week 2026-W22: 5 plays (+150%)"
    assert "3 listeners" in items[0]["body"] and "Night Drive (4 plays)" in items[0]["body"]
    assert "Net revenue: 10.80 " in items[0]["body"]
    from musicconnect_notify.models import Delivery

    with p.read() as s:
        channels = set(s.scalars(select(Delivery.channel).where(Delivery.kind == "analytics.weekly_summary",
                                                                Delivery.recipient_id == artist.id)))
        others = s.scalars(select(Delivery.recipient_id).where(Delivery.kind == "analytics.weekly_summary")).all()
    assert channels == {"inbox", "email"}
    assert artist.id in others and not {f.id for f in fans} & set(others)  # fans get nothing

    # the next hour's run (and a manual one) emit nothing new
    mc_clock.advance(hours=1)
    p.jobs.run_schedules()
    p.jobs.enqueue("analytics.weekly_summary", week="2026-W22", artist_id=str(a))
    p.jobs.wait_idle()
    assert len(_summaries(p, a)) == 1


def test_every_artist_gets_one_a_quiet_week_included(mc_client, mc_platform, mc_users):
    p = mc_platform
    other = make_user(p, "artist", artist_name="Quiet")
    late = make_user(p, "artist", artist_name="Newcomer")  # made after the week: no summary
    _backdate(p, other.artist_id, mc_users.artist.artist_id)
    p.jobs.enqueue("analytics.weekly_summary")
    p.jobs.wait_idle()
    quiet = _summaries(p, other.artist_id)
    assert len(quiet) == 1 and quiet[0].data["plays"] == 0 and quiet[0].data["plays_change"] == "no change"
    assert quiet[0].data["top_track"] is None
    assert len(_summaries(p, mc_users.artist.artist_id)) == 1
    assert _summaries(p, late.artist_id) == []


def test_a_week_not_over_is_refused(mc_platform, mc_users):
    _backdate(mc_platform, mc_users.artist.artist_id)
    class Ctx:
        platform = mc_platform

        def progress(self, *a, **k):
            pass

    from musicconnect import PermanentJobError

    with pytest.raises(PermanentJobError):
        summary.weekly_summary(Ctx(), week="2026-W23")
    with pytest.raises(PermanentJobError):
        summary.weekly_summary(Ctx(), week="soon")
    assert summary.weekly_summary(Ctx(), week="2026-W21")["emitted"] == 1
    assert summary.weekly_summary(Ctx(), week="2026-W21")["emitted"] == 0
