"""Audience metrics on hand-made histories with exact figures: active audience and listener
segments over 28 days, followers and members over time, cohort retention, top fans by name."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from musicconnect.testing import make_user

END = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)  # 28 days: May 5 .. June 1


def emit(p, type_, artist_id, actor=None, subject=None, at=END, data=None):
    with p.session() as s:
        p.emit(s, type_, actor_id=actor, artist_id=artist_id, subject=subject, at=at, data=data or {})


def play(p, a, fan, at, track=None):
    emit(p, "play.counted", a, fan, ("content", track or uuid.uuid4()), at)


def metric(client, user, mid, end=END, days=30):
    r = client.get(f"/api/v1/analytics/artists/{user.artist_id}/metrics/{mid}",
                   params={"days": days, "end": end.isoformat()}, headers=user.headers)
    assert r.status_code == 200, r.text
    assert r.json().get("error") is None, r.json()
    return r.json()["value"]


def test_active_audience_and_segments(mc_client, mc_platform, mc_users):
    p, artist = mc_platform, mc_users.artist
    a = artist.artist_id
    f_super, f_mod, f_light, f_old = (uuid.uuid4() for _ in range(4))
    for k in range(12):
        play(p, a, f_super, END - timedelta(days=2 * k))           # 12 distinct days (the 23rd day back too)
    for k in range(5):
        play(p, a, f_mod, END - timedelta(days=k, hours=1))         # 5 days
    for _ in range(3):
        play(p, a, f_light, END - timedelta(days=27, hours=1))      # 3 plays on one day: May 5
    play(p, a, f_light, END - timedelta(days=1))                    # a second day
    play(p, a, f_old, END - timedelta(days=28))                     # May 4: outside the 28 days
    play(p, a, None, END)                                           # anonymous
    assert metric(mc_client, artist, "analytics_active_audience") == 3
    assert metric(mc_client, artist, "analytics_listener_segments") == {"super": 1, "moderate": 1, "light": 1}
    # a day later f_light's May 5 leaves the 28 days, f_old is long gone
    later = END + timedelta(days=1)
    assert metric(mc_client, artist, "analytics_active_audience", end=later) == 3
    assert metric(mc_client, artist, "analytics_listener_segments", end=later) == {"super": 1, "moderate": 1,
                                                                                   "light": 1}
    assert metric(mc_client, artist, "analytics_active_audience", end=END + timedelta(days=30)) == 0


def test_followers_and_members_over_time(mc_client, mc_platform, mc_users):
    p, artist = mc_platform, mc_users.artist
    a = artist.artist_id
    fans = [uuid.uuid4() for _ in range(4)]
    day = END - timedelta(days=3)  # May 29
    emit(p, "fan.followed", a, fans[0], ("artist", a), END - timedelta(days=40))  # before the period
    emit(p, "fan.followed", a, fans[1], ("artist", a), day)
    emit(p, "fan.followed", a, fans[2], ("artist", a), day)
    emit(p, "fan.unfollowed", a, fans[1], ("artist", a), day + timedelta(days=1))
    rows = metric(mc_client, artist, "analytics_followers", days=4)
    assert rows == [
        {"day": "2026-05-28", "followers": 1, "follows": 0, "unfollows": 0},
        {"day": "2026-05-29", "followers": 3, "follows": 2, "unfollows": 0},
        {"day": "2026-05-30", "followers": 2, "follows": 0, "unfollows": 1},
        {"day": "2026-05-31", "followers": 2, "follows": 0, "unfollows": 0},
        {"day": "2026-06-01", "followers": 2, "follows": 0, "unfollows": 0},
    ]
    # members through the core's comps (the frozen clock: June 1)
    tier = sorted(p.access.tiers(a), key=lambda t: t.rank)[-1]
    fan = mc_users.fan
    r = mc_client.post(f"/api/v1/artists/{a}/comps", headers=artist.headers,
                       json={"email": fan.email, "tier_id": str(tier.id)})
    assert r.status_code in (200, 201), r.text
    other = make_user(p)
    r = mc_client.post(f"/api/v1/artists/{a}/comps", headers=artist.headers,
                       json={"email": other.email, "tier_id": str(tier.id)})
    assert r.status_code in (200, 201), r.text
    rows = metric(mc_client, artist, "analytics_members", days=2)
    assert rows[-1] == {"day": "2026-06-01", "members": 2, "joined": 2, "left": 0}
    assert rows[0]["members"] == 0


def test_cohort_retention_by_first_support_month(mc_client, mc_platform, mc_users):
    p, artist = mc_platform, mc_users.artist
    a = artist.artist_id
    x, y, z = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()

    def pay(fan, month, day=3):
        emit(p, "payment.succeeded", a, fan, ("payment", uuid.uuid4().hex),
             datetime(2026, month, day, 9, tzinfo=timezone.utc), {"amount": 500, "platform_fee": 0, "artist_net": 500})

    pay(x, 1), pay(x, 2), pay(x, 4), pay(y, 1), pay(z, 2), pay(z, 3), pay(z, 3, day=20)
    end = datetime(2026, 5, 1, tzinfo=timezone.utc)  # Jan 1 .. Apr 30
    value = metric(mc_client, artist, "analytics_cohort_retention", end=end, days=120)
    assert value == {"months_since_first_support": [0, 1, 2, 3], "cohorts": [
        {"cohort": "2026-01", "fans": 2, "retained": [2, 1, 0, 1], "retention": [1.0, 0.5, 0.0, 0.5]},
        {"cohort": "2026-02", "fans": 1, "retained": [1, 1, 0], "retention": [1.0, 1.0, 0.0]},
    ]}


def test_top_fans_show_names_only_of_fans_who_opted_in(mc_client, mc_platform, mc_users):
    p, artist = mc_platform, mc_users.artist
    a = artist.artist_id
    shy, proud = mc_users.fan, make_user(p)
    for _ in range(3):
        play(p, a, shy.id, END - timedelta(hours=1))
    play(p, a, proud.id, END - timedelta(hours=2))
    emit(p, "payment.succeeded", a, proud.id, ("payment", "in_1"), END - timedelta(days=1), {"amount": 900})
    emit(p, "payment.succeeded", a, shy.id, ("payment", "in_2"), END - timedelta(days=1), {"amount": 400})
    assert mc_client.get("/api/v1/analytics/me/visibility", headers=proud.headers).json() == {"show_name": False}
    r = mc_client.put("/api/v1/analytics/me/visibility", headers=proud.headers, json={"show_name": True})
    assert r.status_code == 200 and r.json() == {"show_name": True}
    assert mc_client.get("/api/v1/analytics/me/visibility", headers=proud.headers).json() == {"show_name": True}
    proud_name = proud.email.split("@")[0]
    assert metric(mc_client, artist, "analytics_top_fans_listening") == [
        {"rank": 1, "name": "A fan", "user_id": None, "value": 3},
        {"rank": 2, "name": proud_name, "user_id": str(proud.id), "value": 1}]
    assert metric(mc_client, artist, "analytics_top_fans_support") == [
        {"rank": 1, "name": proud_name, "user_id": str(proud.id), "value": 900},
        {"rank": 2, "name": "A fan", "user_id": None, "value": 400}]
    mc_client.put("/api/v1/analytics/me/visibility", headers=proud.headers, json={"show_name": False})
    assert [f["name"] for f in metric(mc_client, artist, "analytics_top_fans_support")] == ["A fan", "A fan"]
