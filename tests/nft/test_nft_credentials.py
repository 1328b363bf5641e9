"""The proof of fandom as a W3C Verifiable Credential 2.0 secured as a JWT (vc+jwt, ES256) with
the platform's did:web key: shape, signature, offline verification with the DID document alone,
tampering, other keys, validity windows; and the DID document the platform serves."""
from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from musicconnect_nft import credentials as vc

NOW = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)


def sample(base_url="https://fans.example.org", **kw):
    args = dict(base_url=base_url, credential_id=uuid.uuid4(), fan_id=uuid.uuid4(), wallet=None, chain_id=1337,
                artist_id=uuid.uuid4(), artist_name="Nova", collection="Inner circle",
                criterion={"kind": "tier_months", "text": "member for 3 months", "version": 1},
                tier="Superfan", since=NOW - timedelta(days=90),
                token={"chainId": 1337, "contract": "0x" + "12" * 20, "tokenId": "42"}, issued=NOW)
    args.update(kw)
    return vc.build_credential(**args)


def b64json(part: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def test_did_web_names_the_host_and_encodes_a_port():
    assert vc.did_of("https://fans.example.org") == "did:web:fans.example.org"
    assert vc.did_of("http://127.0.0.1:8000/") == "did:web:127.0.0.1%3A8000"


def test_the_credential_follows_the_vc2_data_model():
    cred = sample()
    assert cred["@context"] == ["https://www.w3.org/ns/credentials/v2"]
    assert cred["type"] == ["VerifiableCredential", "FandomCredential"]
    assert cred["issuer"] == "did:web:fans.example.org"
    assert cred["validFrom"] == "2026-06-01T12:00:00Z" and cred["id"].startswith("urn:uuid:")
    subject = cred["credentialSubject"]
    assert subject["id"].startswith("urn:uuid:") and subject["artist"]["name"] == "Nova"
    assert subject["tier"] == "Superfan" and subject["since"] == "2026-03-03T12:00:00Z"
    assert subject["criterion"]["kind"] == "tier_months"
    linked = sample(wallet="0x5B38Da6a701c568545dCfcB03FcB875f56beddC4")["credentialSubject"]
    assert linked["id"] == "did:pkh:eip155:1337:0x5B38Da6a701c568545dCfcB03FcB875f56beddC4"


def test_signed_credentials_verify_with_the_did_document_alone(mc_platform):
    p = mc_platform
    cred = sample(base_url=p.settings.base_url)
    token = vc.sign(p, cred)
    header, payload, _ = token.split(".")
    assert b64json(header) == {"alg": "ES256", "typ": "vc+jwt", "cty": "vc",
                               "kid": f"{vc.did_of(p.settings.base_url)}#{vc.KEY_FRAGMENT}"}
    assert b64json(payload)["credentialSubject"] == cred["credentialSubject"]
    # the verifier has only the DID document (JSON, as served): no platform, no chain
    doc = json.loads(json.dumps(vc.did_document(p)))
    assert doc["id"] == cred["issuer"] and doc["verificationMethod"][0]["publicKeyJwk"]["crv"] == "P-256"
    assert "d" not in doc["verificationMethod"][0]["publicKeyJwk"]            # never the private part
    assert vc.verify_jwt(token, doc, now=NOW) == cred
    # the same key in every process: derived from the platform's signing key
    vc._key_from.cache_clear()
    assert vc.did_document(p) == doc


def test_tampered_or_foreign_credentials_fail(mc_platform):
    p = mc_platform
    cred = sample(base_url=p.settings.base_url)
    token = vc.sign(p, cred)
    doc = vc.did_document(p)
    header, payload, sig = token.split(".")
    forged = dict(b64json(payload))
    forged["credentialSubject"] = {**forged["credentialSubject"], "tier": "Platinum"}
    body = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
    with pytest.raises(vc.CredentialInvalid, match="signature"):
        vc.verify_jwt(f"{header}.{body}.{sig}", doc, now=NOW)
    # signed by another key under our kid
    import jwt

    other = ec.generate_private_key(ec.SECP256R1())
    alien = jwt.encode({**cred, "iss": cred["issuer"]}, other, algorithm="ES256",
                       headers={"typ": "vc+jwt", "kid": f"{cred['issuer']}#{vc.KEY_FRAGMENT}"})
    with pytest.raises(vc.CredentialInvalid, match="signature"):
        vc.verify_jwt(alien, doc, now=NOW)
    # alg none / HS256 with the public key as secret: refused before any key is used
    unsigned = jwt.encode({**cred}, None, algorithm="none", headers={"typ": "vc+jwt"})
    with pytest.raises(vc.CredentialInvalid, match="ES256"):
        vc.verify_jwt(unsigned, doc, now=NOW)
    # another issuer's DID
    other_doc = {**doc, "id": "did:web:evil.example"}
    with pytest.raises(vc.CredentialInvalid):
        vc.verify_jwt(token, other_doc, now=NOW)
    with pytest.raises(vc.CredentialInvalid, match="compact"):
        vc.verify_jwt("not-a-jwt", doc, now=NOW)


def test_validity_window(mc_platform):
    p = mc_platform
    later = vc.sign(p, sample(base_url=p.settings.base_url, issued=NOW + timedelta(days=1)))
    with pytest.raises(vc.CredentialInvalid, match="not valid yet"):
        vc.verify_jwt(later, vc.did_document(p), now=NOW)
    cred = sample(base_url=p.settings.base_url)
    cred["validUntil"] = "2026-05-01T00:00:00Z"
    with pytest.raises(vc.CredentialInvalid, match="expired"):
        vc.verify_jwt(vc.sign(p, cred), vc.did_document(p), now=NOW)


def test_an_operator_key_replaces_the_derived_one():
    from cryptography.hazmat.primitives import serialization

    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    assert vc._key_from(b"secret", pem).private_numbers() == key.private_numbers()
    assert vc._key_from(b"secret", None).private_numbers() != key.private_numbers()
    rsa_pem = pem.replace("A", "B")  # not a valid key at all
    with pytest.raises(ValueError):
        vc._key_from(b"secret", rsa_pem)
