"""Revocation through the W3C Bitstring Status List: a downloaded credential names its list and
bit; the list is public, signed with the DID key, cached and refreshed when a badge is taken
back, so a verifier who holds only the credential, did.json and the list learns of a revocation."""
from __future__ import annotations

import pytest
from nft_world import make_collection, mint
from sqlalchemy import select

from helpers import problem
from musicconnect.testing import concurrently, make_user
from musicconnect_nft import credentials as vc
from musicconnect_nft import status


@pytest.fixture
def world(mc_platform):
    from starlette.testclient import TestClient

    from musicconnect.app import create_app

    p = mc_platform
    artist = make_user(p, "artist", artist_name="Listed")
    fans = [make_user(p, "fan") for _ in range(2)]
    _, crit = make_collection(p, artist.artist_id)
    tokens = [mint(p, f.id, crit) for f in fans]
    with TestClient(create_app(p)) as client:
        yield p, client, fans, tokens


def _path(url: str) -> str:
    return url.removeprefix("http://testserver")


def test_a_revoked_badge_shows_in_the_status_list(world, mc_users):
    p, client, fans, tokens = world
    did = client.get("/.well-known/did.json").json()
    creds = [client.get(f"/api/v1/nft/me/credentials/{t}", headers=f.headers).json()["credential"]
             for f, t in zip(fans, tokens)]
    entries = [c["credentialStatus"] for c in creds]
    for e in entries:
        assert e["type"] == "BitstringStatusListEntry" and e["statusPurpose"] == "revocation"
        assert e["statusListCredential"] == "http://testserver/api/v1/nft/status-lists/1"
        assert e["id"] == f"{e['statusListCredential']}#{e['statusListIndex']}"
    assert entries[0]["statusListIndex"] != entries[1]["statusListIndex"]

    r = client.get(_path(entries[0]["statusListCredential"]))
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vc+jwt")
    assert r.headers["cache-control"] == f"public, max-age={status.TTL_SECONDS}"
    listed = vc.verify_jwt(r.text, did, now=p.clock.now(), types=vc.STATUS_TYPES)
    assert listed["credentialSubject"]["type"] == "BitstringStatusList"
    assert len(vc.decode_status_list(listed["credentialSubject"]["encodedList"])) == vc.STATUS_LIST_BITS // 8
    assert [vc.is_revoked(c, r.text, did, now=p.clock.now()) for c in creds] == [False, False]

    # an admin takes the first badge back for fraud: the list says so at once (before the burn is mined)
    r = client.post(f"/api/v1/nft/admin/tokens/{tokens[0]}/revoke", json={"note": "bought plays"},
                    headers=mc_users.admin.headers)
    assert r.status_code in (200, 202), r.text
    fresh = client.get(_path(entries[0]["statusListCredential"])).text
    assert [vc.is_revoked(c, fresh, did, now=p.clock.now()) for c in creds] == [True, False]
    again = client.get(_path(entries[1]["statusListCredential"])).text  # both badges are in list 1
    assert again == fresh  # served from the cache until the next change
    kept = client.post("/api/v1/nft/verify", json={"credential": client.get(
        f"/api/v1/nft/me/credentials/{tokens[1]}?format=jwt", headers=fans[1].headers).text}).json()
    assert kept["valid"] is True


def test_a_list_from_elsewhere_or_another_list_is_refused(world):
    p, client, fans, tokens = world
    did = client.get("/.well-known/did.json").json()
    cred = client.get(f"/api/v1/nft/me/credentials/{tokens[0]}", headers=fans[0].headers).json()["credential"]
    listed = client.get("/api/v1/nft/status-lists/1").text
    other_doc = {**did, "verificationMethod": [{**did["verificationMethod"][0], "publicKeyJwk": vc.public_jwk(
        vc._derive_key(b"someone else"))}]}
    with pytest.raises(vc.CredentialInvalid):
        vc.is_revoked(cred, listed, other_doc, now=p.clock.now())  # not signed by the issuer's key
    moved = {**cred, "credentialStatus": {**cred["credentialStatus"],
                                          "statusListCredential": "http://testserver/api/v1/nft/status-lists/2"}}
    with pytest.raises(vc.CredentialInvalid, match="not the status list"):
        vc.is_revoked(moved, listed, did, now=p.clock.now())
    with pytest.raises(vc.CredentialInvalid):  # a fandom credential is not a status list
        vc.is_revoked(cred, client.get(f"/api/v1/nft/me/credentials/{tokens[0]}?format=jwt",
                                       headers=fans[0].headers).text, did, now=p.clock.now())
    problem(client.get("/api/v1/nft/status-lists/2"), 404, "not-found")
    assert client.get("/api/v1/nft/status-lists/0").status_code == 422


def test_status_bits_are_taken_atomically(mc_platform):
    from musicconnect_nft.models import Counter

    p = mc_platform

    def take(_):
        with p.session() as s:
            return status.take_status_index(s)

    got = concurrently(16, take)
    assert sorted(got) == list(range(16))
    with p.read() as s:
        assert s.scalar(select(Counter.next_value).where(Counter.name == status.COUNTER)) == 16


def test_encoding_round_trips_bit_order():
    enc = vc.encode_status_list([0, 9, vc.STATUS_LIST_BITS - 1])
    bits = vc.decode_status_list(enc)
    assert bits[0] == 0x80 and bits[1] == 0x40 and bits[-1] == 0x01 and sum(map(bool, bits)) == 3
    with pytest.raises(ValueError):
        vc.encode_status_list([vc.STATUS_LIST_BITS])
    with pytest.raises(vc.CredentialInvalid):
        vc.decode_status_list("zNotMultibase")
