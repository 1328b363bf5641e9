"""Churn risk (models): AUC on planted churners, the ranked list with reasons, one alert per
crossing delivered to the artist through notify, hand-made cases, empty data."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from musicconnect.models import DomainEvent, Entitlement, Tier
from musicconnect.testing import make_user

from musicconnect_analytics import churn, synthetic

pytestmark = pytest.mark.mc_plugins("analytics", "notify")


def test_auc_of_a_hand_made_ranking():
    assert churn.auc([0.9, 0.8, 0.3, 0.1], [1, 1, 0, 0]) == 1.0
    assert churn.auc([0.1, 0.2, 0.8, 0.9], [1, 1, 0, 0]) == 0.0
    assert churn.auc([0.5, 0.5, 0.5, 0.5], [1, 0, 1, 0]) == 0.5
    assert churn.auc([0.9, 0.4, 0.6, 0.1], [1, 1, 0, 0]) == 0.75
    assert churn.auc([0.3, 0.2], [0, 0]) is None


def test_logistic_regression_recovers_known_weights():
    import numpy as np
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20000, 2))
    p = 1 / (1 + np.exp(-(1.5 * x[:, 0] - 1.0 * x[:, 1] - 0.5)))
    y = (rng.random(20000) < p).astype(float)
    w, b = churn._logistic(x, y, l2=0.0)
    assert w[0] == pytest.approx(1.5, abs=0.08) and w[1] == pytest.approx(-1.0, abs=0.08)
    assert b == pytest.approx(-0.5, abs=0.08)


def test_churn_risk_ranks_planted_churners_and_alerts_once(mc_client, mc_platform, mc_users):
    artist = mc_users.artist
    truths = synthetic.generate(mc_platform, artist.artist_id, fans=1500, weeks=26, plays_per_week=0.8,
                                tracks=3, seed=5)
    result = churn.fit_churn(mc_platform, artist.artist_id)
    assert result["model"] == "logistic" and result["validation_auc"] >= 0.75
    # every planted member scored; AUC against the planted truth (churns within 30 days)
    r = mc_client.get(f"/api/v1/analytics/artists/{artist.artist_id}/churn-risk", params={"limit": 500},
                      headers=artist.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    with mc_platform.read() as s:
        scores = {str(u): sc for u, sc in s.execute(select(churn.ChurnScore.user_id, churn.ChurnScore.score)
                                                     .where(churn.ChurnScore.artist_id == artist.artist_id))}
    labels = truths["churn_labels"]
    assert set(scores) == set(labels)
    value = churn.auc([scores[u] for u in labels], [labels[u] for u in labels])
    assert value >= 0.80, value
    ranked = body["members"]
    assert [m["score"] for m in ranked] == sorted((m["score"] for m in ranked), reverse=True)
    top = ranked[0]
    assert top["reasons"] and top["name"].startswith("Fan ")
    assert sum(labels[m["user_id"]] for m in ranked[:50]) >= 35  # the top of the list is mostly real churners
    # one alert event per valued member crossing the threshold, delivered to the artist's inbox
    with mc_platform.read() as s:
        alerts = list(s.scalars(select(DomainEvent).where(DomainEvent.type == "analytics.churn_risk",
                                                          DomainEvent.artist_id == artist.artist_id)))
    assert len(alerts) == result["alerts_raised"] > 0
    assert all(a.data["score"] >= churn.ALERT_THRESHOLD and a.data["reasons_text"] for a in alerts)
    mc_platform.jobs.wait_idle()
    inbox = mc_client.get("/api/v1/notify/inbox", headers=artist.headers)
    assert inbox.status_code == 200, inbox.text
    assert any("may cancel" in (n.get("title") or "") for n in inbox.json()["items"]), inbox.json()
    # fitted again with nothing changed: no second alert for the same crossing
    again = churn.fit_churn(mc_platform, artist.artist_id)
    assert again["alerts_raised"] == 0
    # the metric lists the same ranking, from the cache
    m = mc_client.get(f"/api/v1/artists/{artist.artist_id}/metrics", params={"metric": "analytics_churn_risk"},
                      headers=artist.headers).json()["metrics"][0]
    assert m["value"]["ranked"][0]["user_id"] == top["user_id"] and m["value"]["fitted_at"]


def _sub(p, artist_id, fan, tier, start, end=None):
    with p.session() as s:
        s.add(Entitlement(user_id=fan.id, artist_id=artist_id, tier_id=tier.id, source="billing",
                          source_ref=f"t-{uuid.uuid4()}", status="ended" if end else "active",
                          starts_at=start, expires_at=end))


def test_alert_rearms_only_after_the_score_falls(mc_platform):
    artist = make_user(mc_platform, "artist", artist_name="Small")
    with mc_platform.read() as s:
        tier = s.scalar(select(Tier).where(Tier.artist_id == artist.artist_id, Tier.key == "supporter"))
    now = mc_platform.clock.now()
    fan = make_user(mc_platform, "fan")
    _sub(mc_platform, artist.artist_id, fan, tier, now - timedelta(days=200))
    # no history to learn from: prior weights; a member with two failed payments and no engagement
    with mc_platform.session() as s:
        for d in (10, 20):
            s.add(DomainEvent(type="payment.failed", occurred_at=now - timedelta(days=d), actor_id=fan.id,
                              artist_id=artist.artist_id, data={}))
        for d in range(30, 56, 2):
            s.add(DomainEvent(type="play.started", occurred_at=now - timedelta(days=d), actor_id=fan.id,
                              artist_id=artist.artist_id, data={}))
    first = churn.fit_churn(mc_platform, artist.artist_id)
    assert first["model"] == "prior" and first["validation_auc"] is None
    out = churn.ranked(mc_platform, artist.artist_id)
    (member,) = out["ranked"]
    assert member["valued"] and member["score"] >= churn.ALERT_THRESHOLD, member
    assert any("failed payment" in r for r in member["reasons"]) and any("listening dropped" in r
                                                                          for r in member["reasons"])
    assert first["alerts_raised"] == 1 and churn.fit_churn(mc_platform, artist.artist_id)["alerts_raised"] == 0
    # the member comes back: listens and reacts again; the score falls, the alert re-arms
    with mc_platform.session() as s:
        for d in range(1, 27):
            s.add(DomainEvent(type="play.started", occurred_at=now - timedelta(days=d, hours=1), actor_id=fan.id,
                              artist_id=artist.artist_id, data={}))
        s.add(DomainEvent(type="fan.reacted", occurred_at=now - timedelta(days=1), actor_id=fan.id,
                          artist_id=artist.artist_id, data={}))
    mc_platform.clock.advance(days=50)  # the failed payments age out of the window
    with mc_platform.session() as s:
        for d in range(1, 50):
            s.add(DomainEvent(type="play.started", occurred_at=mc_platform.clock.now() - timedelta(days=d),
                              actor_id=fan.id, artist_id=artist.artist_id, data={}))
        s.add(DomainEvent(type="fan.commented", occurred_at=mc_platform.clock.now() - timedelta(days=2),
                          actor_id=fan.id, artist_id=artist.artist_id, data={}))
    churn.fit_churn(mc_platform, artist.artist_id)
    (member,) = churn.ranked(mc_platform, artist.artist_id)["ranked"]
    assert member["score"] < churn.REARM_BELOW and not member["alerted"]


def test_no_members_is_an_empty_ranking(mc_client, mc_users):
    artist = mc_users.artist
    r = mc_client.get(f"/api/v1/analytics/artists/{artist.artist_id}/churn-risk", headers=artist.headers)
    assert r.status_code == 200 and r.json()["members"] == [] and r.json()["fitted_at"] is None
    churn.fit_churn(mc_users.platform, artist.artist_id)
    r = mc_client.get(f"/api/v1/analytics/artists/{artist.artist_id}/churn-risk", headers=artist.headers)
    assert r.status_code == 200 and r.json()["members"] == [] and r.json()["fitted_at"]
    # a fan, or another artist, may not read it
    assert mc_client.get(f"/api/v1/analytics/artists/{artist.artist_id}/churn-risk",
                         headers=mc_users.fan.headers).status_code == 403
