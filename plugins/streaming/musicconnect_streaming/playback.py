"""Protected playback: master and variant playlists built per request from cached data, with
signed expiring segment URLs (any CDN or static server can serve them) and an AES-128 key
endpoint that asks the core's access decision on every request.

Players do not send our Authorization header with every HLS request, so the master playlist
hands out a short-lived *playback token* (``pt``: track, version, user, expiry; HMAC-signed) that
the variant playlists and the key URI carry. The key endpoint re-checks access for that user
each time, so a revoked entitlement stops playback at once.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import math
import time
import uuid
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool

from musicconnect import NotFound, Problem, Resource, resource_of
from musicconnect.fastpath import FastRequest, FastResponse, FastRoute, QueryParam, parse_uuid
from musicconnect.models import ContentItem
from musicconnect.web import actor_for

from .models import Track, TrackVersion
from .pipeline import prefix

M3U8 = "application/vnd.apple.mpegurl"
BASE = "/api/v1/streaming/tracks"


@dataclass(frozen=True, slots=True)
class PlaybackInfo:
    content_id: uuid.UUID
    artist_id: uuid.UUID
    version: int
    status: str
    resource: Resource
    renditions: tuple[dict, ...]
    key: bytes
    iv: str
    duration: float


def load_info(platform, cid: uuid.UUID) -> PlaybackInfo | None:
    cache = platform.cache
    gen = cache.generation()
    with platform.session() as s:
        item = s.get(ContentItem, cid)
        track = s.get(Track, cid)
        if item is None or track is None or item.kind != "track":
            return None
        row = s.get(TrackVersion, (cid, track.version)) if track.version else None
        info = PlaybackInfo(cid, item.artist_id, track.version, item.status, resource_of(item),
                            tuple(row.renditions) if row else (), row.aes_key if row else b"", row.aes_iv if row else "",
                            row.duration if row else 0.0)
    cache.set(("streaming", cid), info, generation=gen)
    return info


async def playback_info(platform, cid: uuid.UUID) -> PlaybackInfo:
    info = platform.cache.get(("streaming", cid))
    if info is None:
        info = await run_in_threadpool(load_info, platform, cid)
    if info is None:
        raise NotFound("track")
    return info


# ---------------------------------------------------------------- playback tokens

def _pt_key(platform) -> bytes:
    return hashlib.sha256(b"mc-streaming-playback\x00" + platform.settings.signing_key()).digest()


def make_token(platform, cid: uuid.UUID, version: int, user_id: uuid.UUID | None, ttl: int) -> str:
    exp = int(platform.clock.now().timestamp()) + ttl
    body = f"{cid.hex}.{version}.{user_id.hex if user_id else '-'}.{exp}"
    sig = hmac.new(_pt_key(platform), body.encode(), hashlib.sha256).digest()[:18]
    return body + "." + base64.urlsafe_b64encode(sig).decode()


def read_token(platform, token: str, cid: uuid.UUID) -> tuple[int, uuid.UUID | None]:
    """Returns (version, user id) or raises a 403 problem."""
    try:
        c, version, user, exp, sig = token.split(".")
        body = f"{c}.{version}.{user}.{exp}"
        good = hmac.new(_pt_key(platform), body.encode(), hashlib.sha256).digest()[:18]
        ok = hmac.compare_digest(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)), good)
    except (ValueError, TypeError):
        ok = False
    if not ok or c != cid.hex:
        raise Problem(403, "bad-playback-token", "this playback link is invalid")
    if int(exp) < platform.clock.now().timestamp():
        raise Problem(403, "playback-token-expired", "this playback link has expired; reload the track")
    return int(version), (uuid.UUID(hex=user) if user != "-" else None)


def _query(req: FastRequest) -> dict[str, str]:
    from urllib.parse import parse_qs

    return {k: v[0] for k, v in parse_qs(req.query_string.decode("latin-1")).items()}


# ---------------------------------------------------------------- handlers (fast path)

async def master(req: FastRequest) -> FastResponse:
    """HLS master playlist with the measured BANDWIDTH / AVERAGE-BANDWIDTH of each rendition.
    Anonymous for public tracks; send the Authorization header for gated ones."""
    platform = req.platform
    cid = parse_uuid(req.params["track_id"], "track_id")
    info = await playback_info(platform, cid)
    actor = await req.actor()
    # who may learn that the track exists (the core's rule): released tracks (the key then
    # answers 401/403 to those without access), else its artist, admins and early-access holders
    if info.status == "taken_down" or not info.renditions or not await platform.access.avisible(actor, info.resource):
        raise NotFound("track")
    settings = platform.plugin_settings("streaming")
    pt = make_token(platform, cid, info.version, actor.user_id if actor else None, settings.playback_token_ttl)
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for r in info.renditions:
        lines.append(f'#EXT-X-STREAM-INF:BANDWIDTH={r["bandwidth"]},AVERAGE-BANDWIDTH={r["average_bandwidth"]},'
                     f'CODECS="{r["codecs"]}"')
        lines.append(f'{r["name"]}/index.m3u8?pt={pt}')
    return FastResponse(("\n".join(lines) + "\n").encode(), media_type=M3U8,
                        headers=[(b"cache-control", b"private, no-store")])


def _signed_body(platform, info: PlaybackInfo, rendition: dict) -> tuple[str, str]:
    """The variant playlist around the key line, with signed segment URLs; shared by all users
    and cached for half the URL lifetime (signing is the only per-segment work)."""
    ttl = platform.plugin_settings("streaming").segment_url_ttl
    key = ("streaming-variant", info.content_id, info.version, rendition["name"], int(time.time() // (ttl / 2)))
    hit = platform.cache.get(key)
    if hit is not None:
        return hit
    base = prefix(info.content_id, info.version)
    target = max(math.ceil(d) for _, d in rendition["segments"]) if rendition["segments"] else 6
    head = "\n".join(["#EXTM3U", "#EXT-X-VERSION:3", f"#EXT-X-TARGETDURATION:{target}", "#EXT-X-MEDIA-SEQUENCE:0",
                      "#EXT-X-PLAYLIST-TYPE:VOD"])
    body = []
    for name, dur in rendition["segments"]:
        body.append(f"#EXTINF:{dur:.6f},")
        body.append(platform.storage.signed_url(f"{base}/hls/{rendition['name']}/{name}", ttl, within=base))
    body.append("#EXT-X-ENDLIST")
    value = (head, "\n".join(body))
    platform.cache.set(key, value)
    return value


async def variant(req: FastRequest) -> FastResponse:
    """Variant playlist with signed, expiring segment URLs and the key URI; the playback token
    ``pt`` from the master playlist is the guard (no Authorization header)."""
    platform = req.platform
    cid = parse_uuid(req.params["track_id"], "track_id")
    q = _query(req)
    info = await playback_info(platform, cid)
    if info.status == "taken_down":
        raise NotFound("track")
    pt = q.get("pt")
    try:
        if not pt:
            raise Problem(403, "bad-playback-token", "open the master playlist first (it signs the variant links)")
        version, _ = read_token(platform, pt, cid)
    except Problem:
        if not platform.access.released(info.resource):  # no valid link: an unreleased track does not exist for you
            raise NotFound("track") from None
        raise
    if version != info.version:
        raise Problem(409, "track-replaced", "the audio of this track changed; reload the master playlist")
    rendition = next((r for r in info.renditions if r["name"] == req.params["rendition"]), None)
    if rendition is None:
        raise Problem(404, "not-found", "no such rendition")
    if platform.storage.backend == "s3":
        head, body = await run_in_threadpool(_signed_body, platform, info, rendition)
    else:
        head, body = _signed_body(platform, info, rendition)
    key_line = f'#EXT-X-KEY:METHOD=AES-128,URI="../key?pt={pt}",IV={info.iv}'
    return FastResponse(f"{head}\n{key_line}\n{body}\n".encode(), media_type=M3U8,
                        headers=[(b"cache-control", b"private, max-age=60")])


async def key(req: FastRequest) -> FastResponse:
    """The track's 16-byte AES-128 key, only after the access decision allows ``stream`` for this
    listener (every time)."""
    platform = req.platform
    cid = parse_uuid(req.params["track_id"], "track_id")
    info = await playback_info(platform, cid)
    q = _query(req)
    actor = await req.actor()
    if actor is None and q.get("pt"):
        try:
            version, user_id = read_token(platform, q["pt"], cid)
        except Problem:
            if not platform.access.released(info.resource):
                raise NotFound("track") from None
            raise
        if version != info.version:
            raise Problem(409, "track-replaced", "the audio of this track changed; reload the master playlist")
        if user_id is not None:
            actor = await actor_for(platform, user_id)
            if actor is None:
                raise Problem(401, "unauthorized", "this account is disabled")
    if info.status == "taken_down" or not info.key:
        raise NotFound("track")
    # the core's decision and refusal: 404 to whoever may not know the track exists, else 401 or
    # 403 with the deciding rule's reason (``tier-required`` with the tier, a plugin's own...)
    await platform.access.arequire(actor, "stream", info.resource, not_found="track")
    return FastResponse(info.key, media_type="application/octet-stream",
                        headers=[(b"cache-control", b"private, no-store")])


# The fast routes, with their scope declarations. The master playlist and the key read content
# (``content:read``; anonymous listeners allowed, a token without the scope counts as anonymous);
# variant playlists need no authentication: the signed playback token they carry is the guard.
PT = QueryParam("pt", "the playback token of the master playlist's variant links")
MASTER = FastRoute("GET", f"{BASE}/{{track_id}}/master.m3u8", master, scope="content:read", optional=True,
                   media_type=M3U8, response_description="HLS master playlist")
VARIANT = FastRoute("GET", f"{BASE}/{{track_id}}/{{rendition}}/index.m3u8", variant, scope="public",
                    query=(PT,), media_type=M3U8, response_description="HLS variant playlist")
KEY = FastRoute("GET", f"{BASE}/{{track_id}}/key", key, scope="content:read", optional=True, query=(PT,),
                media_type="application/octet-stream", response_description="16-byte AES-128 key")
FAST_ROUTES = (MASTER, VARIANT, KEY)

