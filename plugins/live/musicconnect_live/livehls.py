"""Live HLS for fans: the playlist (segment lines rewritten to signed storage URLs) and the
session's AES-128 key, both behind the core's access decision (action ``stream`` on a
``live_session`` resource), and the rule that lets members with the ``live_sessions`` perk in."""
from __future__ import annotations

import asyncio
import uuid

from fastapi import Depends
from fastapi.responses import Response

from musicconnect import Actor, NotFound, Problem, Verdict
from musicconnect.web import get_platform

from .ingest import READ, SEGMENT_RE, ingest_settings, live_prefix, resource_of_session, router
from .ingest_models import LiveStreamSession

PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
NO_STORE = {"Cache-Control": "private, no-store"}


def live_session_rule(platform, actor, action, resource, context):
    """``perk`` sessions: members whose tier carries ``live_sessions`` may listen, others are
    refused with ``live-perk-required`` (the artist and admins are let in by the core)."""
    if resource.kind != "live_session" or resource.data.get("access") != "perk":
        return None
    if action not in ("stream", "view"):
        return None
    if actor is not None and platform.access.manages(actor, resource.artist_id):
        return None
    if context.perks().get("live_sessions"):
        return Verdict.allow("member of a tier with live sessions")
    return Verdict.deny("live sessions are for members of a tier that includes them",
                        problem="live-perk-required", perk="live_sessions")


async def _session_for_stream(platform, session_id: uuid.UUID, actor: Actor | None) -> LiveStreamSession:
    def load():
        with platform.read() as s:
            row = s.get(LiveStreamSession, session_id)
            if row is not None:
                s.expunge(row)
            return row

    row = await asyncio.to_thread(load)
    if row is None:
        raise NotFound("live session")
    if row.status not in ("live", "ended", "stopping"):
        raise Problem(409, "live-not-live", f"this live session is {row.status}, not on air", status_now=row.status)
    await platform.access.arequire(actor, "stream", resource_of_session(row))
    return row


def rewrite_playlist(platform, session_id: uuid.UUID, text: str, ttl: int) -> str:
    """Segment names become signed, expiring storage URLs; the key stays relative (``key``)."""
    prefix = live_prefix(session_id)
    out = []
    for line in text.splitlines():
        name = line.strip()
        if SEGMENT_RE.match(name):
            out.append(platform.storage.signed_url(f"{prefix}/{name}", ttl, within=prefix))
        else:
            out.append(line)
    return "\n".join(out) + "\n"


@router.get("/sessions/{session_id}/live.m3u8", response_class=Response,
            responses={200: {"content": {PLAYLIST_TYPE: {}}, "description": "the live playlist"},
                       409: {"description": "not on air (waiting or failed)"}})
async def live_playlist(session_id: uuid.UUID, actor: Actor | None = Depends(READ), platform=Depends(get_platform)):
    """The live HLS playlist (AES-128): segment URLs are signed and expire; the key is ``key``
    next to this playlist and needs the same credentials. Poll it every segment length."""
    await _session_for_stream(platform, session_id, actor)
    st = ingest_settings(platform)
    ttl = int(st.hls_time * (st.hls_list_size + 3)) + 30

    def read() -> str:
        try:
            raw = platform.storage.get_bytes(f"{live_prefix(session_id)}/live.m3u8").decode()
        except Exception:  # noqa: BLE001 - no playlist yet, or gone after the end
            raise Problem(409, "live-not-live", "no live playlist for this session (yet)") from None
        return rewrite_playlist(platform, session_id, raw, ttl)

    return Response(await asyncio.to_thread(read), media_type=PLAYLIST_TYPE, headers=NO_STORE)


@router.get("/sessions/{session_id}/key", response_class=Response,
            responses={200: {"content": {"application/octet-stream": {}}, "description": "16-byte AES-128 key"},
                       409: {"description": "not on air"}})
async def live_key(session_id: uuid.UUID, actor: Actor | None = Depends(READ), platform=Depends(get_platform)):
    """The session's AES-128 key, for listeners the access decision lets in."""
    row = await _session_for_stream(platform, session_id, actor)
    return Response(bytes(row.aes_key), media_type="application/octet-stream", headers=NO_STORE)
