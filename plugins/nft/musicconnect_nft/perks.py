"""Perks of holding a fan token, read from the plugin's own holdings index (``Holding``, kept in
sync with the contract's events): the access decision never touches the chain.

A collection's ``perks`` (set by the artist) may say:

* ``backstage_days`` (int > 0): holders get the artist's ``backstage_tier`` (a tier key,
  ``superfan`` by default) for that many days from the day the token was first issued, through
  the core's ``extra_entitlements`` hook, so every route that asks the access decision (tier
  content, the fan club's backstage) lets them in exactly as a paying member of that tier;
* ``discount_percent`` (1-100): holders get a personal discount code (``GET /api/v1/nft/me/perks``)
  that the artist checks at ``POST /api/v1/nft/artists/{artist_id}/discounts/check``; a code
  stops working when its token is burned.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from musicconnect import EntitlementInfo, on_commit

from .models import Collection, Holding, Token, Wallet

SOURCE = "nft"
DEFAULT_BACKSTAGE_TIER = "superfan"
_NS = uuid.UUID("6f1c3d2e-7a0b-4c55-9a55-0f5f2c1e4b10")


def held_tokens(session, user_id: uuid.UUID, artist_id: uuid.UUID | None = None) -> list[dict[str, Any]]:
    """The tokens the index says the fan's addresses hold (not burned), with their collection and
    the first issue's time (a re-issue to a linked wallet keeps the original ``since``)."""
    addresses = list(session.scalars(select(Wallet.address).where(Wallet.user_id == user_id)))
    if not addresses:
        return []
    q = (select(Holding.token_id, Holding.owner_address, Collection)
         .join(Collection, Collection.chain_id == Holding.collection_chain_id)
         .where(Holding.owner_address.in_(addresses), Holding.burned.is_(False)))
    if artist_id is not None:
        q = q.where(Collection.artist_id == artist_id)
    rows = session.execute(q).all()
    if not rows:
        return []
    tq = select(Token.token_id, Token.criterion_id, Token.criterion_key, Token.period, Token.user_key,
                Token.created_at, Token.evidence, Token.burn_reason).where(Token.user_id == user_id)
    if artist_id is not None:
        tq = tq.where(Token.artist_id == artist_id)
    tokens = session.execute(tq).all()
    first: dict[tuple[str, uuid.UUID, str], Any] = {}
    by_id = {}
    for t in tokens:
        by_id[t.token_id] = t
        k = (t.user_key, t.criterion_key, t.period)
        if k not in first or t.created_at < first[k]:
            first[k] = t.created_at
    out = []
    for token_id, owner, coll in rows:
        t = by_id.get(token_id)
        if t is None:  # indexed but not one of this fan's issues (should not happen): no perk
            continue
        if t.burn_reason is not None:  # revoked (fraud, erasure, re-issue): no perk while the burn is on its way
            continue
        out.append({"token_id": token_id, "owner": owner, "collection": coll,
                    "since": first[(t.user_key, t.criterion_key, t.period)], "criterion_id": t.criterion_id})
    return out


def _backstage_days(perks: dict) -> int:
    try:
        days = int((perks or {}).get("backstage_days") or 0)
    except (TypeError, ValueError):
        return 0
    return max(0, min(days, 3650))


def backstage_artists(platform) -> frozenset:
    """Artists with a collection whose tokens open a backstage (cached like the core's reads):
    for every other artist the hook answers at once, with no query."""
    key = ("nft", "backstage_artists")
    hit = platform.cache.get(key)
    if hit is None:
        with platform.read() as s:
            hit = frozenset(a for a, perks in s.execute(select(Collection.artist_id, Collection.perks))
                            if _backstage_days(perks))
        platform.cache.set(key, hit)
    return hit


def extra_entitlements(platform, user_id, artist_id):
    """Backstage access for holders: an ``EntitlementInfo`` of the collection's tier from the
    token's ``since`` for ``backstage_days``. Reads the index only (one read transaction); the
    core caches the answer with the fan's other entitlements."""
    if user_id is None or artist_id is None or artist_id not in backstage_artists(platform):
        return []
    with platform.read() as s:
        held = [h for h in held_tokens(s, user_id, artist_id) if _backstage_days(h["collection"].perks)]
    if not held:
        return []
    tiers = {t.key: t for t in platform.access.tiers(artist_id)}
    out = []
    for h in held:
        perks = h["collection"].perks or {}
        tier = tiers.get(str(perks.get("backstage_tier") or DEFAULT_BACKSTAGE_TIER))
        if tier is None:
            continue
        out.append(EntitlementInfo(
            id=uuid.uuid5(_NS, f"{h['token_id']}:{user_id}"), user_id=user_id, artist_id=artist_id,
            tier_id=tier.id, tier_rank=tier.rank, source=SOURCE, source_ref=h["token_id"], status="active",
            starts_at=h["since"], expires_at=h["since"] + timedelta(days=_backstage_days(perks))))
    return out


def invalidate_holder(platform, session, user_id: uuid.UUID, artist_id: uuid.UUID) -> None:
    """After the index changed a fan's holdings (mint, burn, re-issue): drop the cached
    entitlements once the transaction commits (every API process, through the core)."""
    on_commit(session, lambda: platform.invalidate(("ent", user_id, artist_id)))


def invalidate_tokens(platform, session, token_ids) -> None:
    """The same for every fan and artist behind these token ids (the index sync calls it with the
    ids whose holding changed)."""
    ids = list({str(t) for t in token_ids})
    pairs = set()
    for i in range(0, len(ids), 500):
        pairs.update(session.execute(select(Token.user_id, Token.artist_id).where(
            Token.token_id.in_(ids[i:i + 500]), Token.user_id.is_not(None))).all())
    keys = [("ent", u, a) for u, a in pairs]
    if keys:  # a new holding may be the first of a collection created since ``backstage_artists`` was read
        keys.append(("nft", "backstage_artists"))
        on_commit(session, lambda: platform.invalidate(*keys))


# ------------------------------------------------------------------ discount codes
def _code_key(platform) -> bytes:
    return hmac.new(platform.settings.signing_key(), b"musicconnect-nft discount codes v1", hashlib.sha256).digest()


def discount_code(platform, token_id: str) -> str:
    """A holder's code, derived from the token (nothing stored; the same in every process)."""
    mac = hmac.new(_code_key(platform), token_id.encode(), hashlib.sha256).digest()
    raw = base64.b32encode(mac[:10]).decode()  # 16 characters
    return f"FAN-{raw[:4]}-{raw[4:8]}-{raw[8:12]}"


def perks_of(platform, session, user_id: uuid.UUID) -> list[dict[str, Any]]:
    """What the fan's tokens give them now (the index only)."""
    now = platform.clock.now()
    out = []
    for h in held_tokens(session, user_id):
        coll = h["collection"]
        perks = coll.perks or {}
        item: dict[str, Any] = {"token_id": h["token_id"], "artist_id": coll.artist_id, "collection": coll.name,
                                "since": h["since"]}
        days = _backstage_days(perks)
        if days:
            until = h["since"] + timedelta(days=days)
            item["backstage"] = {"tier": str(perks.get("backstage_tier") or DEFAULT_BACKSTAGE_TIER),
                                 "until": until, "active": h["since"] <= now < until}
        pct = perks.get("discount_percent")
        if isinstance(pct, int) and 0 < pct <= 100:
            item["discount"] = {"percent": pct, "code": discount_code(platform, h["token_id"])}
        out.append(item)
    return out


def check_code(platform, session, artist_id: uuid.UUID, code: str) -> dict[str, Any] | None:
    """The token a discount code belongs to, if it is one of this artist's and still held."""
    rows = session.execute(
        select(Holding.token_id, Collection.perks)
        .join(Collection, Collection.chain_id == Holding.collection_chain_id)
        .join(Token, Token.token_id == Holding.token_id)
        .where(Collection.artist_id == artist_id, Holding.burned.is_(False), Token.burn_reason.is_(None))).all()
    for token_id, perks in rows:
        pct = (perks or {}).get("discount_percent")
        if isinstance(pct, int) and 0 < pct <= 100 and hmac.compare_digest(discount_code(platform, token_id), code):
            return {"token_id": token_id, "percent": pct}
    return None
