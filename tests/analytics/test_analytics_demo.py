"""The demo: the demo artist's analytics dashboard is populated (synthetic fans and months of
history, rollups rebuilt, LTV fitted, last week's summary in the inbox), and a second seed adds
nothing."""
from __future__ import annotations

from sqlalchemy import func, select

from musicconnect.models import DomainEvent, User
from musicconnect.seed import DEMO_PASSWORD, seed_demo


def _login(client, email):
    r = client.post("/api/v1/auth/login", json={"email": email, "password": DEMO_PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


MINE = ("play.counted", "fan.followed", "entitlement.granted", "payment.succeeded", "payment.subscription.created",
        "payment.subscription.ended", "analytics.weekly_summary")


def _counts(p, artist_id):
    """What the seed writes (other plugins' jobs may still add events of their own meanwhile)."""
    with p.read() as s:
        return (s.scalar(select(func.count()).select_from(DomainEvent).where(DomainEvent.artist_id == artist_id,
                                                                             DomainEvent.type.in_(MINE))),
                s.scalar(select(func.count()).select_from(User)))


def test_the_demo_artist_has_a_populated_dashboard(mc_client, mc_platform):
    demo = seed_demo(mc_platform)
    mc_platform.jobs.wait_idle()  # the models' fits run as jobs
    artist_id = demo.artist_profile.id
    events, users = _counts(mc_platform, artist_id)
    assert users > 300 and events > 10_000
    # the listening is on the demo's own tracks (they have audio): nothing unplayable is added
    from musicconnect.models import ContentItem

    with mc_platform.read() as s:
        titles = set(s.scalars(select(ContentItem.title).where(ContentItem.artist_id == artist_id)))
    assert titles and not any(t.startswith("Synthetic") for t in titles), titles

    h = _login(mc_client, "artist@demo.com")
    r = mc_client.get(f"/api/v1/analytics/artists/{artist_id}/metrics", headers=h, params={"days": 90})
    assert r.status_code == 200, r.text
    got = {m["id"]: m for m in r.json()["metrics"]}
    for mid in ("analytics_mrr", "analytics_active_audience", "analytics_followers"):
        assert got[mid].get("error") is None, got[mid]
    assert got["analytics_mrr"]["value"] > 0
    assert got["analytics_active_audience"]["value"] > 100
    segments = got["analytics_listener_segments"]["value"]
    assert sum(v for v in segments.values() if isinstance(v, int)) > 100
    assert any(row.get("mrr") for row in got["analytics_mrr_movements"]["value"])
    assert got["analytics_cohort_retention"]["value"]["cohorts"]
    ltv = got["analytics_ltv"]["value"]
    assert ltv["fitted_at"] is not None and any(t["ltv"] for t in ltv["tiers"])

    # the dashboard's charts have something to draw
    for chart in ("revenue-movements", "retention", "survival"):
        r = mc_client.get(f"/api/v1/analytics/artists/{artist_id}/charts/{chart}", headers=h)
        assert r.status_code == 200 and r.content[:8] == b"\x89PNG\r\n\x1a\n"

    # last week's summary reached the artist's inbox (notify delivers through jobs)
    mc_platform.jobs.wait_idle()
    inbox = mc_client.get("/api/v1/notify/inbox", headers=h).json()["items"]
    weekly = [i for i in inbox if i["kind"] == "analytics.weekly_summary"]
    assert len(weekly) == 1 and " plays" in weekly[0]["title"]

    # idempotent: a second seed adds no events, fans or summaries
    seed_demo(mc_platform)
    assert _counts(mc_platform, artist_id) == (events, users)
    again = mc_client.get(f"/api/v1/analytics/artists/{artist_id}/metrics", headers=h,
                          params={"days": 90, "metric": "analytics_mrr"})
    assert again.json()["metrics"][0]["value"] == got["analytics_mrr"]["value"]
