"""Every trigger of the bundled plugins produces its kind for the right recipients."""
from __future__ import annotations

from musicconnect.testing import make_user


def inbox(client, user):
    r = client.get("/api/v1/notify/inbox", headers=user.headers)
    assert r.status_code == 200, r.text
    return r.json()


def test_a_tier_post_reaches_the_tier_members_only(env, helpers):
    client, p, artist, tiers = env
    ranks = sorted(tiers.values(), key=lambda t: t.rank)
    low, high = ranks[1], ranks[-1]
    member, superfan, follower = make_user(p), make_user(p), make_user(p)
    helpers.comp(client, artist, member, low)
    helpers.comp(client, artist, superfan, high)
    helpers.follow(client, artist, follower)
    r = client.post(f"/api/v1/fanclub/artists/{artist.artist_id}/posts", headers=artist.headers,
                    data={"title": "Backstage", "body": "hi", "visibility": "tier", "required_tier_id": str(high.id)})
    assert r.status_code == 201, r.text
    p.jobs.wait_idle(30)
    got = inbox(client, superfan)
    posts = [i for i in got["items"] if i["kind"] == "fanclub.new_post"]
    assert [(i["title"], i["read"], i["url"]) for i in posts] == [("New post from Nova", False, f"/content/{r.json()['id']}")]
    # the comp was the superfan's first support: a milestone for them alone (the "actor" audience)
    assert sorted(i["kind"] for i in got["items"]) == ["fanclub.milestone", "fanclub.new_post"] and got["unread"] == 2
    assert [i["kind"] for i in inbox(client, member)["items"]] == ["fanclub.milestone"]
    assert inbox(client, follower)["items"] == []
    assert inbox(client, artist)["items"] == []  # not told about their own post


def test_a_public_post_reaches_followers_and_members(env, helpers):
    client, p, artist, tiers = env
    member, follower, stranger = make_user(p), make_user(p), make_user(p)
    helpers.comp(client, artist, member, sorted(tiers.values(), key=lambda t: t.rank)[1])
    helpers.follow(client, artist, follower)
    r = client.post(f"/api/v1/fanclub/artists/{artist.artist_id}/posts", headers=artist.headers,
                    data={"title": "News", "body": "hi"})
    assert r.status_code == 201, r.text
    p.jobs.wait_idle(30)
    assert {row.recipient_id for row in helpers.rows(p, kind="fanclub.new_post", channel="inbox")} == {member.id, follower.id}
    assert {row.channel for row in helpers.rows(p, kind="fanclub.new_post", recipient_id=follower.id)} <= {"inbox", "push"}
    assert inbox(client, stranger)["unread"] == 0


def test_a_dm_reply_reaches_the_fan_who_wrote(env, helpers):
    from musicconnect.models import Tier

    client, p, artist, tiers = env
    top = max(tiers.values(), key=lambda t: t.rank)
    with p.session() as s:
        s.get(Tier, top.id).perks = {"direct_messages": 5}
    p.invalidate(("tiers", artist.artist_id))
    fan, other = make_user(p), make_user(p)
    helpers.comp(client, artist, fan, top)
    base = f"/api/v1/fanclub/artists/{artist.artist_id}"
    r = client.post(f"{base}/messages", headers=fan.headers, json={"body": "hello!"})
    assert r.status_code == 201, r.text
    r = client.post(f"{base}/conversations/{fan.id}/messages", headers=artist.headers, json={"body": "hi back"})
    assert r.status_code == 201, r.text
    p.jobs.wait_idle(30)
    got = [i for i in inbox(client, fan)["items"] if i["kind"] == "fanclub.dm_reply"]
    assert [i["title"] for i in got] == ["Nova replied to your message"]
    assert inbox(client, other)["items"] == []


def test_a_track_release_reaches_followers(env, helpers):
    import uuid

    client, p, artist, tiers = env
    follower, other = make_user(p), make_user(p)
    helpers.follow(client, artist, follower)
    track = uuid.uuid4()
    with p.session() as s:  # the event the core emits when a track becomes ready
        p.emit(s, "content.published", actor_id=artist.id, artist_id=artist.artist_id, subject=("content", track),
               data={"kind": "track", "publish_at": p.clock.now().isoformat()})
        p.emit(s, "content.published", actor_id=artist.id, artist_id=artist.artist_id, subject=("content", uuid.uuid4()),
               data={"kind": "video", "publish_at": p.clock.now().isoformat()})  # no kind matches
    p.jobs.wait_idle(30)
    got = inbox(client, follower)["items"]
    assert [(i["kind"], i["title"], i["url"]) for i in got] == [
        ("streaming.new_release", "New release from Nova", f"/content/{track}")]
    assert inbox(client, other)["items"] == []


def test_a_failed_payment_reaches_the_payer(env, helpers):
    from musicconnect import PaymentEvent

    client, p, artist, tiers = env
    payer, other = make_user(p), make_user(p)
    with p.session() as s:
        p.payments.publish(s, PaymentEvent("payment.failed", "sandbox", payer.id, artist.artist_id, amount=500,
                                           currency="USD", external_id="in_1:1"))
    p.jobs.wait_idle(30)
    got = inbox(client, payer)["items"]
    assert [(i["kind"], i["title"]) for i in got] == [("billing.payment_failed", "Your payment to Nova failed")]
    assert inbox(client, other)["items"] == []


def test_live_kinds_reach_followers(mc_make_platform, helpers):
    import uuid

    import pytest
    from starlette.testclient import TestClient

    from musicconnect.app import create_app
    from musicconnect.plugins import installed_entry_points

    if "live" not in {ep.name for ep in installed_entry_points()}:
        pytest.skip("the live plugin is not installed")
    p = mc_make_platform(entry_points=[ep for ep in installed_entry_points()
                                       if ep.name in ("notify", "fanclub", "live")])
    artist = make_user(p, "artist", artist_name="Nova")
    follower = make_user(p)
    with TestClient(create_app(p)) as client:
        helpers.follow(client, artist, follower)
        party, session = uuid.uuid4(), uuid.uuid4()
        with p.session() as s:
            p.emit(s, "live.party_starting", artist_id=artist.artist_id, subject=("party", party),
                   data={"title": "Album night", "starts_at": p.clock.now().isoformat()})
            p.emit(s, "live.started", artist_id=artist.artist_id, subject=("live_session", session),
                   data={"session_id": str(session), "title": "Studio", "access": "public", "required_tier_id": None})
        p.jobs.wait_idle(30)
        got = sorted((i["kind"], i["title"]) for i in inbox(client, follower)["items"])
    assert got == [("live.artist_live", "Nova is live"), ("live.party_starting", "Nova: Album night starts soon")]
