"""Abuse detection end to end: a play farm and an account listening faster than real time are
flagged (stored, not counted: not in analytics, no milestone), filed as cases and quarantined
until a moderator decides; a DM burst and a sign-up burst get 429; normal listening is never
flagged."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from helpers import problem

pytestmark = pytest.mark.mc_plugins("moderation", "streaming", "fanclub", "analytics")


def _track(platform, artist_id, title="Farmed"):
    from musicconnect.models import ContentItem

    with platform.session() as s:
        item = ContentItem(id=uuid.uuid4(), artist_id=artist_id, kind="track", title=title, status="ready",
                           visibility="public", publish_at=platform.clock.now() - timedelta(days=1),
                           data={"duration": 200.0})
        s.add(item)
        return str(item.id)


def _start(client, user, tid):
    r = client.post("/api/v1/streaming/plays", headers=user.headers, json={"track_id": tid})
    assert r.status_code == 201, r.text
    return r.json()["session_id"]


def _report(client, user, sid, position):
    r = client.post(f"/api/v1/streaming/plays/{sid}", headers=user.headers,
                    json={"event": "progress", "position": position})
    assert r.status_code == 200, r.text
    return r.json()


def _counts(platform):
    from musicconnect.models import DomainEvent
    from musicconnect_moderation.abuse import AbuseFlag
    from musicconnect_streaming.models import Play

    with platform.read() as s:
        counted = s.scalar(select(func.count()).select_from(Play).where(Play.counted_at.is_not(None)))
        events = s.scalar(select(func.count()).select_from(DomainEvent).where(DomainEvent.type == "play.counted"))
        flags = s.scalar(select(func.count()).select_from(AbuseFlag).where(AbuseFlag.kind == "play.counted"))
        plays = s.scalar(select(func.count()).select_from(Play))
    return counted, events, flags, plays


def _abuse_cases(client, admin):
    r = client.get("/api/v1/moderation/cases?kind=abuse", headers=admin.headers)
    assert r.status_code == 200, r.text
    return r.json()["cases"]


def test_a_play_farm_from_one_address_is_flagged_beyond_the_threshold_never_quarantined(
        mc_client, mc_users, mc_platform, mc_clock):
    """One address (a farm, or a campus behind one NAT): the plays of the accounts beyond the
    25th are stored, not counted; the first 25 keep counting; the case is about the address and no
    account is quarantined on that evidence alone."""
    from musicconnect_moderation.abuse import Quarantine

    tid = _track(mc_platform, mc_users.artist.artist_id)
    other = _track(mc_platform, mc_users.artist.artist_id, "Other")
    farm = [mc_users.make() for _ in range(30)]  # 30 accounts, one address (the test client's)
    for bot in farm:
        bot.renew(mc_platform)  # access tokens live minutes
        sid = _start(mc_client, bot, tid)
        mc_clock.advance(seconds=31)
        _report(mc_client, bot, sid, 31)
    counted, events, flags, plays = _counts(mc_platform)
    assert plays == 30 and counted == 25 and events == 25 and flags == 5  # accounts 26..30 flagged
    mc_users.admin.renew(mc_platform), mc_users.artist.renew(mc_platform)
    cases = _abuse_cases(mc_client, mc_users.admin)
    assert len(cases) == 1 and cases[0]["subject_type"] == "address" and cases[0]["reason"] == "address-farm"
    assert cases[0]["decisions"] == ["clear", "confirm"] and cases[0]["data"]["first"]["accounts"] == 26
    assert cases[0]["data"]["flags"] == 5
    with mc_platform.read() as s:
        assert s.scalars(select(Quarantine)).all() == []
    # analytics: only the counted plays
    r = mc_client.get(f"/api/v1/analytics/artists/{mc_users.artist.artist_id}/metrics", headers=mc_users.artist.headers)
    assert r.status_code == 200, r.text
    metrics = {m["id"]: m for m in r.json()["metrics"]}
    assert sum(day["plays"] for day in metrics["analytics_plays"]["value"]) == 25
    # within the hour: an admitted account still counts, one beyond the threshold still does not
    first, late = farm[2], farm[27]
    for who, expected in ((first, True), (late, False)):
        who.renew(mc_platform)
        sid = _start(mc_client, who, other)
        mc_clock.advance(seconds=31)
        assert _report(mc_client, who, sid, 31)["counted"] is expected
    # a moderator clears the address: it starts afresh, the late account counts now
    mc_users.admin.renew(mc_platform)
    r = mc_client.post(f"/api/v1/moderation/cases/{cases[0]['id']}/decision", headers=mc_users.admin.headers,
                       json={"decision": "clear", "note": "a university residence"})
    assert r.status_code == 200, r.text
    late.renew(mc_platform)
    sid = _start(mc_client, late, tid)
    mc_clock.advance(seconds=31)
    assert _report(mc_client, late, sid, 31)["counted"] is True
    # and without a decision the window passes: an hour later every account counts again
    mc_clock.advance(hours=1, seconds=1)
    for who in farm[26:29]:
        who.renew(mc_platform)
        sid = _start(mc_client, who, other)
        mc_clock.advance(seconds=31)
        assert _report(mc_client, who, sid, 31)["counted"] is True


def test_overlapping_sessions_faster_than_real_time_are_flagged(mc_client, mc_users, mc_platform, mc_clock):
    tracks = [_track(mc_platform, mc_users.artist.artist_id, f"T{i}") for i in range(6)]
    fan = mc_users.fan
    sessions = [_start(mc_client, fan, t) for t in tracks]  # six tracks at once
    mc_clock.advance(seconds=31)
    answers = [_report(mc_client, fan, sid, 31)["counted"] for sid in sessions]
    assert answers[:3] == [True, True, True] and not any(answers[3:]), answers
    counted, events, flags, _plays = _counts(mc_platform)
    assert (counted, events, flags) == (3, 3, 3)
    # reported again, then completed: still not counted, not flagged twice, never completed
    from musicconnect.models import DomainEvent

    def _events(kind):
        with mc_platform.read() as s:
            return s.scalar(select(func.count()).select_from(DomainEvent).where(DomainEvent.type == kind))

    flagged_events = _events("play.flagged")
    assert flagged_events == 3
    assert _report(mc_client, fan, sessions[-1], 60)["counted"] is False
    r = mc_client.post(f"/api/v1/streaming/plays/{sessions[-1]}", headers=fan.headers,
                       json={"event": "complete", "position": 60})
    assert r.status_code == 200 and r.json()["counted"] is False, r.text
    assert _counts(mc_platform)[2] == 3
    assert _events("play.flagged") == 3 and _events("play.completed") == 0  # screened once, never completes
    [case] = _abuse_cases(mc_client, mc_users.admin)
    assert case["subject_id"] == str(fan.id) and case["reason"] == "impossible-listening"
    assert case["data"]["flags"] == 3
    # confirm: the account stays quarantined
    r = mc_client.post(f"/api/v1/moderation/cases/{case['id']}/decision", headers=mc_users.admin.headers,
                       json={"decision": "confirm"})
    assert r.status_code == 200, r.text
    mc_clock.advance(hours=3)
    fan.renew(mc_platform)
    sid = _start(mc_client, fan, tracks[0])
    mc_clock.advance(seconds=31)
    assert _report(mc_client, fan, sid, 31)["counted"] is False
    # milestones count play.counted events only: the flagged plays never reach them

    with mc_platform.read() as s:
        assert s.scalar(select(func.count()).select_from(DomainEvent).where(
            DomainEvent.type == "play.counted", DomainEvent.actor_id == fan.id)) == 3


def test_normal_listening_is_not_flagged(mc_client, mc_users, mc_platform, mc_clock):
    """Several fans on one address listening to whole tracks back to back for hours: no flag."""
    tracks = [_track(mc_platform, mc_users.artist.artist_id, f"T{i}") for i in range(8)]
    fans = [mc_users.fan, *(mc_users.make() for _ in range(4))]
    for hour in range(3):
        for i in range(18):
            if i % 3 == 0:  # access tokens live minutes
                for f in fans:
                    f.renew(mc_platform)  # 18 tracks of 200 s an hour each
            sids = [(f, _start(mc_client, f, tracks[(i + k) % len(tracks)])) for k, f in enumerate(fans)]
            mc_clock.advance(seconds=100)
            for f, sid in sids:
                _report(mc_client, f, sid, 100)
            mc_clock.advance(seconds=100)
    mc_users.admin.renew(mc_platform)
    counted, events, flags, plays = _counts(mc_platform)
    assert flags == 0 and counted == events and counted > 100
    assert _abuse_cases(mc_client, mc_users.admin) == []


def test_a_dm_burst_is_limited_then_filed(mc_client, mc_users, mc_platform):
    from musicconnect_moderation.abuse import screen

    fan = mc_users.fan
    answers = [screen(mc_platform, "dm.sent", fan.id, {"recipient": f"artist-{i}", "text": f"hi {i}"})
               for i in range(12)]
    assert [a is None for a in answers] == [True] * 10 + [False] * 2
    assert answers[-1].action == "limit" and answers[-1].reason == "message-burst" and answers[-1].data["retry_after"] >= 1
    [case] = _abuse_cases(mc_client, mc_users.admin)
    assert case["subject_id"] == str(fan.id) and case["reason"] == "message-burst" and case["data"]["flags"] == 2
    # a burst through the HTTP route of the fan club: refused before anything else is looked at
    other = mc_users.make()
    r = None
    for i in range(12):
        r = mc_client.post(f"/api/v1/fanclub/artists/{mc_users.artist.artist_id}/messages", headers=other.headers,
                           json={"body": "buy followers at spam.example"})
        if r.status_code == 429:
            break
    body = problem(r, 429, "activity-limited")
    assert int(r.headers["Retry-After"]) >= 1 and "within" in body["detail"]


def test_a_signup_burst_is_limited(mc_make_platform, mc_clock):
    from fastapi.testclient import TestClient

    from musicconnect.app import create_app

    platform = mc_make_platform(plugin_config={"moderation": {"abuse_signups_per_address_hour": 3}})
    with TestClient(create_app(platform)) as client:
        codes = []
        for i in range(5):
            r = client.post("/api/v1/auth/register", json={"email": f"bot{i}@example.com", "password": "a-long-passphrase"})
            codes.append(r.status_code)
        assert codes == [201, 201, 201, 429, 429]
        body = problem(r, 429, "signup-limited")
        assert int(r.headers["Retry-After"]) > 3000 and "sign-ups" in body["detail"]
        mc_clock.advance(hours=1, seconds=1)
        r = client.post("/api/v1/auth/register", json={"email": "late@example.com", "password": "a-long-passphrase"})
        assert r.status_code == 201, r.text


def test_two_api_processes_sharing_redis_see_one_counter(mc_make_platform, mc_redis_url, mc_clock):
    """Two platforms (two API processes, one database) on one Redis: the sign-up burst limit is
    reached across both; on the embedded configuration each process counts alone."""
    from musicconnect.testing import make_user

    config = {"moderation": {"abuse_signups_per_address_hour": 3, "abuse_messages_per_minute": 4}}
    one, two = (mc_make_platform(plugin_config=config) for _ in range(2))
    answers = [p.screen_activity("account.created", None, address="203.0.113.9", email=f"b{i}@example.com")
               for i, p in enumerate((one, two, one, two, one))]
    if not mc_redis_url:
        assert [a.action for a in answers] == ["allow"] * 5  # 3 and 2: each under its own limit
        pytest.skip("needs Redis for the shared counter (the distributed run sets MC_TEST_REDIS_URL)")
    assert [a.action for a in answers] == ["allow", "allow", "allow", "limit", "limit"]
    assert answers[3].reason == "signup-burst" and answers[3].data["retry_after"] > 3000
    # a message burst is counted across both too, and filed once
    fan = make_user(one, "fan")
    said = [p.screen_activity("dm.sent", fan.id, recipient=f"a{i}", text=f"hello {i}").action
            for i, p in enumerate((one, two, one, two, one))]
    assert said == ["allow"] * 4 + ["limit"]
    from musicconnect_moderation.cases import Case

    with two.read() as s:
        assert s.scalar(select(func.count()).select_from(Case).where(Case.subject_id == str(fan.id))) == 1
    mc_clock.advance(hours=1, seconds=1)
    assert two.screen_activity("account.created", None, address="203.0.113.9").action == "allow"
