"""LTV per tier (models): recovered from planted churn hazards, hand-made survival cases, empty data."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from musicconnect.models import Entitlement, Tier
from musicconnect.testing import make_user
from sqlalchemy import select

from musicconnect_analytics import ltv, synthetic

pytestmark = pytest.mark.mc_plugins("analytics")


def _metric(client, artist, metric):
    r = client.get(f"/api/v1/artists/{artist.artist_id}/metrics", params={"metric": metric}, headers=artist.headers)
    assert r.status_code == 200, r.text
    (m,) = r.json()["metrics"]
    assert m.get("error") is None, m["error"]
    return m["value"]


def test_ltv_recovers_the_planted_value_per_tier_through_the_scheduled_job(mc_client, mc_platform, mc_users):
    artist = mc_users.artist
    truths = synthetic.generate(mc_platform, artist.artist_id, fans=4000, weeks=104, plays_per_week=0.02, subscribe_share=0.8,
                                tracks=2, seed=21)
    before = _metric(mc_client, artist, "analytics_ltv")
    assert before["fitted_at"] is None and before["tiers"] == []  # never fitted at request time
    mc_platform.jobs.run_schedules()
    mc_platform.jobs.wait_idle()
    value = _metric(mc_client, artist, "analytics_ltv")
    assert value["fitted_at"] == mc_platform.clock.now().isoformat()
    fitted = {t["key"]: t for t in value["tiers"]}
    for key, planted in truths["ltv"].items():
        got = fitted[key]
        assert got["status"] == "fitted"
        assert got["ltv"] == pytest.approx(planted["ltv"], rel=0.10), (key, got["ltv"], planted["ltv"])
        lo, hi = got["ltv_ci"]
        assert lo < got["ltv"] < hi and lo <= planted["ltv"] <= hi, (got["ltv"], got["ltv_ci"], got["weibull"], got["cancellations"])
        # constant hazard: the Weibull shape is close to 1 (exponential)
        assert got["weibull"]["rho"] == pytest.approx(1.0, abs=0.1)
        assert got["survival"][0]["survival"] == 1.0 and got["survival"][-1]["survival"] < 0.5


def _tier(p, artist_id, key):
    with p.read() as s:
        return s.scalar(select(Tier).where(Tier.artist_id == artist_id, Tier.key == key))


def test_kaplan_meier_on_a_hand_made_case(mc_platform):
    artist = make_user(mc_platform, "artist", artist_name="Hand")
    tier = _tier(mc_platform, artist.artist_id, "supporter")
    now = mc_platform.clock.now()
    fans = [make_user(mc_platform, "fan") for _ in range(5)]
    # lifetimes 1, 2, 3 months (cancelled), one active for 4 months (censored), and a comp (not a subscription)
    with mc_platform.session() as s:
        for i, (fan, months, ended) in enumerate(zip(fans, (1, 2, 3, 4, 6), (True, True, True, False, True))):
            start = now - timedelta(days=30 * 8)
            s.add(Entitlement(user_id=fan.id, artist_id=artist.artist_id, tier_id=tier.id,
                              source="comp" if i == 4 else "billing", source_ref=f"hand-{uuid.uuid4()}",
                              status="ended" if ended else "active",
                              starts_at=start if ended else now - timedelta(days=30 * months),
                              expires_at=start + timedelta(days=30 * months) if ended else None))
    result = ltv.fit_ltv(mc_platform, artist.artist_id)
    sup = next(t for t in result["tiers"] if t["key"] == "supporter")
    assert sup["subscriptions"] == 4 and sup["cancellations"] == 3
    curve = {p["month"]: p["survival"] for p in sup["survival"]}
    assert curve[0] == 1.0 and curve[1] == 0.75 and curve[2] == 0.5 and curve[3] == 0.25
    assert sup["median_lifetime_months"] == 2.0
    assert sup["ltv"] is None and "too few" in sup["status"]  # 3 cancellations: no extrapolation
    superfan = next(t for t in result["tiers"] if t["key"] == "superfan")
    assert superfan["status"] == "no subscriptions" and superfan["survival"] == []


def test_no_data_is_an_empty_answer(mc_client, mc_platform, mc_users):
    artist = mc_users.artist
    ltv.fit_ltv(mc_platform, artist.artist_id)
    value = _metric(mc_client, artist, "analytics_ltv")
    assert value["fitted_at"] is not None
    assert [t["status"] for t in value["tiers"]] == ["no subscriptions", "no subscriptions"]
    # another artist cannot read it
    other = mc_users.make("artist", artist_name="Other")
    r = mc_client.get(f"/api/v1/artists/{artist.artist_id}/metrics", params={"metric": "analytics_ltv"},
                      headers=other.headers)
    assert r.status_code == 403
