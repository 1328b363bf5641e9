"""The artist's inbox (``GET /api/v1/fanclub/artists/{id}/conversations``) as the web app's
/studio/messages reads it: who wrote last (a fan waiting for a reply), the start of that message
and the fan's tier held now."""
from __future__ import annotations

from helpers import problem
from musicconnect.testing import make_user


def _comp(client, artist, fan, tier) -> str:
    r = client.post(f"/api/v1/artists/{artist.artist_id}/comps", headers=artist.headers,
                    json={"email": fan.email, "tier_id": str(tier.id)})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_the_inbox_says_who_wrote_last_and_each_fans_tier(env, mc_clock):
    client, p, artist, fan, tiers = env
    aid = artist.artist_id
    other = make_user(p, "fan", email="robin@example.com")
    # supporters get two messages a month here, superfans five (the demo perks)
    r = client.patch(f"/api/v1/artists/{aid}/tiers/{tiers['supporter'].id}", headers=artist.headers,
                     json={"perks": {"direct_messages": 2}})
    assert r.status_code == 200, r.text
    _comp(client, artist, fan, tiers["superfan"])
    ent = _comp(client, artist, other, tiers["supporter"])
    assert client.post(f"/api/v1/fanclub/artists/{aid}/messages", headers=fan.headers,
                       json={"body": "Will you tour in the autumn?"}).status_code == 201
    mc_clock.advance(minutes=1)
    long = "Loved the show. " * 20
    assert client.post(f"/api/v1/fanclub/artists/{aid}/messages", headers=other.headers,
                       json={"body": long}).status_code == 201
    mc_clock.advance(minutes=1)
    url = f"/api/v1/fanclub/artists/{aid}/conversations"
    assert client.post(f"{url}/{fan.id}/messages", headers=artist.headers, json={"body": "Yes, in October!"}).status_code == 201

    inbox = client.get(url, headers=artist.headers).json()
    assert [c["fan_id"] for c in inbox] == [str(fan.id), str(other.id)]  # newest first
    first, second = inbox
    assert (first["last_sender"], first["last_body"], first["messages"]) == ("artist", "Yes, in October!", 2)
    assert first["tier"] == {"id": str(tiers["superfan"].id), "key": "superfan", "name": tiers["superfan"].name,
                             "rank": tiers["superfan"].rank}
    assert (second["last_sender"], second["display_name"], second["messages"]) == ("fan", "robin", 1)
    assert second["last_body"] == long[:200] and len(long) > 200
    assert second["tier"]["key"] == "supporter"

    # the tier is the one held now: the membership ends, the conversation stays, with no tier
    assert client.delete(f"/api/v1/artists/{aid}/entitlements/{ent}", headers=artist.headers).status_code == 204
    inbox = client.get(url, headers=artist.headers).json()
    assert [c["tier"] for c in inbox if c["fan_id"] == str(other.id)] == [None]
    # a fan holding two tiers is shown with the higher one
    _comp(client, artist, other, tiers["free"])
    _comp(client, artist, other, tiers["superfan"])
    inbox = client.get(url, headers=artist.headers).json()
    assert [c["tier"]["key"] for c in inbox if c["fan_id"] == str(other.id)] == ["superfan"]


def test_only_the_artist_reads_the_inbox(env):
    client, p, artist, fan, tiers = env
    url = f"/api/v1/fanclub/artists/{artist.artist_id}/conversations"
    problem(client.get(url, headers=fan.headers), 403)
    problem(client.get(url), 401)
    assert client.get(url, headers=artist.headers).json() == []
