"""Fan-facing routes of the nft plugin (mounted at ``/api/v1/nft``) and the DID document at the
site root.

| route | scope | what |
|---|---|---|
| ``GET /tokens/{token_id}`` | public | the tokenURI: ERC-721 metadata JSON |
| ``GET /tokens/{token_id}/image.png`` | public | the generated badge |
| ``POST /wallet/challenge`` | ``nft:write`` | a single-use Sign-In with Ethereum nonce (and the message to sign) |
| ``POST /wallet/link`` | ``nft:write`` | the signed message: link the wallet, re-issue custodial tokens to it |
| ``GET /me/tokens`` | ``nft:read`` | the fan's tokens |
| ``GET /me/credentials/{token_id}`` | ``nft:read`` | the token as a Verifiable Credential (``vc+jwt``) |
| ``GET /me/perks`` | ``nft:read`` | what the fan's tokens unlock (backstage until, discount codes) |
| ``POST /verify`` | public | check a credential (JWT) or a token id (index + chain) |
| ``POST /artists/{artist_id}/discounts/check`` | ``nft:write`` | the artist checks a fan's discount code |
| ``GET /.well-known/did.json`` | public | the platform's ``did:web`` document (the credential key) |
"""
from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from musicconnect import NotFound, Problem
from musicconnect.web import ensure_artist_owner, get_platform, public, scope

from . import credentials as vc
from . import metadata as meta
from . import perks as perks_mod
from . import siwe
from .models import Holding, LinkChallenge, Token, Wallet

log = logging.getLogger("musicconnect.nft")

router = APIRouter()
site_router = APIRouter()

TOKEN_ID = Path(pattern=r"^[0-9]{1,78}$", description="the token's uint256 id, in decimal")
PNG = {200: {"content": {"image/png": {}}, "description": "the badge (PNG)"}}


def _settings(platform):
    try:
        return platform.plugin_settings("nft")
    except Exception:  # noqa: BLE001 - a platform without the plugin's settings registered
        return None


def _chain_id(platform) -> int:
    cfg = _settings(platform)
    configured = int(getattr(cfg, "chain_id", 0) or 0)
    if configured:
        return configured
    from .chain import get_chain

    return int(get_chain(platform).chain_id)


def _ttl(platform) -> int:
    return int(getattr(_settings(platform), "link_ttl_seconds", 600) or 600)


# ------------------------------------------------------------------ metadata (tokenURI)
def _token(session, token_id: str) -> Token:
    token = session.scalar(select(Token).where(Token.token_id == token_id))
    if token is None or token.status in ("queued", "failed"):
        raise NotFound("token")
    return token


@router.get("/tokens/{token_id}", dependencies=[Depends(public)],
            responses={200: {"description": "ERC-721 metadata JSON", "content": {"application/json": {}}}})
def token_metadata(token_id: str = TOKEN_ID, platform=Depends(get_platform)) -> JSONResponse:
    """The token's metadata (what ``tokenURI`` points at): name, artist, tier, since, the criterion
    met and the image URL. Public, and never names the fan."""
    with platform.read() as s:
        facts = meta.facts(s, _token(s, token_id))
    return JSONResponse(meta.metadata(platform.settings.base_url, facts),
                        headers={"Cache-Control": "public, max-age=300"})


@router.get("/tokens/{token_id}/image.png", dependencies=[Depends(public)], response_class=Response, responses=PNG)
def token_image(token_id: str = TOKEN_ID, platform=Depends(get_platform)) -> Response:
    """The token's generated badge."""
    with platform.read() as s:
        facts = meta.facts(s, _token(s, token_id))
    png = meta.cached_png(str(facts["artist_id"]), facts["collection_slug"], facts["artist"],
                          facts["criterion"]["text"], facts["tier"],
                          facts["since"].replace(day=1, hour=0, minute=0, second=0, microsecond=0),  # shows the month
                          facts["anonymised"])
    return Response(png, media_type="image/png", headers={"Cache-Control": "public, max-age=3600"})


# ------------------------------------------------------------------ wallet linking (SIWE)
class ChallengeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"address": "0x5B38Da6a701c568545dCfcB03FcB875f56beddC4"}, {}]})
    address: str | None = Field(default=None, pattern=r"^0x[0-9a-fA-F]{40}$",
                                description="the wallet to link; when given, the answer holds the full message to sign")


class ChallengeOut(BaseModel):
    nonce: str
    expires_at: datetime
    domain: str
    uri: str
    chain_id: int
    statement: str
    message: str | None = None


#: open wallet-link nonces a fan may hold at once
MAX_OPEN = 5
STATEMENT = "Link this wallet to my MusicConnect account to hold my fan tokens."


@router.post("/wallet/challenge", response_model=ChallengeOut, status_code=201)
def wallet_challenge(body: ChallengeIn, actor=Depends(scope("nft:write")), platform=Depends(get_platform)):
    """A single-use nonce to put in an EIP-4361 (Sign-In with Ethereum) message. With an
    ``address`` the platform composes the message for the wallet to sign."""
    address = None
    if body.address is not None:  # any case: the message carries the EIP-55 form (what wallets show)
        from eth_utils import to_checksum_address

        address = to_checksum_address(body.address)
    now = platform.clock.now()
    nonce = siwe.new_nonce()
    expires = now + timedelta(seconds=_ttl(platform))
    chain_id = _chain_id(platform)
    with platform.session() as s:
        # the fan's spent and expired nonces go; at most MAX_OPEN stay open (the oldest are dropped)
        s.execute(delete(LinkChallenge).where(LinkChallenge.user_id == actor.user_id,
                                              or_(LinkChallenge.used_at.is_not(None), LinkChallenge.expires_at <= now)))
        keep = select(LinkChallenge.nonce).where(LinkChallenge.user_id == actor.user_id).order_by(
            LinkChallenge.issued_at.desc(), LinkChallenge.nonce).limit(MAX_OPEN - 1)
        s.execute(delete(LinkChallenge).where(LinkChallenge.user_id == actor.user_id,
                                              LinkChallenge.nonce.not_in(keep.scalar_subquery())))
        s.add(LinkChallenge(nonce=nonce, user_id=actor.user_id, issued_at=now, expires_at=expires))
    domain, origin = siwe.platform_origin(platform.settings.base_url)
    message = None
    if address is not None:
        message = siwe.compose(address=address, nonce=nonce, base_url=platform.settings.base_url,
                               chain_id=chain_id, issued_at=now.replace(microsecond=0),
                               expiration_time=expires.replace(microsecond=0), statement=STATEMENT)
    return ChallengeOut(nonce=nonce, expires_at=expires, domain=domain, uri=origin, chain_id=chain_id,
                        statement=STATEMENT, message=message)


class LinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "message": ("127.0.0.1:8000 wants you to sign in with your Ethereum account:\n"
                    "0x5B38Da6a701c568545dCfcB03FcB875f56beddC4\n\n" + STATEMENT + "\n\n"
                    "URI: http://127.0.0.1:8000\nVersion: 1\nChain ID: 131277322940537\n"
                    "Nonce: k3Jd8sQmW2xZp9LrT4vN6bYc\nIssued At: 2026-06-01T12:00:00Z\n"
                    "Expiration Time: 2026-06-01T12:10:00Z"),
        "signature": "0x" + "ab" * 65}]})
    message: str = Field(min_length=1, max_length=siwe.MAX_MESSAGE, description="the EIP-4361 message, exactly as signed")
    signature: str = Field(pattern=r"^0x(?:[0-9a-fA-F]{2}){1,2048}$",
                           description="the wallet's personal_sign signature: 65 bytes from a key, or what a "
                                       "smart-contract wallet signs (checked with ERC-1271 on the platform's chain)")


class LinkOut(BaseModel):
    address: str
    chain_id: int
    reissued: list[str] = Field(description="ids of the custodial tokens being re-issued to this wallet")


_ERC1271_ABI = [{"type": "function", "name": "isValidSignature", "stateMutability": "view",
                 "inputs": [{"name": "hash", "type": "bytes32"}, {"name": "signature", "type": "bytes"}],
                 "outputs": [{"name": "magicValue", "type": "bytes4"}]}]


def _erc1271_accepts(platform, address: str, digest: bytes, signature: bytes) -> bool:
    """Does the contract at ``address`` (on the platform's chain) accept ``signature`` for
    ``digest``? An address without code is a key: no. A reverting or odd contract: no. The node
    unreachable: 503 (we cannot tell, so we do not guess)."""
    from .chain import RPC_ERRORS, ChainDown, get_chain

    try:
        chain = get_chain(platform)
        if not chain.w3.eth.get_code(address):
            return False
        wallet = chain.w3.eth.contract(address=address, abi=_ERC1271_ABI)
        answer = wallet.functions.isValidSignature(digest, signature).call({"gas": 500_000})
    except (ChainDown, *RPC_ERRORS):
        raise Problem(503, "nft-chain-unavailable", "the chain cannot be reached to check a contract wallet's "
                      "signature; try again shortly") from None
    except Exception:  # noqa: BLE001 - a revert, a non-ERC-1271 contract: not accepted
        return False
    return bytes(answer) == siwe.ERC1271_MAGIC


@router.post("/wallet/link", response_model=LinkOut,
             responses={401: {"description": "forged signature, wrong domain/chain, or a nonce that is unknown, "
                                             "used or expired"},
                        409: {"description": "the wallet is linked to another account, or you linked one already"}})
def wallet_link(body: LinkIn, actor=Depends(scope("nft:write")), platform=Depends(get_platform)):
    """Link your own wallet: send the EIP-4361 message you signed (with a nonce from
    ``/wallet/challenge``) and its signature. Your custodial tokens are then burned and re-minted
    to the wallet (soulbound tokens cannot be transferred); the re-issue is recorded."""
    now = platform.clock.now()
    chain_id = _chain_id(platform)
    # a contract wallet is asked (a chain call) only for a message around an open nonce of this fan
    try:
        nonce = siwe.parse(body.message).nonce
    except ValueError:
        nonce = None
    with platform.read() as s:
        open_nonce = nonce is not None and s.scalar(select(LinkChallenge.nonce).where(
            LinkChallenge.nonce == nonce, LinkChallenge.user_id == actor.user_id,
            LinkChallenge.used_at.is_(None), LinkChallenge.expires_at > now)) is not None
    msg = siwe.verify_message(body.message, body.signature, base_url=platform.settings.base_url,
                              chain_id=chain_id, now=now,
                              contract_accepts=(lambda *a: _erc1271_accepts(platform, *a)) if open_nonce else None)
    from . import minting

    try:
        return _link(platform, actor, body, msg, chain_id, now, minting)
    except IntegrityError:  # a concurrent link of this wallet or by this fan won the race
        raise Problem(409, "nft-wallet-taken", "this wallet or this account was linked at the same moment; "
                      "look at your wallets before trying again") from None


def _link(platform, actor, body, msg, chain_id, now, minting):
    with platform.session() as s:
        used = s.execute(update(LinkChallenge)
                         .where(LinkChallenge.nonce == msg.nonce, LinkChallenge.user_id == actor.user_id,
                                LinkChallenge.used_at.is_(None), LinkChallenge.expires_at > now)
                         .values(used_at=now)).rowcount
        if used != 1:  # unknown, someone else's, spent (a replay) or expired: one answer for all
            raise Problem(401, "siwe-nonce-invalid", "this sign-in nonce is unknown, used or expired: ask for a new one")
        other = s.scalar(select(Wallet).where(Wallet.address == msg.address))
        if other is not None and other.user_id != actor.user_id:
            raise Problem(409, "wallet-taken", "this wallet is linked to another account")
        mine = s.scalar(select(Wallet).where(Wallet.user_id == actor.user_id, Wallet.kind == "linked"))
        if mine is not None:
            if mine.address == msg.address:
                return LinkOut(address=mine.address, chain_id=chain_id, reissued=[])
            raise Problem(409, "wallet-already-linked", "you linked another wallet already", address=mine.address)
        proof = {"message": body.message, "signature": body.signature, "nonce": msg.nonce,
                 "verified_at": now.isoformat()}
        reissued = minting.link_wallet(platform, s, actor.user_id, msg.address, proof)
        ids = [t.token_id for t in reissued or []]
    return LinkOut(address=msg.address, chain_id=chain_id, reissued=ids)


# ------------------------------------------------------------------ the fan's tokens and credentials
class TokenOut(BaseModel):
    token_id: str
    artist_id: uuid.UUID
    collection_id: uuid.UUID
    criterion_version: int
    status: str
    owner_address: str
    tx_hash: str | None
    created_at: datetime
    burned_at: datetime | None
    burn_reason: str | None
    metadata_url: str


@router.get("/me/tokens", response_model=list[TokenOut])
def my_tokens(actor=Depends(scope("nft:read")), platform=Depends(get_platform)):
    """Every token issued to you (queued, confirmed, burned and re-issued ones)."""
    with platform.read() as s:
        rows = s.scalars(select(Token).where(Token.user_id == actor.user_id).order_by(Token.created_at)).all()
        return [TokenOut(token_id=t.token_id, artist_id=t.artist_id, collection_id=t.collection_id,
                         criterion_version=t.criterion_version, status=t.status, owner_address=t.owner_address,
                         tx_hash=t.tx_hash, created_at=t.created_at, burned_at=t.burned_at, burn_reason=t.burn_reason,
                         metadata_url=meta.token_url(platform.settings.base_url, t.token_id)) for t in rows]


class CredentialOut(BaseModel):
    jwt: str = Field(description="the credential secured as a JWT (typ vc+jwt, ES256, the platform's did:web key)")
    credential: dict[str, Any] = Field(description="the credential (VC 2.0 data model) the JWT carries")
    did_document: str = Field(description="where verifiers find the issuer's key")


def credential_for(platform, session, token: Token) -> dict[str, Any]:
    f = meta.facts(session, token)
    linked = session.scalar(select(Wallet.address).where(Wallet.user_id == token.user_id, Wallet.kind == "linked"))
    wallet = token.owner_address if linked and linked == token.owner_address else None
    chain_id = _chain_id(platform)
    contract = None
    try:
        from .chain import get_chain

        contract = get_chain(platform).address
    except Exception:  # noqa: BLE001 - the credential does not need the chain; the address is a nicety
        log.warning("nft: no contract address for the credential of token %s", token.token_id)
    return vc.build_credential(
        base_url=platform.settings.base_url, credential_id=token.id, fan_id=token.user_id, wallet=wallet,
        chain_id=chain_id, artist_id=token.artist_id, artist_name=f["artist"], collection=f["collection"],
        criterion={"kind": f["criterion"]["kind"], "text": f["criterion"]["text"],
                   "version": f["criterion"]["version"]},
        tier=f["tier"], since=f["since"],
        token={"chainId": chain_id, "contract": contract, "tokenId": token.token_id,
               "uri": meta.token_url(platform.settings.base_url, token.token_id)},
        issued=token.confirmed_at or token.created_at, status_index=token.status_index)


@router.get("/me/credentials/{token_id}", response_model=CredentialOut,
            responses={200: {"content": {"application/vc+jwt": {}},
                             "description": "the credential (JSON), or with format=jwt the JWT itself as a file"},
                       409: {"description": "the token is not confirmed on chain yet, or it was burned"}})
def my_credential(token_id: str = TOKEN_ID,
                  format: Literal["json", "jwt"] = Query("json", description="jwt: the bare vc+jwt as a download"),
                  actor=Depends(scope("nft:read")), platform=Depends(get_platform)):
    """Your token as a W3C Verifiable Credential (VC 2.0, JOSE-secured): keep it, show it to
    anyone; they verify it with the platform's DID document alone, no chain needed."""
    with platform.read() as s:
        token = s.scalar(select(Token).where(Token.token_id == token_id, Token.user_id == actor.user_id))
        if token is None:
            raise NotFound("token")
        if token.status != "confirmed":
            raise Problem(409, "token-not-confirmed", f"this token is {token.status}, not confirmed on chain",
                          token_status=token.status)
        if token.burn_reason is not None:  # revoked: no freshly signed credential for it
            raise Problem(409, "token-not-confirmed", f"this token was revoked ({token.burn_reason}) and is being burned",
                          token_status="revoked")
        credential = credential_for(platform, s, token)
    jwt = vc.sign(platform, credential)
    if format == "jwt":
        return Response(jwt, media_type="application/vc+jwt",
                        headers={"Content-Disposition": f'attachment; filename="fandom-{token_id[:16]}.jwt"'})
    return CredentialOut(jwt=jwt, credential=credential,
                         did_document=f"{platform.settings.base_url.rstrip('/')}/.well-known/did.json")


@router.get("/me/perks")
def my_perks(actor=Depends(scope("nft:read")), platform=Depends(get_platform)) -> list[dict[str, Any]]:
    """What your tokens unlock now: backstage access (until when) and discount codes."""
    with platform.read() as s:
        return perks_mod.perks_of(platform, s, actor.user_id)


class CodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"code": "FAN-ABCD-EFGH-IJKL"}]})
    code: str = Field(min_length=4, max_length=40)


class CodeOut(BaseModel):
    valid: bool
    percent: int | None = None
    token_id: str | None = None


@router.post("/artists/{artist_id}/discounts/check", response_model=CodeOut)
def check_discount(artist_id: uuid.UUID, body: CodeIn, actor=Depends(scope("nft:write")),
                   platform=Depends(get_platform)):
    """The artist (or an admin) checks a discount code a fan shows: valid while the token is held."""
    ensure_artist_owner(actor, artist_id)
    with platform.read() as s:
        found = perks_mod.check_code(platform, s, artist_id, body.code.strip().upper())
    return CodeOut(valid=found is not None, **(found or {}))


# ------------------------------------------------------------------ verification (both forms)
class VerifyCredential(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"credential": "eyJhbGciOiJFUzI1NiIsInR5cCI6InZjK2p3dCJ9.e30.c2ln"}]})
    credential: str = Field(max_length=16_384, description="a vc+jwt credential")


class VerifyToken(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"token_id": "1234567890"}]})
    token_id: str = Field(pattern=r"^[0-9]{1,78}$", description="a token id")


class VerifyOut(BaseModel):
    valid: bool
    form: str = Field(description="credential or token")
    reason: str | None = None
    credential: dict[str, Any] | None = None
    token: dict[str, Any] | None = None


def token_status(platform, session, token_id: str, *, read_chain: bool) -> dict[str, Any] | None:
    """What the index (and, if asked, the chain) says about a token id."""
    holding = session.get(Holding, token_id)
    token = session.scalar(select(Token).where(Token.token_id == token_id))
    if holding is None and token is None:
        return None
    out: dict[str, Any] = {"token_id": token_id, "indexed": holding is not None,
                           "owner": holding.owner_address if holding else None,
                           "burned": bool(holding.burned) if holding else (token.status == "burned"),
                           "revoked": token is not None and (token.status == "burned" or token.burn_reason is not None),
                           "status": token.status if token else None}
    if token is not None:
        f = meta.facts(session, token)
        out.update(artist=f["artist"], artist_id=str(f["artist_id"]), collection=f["collection"],
                   criterion=f["criterion"]["text"], since=f["since"].isoformat(), tx_hash=token.tx_hash)
    if read_chain:
        out["chain"] = _chain_read(platform, token_id)
    return out


def _chain_read(platform, token_id: str) -> dict[str, Any]:
    """``ownerOf`` and ``locked`` from the contract (only verification reads the chain)."""
    try:
        from .chain import get_chain

        c = get_chain(platform)
        try:
            owner = c.contract.functions.ownerOf(int(token_id)).call()
        except Exception:  # noqa: BLE001 - a burned or unknown token reverts ownerOf
            return {"checked": True, "exists": False}
        locked = bool(c.contract.functions.locked(int(token_id)).call())
        return {"checked": True, "exists": True, "owner": owner, "locked": locked, "contract": c.address,
                "chain_id": int(c.chain_id)}
    except Exception as exc:  # noqa: BLE001 - RPC down: say so, answer from the index
        log.warning("nft: chain read for verification failed: %s", exc)
        return {"checked": False, "error": type(exc).__name__}


@router.post("/verify", response_model=VerifyOut, dependencies=[Depends(public)])
def verify(body: VerifyCredential | VerifyToken = Body(openapi_examples={
        "credential": {"summary": "a credential", "value": {"credential": "eyJhbGciOiJFUzI1NiIsInR5cCI6InZjK2p3dCJ9.e30.c2ln"}},
        "token": {"summary": "a token id", "value": {"token_id": "1234567890"}}}), platform=Depends(get_platform)):
    """Anyone checks a proof of fandom: a credential (``vc+jwt``: signature with the platform's
    DID key, VC 2.0 shape, validity; and whether its token was burned since) or a token id (the
    plugin's index, confirmed by a read of the contract)."""
    now = platform.clock.now()
    if isinstance(body, VerifyCredential):
        try:
            cred = vc.verify_jwt(body.credential, vc.did_document(platform), now=now)
        except vc.CredentialInvalid as exc:
            return VerifyOut(valid=False, form="credential", reason=str(exc))
        tid = str((cred["credentialSubject"].get("token") or {}).get("tokenId") or "")
        status = None
        if tid.isdigit():
            with platform.read() as s:
                status = token_status(platform, s, tid, read_chain=False)
        if status is not None and (status["burned"] or status["revoked"]):
            return VerifyOut(valid=False, form="credential", credential=cred, token=status,
                             reason="the token behind this credential was burned (revoked or re-issued)")
        return VerifyOut(valid=True, form="credential", credential=cred, token=status)
    with platform.read() as s:
        status = token_status(platform, s, body.token_id, read_chain=True)
    if status is None:
        return VerifyOut(valid=False, form="token", reason="no such token on this platform")
    chain = status.get("chain") or {}
    if status["burned"] or status["revoked"]:
        return VerifyOut(valid=False, form="token", token=status, reason="the token was burned (or is being)")
    if chain.get("checked") and (not chain.get("exists") or not chain.get("locked")
                                 or (status["owner"] and chain.get("owner") != status["owner"])):
        return VerifyOut(valid=False, form="token", token=status, reason="the chain does not confirm this token")
    if not status["indexed"]:
        return VerifyOut(valid=False, form="token", token=status, reason="the token is not on chain yet")
    return VerifyOut(valid=True, form="token", token=status)


# ------------------------------------------------------------------ did:web (site root)
@site_router.get("/.well-known/did.json", dependencies=[Depends(public)],
                 responses={200: {"description": "the platform's DID document", "content": {"application/did+json": {}}}},
                 response_class=JSONResponse)
def did_json(platform=Depends(get_platform)) -> JSONResponse:
    """The platform's ``did:web`` document: the public key that signs fandom credentials."""
    return JSONResponse(vc.did_document(platform), media_type="application/did+json",
                        headers={"Cache-Control": "public, max-age=3600"})


def register_site_routes(platform):
    return site_router
