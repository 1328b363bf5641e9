"""Analytics' part of a person's data export and erasure: a fan's per-fan rows (visibility,
per-fan counters, play state, subscriptions, churn scores, share links and clicks) are exported
and then deleted; the artist's daily totals stay; an artist who leaves takes their aggregates."""
from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
from sqlalchemy import String, cast, func, or_, select

from musicconnect.models import ContentItem, User
from musicconnect.testing import make_user
from musicconnect_analytics import plugin, rollups
from musicconnect_analytics.fans import Visibility
from musicconnect_analytics.model_store import ChurnScore, ModelFit, ShareClick, ShareLink
from musicconnect_analytics.rollups import FanState, Rollup, SubscriptionState

DAY = date(2026, 6, 1)


@pytest.fixture
def env(mc_make_platform):
    from starlette.testclient import TestClient

    from musicconnect.app import create_app

    p = mc_make_platform()
    with TestClient(create_app(p)) as client:
        yield client, p


def _seed(p, artist, fan, other_fan) -> uuid.UUID:
    """Per-fan rows for both fans of ``artist``, and the artist's totals."""
    now = p.clock.now()
    with p.session() as s:
        item = ContentItem(id=uuid.uuid4(), artist_id=artist.artist_id, kind="post", title="Diary", status="ready")
        s.add(item)
        s.flush()
        a = artist.artist_id
        rollups.upsert(s, {(a, DAY, "plays", ""): 7, (a, DAY, "fan_plays", str(fan.id)): 4,
                           (a, DAY, "fan_plays", str(other_fan.id)): 3,
                           (a, DAY, "fan_paid_month", str(fan.id)): 500,
                           (a, DAY, "cohort", DAY.isoformat()): 1})
        rollups.upsert_fans(s, {(a, fan.id): (rollups.day_number(DAY), 0b101),
                                (a, other_fan.id): (rollups.day_number(DAY), 1)})
        for who in (fan, other_fan):
            s.add(SubscriptionState(key=f"stripe:sub_{a.hex[:6]}{who.id.hex[:8]}", artist_id=a, user_id=who.id, tier="supporter",
                                    mrr=500, ever_active=True, updated_at=now))
            s.add(ChurnScore(artist_id=a, user_id=who.id, score=0.7, reasons=["fewer plays"], tier_key="supporter",
                             scored_at=now))
            link = ShareLink(id=uuid.uuid4(), code=uuid.uuid4().hex[:12], artist_id=a, content_id=item.id,
                             user_id=who.id, created_at=now)
            s.add(link)
            s.flush()
            # each fan opens the other's link
            opener = other_fan if who is fan else fan
            s.add(ShareClick(id=uuid.uuid4(), link_id=link.id, artist_id=a, content_id=item.id,
                             visitor=f"u:{opener.id}", user_id=opener.id, clicked_at=now))
        s.add(ModelFit(artist_id=a, model="churn", fitted_at=now, result={"top": [str(fan.id)]}))
        s.add(ModelFit(artist_id=a, model="ltv", fitted_at=now, result={"mean": 12.5}))
        return item.id


def _count(s, model, *conds):
    return s.scalar(select(func.count()).select_from(model).where(*conds))


def test_fan_export_and_erasure(env):
    client, p = env
    artist = make_user(p, "artist", artist_name="Nova")
    fan, other = make_user(p), make_user(p)
    r = client.put("/api/v1/analytics/me/visibility", headers=fan.headers, json={"show_name": True})
    assert r.status_code == 200, r.text
    _seed(p, artist, fan, other)

    with p.session() as s:
        part = plugin.export_user_data(p, s, s.get(User, fan.id))
    assert part.records["visibility"][0]["show_name"] is True
    assert {(x["metric"], x["value"], x["artist"]) for x in part.records["activity"]} == {
        ("fan_plays", 4, "Nova"), ("fan_paid_month", 500, "Nova")}
    assert part.records["listening"] == [{"artist": "Nova", "artist_id": str(artist.artist_id),
                                          "last_play_day": DAY.isoformat(), "days_played_recently": 2}]
    assert part.records["churn_scores"][0]["reasons"] == ["fewer plays"]
    assert [x["content"] for x in part.records["share_links"]] == ["Diary"]
    assert len(part.records["share_clicks"]) == 1 and len(part.records["subscriptions"]) == 1
    assert "aggregates" in part.notes.lower()

    with p.session() as s:
        report = plugin.erase_user_data(p, s, s.get(User, fan.id))
    assert report.erased["fan_counters"] == 2 and report.erased["share_links"] == 1
    assert report.erased["share_clicks"] == 1 and report.erased["share_clicks_anonymised"] == 1
    assert report.retained and "name nobody" in report.retained[0].why
    fid = str(fan.id)
    with p.session() as s:
        assert _count(s, Visibility, Visibility.user_id == fan.id) == 0
        assert _count(s, Rollup, Rollup.dimension == fid) == 0
        for model in (FanState, SubscriptionState, ChurnScore, ShareLink, ShareClick):
            assert _count(s, model, model.user_id == fan.id) == 0, model
        assert _count(s, ShareClick, ShareClick.visitor.contains(fid)) == 0
        assert _count(s, SubscriptionState, SubscriptionState.key.contains(fid[:8])) == 0
        assert _count(s, ModelFit, cast(ModelFit.result, String).contains(fid)) == 0
        # the artist's totals and the other fan's rows stay
        assert s.scalar(select(Rollup.value).where(Rollup.metric == "plays", Rollup.dimension == "")) == 7
        assert _count(s, Rollup, Rollup.metric == "cohort") == 1
        assert _count(s, Rollup, Rollup.dimension == str(other.id)) == 1
        for model in (FanState, SubscriptionState, ChurnScore, ShareLink):
            assert _count(s, model, model.user_id == other.id) == 1, model
        assert _count(s, ModelFit, ModelFit.model == "ltv") == 1
    with p.session() as s:
        assert plugin.export_user_data(p, s, s.get(User, fan.id)) is None


def test_an_artist_who_leaves_takes_their_aggregates(env):
    client, p = env
    leaving, staying = make_user(p, "artist", artist_name="Gone"), make_user(p, "artist", artist_name="Stays")
    fan, other = make_user(p), make_user(p)
    _seed(p, leaving, fan, other)
    _seed(p, staying, fan, other)
    with p.session() as s:
        report = plugin.erase_user_data(p, s, s.get(User, leaving.id))
    assert report.erased["rollups"] == 5 and not report.retained
    with p.session() as s:
        for model in (Rollup, FanState, SubscriptionState, ChurnScore, ShareLink, ShareClick, ModelFit):
            assert _count(s, model, model.artist_id == leaving.artist_id) == 0, model
            assert _count(s, model, model.artist_id == staying.artist_id) > 0, model
        assert _count(s, Rollup, or_(Rollup.dimension == str(fan.id), Rollup.dimension == str(other.id))) == 3
    # the erased fan's buffered increments are dropped, the other fan's kept
    buf = rollups._buffer(p)
    buf.add([(staying.artist_id, DAY + timedelta(days=1), "fan_plays", str(fan.id), 1),
             (staying.artist_id, DAY + timedelta(days=1), "fan_plays", str(other.id), 1)], None)
    with p.session() as s:
        plugin.erase_user_data(p, s, s.get(User, fan.id))
    rollups.flush(p)
    with p.session() as s:
        assert _count(s, Rollup, Rollup.dimension == str(fan.id)) == 0
        assert _count(s, Rollup, Rollup.dimension == str(other.id), Rollup.artist_id == staying.artist_id) == 2
