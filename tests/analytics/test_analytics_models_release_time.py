"""Best release time (models): the planted slot found, followers' own time zones (notify
preferences), validation on held-out weeks, empty data."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from musicconnect.models import DomainEvent

from musicconnect_analytics import release_time, synthetic

pytestmark = pytest.mark.mc_plugins("analytics", "fanclub", "notify")


def test_planted_best_slot_is_in_the_top_three(mc_client, mc_platform, mc_users):
    artist = mc_users.artist
    truths = synthetic.generate(mc_platform, artist.artist_id, fans=600, weeks=13, plays_per_week=2.0, tracks=3,
                                seed=4, subscribe_share=0.1)
    release_time.fit_release_time(mc_platform, artist.artist_id)
    m = mc_client.get(f"/api/v1/artists/{artist.artist_id}/metrics", params={"metric": "analytics_best_release_time"},
                      headers=artist.headers).json()["metrics"][0]["value"]
    planted = (truths["best_slot"]["weekday"], truths["best_slot"]["hour"])
    top3 = [(s["weekday"], s["hour"]) for s in m["best_slots"][:3]]
    assert planted in top3, m["best_slots"][:5]
    assert m["best_slots"][0]["expected_reach_24h"] > 0 and m["fitted_at"]
    # the heatmap peaks at the planted hour, in the followers' own zones
    heat = m["heatmap"]
    assert max(range(168), key=lambda s: heat[s // 24][s % 24]) == planted[0] * 24 + planted[1]
    v = m["validation"]
    assert v["held_out_weeks"] == release_time.HOLDOUT_WEEKS and v["best_in_top3"] is True
    assert v["rank_correlation"] > 0.5 and 0 <= v["reach_mape"] < 0.5


def _follow_and_zone(client, artist, fan, zone):
    assert client.post(f"/api/v1/fanclub/artists/{artist.artist_id}/follow", headers=fan.headers).status_code == 204
    r = client.put("/api/v1/notify/preferences", headers=fan.headers,
                   json={"channels": {}, "muted_artists": [], "email_opt_out": False, "digest": "daily",
                         "timezone": zone})
    assert r.status_code == 200, r.text


def test_slots_are_in_each_followers_time_zone(mc_client, mc_platform, mc_users):
    artist = mc_users.artist
    fans = [(mc_users.make("fan"), "Asia/Tokyo"), (mc_users.make("fan"), "America/Los_Angeles")]
    for fan, zone in fans:
        _follow_and_zone(mc_client, artist, fan, zone)
    stranger = mc_users.make("fan")  # plays, but does not follow: not counted
    now = mc_platform.clock.now()
    with mc_platform.session() as s:
        for week in range(1, 11):
            for fan, zone in fans + [(stranger, "UTC")]:
                local = (now.astimezone(ZoneInfo(zone)) - timedelta(weeks=week)).replace(hour=9, minute=15)
                local -= timedelta(days=local.weekday() - 1)  # Tuesday 09:15 local
                s.add(DomainEvent(id=uuid.uuid4(), type="play.started", occurred_at=local.astimezone(timezone.utc),
                                  actor_id=fan.id, artist_id=artist.artist_id, data={}))
    result = release_time.fit_release_time(mc_platform, artist.artist_id)
    best = result["best_slots"][0]
    assert (best["weekday_name"], best["hour"]) == ("Tuesday", 9)
    assert result["followers"] == 2 and result["active_followers"] == 2
    assert best["active_followers"] == pytest.approx(2 * 10 / release_time.HISTORY_WEEKS, abs=0.01)
    assert best["expected_reach_24h"] == pytest.approx(best["active_followers"], abs=0.05)  # one decimal


def test_no_followers_is_an_empty_answer(mc_client, mc_platform, mc_users):
    artist = mc_users.artist
    m = mc_client.get(f"/api/v1/artists/{artist.artist_id}/metrics", params={"metric": "analytics_best_release_time"},
                      headers=artist.headers).json()["metrics"][0]
    assert m.get("error") is None and m["value"]["best_slots"] == [] and m["value"]["fitted_at"] is None
    result = release_time.fit_release_time(mc_platform, artist.artist_id)
    assert result["best_slots"] == [] and result["heatmap"] == [] and result["validation"] is None
    assert datetime.fromisoformat(result["fitted_at"]) == mc_platform.clock.now()
