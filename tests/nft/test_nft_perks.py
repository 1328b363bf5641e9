"""Perks of holding a fan token, through the core's HTTP access paths: backstage access for a
month (the token counts as the artist's Superfan tier via ``extra_entitlements``), discount codes
the artist checks, both ending when the token is burned; and the access decision reads the
plugin's index only (no chain I/O)."""
from __future__ import annotations

import pytest
from nft_world import make_collection, mint, settle
from sqlalchemy import select

import testplugins
from helpers import problem
from musicconnect.testing import make_user


@pytest.fixture
def club(mc_make_platform):
    """An artist with a Superfan-only post, a collection whose token opens the backstage for 30
    days and gives 15 % off, and two fans."""
    from starlette.testclient import TestClient

    from musicconnect.app import create_app

    p = mc_make_platform(extra_plugins=[("membership", testplugins.membership)])
    artist = make_user(p, "artist", artist_name="Nova")
    fan, stranger = make_user(p, "fan"), make_user(p, "fan")
    tiers = {t.key: t for t in p.access.tiers(artist.artist_id)}
    _, crit = make_collection(p, artist.artist_id, perks={"backstage_days": 30, "discount_percent": 15})
    with TestClient(create_app(p)) as client:
        r = client.post(f"/api/v1/artists/{artist.artist_id}/content", headers=artist.headers,
                        json={"kind": "post", "title": "Backstage", "visibility": "tier",
                              "required_tier_id": str(tiers["superfan"].id), "data": {"body": "soundcheck"}})
        assert r.status_code == 201, r.text
        yield p, client, artist, fan, stranger, crit, r.json()["id"]


def test_a_token_opens_the_backstage_for_a_month(club):
    p, client, artist, fan, stranger, crit, post = club
    problem(client.get(f"/api/v1/content/{post}", headers=fan.headers), 403, "tier-required")
    mint(p, fan.id, crit)
    assert client.get(f"/api/v1/content/{post}", headers=fan.headers).status_code == 200
    problem(client.get(f"/api/v1/content/{post}", headers=stranger.headers), 403, "tier-required")
    perks = client.get("/api/v1/nft/me/perks", headers=fan.headers).json()
    assert perks[0]["backstage"]["active"] is True and perks[0]["backstage"]["tier"] == "superfan"
    assert perks[0]["backstage"]["until"].startswith("2026-07-01")
    # a month later the perk has run out (the token itself stays)
    p.clock.advance(days=31)
    p.cache.clear()
    fan_now = fan.renew(p)
    problem(client.get(f"/api/v1/content/{post}", headers=fan_now.headers), 403, "tier-required")
    assert client.get("/api/v1/nft/me/perks", headers=fan_now.headers).json()[0]["backstage"]["active"] is False


def test_burning_the_token_closes_the_backstage(club):
    from musicconnect_nft import minting
    from musicconnect_nft.models import Token

    p, client, artist, fan, stranger, crit, post = club
    token_id = mint(p, fan.id, crit)
    assert client.get(f"/api/v1/content/{post}", headers=fan.headers).status_code == 200
    with p.session() as s:
        minting.request_burn(p, s, s.scalar(select(Token).where(Token.token_id == token_id)), "fraud")
    settle(p)
    problem(client.get(f"/api/v1/content/{post}", headers=fan.headers), 403, "tier-required")
    assert client.get("/api/v1/nft/me/perks", headers=fan.headers).json() == []


def test_discount_codes_are_checked_by_the_artist(club):
    from musicconnect_nft import minting
    from musicconnect_nft.models import Token

    p, client, artist, fan, stranger, crit, post = club
    token_id = mint(p, fan.id, crit)
    code = client.get("/api/v1/nft/me/perks", headers=fan.headers).json()[0]["discount"]
    assert code["percent"] == 15 and code["code"].startswith("FAN-")
    url = f"/api/v1/nft/artists/{artist.artist_id}/discounts/check"
    assert client.post(url, headers=artist.headers, json={"code": code["code"].lower()}).json() == {
        "valid": True, "percent": 15, "token_id": token_id}
    assert client.post(url, headers=artist.headers, json={"code": "FAN-AAAA-BBBB-CCCC"}).json()["valid"] is False
    # only the artist (or an admin) checks codes; another artist's collection does not know it
    problem(client.post(url, headers=fan.headers, json={"code": code["code"]}), 403, "forbidden")
    other = make_user(p, "artist", artist_name="Other")
    assert client.post(f"/api/v1/nft/artists/{other.artist_id}/discounts/check", headers=other.headers,
                       json={"code": code["code"]}).json()["valid"] is False
    with p.session() as s:
        minting.request_burn(p, s, s.scalar(select(Token).where(Token.token_id == token_id)), "fraud")
    settle(p)
    assert client.post(url, headers=artist.headers, json={"code": code["code"]}).json()["valid"] is False


def test_the_access_decision_does_no_chain_io(club, monkeypatch):
    """With the token indexed, the chain can vanish: access still answers from the index."""
    from musicconnect_nft import chain

    p, client, artist, fan, stranger, crit, post = club
    mint(p, fan.id, crit)

    def no_chain(*a, **k):
        raise AssertionError("the access decision touched the chain")

    monkeypatch.setattr(chain, "get_chain", no_chain)
    monkeypatch.setattr(chain, "connect", no_chain)
    p.cache.clear()
    assert client.get(f"/api/v1/content/{post}", headers=fan.headers).status_code == 200
    problem(client.get(f"/api/v1/content/{post}", headers=stranger.headers), 403, "tier-required")
