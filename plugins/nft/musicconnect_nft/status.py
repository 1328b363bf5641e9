"""Revocation status lists for the fandom credentials (W3C Bitstring Status List v1.0).

Every token gets a bit (``Token.status_index``, from one atomic counter) when it is queued. The
bit is set once the badge is taken back — burned or marked for burning (fraud, erasure, a
re-issue to the fan's wallet) — so a credential downloaded earlier stops verifying for anyone
who reads the list, with no call that tells us which credential they hold.

| route | scope | what |
|---|---|---|
| ``GET /status-lists/{number}`` | public | list ``number`` as a signed ``vc+jwt`` (cached, ``Cache-Control`` = its ttl) |
"""
from __future__ import annotations

from fastapi import APIRouter, Depends, Path
from fastapi.responses import Response
from sqlalchemy import or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from musicconnect import NotFound, on_commit
from musicconnect.web import get_platform, public

from . import credentials as vc
from .models import Counter, Token

#: how long verifiers (and our cache) may keep a list
TTL_SECONDS = 300
COUNTER = "status_index"

router = APIRouter()


def take_status_index(session: Session) -> int:
    """The next free bit, reserved in ``session``'s transaction (one atomic UPDATE)."""
    stmt = text("UPDATE nft_counters SET next_value = next_value + 1 WHERE name = :n RETURNING next_value")
    got = session.execute(stmt, {"n": COUNTER}).scalar()
    if got is None:
        try:
            with session.begin_nested():
                session.add(Counter(name=COUNTER, next_value=1))
                session.flush()
            return 0
        except IntegrityError:  # another transaction created it first
            got = session.execute(stmt, {"n": COUNTER}).scalar()
    return int(got) - 1


def _cache_key(number: int) -> tuple:
    return ("nft", "status-list", number)


def forget_list(platform, session: Session, status_index: int | None) -> None:
    """The list holding ``status_index`` changed: drop its cached copy once ``session`` commits."""
    if status_index is not None:
        key = _cache_key(status_index // vc.STATUS_LIST_BITS + 1)
        on_commit(session, lambda: platform.invalidate(key))


def revoked_positions(session: Session, number: int) -> list[int]:
    lo = (number - 1) * vc.STATUS_LIST_BITS
    rows = session.scalars(select(Token.status_index).where(
        Token.status_index >= lo, Token.status_index < lo + vc.STATUS_LIST_BITS,
        or_(Token.status == "burned", Token.burn_reason.is_not(None))))
    return [int(i) - lo for i in rows]


def signed_list(platform, number: int) -> str:
    cache = platform.cache
    key = _cache_key(number)
    hit = cache.get(key)
    if hit is not None:
        return hit
    generation = cache.generation()
    with platform.read() as s:
        top = s.scalar(select(Counter.next_value).where(Counter.name == COUNTER)) or 0
        if number > max(1, (top - 1) // vc.STATUS_LIST_BITS + 1):
            raise NotFound("status list")
        positions = revoked_positions(s, number)
    credential = vc.status_list_credential(platform.settings.base_url, number, vc.encode_status_list(positions),
                                           platform.clock.now(), TTL_SECONDS)
    jwt = vc.sign(platform, credential)
    cache.set(key, jwt, generation=generation)
    return jwt


@router.get("/status-lists/{number}", dependencies=[Depends(public)], response_class=Response,
            responses={200: {"content": {"application/vc+jwt": {}},
                             "description": "a BitstringStatusListCredential (revocation) as a vc+jwt"},
                       404: {"description": "no such list yet"}})
def status_list(number: int = Path(ge=1, le=100_000, description="the list's number (1, 2, …)"),
                platform=Depends(get_platform)) -> Response:
    """A revocation status list of the fandom credentials: a credential's ``credentialStatus``
    names its list and bit; a set bit means the badge was taken back. Signed by the platform's
    DID key like the credentials; the same list for everyone."""
    return Response(signed_list(platform, number), media_type="application/vc+jwt",
                    headers={"Cache-Control": f"public, max-age={TTL_SECONDS}"})
