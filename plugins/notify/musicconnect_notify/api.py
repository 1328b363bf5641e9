"""Notify routes (mounted at /api/v1/notify): preferences, the inbox, artists' messages."""
from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select, update

from musicconnect import Actor, NotFound, Problem
from musicconnect.models import Artist
from musicconnect.web import ensure_artist_owner, get_platform, scope

from .models import ArtistMessage, Delivery, MessageQuota, Preference

router = APIRouter()
MESSAGES_PER_DAY = 3
HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
SEGMENT = re.compile(r"^(followers|members|tier:\d{1,3}|played:[0-9a-f-]{36})$")


# ---------------------------------------------------------------- preferences

class PreferencesBody(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"channels": {"fanclub_new_post": {"push": True, "email": False}}, "muted_artists": [],
         "quiet_start": "22:00", "quiet_end": "08:00", "email_opt_out": False, "digest": "daily",
         "timezone": "Europe/Berlin"}]})

    channels: dict[str, dict[Literal["inbox", "push", "email"], bool]] = Field(
        default_factory=dict, description="per notification kind (GET /preferences lists them): channel -> on/off")
    muted_artists: list[uuid.UUID] = Field(default_factory=list, max_length=1000)
    quiet_start: str | None = Field(None, pattern=HHMM.pattern, description="local time HH:MM (with quiet_end)")
    quiet_end: str | None = Field(None, pattern=HHMM.pattern, description="local time HH:MM (with quiet_start)")
    email_opt_out: bool = False
    digest: Literal["off", "daily", "weekly"] = "daily"
    timezone: str = Field("UTC", max_length=64, description="your IANA time zone (quiet hours, digest hour)")


def _check_zone(name: str) -> None:
    from zoneinfo import ZoneInfo

    try:
        ZoneInfo(name)
    except Exception:
        raise Problem(422, "unknown-time-zone", f"{name!r} is not an IANA time zone (e.g. Europe/Berlin)") from None


class PreferencesOut(PreferencesBody):
    kinds: list[dict] = Field(default_factory=list, description="every notification kind and its default channels")


def _prefs_out(platform, row: Preference | None) -> PreferencesOut:
    kinds = [{"id": k.id, "title": k.title, "default_channels": list(k.default_channels), "digestible": k.digestible}
             for _, k in sorted(platform.notification_kinds().values(), key=lambda pk: pk[1].id)]
    if row is None:
        return PreferencesOut(kinds=kinds)
    return PreferencesOut(channels=row.channels or {}, muted_artists=(row.muted or {}).get("artists", []),
                          quiet_start=row.quiet_start, quiet_end=row.quiet_end, email_opt_out=row.email_opt_out,
                          digest=row.digest, timezone=row.timezone, kinds=kinds)


@router.get("/preferences", response_model=PreferencesOut)
def get_preferences(actor: Actor = Depends(scope("notify:read")), platform=Depends(get_platform)):
    """Your notification preferences and the kinds there are."""
    with platform.read() as s:
        return _prefs_out(platform, s.get(Preference, actor.user_id))


@router.put("/preferences", response_model=PreferencesOut)
def put_preferences(body: PreferencesBody, actor: Actor = Depends(scope("notify:write")), platform=Depends(get_platform)):
    """Replace your preferences: per kind x channel on/off, muted artists, quiet hours (local
    time, in your account's time zone: deferred, not dropped), the email opt-out, the digest."""
    _check_zone(body.timezone)
    if (body.quiet_start is None) != (body.quiet_end is None):
        raise Problem(422, "invalid-quiet-hours", "give both quiet_start and quiet_end, or neither")
    known = platform.notification_kinds()
    unknown = sorted(set(body.channels) - set(known))
    if unknown:
        raise Problem(422, "unknown-notification-kind", f"no notification kind {unknown[0]!r}", kinds=unknown)
    with platform.session() as s:
        row = s.get(Preference, actor.user_id)
        if row is None:
            row = Preference(user_id=actor.user_id, updated_at=platform.clock.now())
            s.add(row)
        row.channels = {k: dict(v) for k, v in body.channels.items()}
        row.muted = {"artists": [str(a) for a in body.muted_artists]}
        row.quiet_start, row.quiet_end = body.quiet_start, body.quiet_end
        row.email_opt_out, row.digest, row.timezone = body.email_opt_out, body.digest, body.timezone
        row.updated_at = platform.clock.now()
        s.flush()
        return _prefs_out(platform, row)


# ---------------------------------------------------------------- inbox

class InboxItem(BaseModel):
    id: uuid.UUID
    kind: str
    title: str
    body: str
    url: str | None
    artist_id: uuid.UUID | None
    created_at: datetime
    read: bool


class InboxPage(BaseModel):
    items: list[InboxItem]
    unread: int
    next_before: datetime | None = Field(None, description="pass as ?before= for the next (older) page")


def _unread(s, user_id) -> int:
    return s.scalar(select(func.count()).select_from(Delivery).where(
        Delivery.recipient_id == user_id, Delivery.channel == "inbox", Delivery.read_at.is_(None))) or 0


@router.get("/inbox", response_model=InboxPage)
def inbox(limit: int = Query(20, ge=1, le=100), before: datetime | None = None,
          actor: Actor = Depends(scope("notify:read")), platform=Depends(get_platform)):
    """Your notifications, newest first, a page at a time, with the unread count."""
    q = select(Delivery).where(Delivery.recipient_id == actor.user_id, Delivery.channel == "inbox")
    if before is not None:
        q = q.where(Delivery.created_at < before)
    with platform.read() as s:
        rows = s.scalars(q.order_by(Delivery.created_at.desc(), Delivery.id.desc()).limit(limit + 1)).all()
        more = len(rows) > limit
        rows = rows[:limit]
        return InboxPage(items=[InboxItem(id=r.id, kind=r.kind, title=r.title, body=r.body, url=r.url,
                                          artist_id=r.artist_id, created_at=r.created_at, read=r.read_at is not None)
                                for r in rows],
                         unread=_unread(s, actor.user_id), next_before=rows[-1].created_at if more else None)


@router.get("/inbox/unread-count")
def unread_count(actor: Actor = Depends(scope("notify:read")), platform=Depends(get_platform)) -> dict:
    """How many of your notifications are unread."""
    with platform.read() as s:
        return {"unread": _unread(s, actor.user_id)}


@router.post("/inbox/{notification_id}/read", status_code=204)
def mark_read(notification_id: uuid.UUID, actor: Actor = Depends(scope("notify:write")), platform=Depends(get_platform)):
    """Mark one notification read (idempotent)."""
    with platform.session() as s:
        row = s.get(Delivery, notification_id)
        if row is None or row.recipient_id != actor.user_id or row.channel != "inbox":
            raise NotFound("notification")
        if row.read_at is None:
            row.read_at = platform.clock.now()
    return Response(status_code=204)


@router.post("/inbox/read-all")
def mark_all_read(actor: Actor = Depends(scope("notify:write")), platform=Depends(get_platform)) -> dict:
    """Mark every notification read; answers how many changed."""
    with platform.session() as s:
        n = s.execute(update(Delivery).where(Delivery.recipient_id == actor.user_id, Delivery.channel == "inbox",
                                             Delivery.read_at.is_(None)).values(read_at=platform.clock.now())).rowcount
    return {"marked": n}


# ---------------------------------------------------------------- artists' messages

class MessageBody(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"segment": "tier:1", "title": "New merch", "body": "Supporters get the vinyl first, this Friday."}]})

    segment: str = Field(..., pattern=SEGMENT.pattern,
                         description="followers, members, tier:N (rank N or above) or played:<content id>")
    title: str = Field(..., min_length=1, max_length=200)
    body: str = Field(..., min_length=1, max_length=5000)


class MessageOut(BaseModel):
    id: uuid.UUID
    segment: str
    title: str
    created_at: datetime
    remaining_today: int


def take_quota(s, artist_id: uuid.UUID, day, limit: int = MESSAGES_PER_DAY) -> int | None:
    """Count one message of the artist's day: the conditional UPDATE succeeds for at most
    ``limit`` callers however many arrive at once. Returns the count after, or ``None``."""
    from .pipeline import _insert

    s.execute(_insert(s)(MessageQuota.__table__).values(artist_id=artist_id, day=day, sent=0).on_conflict_do_nothing())
    won = s.execute(update(MessageQuota).where(MessageQuota.artist_id == artist_id, MessageQuota.day == day,
                                               MessageQuota.sent < limit).values(sent=MessageQuota.sent + 1)).rowcount
    if not won:
        return None
    return s.scalar(select(MessageQuota.sent).where(MessageQuota.artist_id == artist_id, MessageQuota.day == day))


@router.post("/artists/{artist_id}/messages", status_code=201, response_model=MessageOut)
def send_message(artist_id: uuid.UUID, body: MessageBody, actor: Actor = Depends(scope("notify:write")),
                 platform=Depends(get_platform)):
    """Message a segment of your fans (inbox, and push / email as each fan allows, with an
    unsubscribe link). At most 3 messages per artist per UTC day (429 ``message-limit``)."""
    ensure_artist_owner(actor, artist_id)
    now = platform.clock.now()
    with platform.session() as s:
        if s.get(Artist, artist_id) is None:
            raise NotFound("artist")
        count = take_quota(s, artist_id, now.date())
        if count is None:
            raise Problem(429, "message-limit", f"artists may message their fans {MESSAGES_PER_DAY} times a day",
                          limit=MESSAGES_PER_DAY)
        m = ArtistMessage(id=uuid.uuid4(), artist_id=artist_id, segment=body.segment, title=body.title, body=body.body,
                          created_at=now)
        s.add(m)
        platform.emit(s, "notify.artist_message", actor_id=actor.user_id, artist_id=artist_id,
                      subject=("artist_message", m.id),
                      data={"segment": body.segment, "title": body.title, "body": body.body})
        return MessageOut(id=m.id, segment=m.segment, title=m.title, created_at=now,
                          remaining_today=MESSAGES_PER_DAY - count)
