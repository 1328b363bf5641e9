"""The documentation copies of the fast routes (master playlist, variant playlists, key): the
same handlers as ordinary FastAPI routes, so that OpenAPI documents them and they still answer
with ``MC_FAST_PATH=false``."""
from __future__ import annotations

import uuid

from fastapi import Depends, Request
from starlette.responses import Response

from musicconnect import Actor
from musicconnect.web import get_platform, public

from .. import playback
from .common import READ, router



@router.get("/tracks/{track_id}/master.m3u8", response_class=Response,
            responses={200: {"content": {playback.M3U8: {}}, "description": "HLS master playlist"}})
async def master_doc(track_id: uuid.UUID, request: Request, _: Actor | None = Depends(READ),
                     platform=Depends(get_platform)):
    """HLS master playlist with the measured BANDWIDTH / AVERAGE-BANDWIDTH of each rendition.
    Anonymous for public tracks; send the Authorization header for gated ones. (Fast path.)"""
    return await _via_fast(playback.MASTER, request, platform, {"track_id": str(track_id)})


@router.get("/tracks/{track_id}/{rendition}/index.m3u8", response_class=Response,
            responses={200: {"content": {playback.M3U8: {}}, "description": "HLS variant playlist"}})
async def variant_doc(track_id: uuid.UUID, rendition: str, request: Request, pt: str | None = None,
                      _=Depends(public), platform=Depends(get_platform)):
    """Variant playlist with signed, expiring segment URLs and the key URI; the playback token
    ``pt`` from the master playlist is the guard (no Authorization header). (Fast path.)"""
    return await _via_fast(playback.VARIANT, request, platform, {"track_id": str(track_id), "rendition": rendition})


@router.get("/tracks/{track_id}/key", response_class=Response,
            responses={200: {"content": {"application/octet-stream": {}}, "description": "16-byte AES-128 key"}})
async def key_doc(track_id: uuid.UUID, request: Request, pt: str | None = None, _: Actor | None = Depends(READ),
                  platform=Depends(get_platform)):
    """The AES-128 key, after the access decision allows ``stream`` for this listener. (Fast path.)"""
    return await _via_fast(playback.KEY, request, platform, {"track_id": str(track_id)})


async def _via_fast(route, request: Request, platform, params):
    from musicconnect.fastpath import FastRequest

    resp = await route.handler(FastRequest(request.scope, platform, params, route=route))
    return Response(resp.body, status_code=resp.status, media_type=resp.media_type,
                    headers={k.decode(): v.decode() for k, v in resp.headers})
