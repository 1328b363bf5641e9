"""The recording of a broadcast becomes a track through the streaming plugin's public upload
route, called in-process (ASGI) with the artist's own credentials: no import of that plugin, the
same checks, transcode and events as an upload from the artist's browser. A deployment without
the streaming plugin answers 409 ``live-publish-unavailable`` and keeps the recording."""
from __future__ import annotations

import asyncio
import tempfile
import uuid
from pathlib import Path
from typing import Literal

import httpx
from fastapi import Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from musicconnect import Actor, NotFound, Problem
from musicconnect.web import get_platform, scope

from .ingest import router
from .ingest_models import LiveStreamSession

UPLOAD_PATH = "/api/v1/streaming/artists/{artist_id}/tracks"


class PublishIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"title": "Live at home, Sunday night", "visibility": "public"}]})
    title: str | None = Field(None, min_length=1, max_length=200, description="default: the session's title")
    visibility: Literal["public", "tier"] = "public"
    required_tier_id: uuid.UUID | None = None


class PublishOut(BaseModel):
    session_id: uuid.UUID
    track_id: uuid.UUID
    upload: dict = Field(description="the streaming plugin's answer to the upload (job id, status)")


@router.post("/sessions/{session_id}/publish", response_model=PublishOut, status_code=201,
             responses={409: {"description": "no recording, already published, or no streaming plugin"}})
async def publish_recording(session_id: uuid.UUID, body: PublishIn, request: Request,
                            actor: Actor = Depends(scope("content:write")), platform=Depends(get_platform)):
    """Publish an ended session's recording as a track (uploaded with your credentials to
    ``POST /api/v1/streaming/artists/{artist_id}/tracks``; it transcodes like any upload)."""
    def load():
        with platform.read() as s:
            row = s.get(LiveStreamSession, session_id)
            if row is None or not platform.access.manages(actor, row.artist_id):
                raise NotFound("live session")
            if row.track_id is not None:
                raise Problem(409, "live-already-published", "this recording is already a track",
                              track_id=str(row.track_id))
            if row.status != "ended" or row.recording_key is None:
                raise Problem(409, "live-no-recording", "only an ended session that went live has a recording",
                              status_now=row.status)
            return row.artist_id, row.title, row.recording_key

    artist_id, title, key = await asyncio.to_thread(load)
    with tempfile.TemporaryDirectory(prefix="mc-live-rec-") as tmp:
        path = Path(tmp) / "recording.aac"
        await asyncio.to_thread(platform.storage.download_to, key, path)
        fields = {"title": body.title or title, "visibility": body.visibility}
        if body.required_tier_id is not None:
            fields["required_tier_id"] = str(body.required_tier_id)
        headers = {k: v for k, v in request.headers.items() if k in ("authorization", "cookie")}
        transport = httpx.ASGITransport(app=request.app)
        async with httpx.AsyncClient(transport=transport, base_url=str(request.base_url).rstrip("/")) as client:
            with path.open("rb") as fh:
                r = await client.post(UPLOAD_PATH.format(artist_id=artist_id), headers=headers, data=fields,
                                       files={"file": ("recording.aac", fh, "audio/aac")}, timeout=600)
    if r.status_code == 404:
        raise Problem(409, "live-publish-unavailable", "tracks cannot be uploaded here (is the streaming plugin "
                      "enabled?); the recording is kept")
    if r.status_code >= 400:
        detail = r.json() if "json" in r.headers.get("content-type", "") else {"detail": r.text[:200]}
        raise Problem(r.status_code if r.status_code < 500 else 502, "live-publish-failed",
                      f"the upload was refused: {detail.get('detail') or detail.get('title')}", upload=detail)
    upload = r.json()
    track_id = uuid.UUID(upload["id"])

    def save():
        with platform.session() as s:
            row = s.get(LiveStreamSession, session_id)
            row.track_id = track_id

    await asyncio.to_thread(save)
    return PublishOut(session_id=session_id, track_id=track_id, upload=upload)
