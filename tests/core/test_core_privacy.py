"""The core's part of a person's data export and erasure: the account, artist profile, tiers,
content, entitlements, events, sessions, API tokens and jobs; the core runs last and deletes the
user; what stays of other people is untouched; cached sessions stop working at once."""
from __future__ import annotations

import uuid

import pytest
from helpers import bearer
from sqlalchemy import String, cast, func, or_, select

from musicconnect.models import (ApiToken, Artist, ContentItem, DomainEvent, Entitlement, Job, RefreshToken, Tier,
                                 User)

pytestmark = pytest.mark.mc_plugins()  # the core alone: its own part, whatever the plugins do


def _content(p, artist_id, title):
    with p.session() as s:
        item = ContentItem(id=uuid.uuid4(), artist_id=artist_id, kind="post", title=title, status="ready",
                           data={"body": "hello"})
        s.add(item)
        return item.id


def _job(p, owner_id, args):
    with p.session() as s:
        s.add(Job(id=uuid.uuid4(), actor="test.noop", state="succeeded", owner_id=owner_id, args=args))


def _core_part(p, user_id, hook):
    with p.session() as s:
        parts = dict(getattr(p, hook)(s, s.get(User, user_id)))
    return parts["core"]


def _naming(s, model, column, *ids):
    text = cast(column, String)
    return s.scalar(select(func.count()).select_from(model).where(or_(*[text.contains(str(i)) for i in ids])))


def test_a_fan_is_exported_then_erased_and_others_stay(mc_client, mc_users, mc_platform):
    p, fan, artist = mc_platform, mc_users.fan, mc_users.artist
    other = mc_users.make("fan", email="other-fan@example.com")
    tier = mc_client.post(f"/api/v1/artists/{artist.artist_id}/tiers", headers=artist.headers,
                          json={"key": "vip", "name": "VIP", "rank": 5, "price_amount": 2500}).json()
    for who in (fan, other):
        r = mc_client.post(f"/api/v1/artists/{artist.artist_id}/comps", headers=artist.headers,
                           json={"email": who.email, "tier_id": tier["id"]})
        assert r.status_code == 201, r.text
    token = mc_client.post("/api/v1/me/tokens", headers=fan.headers,
                           json={"name": "my player", "scopes": ["profile:read"]}).json()
    assert mc_client.get("/api/v1/me", headers=bearer(token["token"])).status_code == 200  # now cached
    _job(p, fan.id, {"user_id": str(fan.id)})
    _job(p, None, {"user_id": str(fan.id)})  # names them without owning it
    _job(p, other.id, {"user_id": str(other.id)})

    part = _core_part(p, fan.id, "export_user_data")
    assert part.records["account"][0]["email"] == fan.email
    assert [(e["artist"], e["tier"], e["source"]) for e in part.records["entitlements"]] == [
        ("Test Artist", "vip", "comp")]
    assert [t["name"] for t in part.records["api_tokens"]] == ["my player"]
    assert "token_hash" not in part.records["api_tokens"][0]
    assert len(part.records["sessions"]) == 1 and "token_hash" not in part.records["sessions"][0]
    types = {e["type"] for e in part.records["events"]}
    assert "user.registered" in types and "entitlement.granted" in types
    assert len(part.records["jobs"]) == 1
    assert "artist" not in part.records

    report = _core_part(p, fan.id, "erase_user_data")
    assert report.erased["users"] == 1 and report.erased["entitlements"] == 1
    assert report.erased["api_tokens"] == 1 and report.erased["sessions"] == 1 and report.erased["jobs"] == 2
    with p.session() as s:
        assert s.get(User, fan.id) is None
        assert s.scalar(select(func.count()).select_from(User).where(User.email == fan.email)) == 0
        for model in (Entitlement, RefreshToken, ApiToken):
            assert s.scalar(select(func.count()).select_from(model).where(model.user_id == fan.id)) == 0
        assert s.scalar(select(func.count()).select_from(Job).where(Job.owner_id == fan.id)) == 0
        assert _naming(s, Job, Job.args, fan.id) == 0
        assert s.scalar(select(func.count()).select_from(DomainEvent).where(or_(
            DomainEvent.actor_id == fan.id, DomainEvent.subject_id == str(fan.id)))) == 0
        assert _naming(s, DomainEvent, DomainEvent.data, fan.id, fan.email) == 0
        # the artist's activity keeps the comp as an anonymous event (their aggregate)
        assert report.erased["events_anonymised"] >= 1
        # the other fan and the artist are untouched
        assert s.get(User, other.id) is not None and s.get(User, artist.id) is not None
        assert s.scalar(select(func.count()).select_from(Entitlement).where(Entitlement.user_id == other.id)) == 1
        assert s.scalar(select(func.count()).select_from(Job).where(Job.owner_id == other.id)) == 1
        assert s.scalar(select(func.count()).select_from(DomainEvent).where(DomainEvent.actor_id == other.id)) >= 1
    # the cached session and the API token stop working at once
    assert mc_client.get("/api/v1/me", headers=bearer(token["token"])).status_code == 401
    assert mc_client.get("/api/v1/me", headers=fan.headers).status_code == 401
    assert mc_client.get("/api/v1/me", headers=other.headers).status_code == 200


def test_an_artist_who_leaves_takes_tiers_content_and_granted_memberships(mc_client, mc_users, mc_platform):
    p, artist, fan = mc_platform, mc_users.artist, mc_users.fan
    staying = mc_users.make("artist", artist_name="Staying Artist")
    tiers = {}
    for who in (artist, staying):
        tiers[who.id] = mc_client.post(f"/api/v1/artists/{who.artist_id}/tiers", headers=who.headers,
                                       json={"key": "vip", "name": "VIP", "rank": 5, "price_amount": 2500}).json()
        assert mc_client.post(f"/api/v1/artists/{who.artist_id}/comps", headers=who.headers,
                              json={"email": fan.email, "tier_id": tiers[who.id]["id"]}).status_code == 201
    leaving_item = _content(p, artist.artist_id, "Leaving diary")
    staying_item = _content(p, staying.artist_id, "Staying diary")

    part = _core_part(p, artist.id, "export_user_data")
    assert part.records["artist"][0]["name"] == "Test Artist"
    assert [t["key"] for t in part.records["tiers"]] == ["free", "supporter", "superfan", "vip"]
    assert [c["title"] for c in part.records["content_items"]] == ["Leaving diary"]
    assert "Leaving diary" not in str(_core_part(p, fan.id, "export_user_data").records)

    report = _core_part(p, artist.id, "erase_user_data")
    assert report.erased["artists"] == 1 and report.erased["tiers"] == 4 and report.erased["content_items"] == 1
    assert report.erased["entitlements_granted"] == 1
    with p.session() as s:
        assert s.get(User, artist.id) is None and s.get(Artist, artist.artist_id) is None
        assert s.scalar(select(func.count()).select_from(Artist).where(Artist.name == "Test Artist")) == 0
        for model in (Tier, ContentItem, Entitlement):
            assert s.scalar(select(func.count()).select_from(model).where(model.artist_id == artist.artist_id)) == 0
        assert s.scalar(select(func.count()).select_from(DomainEvent).where(or_(
            DomainEvent.artist_id == artist.artist_id, DomainEvent.actor_id == artist.id))) == 0
        assert _naming(s, DomainEvent, DomainEvent.data, artist.id, artist.artist_id) == 0
        # the fan's membership of the other artist, that artist's tier and content stay
        assert s.get(ContentItem, staying_item) is not None and s.get(ContentItem, leaving_item) is None
        assert s.scalar(select(func.count()).select_from(Entitlement).where(
            Entitlement.user_id == fan.id, Entitlement.artist_id == staying.artist_id)) == 1
        assert s.scalar(select(func.count()).select_from(Tier).where(Tier.artist_id == staying.artist_id)) == 4
    # the fan no longer sees a membership of the artist who left (no stale cache)
    ents = mc_client.get("/api/v1/me/entitlements", headers=fan.headers).json()
    assert [e["artist_id"] for e in ents] == [str(staying.artist_id)]


def test_an_erasure_that_fails_later_keeps_the_user(mc_platform, mc_users):
    p, fan = mc_platform, mc_users.fan
    try:
        with p.session() as s:
            p.erase_user_data(s, s.get(User, fan.id))
            raise RuntimeError("the archive could not be written")
    except RuntimeError:
        pass
    with p.session() as s:
        assert s.get(User, fan.id) is not None
        assert s.scalar(select(func.count()).select_from(RefreshToken).where(RefreshToken.user_id == fan.id)) == 1
