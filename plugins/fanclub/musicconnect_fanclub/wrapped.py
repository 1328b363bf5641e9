""""Wrapped": a fan's month — minutes listened, top artists and tracks, support given,
milestones — as JSON, as a PNG card, and behind a public link that shows only what the fan chose.

Built from domain events (``play.counted`` / ``play.completed`` carry the seconds of a
session; ``entitlement.*`` and ``payment.*`` the support; ``fan.milestone`` the milestones), so
it works with whichever plugins emit them. Months are calendar months in UTC."""
from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
import threading
import uuid
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Annotated, Literal
from urllib.parse import unquote, urlsplit

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from musicconnect import Actor, NotFound, Problem
from musicconnect.models import Artist, ContentItem, DomainEvent, Entitlement, Tier, User
from musicconnect.web import get_platform, public, scope

from . import wrapped_card
from .models import WrappedShare
from .wrapped_card import money

router = APIRouter()
log = logging.getLogger("musicconnect.fanclub.wrapped")
SECTIONS = ("minutes", "top_artists", "top_tracks", "support", "milestones")
#: a calendar month as the routes take it (the OpenAPI document states it: a 422 otherwise)
MONTH = r"2\d{3}-(0[1-9]|1[0-2])"  # years 2000-2999: nothing older exists, and no month after 2999-12
Month = Annotated[str, Path(pattern=f"^{MONTH}$", description="a calendar month, YYYY-MM, 2000-01 to 2999-12",
                            examples=["2026-06"])]


def month_range(month: str) -> tuple[datetime, datetime]:
    if not re.fullmatch(MONTH, month):
        raise Problem(422, "validation", "month must look like 2026-06 (years 2000 to 2999)")
    y, m = int(month[:4]), int(month[5:])
    start = datetime(y, m, 1, tzinfo=timezone.utc)
    end = datetime(y + (m == 12), 1 if m == 12 else m + 1, 1, tzinfo=timezone.utc)
    return start, end


def started_month(platform, month: str) -> tuple[datetime, datetime]:
    """The month's bounds; ``422`` for a month that has not started: it has no Wrapped (the same
    answer whether one asks for the report, for a share of it, or opens such a share)."""
    start, end = month_range(month)
    if start > platform.clock.now():
        raise Problem(422, "validation", f"{month} has not started yet: it has no Wrapped")
    return start, end


def build(platform, user_id: uuid.UUID, month: str) -> dict:
    start, end = started_month(platform, month)
    with platform.session() as s:
        events = s.scalars(select(DomainEvent).where(
            DomainEvent.actor_id == user_id, DomainEvent.occurred_at >= start, DomainEvent.occurred_at < end,
            DomainEvent.type.in_(("play.counted", "play.completed", "fan.milestone")))).all()
        seconds: dict[str, float] = defaultdict(float)
        artist_plays: Counter = Counter()
        track_plays: Counter = Counter()
        milestones = []
        for e in events:
            if e.type.startswith("play."):
                sid = e.data.get("session_id") or str(e.id)
                seconds[sid] = max(seconds[sid], float(e.data.get("seconds") or 0))
                if e.type == "play.counted":
                    artist_plays[e.artist_id] += 1
                    track_plays[e.subject_id] += 1
            else:
                milestones.append({"milestone": e.data.get("milestone"), "artist_id": str(e.artist_id),
                                   "at": e.occurred_at.isoformat(),
                                   **({"rank": e.data["rank"]} if e.data.get("rank") else {})})
        milestones.sort(key=lambda m: m["at"])
        titles = {}
        if track_plays:
            ids = [uuid.UUID(t) for t in track_plays if t]
            titles = {str(c.id): (c.title, c.artist_id) for c in s.scalars(select(ContentItem).where(ContentItem.id.in_(ids)))}
        held = s.execute(select(Entitlement, Tier).join(Tier, Tier.id == Entitlement.tier_id).where(
            Entitlement.user_id == user_id, Entitlement.starts_at < end,
            (Entitlement.expires_at.is_(None)) | (Entitlement.expires_at > start), Tier.rank > 0)).all()
        # support paid: the core's payment facts (``payment.succeeded``, less ``payment.refunded``)
        payments = s.scalars(select(DomainEvent).where(
            DomainEvent.actor_id == user_id, DomainEvent.type.in_(("payment.succeeded", "payment.refunded")),
            DomainEvent.occurred_at >= start, DomainEvent.occurred_at < end)).all()
        wanted = ({a for _, a in titles.values()} | set(artist_plays) | {e.artist_id for e, _ in held}
                  | {e.artist_id for e in payments} | {uuid.UUID(m["artist_id"]) for m in milestones if m["artist_id"] != "None"})
        wanted.discard(None)
        names = {a.id: a.name for a in s.scalars(select(Artist).where(Artist.id.in_(list(wanted))))} if wanted else {}
    for m in milestones:
        m["artist"] = names.get(uuid.UUID(m["artist_id"])) if m["artist_id"] != "None" else None
    paid: dict[str, Counter] = defaultdict(Counter)  # currency -> artist -> minor units
    for pmt in payments:
        amount, currency = pmt.data.get("amount"), pmt.data.get("currency")
        if isinstance(amount, int) and currency:
            paid[str(currency).upper()][pmt.artist_id] += amount if pmt.type == "payment.succeeded" else -amount
    support_paid = []
    for currency, by_artist in sorted(paid.items()):
        total = sum(v for v in by_artist.values() if v > 0)
        if total > 0:
            support_paid.append({"currency": currency, "amount": total, "formatted": money(total, currency),
                                 "artists": [names.get(a) for a, v in by_artist.most_common() if v > 0 and names.get(a)]})
    return {
        "month": month,
        "minutes": round(sum(seconds.values()) / 60, 1),
        "plays": sum(track_plays.values()),
        "top_artists": [{"artist_id": str(a), "name": names.get(a), "plays": n} for a, n in artist_plays.most_common(5)],
        "top_tracks": [{"content_id": t, "title": titles[t][0], "artist": names.get(titles[t][1]), "plays": n}
                       for t, n in track_plays.most_common() if t in titles][:5],
        "support": {"tiers": [{"artist": names.get(e.artist_id), "tier": t.name, "source": e.source}
                              for e, t in held],
                    "paid": support_paid},
        "milestones": milestones,
    }


def card_png(report: dict, name: str | None, cover: bytes | None = None) -> bytes:
    """The 1080×1350 card (see ``wrapped_card``: the layout, the type, the geometry it reports)."""
    return wrapped_card.render(report, name, cover).png


class _Cards:
    """Rendered cards by content (the report, the name shown and the cover's storage key): a
    card costs ~0.1-0.2 s of CPU, so it is drawn once per distinct content and served from here
    after that (a new play, payment or milestone changes the report, hence the digest). Small LRU."""

    def __init__(self, maxsize: int = 64):
        self.maxsize = maxsize
        self._data: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, report: dict, name: str | None, cover: tuple[str, Callable[[], bytes | None]] | None = None
            ) -> tuple[bytes, str]:
        """``cover``: ``(storage key, loader)``; the key is part of the digest, the loader runs
        only when the card is drawn."""
        digest = hashlib.sha256(json.dumps([report, name, cover[0] if cover else None], sort_keys=True,
                                           separators=(",", ":"), default=str).encode()).hexdigest()[:32]
        with self._lock:
            png = self._data.get(digest)
            if png is not None:
                self._data.move_to_end(digest)
                return png, digest
        png = card_png(report, name, cover[1]() if cover else None)
        with self._lock:
            self._data[digest] = png
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)
        return png, digest

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


CARDS = _Cards()
COVER_BYTES = 8_000_000  # a cover larger than this is not read (the generated art is drawn instead)


def _cover(platform, report: dict) -> tuple[str, Callable[[], bytes | None]] | None:
    """The cover of the first top track that has one, as ``(storage key, loader)``: read through
    the content item's serialization (``serialize_content``: the streaming plugin puts signed
    cover links under ``extra.<plugin>.covers``), resolved back to the stored object. Only for a
    report that shows its top tracks (a shared card without them must not reveal one)."""
    ids = [t["content_id"] for t in report.get("top_tracks") or []]
    for cid in ids:
        key = ("fanclub-wrapped-cover", cid)
        hit = platform.cache.get(key)
        if hit is None:
            generation = platform.cache.generation()
            hit = _cover_key(platform, cid) or ""
            platform.cache.set(key, hit, generation=generation)
        if hit:
            return hit, lambda k=hit: _read_cover(platform, k)
    return None


def _cover_key(platform, content_id: str) -> str | None:
    try:
        with platform.session() as s:
            item = s.get(ContentItem, uuid.UUID(content_id))
            if item is None or item.status != "ready":
                return None
            extra = platform.content.serialize(item, None).get("extra") or {}
    except Exception:  # noqa: BLE001 - no cover is no reason to fail the card
        log.warning("wrapped: the cover of %s could not be looked up", content_id, exc_info=True)
        return None
    for part in extra.values():
        covers = part.get("covers") if isinstance(part, dict) else None
        if isinstance(covers, dict) and covers:
            url = covers.get("600") or covers.get("1200") or next(iter(covers.values()))
            return _stored_key(platform, url, content_id) if isinstance(url, str) else None
    return None


def _stored_key(platform, url: str, content_id: str) -> str | None:
    """The storage key behind a signed link: the longest tail of its path that names a stored
    object and lies under the item's own folder (the key names the content id), whatever the
    backend (``/media/<key>`` locally, ``/<bucket>/<key>`` or a CDN path on S3)."""
    parts = [unquote(x) for x in urlsplit(url).path.split("/") if x]
    if content_id not in parts:
        return None
    for i in range(parts.index(content_id) + 1):
        key = "/".join(parts[i:])
        try:
            if platform.storage.exists(key):
                return key
        except Exception:  # noqa: BLE001 - an invalid key (StorageError) or an unreachable store
            continue
    return None


def _read_cover(platform, key: str) -> bytes | None:
    try:
        data = platform.storage.get_bytes(key)
    except Exception:  # noqa: BLE001 - the card falls back to the generated art
        log.warning("wrapped: cover %s could not be read", key, exc_info=True)
        return None
    return data if len(data) <= COVER_BYTES else None


def _card_response(request: Request, platform, report: dict, name: str | None, cache_control: str) -> Response:
    cover = _cover(platform, report) if report.get("top_tracks") else None
    png, digest = CARDS.get(report, name, cover)
    etag = f'"{digest}"'
    headers = {"ETag": etag, "Cache-Control": cache_control}
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    return Response(png, media_type="image/png", headers=headers)


@router.get("/me/wrapped/{month}.png", response_class=Response,
            responses={200: {"content": {"image/png": {}}, "description": "a shareable card"},
                       304: {"description": "unchanged since the ETag sent in If-None-Match"}})
def my_wrapped_png(month: Month, request: Request, actor: Actor = Depends(scope("fanclub:read")),
                   platform=Depends(get_platform)):
    with platform.session() as s:
        name = s.get(User, actor.user_id).display_name
    return _card_response(request, platform, build(platform, actor.user_id, month), name, "private, max-age=60")


@router.get("/me/wrapped/{month}")
def my_wrapped(month: Month, actor: Actor = Depends(scope("fanclub:read")), platform=Depends(get_platform)):
    """Your month in music (UTC calendar month)."""
    return build(platform, actor.user_id, month)


class ShareIn(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{"sections": ["minutes", "top_artists", "support"], "show_name": True}]}}

    sections: list[Literal[SECTIONS]] = Field(default_factory=lambda: ["minutes", "top_artists"], min_length=1)
    show_name: bool = False


@router.post("/me/wrapped/{month}/shares", status_code=201)
def share(month: Month, body: ShareIn, actor: Actor = Depends(scope("fanclub:write")), platform=Depends(get_platform)):
    """A public link to the sections you choose (``minutes``, ``top_artists``, ``top_tracks``,
    ``support``, ``milestones``); your name only with ``show_name``. Revocable. A month that has
    not started has no Wrapped (422)."""
    started_month(platform, month)
    bad = [x for x in body.sections if x not in SECTIONS]
    if bad:
        raise Problem(422, "validation", f"unknown sections {bad}; choose from {', '.join(SECTIONS)}")
    token = secrets.token_urlsafe(24)
    with platform.session() as s:
        s.add(WrappedShare(token=token, user_id=actor.user_id, month=month, sections=",".join(sorted(set(body.sections))),
                           show_name=body.show_name, created_at=platform.clock.now()))
    return {"token": token, "url": f"/api/v1/fanclub/wrapped/{token}", "image": f"/api/v1/fanclub/wrapped/{token}.png"}


@router.delete("/me/wrapped/shares/{token}", status_code=204)
def unshare(token: str, actor: Actor = Depends(scope("fanclub:write")), platform=Depends(get_platform)):
    with platform.session() as s:
        row = s.get(WrappedShare, token)
        if row is None or row.user_id != actor.user_id:
            raise NotFound("share")
        row.revoked_at = platform.clock.now()
    platform.invalidate(_share_key(token))  # here and in every other process
    return Response(status_code=204)


def _share_key(token: str) -> tuple:
    return ("fanclub-wrapped-share", token)


def _shared(platform, token: str) -> tuple[dict, str | None]:
    """The shared sections of the report (cached for the platform's cache TTL: a public link is
    opened by many, and each opening was six queries)."""
    key = _share_key(token)
    hit = platform.cache.get(key)
    if hit is not None:
        return hit
    generation = platform.cache.generation()
    value = _shared_uncached(platform, token)
    platform.cache.set(key, value, generation=generation)
    return value


def _shared_uncached(platform, token: str) -> tuple[dict, str | None]:
    with platform.session() as s:
        row = s.get(WrappedShare, token)
        if row is None or row.revoked_at is not None:
            raise NotFound("shared report")
        user = s.get(User, row.user_id)
        name = user.display_name if row.show_name and user else None
        sections, month, uid = row.sections.split(","), row.month, row.user_id
    full = build(platform, uid, month)
    public = {"month": month, **{k: full[k] for k in sections}}
    if name:
        public["name"] = name
    return public, name


@router.get("/wrapped/{token}.png", response_class=Response,
            responses={200: {"content": {"image/png": {}}},
                       304: {"description": "unchanged since the ETag sent in If-None-Match"}},
            dependencies=[Depends(public)])
def shared_card(token: str, request: Request, platform=Depends(get_platform)):
    """The shared report as a PNG card (drawn once per distinct content, then served from memory)."""
    report, name = _shared(platform, token)
    return _card_response(request, platform, report, name, "public, max-age=600")


@router.get("/wrapped/{token}", dependencies=[Depends(public)])
def shared_report(token: str, platform=Depends(get_platform)):
    """A fan's shared report: only the sections they chose (public, no sign-in)."""
    return _shared(platform, token)[0]
