"""What a token's ``tokenURI`` serves: ERC-721 metadata JSON (name, artist, tier, since, the
criterion met, an image URL) and the generated badge image (PNG, Pillow).

Nothing here names the fan: the metadata is public (anyone who knows a token id reads it), so it
says what was earned, for which artist, and since when. After a fan's erasure the token is burned
and its metadata keeps only that it existed (``anonymised``)."""
from __future__ import annotations

import hashlib
import io
import uuid
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import select

from musicconnect.models import Artist, Tier

from .models import Collection, Criterion, Token

KIND_TEXT = {
    "tier_months": "member for {months} months",
    "top_fan_month": "top-{top} fan of a month",
    "attended_party": "attended a live listening party",
    "first_supporters": "one of the first {limit} supporters",
}


def token_url(base_url: str, token_id: str) -> str:
    return f"{base_url.rstrip('/')}/api/v1/nft/tokens/{token_id}"


def criterion_text(kind: str, params: dict | None, title: str = "") -> str:
    if title:
        return title
    params = {"months": "N", "top": 10, "limit": 100, **(params or {})}
    try:
        return KIND_TEXT.get(kind, kind).format(**params)
    except (KeyError, IndexError, ValueError):
        return kind


def tier_name(session, artist_id: uuid.UUID, params: dict | None) -> str | None:
    """The tier a criterion is about (``tier_key`` or ``tier_rank`` in its params), if any."""
    params = params or {}
    q = select(Tier.name).where(Tier.artist_id == artist_id)
    if params.get("tier_key"):
        return session.scalar(q.where(Tier.key == str(params["tier_key"])))
    if isinstance(params.get("tier_rank"), int):
        return session.scalar(q.where(Tier.rank == params["tier_rank"]))
    return None


def first_issue(session, token: Token) -> datetime:
    """When the fan first earned it: a re-issue to a linked wallet keeps the original date (the
    same rule and period: a rolling rule's later month is a badge of its own)."""
    earliest = session.scalar(select(Token.created_at).where(
        Token.user_key == token.user_key, Token.criterion_key == token.criterion_key,
        Token.period == token.period).order_by(Token.created_at).limit(1))
    return earliest or token.created_at


def facts(session, token: Token) -> dict[str, Any]:
    """The public facts of a token (shared by the metadata, the image and the credential)."""
    coll = session.get(Collection, token.collection_id)
    crit = session.get(Criterion, token.criterion_id)
    artist = session.get(Artist, token.artist_id) if token.artist_id is not None else None
    artist_name = getattr(artist, "name", None) or "an artist"
    return {
        "token_id": token.token_id,
        "artist_id": token.artist_id,
        "artist": artist_name,
        "collection": coll.name if coll else "",
        "collection_slug": coll.slug if coll else "",
        "criterion": {
            "key": str(token.criterion_key), "version": token.criterion_version,
            "kind": crit.kind if crit else "", "text": criterion_text(crit.kind, crit.params, crit.title) if crit else "",
        },
        "tier": tier_name(session, token.artist_id, crit.params if crit else None),
        "since": first_issue(session, token),
        "status": token.status,
        "anonymised": token.user_id is None,
    }


def _iso(dt: datetime) -> str:
    return dt.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def metadata(base_url: str, f: dict[str, Any]) -> dict[str, Any]:
    """ERC-721 metadata JSON (with the usual ``attributes`` list for wallets and marketplaces)."""
    url = token_url(base_url, f["token_id"])
    if f["anonymised"]:
        return {"name": f"Proof of Fandom #{f['token_id'][:8]}", "description": "This token was burned.",
                "image": f"{url}/image.png", "burned": True, "anonymised": True, "attributes": []}
    name = f"{f['artist']} · {f['collection']}" if f["collection"] else f"{f['artist']} superfan"
    attributes = [{"trait_type": "Artist", "value": f["artist"]},
                  {"trait_type": "Criterion", "value": f["criterion"]["text"]},
                  {"trait_type": "Criterion version", "value": f["criterion"]["version"]},
                  {"trait_type": "Since", "display_type": "date", "value": int(f["since"].timestamp())},
                  {"trait_type": "Soulbound", "value": "yes"}]
    if f["tier"]:
        attributes.insert(1, {"trait_type": "Tier", "value": f["tier"]})
    return {
        "name": name,
        "description": (f"Proof of Fandom: a non-transferable (soulbound) token for {f['criterion']['text']} "
                        f"of {f['artist']}, since {f['since']:%B %Y}."),
        "image": f"{url}/image.png",
        "external_url": url,
        "artist": f["artist"],
        "tier": f["tier"],
        "since": _iso(f["since"]),
        "criteria_met": [f["criterion"]],
        "burned": f["status"] == "burned",
        "attributes": attributes,
    }


def _palette(seed: str) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    h = hashlib.sha256(seed.encode()).digest()
    a = (40 + h[0] % 120, 20 + h[1] % 80, 90 + h[2] % 140)
    b = (h[3] % 90, 60 + h[4] % 140, 110 + h[5] % 120)
    return a, b


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: the bitmap font
        return ImageFont.load_default()


def image_png(f: dict[str, Any], size: int = 512) -> bytes:
    """The badge: a gradient from the artist's colours, a ring, the artist, the criterion, the date."""
    from PIL import Image, ImageDraw

    a, b = _palette(str(f.get("artist_id", "")) + f.get("collection_slug", ""))
    img = Image.new("RGB", (size, size), a)
    draw = ImageDraw.Draw(img)
    for y in range(size):  # vertical gradient
        t = y / (size - 1)
        draw.line([(0, y), (size, y)], fill=tuple(int(a[i] + (b[i] - a[i]) * t) for i in range(3)))
    m = size // 10
    draw.ellipse([m, m, size - m, size - m], outline=(255, 255, 255), width=max(2, size // 64))
    if f.get("anonymised"):
        lines = [("Proof of Fandom", 34), ("burned", 26)]
    else:
        lines = [("PROOF OF FANDOM", 22), (f["artist"][:28], 38), (f["criterion"]["text"][:34], 20),
                 (f"since {f['since']:%b %Y}", 24)]
        if f.get("tier"):
            lines.insert(2, (str(f["tier"])[:28], 24))
    total = sum(s + 14 for _, s in lines)
    y = (size - total) // 2
    for text, s in lines:
        font = _font(s * size // 512)
        w = draw.textlength(text, font=font)
        draw.text(((size - w) / 2, y), text, fill=(255, 255, 255), font=font)
        y += s + 14
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


@lru_cache(maxsize=256)
def cached_png(artist_id: str, collection_slug: str, artist: str, criterion: str, tier: str | None, since: datetime,
               anonymised: bool) -> bytes:
    """:func:`image_png` for the badges asked for most (~100 ms to draw, ~20 KB each: a bounded
    cache; every token of one rule and month looks the same, so few entries cover many tokens)."""
    return image_png({"artist_id": artist_id, "collection_slug": collection_slug, "artist": artist,
                      "criterion": {"text": criterion}, "tier": tier, "since": since, "anonymised": anonymised})
