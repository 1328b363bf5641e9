"""Issue 12, "the demo hides its own features": the demo seeded through the code path of
``python3 scripts/demo.py`` (``serve --demo`` and ``musicconnect demo seed`` both call
``musicconnect.seed.seed_demo``), then looked at through the HTTP API as a newcomer would."""
from __future__ import annotations

import time
from datetime import datetime

import pytest
from sqlalchemy import func, select

from musicconnect.models import DomainEvent, Entitlement, User
from musicconnect.seed import DEMO_PASSWORD, seed_demo


def _login(client, email: str) -> dict:
    r = client.post("/api/v1/auth/login", json={"email": email, "password": DEMO_PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _counts(p) -> dict:
    from musicconnect_billing.models import Revenue, Subscription
    from musicconnect_fanclub.models import BackstagePost, Comment, Follow, Message, Reaction
    from musicconnect_streaming.models import Play

    with p.session() as s:
        return {m.__name__: s.scalar(select(func.count()).select_from(m))
                for m in (User, Entitlement, DomainEvent, Play, Subscription, Revenue, BackstagePost, Comment,
                          Follow, Message, Reaction)}


@pytest.fixture
def demo(mc_platform, mc_client):
    p = mc_platform
    t0 = time.perf_counter()
    ctx = seed_demo(p)
    p.jobs.wait_idle(timeout=120)
    took = time.perf_counter() - t0
    print(f"demo seed (transcoding included): {took:.2f} s")
    # a generous guard against a pathological slowdown: the seed now includes 26 weeks of synthetic
    # listening for the analytics dashboard and waits here for every model's first fit (the CLI's
    # demo starts serving without waiting for them); 49 s were seen on PostgreSQL beside a CI run
    assert took < 90
    return p, mc_client, ctx


def _seed_twice_changes_nothing(demo):
    p, client, ctx = demo
    # the periodic jobs' first run now: the schedule loop's first tick (30 s after start, about when
    # the seed ends) would otherwise race the counts with its anniversaries and top fans
    p.jobs.run_schedules()
    p.jobs.wait_idle(timeout=120)
    before = _counts(p)
    assert before["Play"] > 100 and before["Subscription"] >= 5 and before["Comment"] > 0
    again = seed_demo(p)
    p.jobs.wait_idle(timeout=60)
    assert not again.created
    assert _counts(p) == before


def _early_access_release_is_in_its_window(demo):
    p, client, ctx = demo
    superfan, fan = _login(client, "superfan@demo.com"), _login(client, "fan@demo.com")
    feed = client.get("/api/v1/fanclub/feed", headers=superfan).json()
    early = next(i for i in feed if i["title"] == "Next Single (early access)")
    assert early["locked"] is False
    assert datetime.fromisoformat(early["publish_at"]) > p.clock.now()  # not released: early access
    master = client.get(f"/api/v1/streaming/tracks/{early['id']}/master.m3u8", headers=superfan)
    assert master.status_code == 200, master.text
    assert master.text.startswith("#EXTM3U")
    # the free demo fan sees a locked teaser: what it is, which tier hears it now, nothing more
    teaser = next(i for i in client.get("/api/v1/fanclub/feed", headers=fan).json() if i["id"] == early["id"])
    assert teaser["locked"] is True and teaser["early_access"] is True and teaser["kind"] == "track"
    assert teaser["required_tier_id"] == str(ctx.tiers["superfan"].id)
    assert "data" not in teaser and "body" not in teaser and "media" not in teaser
    assert client.get(f"/api/v1/streaming/tracks/{early['id']}/master.m3u8", headers=fan).status_code in (403, 404)


def _demo_fan_starts_with_an_untouched_dm_quota(demo):
    p, client, ctx = demo
    fan = _login(client, "fan@demo.com")
    me = client.get(f"/api/v1/fanclub/artists/{ctx.artist_profile.id}/me", headers=fan).json()
    assert me["tier"]["key"] == "free"
    assert me["direct_messages"]["used"] == 0
    # their thread with the artist is there (from their superfan months), with names
    thread = client.get(f"/api/v1/fanclub/artists/{ctx.artist_profile.id}/messages", headers=fan).json()
    assert len(thread) >= 2
    assert {m["sender_name"] for m in thread} == {"Demo Fan", "Nova Lane"}
    superfan = _login(client, "superfan@demo.com")
    dms = client.get(f"/api/v1/fanclub/artists/{ctx.artist_profile.id}/me", headers=superfan).json()["direct_messages"]
    assert dms["used"] == 0 and dms["limit"] == 5


def _demo_fans_wrapped_is_not_empty(demo):
    p, client, ctx = demo
    fan = _login(client, "fan@demo.com")
    month = p.clock.now().strftime("%Y-%m")  # the test clock stands at noon on the 1st: the hard case
    w = client.get(f"/api/v1/fanclub/me/wrapped/{month}", headers=fan).json()
    assert w["minutes"] > 0
    assert w["top_tracks"] and w["top_tracks"][0]["title"]
    assert w["top_artists"][0]["name"] == "Nova Lane"
    assert w["milestones"]


def _people_not_ids(demo):
    p, client, ctx = demo
    aid = ctx.artist_profile.id
    superfan, artist = _login(client, "superfan@demo.com"), _login(client, "artist@demo.com")
    backstage = client.get(f"/api/v1/fanclub/artists/{aid}/backstage", headers=superfan).json()
    replies = [r for post in backstage for r in post["replies"]]
    assert replies and all(r["author"]["name"] for r in replies)
    assert "A fan" in {r["author"]["name"] for r in replies}  # Kenji chose to be anonymous
    assert not any("@" in (r["author"]["name"] or "") for r in replies)
    assert all(post["author"]["name"] == "Nova Lane" for post in backstage)
    metrics = client.get(f"/api/v1/artists/{aid}/metrics", headers=artist).json()["metrics"]
    top = next(m for m in metrics if m["id"] == "top_fans")["value"]
    assert top and all(f["name"] for f in top)
    hidden = [f for f in top if f["anonymous"]]
    assert hidden and all(f["name"] == "A fan" and f["user_id"] is None for f in hidden)


def _every_dashboard_metric_shows_something(demo):
    p, client, ctx = demo
    artist = _login(client, "artist@demo.com")
    metrics = client.get(f"/api/v1/artists/{ctx.artist_profile.id}/metrics", headers=artist).json()["metrics"]
    # the platform's own plugins (an installed example plugin, e.g. hello's greetings, has no demo data)
    metrics = [m for m in metrics if m["plugin"] in ("core", "streaming", "billing", "fanclub")]
    assert len(metrics) >= 14
    empty = [m["id"] for m in metrics if m.get("error") or m.get("value") in (None, 0, 0.0, [], {})
             or isinstance(m.get("value"), dict) and not any(m["value"].values())]
    assert empty == [], [(m["id"], m.get("value"), m.get("error")) for m in metrics]
    by = {m["id"]: m["value"] for m in metrics}
    assert by["churned_30d"] >= 1 and by["active_subscribers"] >= 5
    assert set(by["members_by_tier"]) == {"free", "supporter", "superfan"}


def _the_demo_scene_shows_in_recommendations_feed_and_matches(demo):
    """Issue 16, "the demo has enough synthetic listening for every feature to show something
    real": the scene around Nova Lane (other artists, their tracks and the population's listening)
    is fitted at seed time, so the demo fan gets explained recommendations (the debut nobody has
    heard yet placed by its content), a discovery feed with its explore share, and Nova Lane sees
    artists who share her fans."""
    from musicconnect.seed import SCENE

    p, client, ctx = demo
    fan, artist = _login(client, "fan@demo.com"), _login(client, "artist@demo.com")
    scene = {name for name, *_ in SCENE}
    debut = next(name for name, *_, days in SCENE if days < 7)
    body = client.get("/api/v1/ai/recommendations?limit=10", headers=fan).json()
    assert body["model"]["algorithm"] == "als", body
    tracks = body["tracks"]
    assert len(tracks) >= 6 and {t["artist_name"] for t in tracks} <= scene, tracks
    assert sum(t["reason"] == "fans of Nova Lane also play this" for t in tracks) >= 4, tracks
    new = [t for t in tracks if t["source"] == "new"]
    assert [t["artist_name"] for t in new] == [debut] and new[0]["reason"].startswith("new, "), tracks
    artists = client.get("/api/v1/ai/recommendations?kind=artists&limit=5", headers=fan).json()["artists"]
    assert len(artists) == 5 and {a["name"] for a in artists} <= scene

    matches = client.get(f"/api/v1/ai/artists/{ctx.artist_profile.id}/matches", headers=artist).json()
    assert len(matches["matches"]) >= 4 and {m["name"] for m in matches["matches"]} <= scene, matches
    assert all(m["shared_fans"] >= 2 and m["reasons"] for m in matches["matches"])

    cards = client.get("/api/v1/ai/feed", headers=fan).json()["cards"]
    assert len({c["artist"]["name"] for c in cards}) >= 5, cards
    assert "explore" in {c["bucket"] for c in cards} and "main" in {c["bucket"] for c in cards}
    preview = client.get(cards[0]["preview_url"], headers=fan, follow_redirects=False)
    assert preview.status_code == 307, preview.text


#: every check of the seeded demo, in one test: the seed (transcodes, 26 weeks of listening, the
#: models' first fits) takes ~25 s on SQLite and ~50 s on PostgreSQL, so it is done once; the
#: checks only read, except the last, which seeds again and compares the counts
CHECKS = (_early_access_release_is_in_its_window, _demo_fan_starts_with_an_untouched_dm_quota,
          _demo_fans_wrapped_is_not_empty, _people_not_ids, _every_dashboard_metric_shows_something,
          _the_demo_scene_shows_in_recommendations_feed_and_matches, _seed_twice_changes_nothing)


def test_the_demo_as_a_newcomer_sees_it(demo):
    for check in CHECKS:
        check(demo)
