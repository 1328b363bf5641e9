"""The synthetic generator (models): deterministic, bulk, and writes what the real code paths write."""
from __future__ import annotations

import time
import uuid

import pytest
from sqlalchemy import func, select

from musicconnect.models import DomainEvent, Entitlement, User
from musicconnect.testing import make_user

from musicconnect_analytics import synthetic
from musicconnect_analytics.model_store import ShareClick, ShareLink

pytestmark = pytest.mark.mc_plugins("analytics", "fanclub", "notify")


def _counts(p, artist_id):
    with p.read() as s:
        by_type = dict(s.execute(select(DomainEvent.type, func.count()).where(DomainEvent.artist_id == artist_id,
                                                                              DomainEvent.type != "artist.created")
                                 .group_by(DomainEvent.type)).all())
        ents = s.scalar(select(func.count()).select_from(Entitlement).where(Entitlement.artist_id == artist_id))
        return by_type, ents


def test_generator_writes_events_rows_and_truths(mc_platform):
    artist = make_user(mc_platform, "artist", artist_name="Planted")
    t0 = time.perf_counter()
    truths = synthetic.generate(mc_platform, artist.artist_id, fans=300, weeks=12, seed=3)
    elapsed = time.perf_counter() - t0
    by_type, ents = _counts(mc_platform, artist.artist_id)
    # every kind of fact the models read is there, as the real plugins name them
    for type_ in ("play.started", "play.counted", "fan.followed", "entitlement.granted", "payment.succeeded",
                  "payment.failed", "fan.reacted", "content.published"):
        assert by_type.get(type_, 0) > 0, type_
    with mc_platform.read() as s:  # a registration belongs to no artist, as in accounts.create_user
        registered = s.scalar(select(func.count()).select_from(DomainEvent).where(
            DomainEvent.type == "user.registered", DomainEvent.artist_id.is_(None),
            DomainEvent.data["synthetic"].as_boolean().is_(True)))
    assert registered == truths["fans"]
    assert sum(by_type.values()) + registered == truths["events"]
    assert ents == by_type["entitlement.granted"]
    assert truths["ltv"]["supporter"]["ltv"] == pytest.approx(500 / 0.10)
    assert truths["ltv"]["superfan"]["ltv"] == pytest.approx(1000 / 0.07)
    assert truths["best_slot"] == {"weekday": 4, "hour": 20}
    assert truths["viral_track_id"] in truths["tracks"]
    with mc_platform.read() as s:
        assert s.scalar(select(func.count()).select_from(User).where(User.email.like("synthetic-%"))) == truths["fans"]
        links = dict(s.execute(select(ShareLink.content_id, func.count()).where(ShareLink.artist_id == artist.artist_id)
                               .group_by(ShareLink.content_id)).all())
        assert max(links, key=links.get) == uuid.UUID(truths["viral_track_id"])
        assert s.scalar(select(func.count()).select_from(ShareClick)) > 0
        # the fans' time zones are where the notify plugin keeps them
        zones = {z for (z,) in s.execute(select(func.distinct(_prefs().c.timezone)))}
    assert zones <= set(truths["time_zones"]) and len(zones) > 1
    # active members carry a planted label, and some of them churn within 30 days
    labels = truths["churn_labels"]
    assert labels and 0 < sum(labels.values()) < len(labels)
    assert elapsed < 30


def _prefs():
    import sqlalchemy as sa
    return sa.table("notify_preferences", sa.column("timezone"))


def test_generator_is_deterministic_for_a_seed(mc_platform):
    a = make_user(mc_platform, "artist", artist_name="One")
    b = make_user(mc_platform, "artist", artist_name="Two")
    t1 = synthetic.generate(mc_platform, a.artist_id, fans=80, weeks=6, seed=9)
    t2 = synthetic.generate(mc_platform, b.artist_id, fans=80, weeks=6, seed=9)
    assert t1["events"] == t2["events"] and t1["fans"] == t2["fans"]
    assert sorted(t1["churn_labels"].values()) == sorted(t2["churn_labels"].values())
    assert _counts(mc_platform, a.artist_id) == _counts(mc_platform, b.artist_id)
    t3 = synthetic.generate(mc_platform, make_user(mc_platform, "artist", artist_name="Three").artist_id,
                            fans=80, weeks=6, seed=10)
    assert t3["events"] != t1["events"]
