"""The artists' own notifications: a new supporter (core), a fan's DM (fan club), a party recap (live)."""
from __future__ import annotations

import uuid

import pytest

from musicconnect.testing import make_user


@pytest.fixture
def mc_plugins():
    return ["notify", "fanclub", "streaming", "billing", "live"]


def kinds(client, user, kind):
    r = client.get("/api/v1/notify/inbox", headers=user.headers)
    assert r.status_code == 200, r.text
    return [i for i in r.json()["items"] if i["kind"] == kind]


def test_a_paid_entitlement_tells_the_artist_of_a_new_supporter(env):
    client, p, artist, tiers = env
    ranks = sorted(tiers.values(), key=lambda t: t.rank)
    free, paid = ranks[0], ranks[1]
    assert free.rank == 0 and paid.rank > 0
    buyer, free_fan = make_user(p), make_user(p)
    with p.session() as s:  # what a payment provider does when a purchase settles (no acting user)
        p.entitlements.grant(s, user_id=buyer.id, artist_id=artist.artist_id, tier_id=paid.id, source="test",
                             source_ref=f"test:{buyer.id}", status="active")
        p.entitlements.grant(s, user_id=free_fan.id, artist_id=artist.artist_id, tier_id=free.id, source="test",
                             source_ref=f"test:{free_fan.id}", status="active")
    p.jobs.wait_idle(30)
    got = kinds(client, artist, "core.new_supporter")
    assert [(i["title"], i["url"]) for i in got] == [("Nova has a new supporter", f"/artists/{artist.artist_id}/members")]
    assert kinds(client, buyer, "core.new_supporter") == []


def test_a_comp_the_artist_gives_is_not_news_to_them(env, helpers):
    client, p, artist, tiers = env
    fan = make_user(p)
    helpers.comp(client, artist, fan, max(tiers.values(), key=lambda t: t.rank))
    p.jobs.wait_idle(30)
    assert kinds(client, artist, "core.new_supporter") == []
    assert kinds(client, fan, "core.new_supporter") == []


def test_a_fans_dm_reaches_the_artists_inbox(env, helpers):
    from musicconnect.models import Tier

    client, p, artist, tiers = env
    top = max(tiers.values(), key=lambda t: t.rank)
    with p.session() as s:
        s.get(Tier, top.id).perks = {"direct_messages": 5}
    p.invalidate(("tiers", artist.artist_id))
    fan, other = make_user(p), make_user(p)
    helpers.comp(client, artist, fan, top)
    r = client.post(f"/api/v1/fanclub/artists/{artist.artist_id}/messages", headers=fan.headers, json={"body": "hello!"})
    assert r.status_code == 201, r.text
    p.jobs.wait_idle(30)
    got = kinds(client, artist, "fanclub.dm_received")
    assert [i["title"] for i in got] == ["A fan sent Nova a message"]
    assert kinds(client, fan, "fanclub.dm_received") == [] and kinds(client, other, "fanclub.dm_received") == []


def test_a_party_that_ends_tells_the_artist_its_recap_is_ready(env):
    client, p, artist, tiers = env
    fan = make_user(p)
    party = uuid.uuid4()
    with p.session() as s:  # the event the live plugin emits when a party ends on its own
        p.emit(s, "live.party_ended", artist_id=artist.artist_id, subject=("party", party),
               data={"reason": "finished", "peak_listeners": 42})
    p.jobs.wait_idle(30)
    got = kinds(client, artist, "live.party_recap")
    assert [(i["title"], i["body"], i["url"]) for i in got] == [
        ("The recap of your listening party is ready", "Peak listeners: 42.", f"/parties/{party}/recap")]
    assert kinds(client, fan, "live.party_recap") == []
