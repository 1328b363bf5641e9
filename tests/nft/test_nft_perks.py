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


def test_end_to_end_over_http_rule_mint_perk_revoke(club):
    """The artist sets up a collection and a rule over HTTP after the fan was already refused (so
    every cache is warm), the rule mints on chain, the backstage opens; an admin revokes it for
    fraud and it closes again."""
    import time

    from musicconnect_nft.models import Token

    p, client, artist, fan, stranger, crit, post = club
    problem(client.get(f"/api/v1/content/{post}", headers=fan.headers), 403, "tier-required")
    tiers = {t.key: t for t in p.access.tiers(artist.artist_id)}
    with p.session() as s:  # the fan supports the artist (a paid tier below the post's)
        p.entitlements.grant(s, user_id=fan.id, artist_id=artist.artist_id, tier_id=tiers["supporter"].id,
                             source="test", source_ref="fan-1")
    problem(client.get(f"/api/v1/content/{post}", headers=fan.headers), 403, "tier-required")
    r = client.post(f"/api/v1/nft/artists/{artist.artist_id}/collections", headers=artist.headers,
                    json={"slug": "early", "name": "Early believers", "perks": {"backstage_days": 30}})
    assert r.status_code == 201, r.text
    r = client.post(f"/api/v1/nft/collections/{r.json()['id']}/criteria", headers=artist.headers,
                    json={"kind": "first_supporters", "params": {"limit": 100}, "title": "One of the first 100"})
    assert r.status_code == 201, r.text
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # the rule is evaluated in a job
        with p.read() as s:
            token = s.scalar(select(Token).where(Token.user_id == fan.id, Token.criterion_id != crit))
        if token is not None:
            break
        time.sleep(0.1)
    assert token is not None, "the rule minted nothing"
    settle(p)
    assert client.get(f"/api/v1/content/{post}", headers=fan.headers).status_code == 200
    meta = client.get(f"/api/v1/nft/tokens/{token.token_id}").json()
    assert meta["criteria_met"][0]["text"] == "One of the first 100"
    admin = make_user(p, "admin")
    r = client.post(f"/api/v1/nft/admin/tokens/{token.token_id}/revoke", headers=admin.headers, json={})
    assert r.status_code in (200, 202), r.text
    settle(p)
    problem(client.get(f"/api/v1/content/{post}", headers=fan.headers), 403, "tier-required")
