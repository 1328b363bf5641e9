"""REST routes of the live plugin, under ``/api/v1/live``."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from musicconnect import Problem
from musicconnect.models import Artist
from musicconnect.web import get_platform, scope

from . import chat, parties
from .models import ModAction, Moderator, Party, Sanction
from .bus import publish

router = APIRouter()
ROOM = r"^(party|artist)-[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


class PartyIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "title": "Album premiere", "description": "Listen with me", "starts_at": "2026-06-05T20:00:00+02:00",
        "timezone": "Europe/Paris", "playlist": [], "visibility": "public"}]})
    artist_id: uuid.UUID | None = Field(None, description="defaults to the caller's artist")
    title: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=5000)
    starts_at: AwareDatetime
    timezone: str | None = Field(None, max_length=64, description="IANA zone the artist announces it in")
    playlist: list[uuid.UUID] = Field(default_factory=list, max_length=parties.MAX_TRACKS,
                                      json_schema_extra={"uniqueItems": True})
    visibility: Literal["public", "followers", "tier"] = "public"
    min_tier_id: uuid.UUID | None = None


class ControlIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"action": "seek", "position": 42.5}]})
    action: Literal["pause", "resume", "seek", "skip", "end"]
    position: float | None = Field(None, ge=0, le=86_400)
    index: int | None = Field(None, ge=0, le=parties.MAX_TRACKS)


class ChatIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"text": "this chorus!"}]})
    text: str = Field(min_length=1, max_length=chat.MAX_TEXT)


class ReactionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"emoji": "🔥"}]})
    emoji: Literal[chat.EMOJI]  # type: ignore[valid-type]


class SanctionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"user_id": str(uuid.UUID(int=1)),
                                                                              "kind": "mute", "minutes": 10}]})
    user_id: uuid.UUID
    kind: Literal["mute", "ban"]
    minutes: int | None = Field(None, ge=1, le=10_080, description="a mute's length; a ban without it is for good")


class RoomSettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"slow_mode_seconds": 10}]})
    slow_mode_seconds: int | None = Field(None, ge=0, le=3600)
    min_tier_id: uuid.UUID | None = None
    members_only: bool | None = Field(None, description="false clears min_tier_id")


class PartyOut(BaseModel):
    id: uuid.UUID
    artist_id: uuid.UUID
    title: str
    description: str
    starts_at: datetime
    timezone: str
    starts_at_local: str
    visibility: str
    min_tier_id: uuid.UUID | None
    status: str
    rsvps: int
    rsvped: bool
    started_at: datetime | None
    ended_at: datetime | None
    playlist: list[dict[str, Any]]
    state: dict[str, Any]
    socket: str


class PartyList(BaseModel):
    parties: list[PartyOut]


class MessagesOut(BaseModel):
    room: str
    messages: list[dict[str, Any]]


PROBLEMS = {404: {"description": "party-not-found"}, 409: {"description": "party-ended"}}


def _artist_of(actor) -> uuid.UUID:
    if actor.artist_id is None:
        raise Problem(403, "forbidden", "only artists schedule listening parties")
    return actor.artist_id


@router.post("/parties", status_code=201, response_model=PartyOut, responses={404: {"description": "no such artist"}})
def create_party(body: PartyIn, actor=Depends(scope("live:write")), platform=Depends(get_platform)):
    with platform.session() as s:
        party = parties.create(platform, s, actor, artist_id=body.artist_id or _artist_of(actor), title=body.title,
                               description=body.description, starts_at=body.starts_at, timezone=body.timezone,
                               playlist=body.playlist, visibility=body.visibility, min_tier_id=body.min_tier_id)
        return parties.summary(platform, s, actor, party)


@router.get("/artists/{artist_id}/parties", response_model=PartyList)
def list_parties(artist_id: uuid.UUID, status: Literal["scheduled", "live", "ended"] | None = None,
                 actor=Depends(scope("live:read", optional=True)), platform=Depends(get_platform)):
    with platform.session() as s:
        if s.get(Artist, artist_id) is None:
            raise Problem(404, "not-found", "artist not found")
        q = select(Party).where(Party.artist_id == artist_id)
        if status:
            q = q.where(Party.status == status)
        rows = s.scalars(q.order_by(Party.starts_at.desc()).limit(100)).all()
        return {"parties": [parties.summary(platform, s, actor, p) for p in rows
                            if parties.refusal(platform, s, actor, p) is None]}


@router.get("/parties/{party_id}", response_model=PartyOut, responses=PROBLEMS)
def get_party(party_id: uuid.UUID, actor=Depends(scope("live:read", optional=True)), platform=Depends(get_platform)):
    with platform.session() as s:
        party = parties.get(s, party_id)
        parties.require_view(platform, s, actor, party)
        parties.tick(platform, s, party)
        return parties.summary(platform, s, actor, party)


@router.put("/parties/{party_id}/rsvp", responses=PROBLEMS)
def rsvp(party_id: uuid.UUID, actor=Depends(scope("live:write")), platform=Depends(get_platform)) -> dict:
    with platform.session() as s:
        party = parties.get(s, party_id)
        parties.require_view(platform, s, actor, party)
        parties.require_open(party)
        return {"rsvped": True, "rsvps": parties.rsvp(platform, s, actor, party, True)}


@router.delete("/parties/{party_id}/rsvp", responses=PROBLEMS)
def cancel_rsvp(party_id: uuid.UUID, actor=Depends(scope("live:write")), platform=Depends(get_platform)) -> dict:
    with platform.session() as s:
        party = parties.get(s, party_id)
        return {"rsvped": False, "rsvps": parties.rsvp(platform, s, actor, party, False)}


def _control(platform, actor, party_id, body: ControlIn) -> dict:
    with platform.session() as s:
        party = parties.get(s, party_id)
        parties.tick(platform, s, party)
        parties.control(platform, s, actor, party, body.action, position=body.position, index=body.index)
        return parties.state(party, platform.clock.now())


@router.post("/parties/{party_id}/control", responses={**PROBLEMS, 422: {"description": "invalid-seek"}})
async def control(party_id: uuid.UUID, body: ControlIn, actor=Depends(scope("live:write")),
                  platform=Depends(get_platform)) -> dict:
    """Host controls: everyone in the party receives the new state over their socket."""
    state = await run_in_threadpool(_control, platform, actor, party_id, body)
    await publish(platform, parties.room_of(party_id), state)
    return state


@router.get("/parties/{party_id}/recap", responses=PROBLEMS)
def recap(party_id: uuid.UUID, actor=Depends(scope("live:read", optional=True)), platform=Depends(get_platform)) -> dict:
    with platform.session() as s:
        party = parties.get(s, party_id)
        parties.require_view(platform, s, actor, party)
        if party.status != "ended" or party.recap is None:
            raise Problem(409, "party-not-ended", "the recap is ready once the party has ended")
        return {"party_id": str(party.id), **party.recap}


# ---------------------------------------------------------------- chat

@router.get("/rooms/{room}/messages", response_model=MessagesOut, responses={404: {"description": "room-not-found"}})
def messages(room: str = Path(pattern=ROOM), before: int | None = Query(None, ge=1, le=2**31 - 1),
             after: int | None = Query(None, ge=0, le=2**31 - 1, description="resume: messages after the last id seen"),
             limit: int = Query(chat.HISTORY, ge=1, le=chat.MAX_PAGE),
             actor=Depends(scope("live:read", optional=True)), platform=Depends(get_platform)):
    with platform.session() as s:
        key, artist_id, _ = chat.resolve(platform, s, actor, room)
        return {"room": key, "messages": chat.history(s, key, artist_id, before=before, after=after, limit=limit)}


def _post(platform, actor, room, text):
    chat.screen(platform, actor, room, text)
    with platform.session() as s:
        return chat.post(platform, s, actor, room, text)


@router.post("/rooms/{room}/messages", status_code=201, responses={404: {"description": "room-not-found"},
                                                                  429: {"description": "chat-flood / chat-slow-mode"}})
async def send(body: ChatIn, room: str = Path(pattern=ROOM), actor=Depends(scope("live:write")),
               platform=Depends(get_platform)) -> dict:
    msg = await run_in_threadpool(_post, platform, actor, room, body.text)
    await publish(platform, msg["room"], msg)
    return msg


def _react(platform, actor, message_id, emoji, on):
    with platform.session() as s:
        return chat.react(platform, s, actor, message_id, emoji, on)


@router.put("/messages/{message_id}/reactions", responses={404: {"description": "message-not-found"}})
async def react(body: ReactionIn, message_id: int = Path(ge=1, le=2**31 - 1), actor=Depends(scope("live:write")),
                platform=Depends(get_platform)) -> dict:
    out = await run_in_threadpool(_react, platform, actor, message_id, body.emoji, True)
    await publish(platform, out["room"], out)
    return out


@router.delete("/messages/{message_id}/reactions/{emoji}", responses={404: {"description": "message-not-found"}})
async def unreact(emoji: Literal[chat.EMOJI], message_id: int = Path(ge=1, le=2**31 - 1),  # type: ignore[valid-type]
                  actor=Depends(scope("live:write")), platform=Depends(get_platform)) -> dict:
    out = await run_in_threadpool(_react, platform, actor, message_id, emoji, False)
    await publish(platform, out["room"], out)
    return out


def _delete(platform, actor, message_id):
    with platform.session() as s:
        msg = chat.delete_message(platform, s, actor, message_id)
        return {"type": "deleted", "id": msg.id, "room": msg.room}


@router.delete("/messages/{message_id}", responses={404: {"description": "message-not-found"}})
async def delete_message(message_id: int = Path(ge=1, le=2**31 - 1), actor=Depends(scope("live:write")),
                         platform=Depends(get_platform)) -> dict:
    out = await run_in_threadpool(_delete, platform, actor, message_id)
    await publish(platform, out["room"], out)
    return out


@router.patch("/rooms/{room}/settings", responses={404: {"description": "room-not-found"}})
def room_settings(body: RoomSettingsIn, room: str = Path(pattern=ROOM), actor=Depends(scope("live:write")),
                  platform=Depends(get_platform)) -> dict:
    with platform.session() as s:
        row = chat.configure(platform, s, actor, room, slow_mode_seconds=body.slow_mode_seconds,
                             min_tier_id=body.min_tier_id, clear_tier=body.members_only is False)
        return {"room": row.room, "slow_mode_seconds": row.slow_mode_seconds,
                "min_tier_id": str(row.min_tier_id) if row.min_tier_id else None}


# ---------------------------------------------------------------- moderators, sanctions, log

@router.get("/artists/{artist_id}/moderators")
def moderators(artist_id: uuid.UUID, actor=Depends(scope("live:read")), platform=Depends(get_platform)) -> dict:
    with platform.session() as s:
        chat.require_moderator(platform, s, actor, artist_id)
        rows = s.scalars(select(Moderator).where(Moderator.artist_id == artist_id).order_by(Moderator.created_at))
        return {"moderators": [{"user_id": str(m.user_id), "since": m.created_at.isoformat()} for m in rows],
                "limit": chat.MAX_MODERATORS}


@router.put("/artists/{artist_id}/moderators/{user_id}", responses={409: {"description": "too-many-moderators"}})
def appoint(artist_id: uuid.UUID, user_id: uuid.UUID, actor=Depends(scope("live:write")),
            platform=Depends(get_platform)) -> dict:
    with platform.session() as s:
        chat.add_moderator(platform, s, actor, artist_id, user_id)
        return {"user_id": str(user_id), "moderator": True}


@router.delete("/artists/{artist_id}/moderators/{user_id}")
def dismiss(artist_id: uuid.UUID, user_id: uuid.UUID, actor=Depends(scope("live:write")),
            platform=Depends(get_platform)) -> dict:
    with platform.session() as s:
        chat.remove_moderator(platform, s, actor, artist_id, user_id)
        return {"user_id": str(user_id), "moderator": False}


@router.post("/artists/{artist_id}/sanctions", status_code=201)
async def sanction(artist_id: uuid.UUID, body: SanctionIn, actor=Depends(scope("live:write")),
                   platform=Depends(get_platform)) -> dict:
    def run():
        with platform.session() as s:
            row = chat.sanction(platform, s, actor, artist_id, body.user_id, body.kind, body.minutes)
            rooms = [parties.room_of(pid) for pid in s.scalars(select(Party.id).where(
                Party.artist_id == artist_id, Party.status != "ended"))]
            return {"user_id": str(row.user_id), "kind": row.kind,
                    "until": row.until.isoformat() if row.until else None}, rooms

    out, rooms = await run_in_threadpool(run)
    if body.kind == "ban":  # clients drop the banned user's messages, in the live room and open parties
        for room in [f"artist:{artist_id}", *rooms]:
            await publish(platform, room, {"type": "banned", "user_id": out["user_id"]})
    return out


@router.delete("/artists/{artist_id}/sanctions/{user_id}/{kind}")
def lift(artist_id: uuid.UUID, user_id: uuid.UUID, kind: Literal["mute", "ban"], actor=Depends(scope("live:write")),
         platform=Depends(get_platform)) -> dict:
    with platform.session() as s:
        chat.lift(platform, s, actor, artist_id, user_id, kind)
        return {"user_id": str(user_id), "kind": kind, "lifted": True}


@router.get("/artists/{artist_id}/sanctions")
def sanctions(artist_id: uuid.UUID, actor=Depends(scope("live:read")), platform=Depends(get_platform)) -> dict:
    with platform.session() as s:
        chat.require_moderator(platform, s, actor, artist_id)
        rows = s.scalars(select(Sanction).where(Sanction.artist_id == artist_id))
        return {"sanctions": [{"user_id": str(r.user_id), "kind": r.kind,
                               "until": r.until.isoformat() if r.until else None} for r in rows]}


@router.get("/artists/{artist_id}/modlog")
def modlog(artist_id: uuid.UUID, limit: int = Query(100, ge=1, le=500), actor=Depends(scope("live:read")),
           platform=Depends(get_platform)) -> dict:
    """Every moderation action in the artist's rooms, newest first (the artist and admins)."""
    with platform.session() as s:
        if not platform.access.manages(actor, artist_id):
            raise Problem(403, "forbidden", "only the artist reads the moderation log")
        rows = s.scalars(select(ModAction).where(ModAction.artist_id == artist_id)
                         .order_by(ModAction.created_at.desc()).limit(limit))
        return {"actions": [{"id": str(r.id), "moderator_id": str(r.moderator_id), "action": r.action,
                             "target_user_id": str(r.target_user_id) if r.target_user_id else None, "room": r.room,
                             "data": r.data, "at": r.created_at.isoformat()} for r in rows]}
