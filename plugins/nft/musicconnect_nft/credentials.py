"""The proof of fandom as a W3C Verifiable Credential (VC Data Model 2.0), secured as a JWT
(VC-JOSE-COSE: ``typ: vc+jwt``, ES256) with the platform's key, issuer ``did:web:<host>``.

* The signing key is a P-256 key derived from the platform's signing key (HKDF, its own label),
  so every API process and worker has the same key with nothing stored; an operator can set
  ``MC_NFT_VC_PRIVATE_KEY`` (a PEM) instead.
* ``/.well-known/did.json`` (``api``) serves the DID document with the public JWK, so any
  verifier checks a credential with that document alone: no chain, no call to us
  (:func:`verify_jwt`).
* The payload *is* the credential (VC 2.0 over JOSE): ``@context``, ``type``, ``issuer``,
  ``validFrom``, ``credentialSubject`` (fan or wallet, artist, criterion, tier, since, token),
  ``credentialStatus``: a W3C Bitstring Status List entry (``revocation``), so a verifier learns
  that a badge was taken back (fraud, erasure, re-issue) from one public, signed, cacheable list
  that says nothing about who asks (:func:`status_list_credential`, :func:`is_revoked`).
"""
from __future__ import annotations

import base64
import hashlib
import json
import uuid
from datetime import datetime
from functools import lru_cache
from typing import Any
from urllib.parse import quote, urlsplit

from pydantic import Field, SecretStr

from musicconnect import PluginSettings, Problem

VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
VC_TYPE = ["VerifiableCredential", "FandomCredential"]
JWT_TYP = "vc+jwt"
KEY_FRAGMENT = "vc-key-1"
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


class CredentialSettings(PluginSettings):
    vc_private_key: SecretStr | None = Field(
        default=None, description="PEM of the P-256 key that signs fandom credentials (environment only); "
                                  "unset: derived from the platform's signing key")


SETTINGS = [CredentialSettings]


# ------------------------------------------------------------------ keys and the DID
def did_of(base_url: str) -> str:
    """``did:web`` of the platform: the host, a port percent-encoded (did:web spec)."""
    return "did:web:" + quote(urlsplit(base_url).netloc, safe="")


def _derive_key(secret: bytes):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    raw = HKDF(algorithm=hashes.SHA256(), length=48, salt=b"musicconnect-nft",
               info=b"verifiable-credentials es256 v1").derive(secret)
    scalar = int.from_bytes(raw, "big") % (_P256_ORDER - 1) + 1
    return ec.derive_private_key(scalar, ec.SECP256R1())


@lru_cache(maxsize=8)
def _key_from(secret: bytes, pem: str | None):
    if pem:
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        key = load_pem_private_key(pem.encode(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise ValueError("MC_NFT_VC_PRIVATE_KEY must be a P-256 private key")
        return key
    return _derive_key(secret)


def signing_key(platform):
    pem = None
    try:
        cfg = platform.plugin_settings("nft")
        value = getattr(cfg, "vc_private_key", None)
        pem = value.get_secret_value() if value is not None else None
    except Exception:  # noqa: BLE001 - settings not registered (a bare test platform): derive
        pem = None
    return _key_from(platform.settings.signing_key(), pem)


def _b64(n: int) -> str:
    return base64.urlsafe_b64encode(n.to_bytes(32, "big")).rstrip(b"=").decode()


def public_jwk(key) -> dict[str, str]:
    pub = key.public_key().public_numbers()
    jwk = {"kty": "EC", "crv": "P-256", "x": _b64(pub.x), "y": _b64(pub.y)}
    return {**jwk, "kid": thumbprint(jwk)}


def thumbprint(jwk: dict[str, str]) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url)."""
    canon = json.dumps({k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canon.encode()).digest()).rstrip(b"=").decode()


def did_document(platform) -> dict[str, Any]:
    did = did_of(platform.settings.base_url)
    jwk = public_jwk(signing_key(platform))
    vm = f"{did}#{KEY_FRAGMENT}"
    return {
        "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/jwk/v1"],
        "id": did,
        "verificationMethod": [{"id": vm, "type": "JsonWebKey", "controller": did, "publicKeyJwk": jwk}],
        "assertionMethod": [vm],
        "authentication": [vm],
    }


# ------------------------------------------------------------------ issuing
def _iso(dt: datetime) -> str:
    return dt.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def build_credential(*, base_url: str, credential_id: uuid.UUID, fan_id: uuid.UUID | None, wallet: str | None,
                     chain_id: int | None, artist_id: uuid.UUID, artist_name: str, collection: str,
                     criterion: dict[str, Any], tier: str | None, since: datetime, token: dict[str, Any] | None,
                     issued: datetime, status_index: int | None = None) -> dict[str, Any]:
    """The VC 2.0 document (unsigned). The subject is the wallet (``did:pkh``) when the fan linked
    one, else the fan's platform id (``urn:uuid``)."""
    did = did_of(base_url)
    if wallet and chain_id:
        subject_id = f"did:pkh:eip155:{chain_id}:{wallet}"
    elif fan_id is not None:
        subject_id = f"urn:uuid:{fan_id}"
    else:
        subject_id = None
    subject: dict[str, Any] = {
        "type": "Fan",
        "artist": {"id": f"urn:uuid:{artist_id}", "name": artist_name},
        "collection": collection,
        "criterion": criterion,
        "since": _iso(since),
    }
    if subject_id:
        subject = {"id": subject_id, **subject}
    if tier:
        subject["tier"] = tier
    if wallet:
        subject["wallet"] = wallet
    if token:
        subject["token"] = token
    out = {
        "@context": [VC_CONTEXT],
        "id": f"urn:uuid:{credential_id}",
        "type": list(VC_TYPE),
        "issuer": did,
        "name": f"Proof of Fandom: {artist_name}",
        "validFrom": _iso(issued),
        "credentialSubject": subject,
    }
    if status_index is not None:
        out["credentialStatus"] = status_entry(base_url, status_index)
    return out


# ------------------------------------------------------------------ revocation status lists
#: bits per list: the spec's minimum (16 KiB), which keeps a holder in a crowd of 131,072
STATUS_LIST_BITS = 131_072
STATUS_TYPES = ["VerifiableCredential", "BitstringStatusListCredential"]
#: a list's gzip is at most ~16.5 KiB (incompressible bits); as base64url in a signed JWT, < 64 KiB
STATUS_LIST_MAX_JWT = 65_536


def status_list_url(base_url: str, number: int) -> str:
    return f"{base_url.rstrip('/')}/api/v1/nft/status-lists/{number}"


def status_entry(base_url: str, index: int) -> dict[str, Any]:
    """The ``credentialStatus`` of the credential whose bit is ``index`` (list ``index // bits + 1``)."""
    number, position = index // STATUS_LIST_BITS + 1, index % STATUS_LIST_BITS
    url = status_list_url(base_url, number)
    return {"id": f"{url}#{position}", "type": "BitstringStatusListEntry", "statusPurpose": "revocation",
            "statusListIndex": str(position), "statusListCredential": url}


def encode_status_list(positions) -> str:
    """The spec's ``encodedList``: the bitstring (bit 0 = the first byte's highest bit), GZIP,
    base64url without padding, multibase prefix ``u``."""
    import gzip

    bits = bytearray(STATUS_LIST_BITS // 8)
    for p in positions:
        if not 0 <= p < STATUS_LIST_BITS:
            raise ValueError(f"status index {p} is outside the list")
        bits[p // 8] |= 0x80 >> (p % 8)
    packed = gzip.compress(bytes(bits), mtime=0)
    return "u" + base64.urlsafe_b64encode(packed).rstrip(b"=").decode()


def decode_status_list(encoded: str) -> bytes:
    import gzip

    if not isinstance(encoded, str) or not encoded.startswith("u") or len(encoded) > 24_000:
        raise CredentialInvalid("encodedList is not multibase base64url")
    raw = encoded[1:]
    try:
        return gzip.decompress(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (ValueError, OSError, EOFError):
        raise CredentialInvalid("encodedList does not decode") from None


def status_list_credential(base_url: str, number: int, encoded: str, issued: datetime,
                           ttl_seconds: int) -> dict[str, Any]:
    """The unsigned ``BitstringStatusListCredential`` of list ``number``."""
    from datetime import timedelta

    url = status_list_url(base_url, number)
    return {"@context": [VC_CONTEXT], "id": url, "type": list(STATUS_TYPES), "issuer": did_of(base_url),
            "validFrom": _iso(issued), "validUntil": _iso(issued + timedelta(seconds=2 * ttl_seconds)),
            "credentialSubject": {"id": f"{url}#list", "type": "BitstringStatusList",
                                  "statusPurpose": "revocation", "encodedList": encoded,
                                  "ttl": ttl_seconds * 1000}}


def is_revoked(credential: dict[str, Any], status_list_jwt: str, did_doc: dict[str, Any], *, now: datetime) -> bool:
    """What a verifier does with a credential's ``credentialStatus`` and the list it names
    (fetched from ``statusListCredential``): check the list's signature like any credential of the
    issuer, that it is the list named, then read the bit. Raises :class:`CredentialInvalid`."""
    entry = credential.get("credentialStatus")
    if not isinstance(entry, dict) or entry.get("type") != "BitstringStatusListEntry":
        raise CredentialInvalid("the credential has no BitstringStatusListEntry")
    listed = verify_jwt(status_list_jwt, did_doc, now=now, types=STATUS_TYPES, max_length=STATUS_LIST_MAX_JWT)
    if listed.get("id") != entry.get("statusListCredential"):
        raise CredentialInvalid("this is not the status list the credential names")
    subject = listed["credentialSubject"]
    if subject.get("statusPurpose") != entry.get("statusPurpose"):
        raise CredentialInvalid("the status list is for another purpose")
    bits = decode_status_list(subject.get("encodedList"))
    try:
        position = int(entry["statusListIndex"])
    except (KeyError, ValueError):
        raise CredentialInvalid("statusListIndex is not a number") from None
    if not 0 <= position < len(bits) * 8:
        raise CredentialInvalid("statusListIndex is outside the list")
    return bool(bits[position // 8] & (0x80 >> (position % 8)))


def sign(platform, credential: dict[str, Any]) -> str:
    """The credential as a compact JWS (``typ: vc+jwt``, ES256, ``kid`` = the DID's key)."""
    import jwt

    key = signing_key(platform)
    headers = {"typ": JWT_TYP, "cty": "vc", "kid": f"{credential['issuer']}#{KEY_FRAGMENT}"}
    claims = {**credential, "iss": credential["issuer"], "jti": credential["id"]}
    subject = credential["credentialSubject"].get("id")
    if subject:
        claims["sub"] = subject
    return jwt.encode(claims, key, algorithm="ES256", headers=headers)


# ------------------------------------------------------------------ verifying (no platform needed)
class CredentialInvalid(Exception):
    pass


def key_from_did_document(doc: dict[str, Any], kid: str):
    """The public key a DID document lists under ``kid`` (full DID URL or fragment)."""
    from jwt.algorithms import ECAlgorithm

    for vm in doc.get("verificationMethod", []):
        if vm.get("id") == kid or vm.get("id", "").endswith("#" + kid.split("#")[-1]):
            if kid.split("#")[0] not in ("", doc.get("id")):
                break
            return ECAlgorithm.from_jwk(json.dumps(vm["publicKeyJwk"]))
    raise CredentialInvalid(f"the issuer's DID document has no key {kid!r}")


def verify_jwt(token: str, did_doc: dict[str, Any], *, now: datetime, types: list[str] = VC_TYPE,
               max_length: int = 16_384) -> dict[str, Any]:
    """Check a ``vc+jwt`` with nothing but the issuer's DID document: header, ES256 signature,
    the VC 2.0 shape, the issuer, the validity window. Returns the credential; raises
    :class:`CredentialInvalid`."""
    import jwt

    if not isinstance(token, str) or token.count(".") != 2 or len(token) > max_length:
        raise CredentialInvalid("not a compact JWS")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise CredentialInvalid(f"unreadable header: {exc}") from None
    if header.get("alg") != "ES256" or header.get("typ") != JWT_TYP:
        raise CredentialInvalid("the header is not ES256 vc+jwt")
    kid = header.get("kid") or ""
    key = key_from_did_document(did_doc, kid)
    try:
        claims = jwt.decode(token, key, algorithms=["ES256"],
                            options={"verify_aud": False, "verify_exp": False, "verify_iat": False,
                                     "verify_nbf": False, "verify_sub": False, "verify_jti": False})
    except jwt.PyJWTError as exc:
        raise CredentialInvalid(f"the signature does not verify: {exc}") from None
    if claims.get("@context", [None])[0] != VC_CONTEXT:
        raise CredentialInvalid("not a VC 2.0 credential (@context)")
    if not isinstance(claims.get("type"), list) or not set(types) <= set(claims["type"]):
        raise CredentialInvalid(f"not a {types[-1]}")
    if claims.get("issuer") != did_doc.get("id") or claims.get("iss", claims.get("issuer")) != claims.get("issuer"):
        raise CredentialInvalid("the issuer is not the DID that signed it")
    try:
        valid_from = datetime.fromisoformat(str(claims["validFrom"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        raise CredentialInvalid("validFrom is missing or malformed") from None
    if valid_from > now:
        raise CredentialInvalid("the credential is not valid yet")
    if "validUntil" in claims:
        until = datetime.fromisoformat(str(claims["validUntil"]).replace("Z", "+00:00"))
        if until <= now:
            raise CredentialInvalid("the credential has expired")
    if not isinstance(claims.get("credentialSubject"), dict):
        raise CredentialInvalid("credentialSubject is missing")
    return {k: v for k, v in claims.items() if k not in ("iss", "jti", "sub", "iat")}


def invalid_problem(exc: CredentialInvalid) -> Problem:
    return Problem(422, "credential-invalid", str(exc))
