"""Listening sessions: start a play, report progress and completion."""
from __future__ import annotations

import uuid
from typing import Literal

from fastapi import Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from musicconnect import Actor, NotFound, resource_of
from musicconnect.models import ContentItem
from musicconnect.web import get_platform

from .. import plays
from .common import READ, router



class PlayStart(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"track_id": "5d0c2b8e-7f3a-4c61-b0e9-3a1f6d2c8b47"},
        {"track_id": "5d0c2b8e-7f3a-4c61-b0e9-3a1f6d2c8b47", "client_id": "device-7f3a9c"}]})

    track_id: uuid.UUID
    client_id: str | None = Field(default=None, max_length=100, description=(
        "anonymous listeners: a stable id of this device or browser, so that its plays are told apart "
        "from other listeners behind the same address (ignored when signed in)"))


class PlayReport(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"event": "progress", "position": 31.5}, {"event": "complete", "position": 214.0}]})

    event: Literal["progress", "complete"]
    position: float = Field(ge=0, le=24 * 3600, description="seconds into the track")
    client_id: str | None = Field(default=None, max_length=100, deprecated=True, description=(
        "ignored: the session id identifies the session (accepted for older clients)"))


@router.post("/plays", status_code=201)
def play_start(body: PlayStart, request: Request, actor: Actor | None = Depends(READ),
               platform=Depends(get_platform)):
    """Start a listening session (returns ``session_id`` for the reports)."""
    with platform.session() as s:
        item = s.get(ContentItem, body.track_id)
        if item is None or item.kind != "track" or item.status != "ready":
            raise NotFound("track")
        platform.access.require(actor, "stream", resource_of(item), not_found="track")
        listener = plays.listener_id(actor, body.client_id, request.client.host if request.client else "")
        play = plays.start(platform, s, item, actor, listener)
        return {"session_id": str(play.id)}


@router.post("/plays/{session_id}")
def play_report(session_id: uuid.UUID, body: PlayReport, request: Request, actor: Actor | None = Depends(READ),
                platform=Depends(get_platform)):
    """Report progress or completion; the answer says whether the play has counted.

    The ``session_id`` from ``POST /plays`` is all an anonymous session needs (no ``client_id``);
    a session started signed in takes reports with the same account's credentials only (401
    without them, 404 for another account)."""
    plays.check_event(body.event, body.position)
    with platform.session() as s:
        play = plays.get_play(s, session_id, actor)
        plays.report(platform, s, play, body.event, body.position, request.client.host if request.client else None)
        return {"session_id": str(play.id), "seconds": round(play.seconds, 3), "counted": play.counted_at is not None,
                "completed": play.completed}
