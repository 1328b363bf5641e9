"""The rollups fed by the bundled plugins' real events: a fan club follow, a sandbox
subscription (checkout, upgrade, cancel, end) through the billing plugin; and a rebuild gives
the same figures."""
from __future__ import annotations

import pytest

from musicconnect.testing import make_user
from musicconnect_analytics import rollups


@pytest.fixture
def env(mc_make_platform):
    from starlette.testclient import TestClient

    from musicconnect.app import create_app

    p = mc_make_platform(plugin_config={"billing": {"sandbox": True}})
    artist = make_user(p, "artist", artist_name="Nova")
    fan = make_user(p)
    tiers = {t.key: t for t in p.access.tiers(artist.artist_id)}
    with TestClient(create_app(p, state_poll_interval=0.2)) as client:
        yield client, p, artist, fan, tiers


def value(client, artist, mid, **params):
    r = client.get(f"/api/v1/analytics/artists/{artist.artist_id}/metrics/{mid}", params=params,
                   headers=artist.headers)
    assert r.status_code == 200 and r.json().get("error") is None, r.text
    return r.json()["value"]


def test_real_follows_and_a_sandbox_subscription(env):
    client, p, artist, fan, tiers = env
    a = artist.artist_id
    assert client.post(f"/api/v1/fanclub/artists/{a}/follow", headers=fan.headers).status_code == 204
    r = client.post("/api/v1/billing/checkout", json={"tier_id": str(tiers["supporter"].id), "interval": "month"},
                    headers=fan.headers)
    assert r.status_code == 201, r.text
    r = client.post(r.json()["url"] + "/pay", headers={"Accept": "application/json"})
    assert r.status_code == 200, r.text
    sub_id = r.json()["subscription_id"]
    p.jobs.wait_idle(timeout=60)
    assert value(client, artist, "analytics_followers", days=1)[-1]["followers"] == 1
    assert value(client, artist, "analytics_mrr") == 500
    assert value(client, artist, "analytics_revenue_summary") == {"gross": 500, "refunds": 0, "platform_fee": 50,
                                                                  "provider_fee": 0, "net": 450}
    assert value(client, artist, "analytics_members", days=1)[-1]["members"] == 1
    r = client.post(f"/api/v1/billing/subscriptions/{sub_id}/change", json={"tier_id": str(tiers["superfan"].id)},
                    headers=fan.headers)
    assert r.status_code == 200, r.text
    p.jobs.wait_idle(timeout=60)
    superfan_mrr = value(client, artist, "analytics_mrr")
    assert superfan_mrr > 500
    [today] = value(client, artist, "analytics_mrr_movements", days=1)[-1:]
    assert (today["new"], today["expansion"]) == (500, superfan_mrr - 500)
    assert client.post(f"/api/v1/billing/subscriptions/{sub_id}/cancel", headers=fan.headers).status_code == 200
    p.jobs.wait_idle(timeout=60)
    assert value(client, artist, "analytics_mrr") == superfan_mrr  # counts until the period ends
    p.clock.advance(days=32)
    p.jobs.run_schedules()
    p.jobs.wait_idle(timeout=60)
    artist.renew(p)
    assert value(client, artist, "analytics_mrr") == 0
    moves = value(client, artist, "analytics_mrr_movements", days=40)
    assert sum(d["churn"] for d in moves) == superfan_mrr
    assert sum(d["net"] for d in moves) == 0
    assert value(client, artist, "analytics_members", days=1)[-1]["members"] == 0
    before = {m: value(client, artist, m, days=40) for m in ("analytics_mrr_movements", "analytics_revenue_summary",
                                                             "analytics_members", "analytics_followers")}
    rollups.rebuild(p)
    assert {m: value(client, artist, m, days=40) for m in before} == before
