"""The nft plugin's fan-facing HTTP API on a real (eth-tester) chain: tokenURI metadata and the
badge image, the fan's tokens, the credential download, the DID document, and verification of
both forms (a vc+jwt checked with the DID document alone; a token id through the index and the
contract)."""
from __future__ import annotations

import io
import json

import pytest
from nft_world import make_collection, mint, settle, token_row
from PIL import Image

from helpers import problem
from musicconnect.testing import make_user


@pytest.fixture
def world(mc_platform):
    from starlette.testclient import TestClient

    from musicconnect.app import create_app

    p = mc_platform
    artist = make_user(p, "artist", artist_name="Nova")
    fan = make_user(p, "fan")
    _, crit = make_collection(p, artist.artist_id, perks={"discount_percent": 10})
    token_id = mint(p, fan.id, crit)
    with TestClient(create_app(p)) as client:
        yield p, client, artist, fan, token_id


def test_token_uri_serves_metadata_and_a_badge(world):
    from musicconnect_nft import chain

    p, client, artist, fan, token_id = world
    # the contract's tokenURI points at this very route
    c = chain.get_chain(p)
    uri = c.contract.functions.tokenURI(int(token_id)).call()
    assert uri == f"{p.settings.base_url.rstrip('/')}/api/v1/nft/tokens/{token_id}"
    r = client.get(f"/api/v1/nft/tokens/{token_id}")
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["artist"] == "Nova" and doc["tier"] == "Superfan" and doc["burned"] is False
    assert doc["criteria_met"][0]["kind"] == "tier_months" and doc["criteria_met"][0]["version"] == 1
    assert doc["image"] == f"{uri}/image.png" and doc["since"].startswith("2026-06-01")
    assert str(fan.id) not in json.dumps(doc) and fan.email not in json.dumps(doc)   # never names the fan
    img = client.get(f"/api/v1/nft/tokens/{token_id}/image.png")
    assert img.status_code == 200 and img.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(img.content)).size == (512, 512)
    problem(client.get("/api/v1/nft/tokens/12345"), 404, "not-found")
    assert client.get("/api/v1/nft/tokens/not-a-number").status_code == 422


def test_fans_list_their_tokens_and_download_a_credential(world):
    from musicconnect_nft import credentials as vc

    p, client, artist, fan, token_id = world
    mine = client.get("/api/v1/nft/me/tokens", headers=fan.headers).json()
    assert [(t["token_id"], t["status"]) for t in mine] == [(token_id, "confirmed")]
    assert mine[0]["tx_hash"].startswith("0x")
    r = client.get(f"/api/v1/nft/me/credentials/{token_id}", headers=fan.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    cred = body["credential"]
    assert cred["type"] == ["VerifiableCredential", "FandomCredential"]
    assert cred["credentialSubject"]["id"] == f"urn:uuid:{fan.id}"
    assert cred["credentialSubject"]["token"]["tokenId"] == token_id
    # any verifier: the DID document over HTTP, then nothing but the JWT library
    did = client.get("/.well-known/did.json")
    assert did.status_code == 200 and did.json()["id"] == cred["issuer"]
    assert vc.verify_jwt(body["jwt"], did.json(), now=p.clock.now()) == cred
    # ... or with PyJWT alone, as docs/nft.md shows
    import jwt
    from jwt.algorithms import ECAlgorithm

    kid = jwt.get_unverified_header(body["jwt"])["kid"]
    jwk = next(vm["publicKeyJwk"] for vm in did.json()["verificationMethod"] if vm["id"] == kid)
    plain = jwt.decode(body["jwt"], ECAlgorithm.from_jwk(json.dumps(jwk)), algorithms=["ES256"])
    assert plain["issuer"] == did.json()["id"] and "FandomCredential" in plain["type"]
    # the bare JWT as a file to keep
    raw = client.get(f"/api/v1/nft/me/credentials/{token_id}?format=jwt", headers=fan.headers)
    assert raw.status_code == 200 and raw.headers["content-type"].startswith("application/vc+jwt")
    assert "attachment" in raw.headers["content-disposition"]
    assert vc.verify_jwt(raw.text, did.json(), now=p.clock.now()) == cred
    # someone else's token: not found; anonymous: 401
    other = make_user(p, "fan")
    problem(client.get(f"/api/v1/nft/me/credentials/{token_id}", headers=other.headers), 404, "not-found")
    problem(client.get(f"/api/v1/nft/me/credentials/{token_id}"), 401, "unauthorized")


def test_verification_of_both_forms_and_revocation_by_burning(world):
    from musicconnect_nft import minting
    from musicconnect_nft.models import Token

    p, client, artist, fan, token_id = world
    jwt = client.get(f"/api/v1/nft/me/credentials/{token_id}", headers=fan.headers).json()["jwt"]
    ok = client.post("/api/v1/nft/verify", json={"credential": jwt}).json()
    assert ok["valid"] is True and ok["form"] == "credential" and ok["token"]["burned"] is False
    by_id = client.post("/api/v1/nft/verify", json={"token_id": token_id}).json()
    assert by_id["valid"] is True, by_id
    assert by_id["token"]["chain"]["locked"] is True and by_id["token"]["chain"]["owner"] == by_id["token"]["owner"]
    # a tampered credential, garbage, an unknown token
    head, payload, sig = jwt.split(".")
    bad = client.post("/api/v1/nft/verify", json={"credential": f"{head}.{payload}x.{sig}"}).json()
    assert bad["valid"] is False and bad["reason"]
    assert client.post("/api/v1/nft/verify", json={"credential": "junk"}).json()["valid"] is False
    assert client.post("/api/v1/nft/verify", json={"token_id": "999"}).json() == {
        "valid": False, "form": "token", "reason": "no such token on this platform", "credential": None, "token": None}
    assert client.post("/api/v1/nft/verify", json={}).status_code == 422
    # the platform burns it (fraud): both forms now say no, and the metadata says burned
    with p.session() as s:
        from sqlalchemy import select

        minting.request_burn(p, s, s.scalar(select(Token).where(Token.token_id == token_id)), "fraud")
    settle(p)
    assert token_row(p, token_id).status == "burned"
    gone = client.post("/api/v1/nft/verify", json={"credential": jwt}).json()
    assert gone["valid"] is False and "burned" in gone["reason"]
    chain_says = client.post("/api/v1/nft/verify", json={"token_id": token_id}).json()
    assert chain_says["valid"] is False and chain_says["token"]["burned"] is True
    assert client.get(f"/api/v1/nft/tokens/{token_id}").json()["burned"] is True
    problem(client.get(f"/api/v1/nft/me/credentials/{token_id}", headers=fan.headers), 409, "token-not-confirmed")


def test_scopes_guard_the_fan_routes(world):
    p, client, artist, fan, token_id = world
    problem(client.get("/api/v1/nft/me/tokens"), 401, "unauthorized")
    problem(client.post("/api/v1/nft/wallet/challenge", json={}), 401, "unauthorized")


def test_after_erasure_the_public_metadata_is_anonymised_and_the_token_burned(world):
    from musicconnect.models import User

    p, client, artist, fan, token_id = world
    jwt = client.get(f"/api/v1/nft/me/credentials/{token_id}", headers=fan.headers).json()["jwt"]
    with p.session() as s:
        parts = dict(p.export_user_data(s, s.get(User, fan.id)))
    assert [t["token_id"] for t in parts["nft"].records["nft_tokens"]] == [token_id]
    with p.session() as s:
        p.erase_user_data(s, s.get(User, fan.id))
    settle(p)
    assert token_row(p, token_id).status == "burned"
    doc = client.get(f"/api/v1/nft/tokens/{token_id}").json()
    assert doc["anonymised"] is True and doc["burned"] is True and doc["attributes"] == []
    assert "Nova" not in json.dumps(doc)
    assert client.get(f"/api/v1/nft/tokens/{token_id}/image.png").status_code == 200
    gone = client.post("/api/v1/nft/verify", json={"credential": jwt}).json()
    assert gone["valid"] is False and "burned" in gone["reason"]


def test_an_erased_artist_takes_the_badges_back_without_losing_them(world, mc_users):
    """The artist is erased: their collections retire, every fan's live badge is burned
    (``artist_erased``), the rows stay — a badge revoked earlier stays revoked in the status list,
    and a mint signed but not yet sent keeps its nonce, so the platform's next mints still go out."""
    from sqlalchemy import select

    from musicconnect.models import User
    from musicconnect_nft import chain as chainmod
    from musicconnect_nft import credentials as vc
    from musicconnect_nft import minting
    from musicconnect_nft.models import Collection, Criterion, Token

    p, client, artist, fan, token_id = world
    did = client.get("/.well-known/did.json").json()
    cred = client.get(f"/api/v1/nft/me/credentials/{token_id}", headers=fan.headers).json()["credential"]
    assert client.post(f"/api/v1/nft/admin/tokens/{token_id}/revoke", json={"note": "fraud"},
                       headers=mc_users.admin.headers).status_code == 202
    other_fan = make_user(p, "fan")
    with p.read() as s:
        crit_id = s.scalar(select(Token.criterion_id).where(Token.token_id == token_id))
    with p.session() as s:  # a second badge signed while the node is unreachable: its nonce is reserved
        pending = minting.queue_mint(p, s, other_fan.id, s.get(Criterion, crit_id), {"months": 3}).id
    ch = chainmod.get_chain(p)
    real = ch.w3.eth.send_raw_transaction

    def down(raw):
        raise ConnectionError("node down")

    ch.w3.eth.send_raw_transaction = down
    try:
        with pytest.raises(chainmod.ChainDown):
            minting.mint_token(p, pending)
    finally:
        ch.w3.eth.send_raw_transaction = real

    with p.session() as s:
        p.erase_user_data(s, s.get(User, artist.id))
    p.cache.clear()
    listed = client.get(cred["credentialStatus"]["statusListCredential"].removeprefix("http://testserver")).text
    assert vc.is_revoked(cred, listed, did, now=p.clock.now()) is True
    settle(p)
    with p.read() as s:
        rows = {t.id: t for t in s.scalars(select(Token))}
        colls = list(s.scalars(select(Collection)))
    assert len(rows) == 2 and all(t.artist_id is None for t in rows.values())
    assert rows[pending].burn_reason == "artist_erased" and rows[pending].status == "burned"
    assert [(c.active, c.name, c.artist_id) for c in colls] == [(False, "Retired collection", None)]
    assert ch.contract.functions.totalSupply().call() == 0  # both burned on chain: the nonce was not lost
    assert client.post("/api/v1/nft/verify", json={"token_id": token_id}).json()["valid"] is False
    meta = client.get(f"/api/v1/nft/tokens/{token_id}").json()
    assert "Nova" not in json.dumps(meta)
