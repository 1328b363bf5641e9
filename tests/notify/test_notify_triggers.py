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
