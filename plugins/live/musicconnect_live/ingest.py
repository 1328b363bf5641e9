"""Going live: an artist's stream key, and one RTMP ingest per live session.

Each session gets its own port from ``MC_LIVE_RTMP_PORT`` .. ``+ MC_LIVE_RTMP_PORTS - 1``, where one
ffmpeg process listens (``-listen 1``: ffmpeg serves one publisher per port), checks the stream key
the encoder publishes under, encodes the audio to AES-128 HLS in a private work directory and keeps
a full recording. A supervisor thread in the API process that created the session mirrors each
new segment, then the playlist, into the object store (fans read from there, so any API process
serves them), marks the session live at its first segment, and ended or failed (with the reason the
artist reads at ``GET /api/v1/live/sessions/{id}``) when ffmpeg stops.

The encoder's stream key is checked without ever storing it: ffmpeg listens for a random
stream name nobody knows, logs the name the encoder published under ("Unexpected stream K"),
and the supervisor compares the SHA-256 of K with the stored hash before anything is published.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import inspect
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections import deque
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from musicconnect import Actor, NotFound, PluginSettings, Problem, Resource, emit
from musicconnect.models import Entitlement, Tier
from musicconnect.web import get_platform, scope

from .ingest_models import LiveStreamKey, LiveStreamSession

log = logging.getLogger("musicconnect.live.ingest")

router = APIRouter()
ARTIST = scope("artist:write")
READ = scope("content:read", optional=True)

ACTIVE = ("waiting", "live", "stopping")
SEGMENT_RE = re.compile(r"^seg\d{5,}\.ts$")


class IngestSettings(PluginSettings):
    """The ingest's settings (``MC_LIVE_<FIELD>``); the live plugin's settings model includes them."""

    rtmp_port: int = Field(1935, ge=1, le=65535, description="first RTMP port of live sessions")
    rtmp_ports: int = Field(8, ge=1, le=1000, description="how many ports (= concurrent live sessions)")
    rtmp_host: str | None = Field(None, description="host named in RTMP URLs; the host of MC_BASE_URL if unset")
    rtmp_bind: str = Field("0.0.0.0", description="address ffmpeg listens on")
    hls_time: float = Field(2.0, ge=0.5, le=10, description="live segment length in seconds")
    hls_list_size: int = Field(6, ge=2, le=30, description="segments a live playlist lists")
    wait_seconds: int = Field(300, ge=5, le=3600, description="how long a session waits for its encoder")
    max_seconds: int = Field(6 * 3600, ge=60, le=48 * 3600, description="longest broadcast")


def ingest_settings(platform) -> IngestSettings:
    s = platform.plugin_settings("live")
    if isinstance(s, IngestSettings):
        return s
    # the plugin's settings model does not (yet) include ours: fall back on our own model
    hit = platform.cache.get(("live", "ingest-settings"))
    if hit is None:
        values = {k: getattr(s, k) for k in IngestSettings.model_fields if s is not None and hasattr(s, k)}
        hit = IngestSettings(**values)
        platform.cache.set(("live", "ingest-settings"), hit)
    return hit


def ffmpeg_exe() -> str:
    """ffmpeg from PATH when present, else the static binary of the imageio-ffmpeg wheel."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg
        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:  # noqa: BLE001 - not installed, or no binary for this platform
        raise Problem(503, "live-ffmpeg-missing", "live sessions need ffmpeg: install it on the PATH "
                      "(or the imageio-ffmpeg wheel)") from None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def rtmp_host(platform) -> str:
    return ingest_settings(platform).rtmp_host or urlsplit(platform.settings.base_url).hostname or "127.0.0.1"


def rtmp_server(platform, port: int) -> str:
    return f"rtmp://{rtmp_host(platform)}:{port}/live"


def segment_linger(st: IngestSettings) -> float:
    """Seconds the live segments stay after the end: players finish the playlist's last ones."""
    return st.hls_time * (st.hls_list_size + 3) + 60


def live_prefix(session_id: uuid.UUID) -> str:
    """Storage prefix of a session's live segments and playlist."""
    return f"live/{session_id}"


def recording_prefix(session_id: uuid.UUID) -> str:
    return f"live-recordings/{session_id}"


def resource_of_session(row: LiveStreamSession) -> Resource:
    """The access snapshot of a live session: ``public``; ``tier`` (the core's tier rule); ``perk``
    (tier visibility with no tier: the core abstains and the live plugin's rule decides on the
    ``live_sessions`` perk)."""
    return Resource(kind="live_session", id=row.id, artist_id=row.artist_id,
                    visibility="public" if row.access == "public" else "tier",
                    status="ready" if row.status in ("live", "ended") else "draft",
                    required_tier_id=row.required_tier_id if row.access == "tier" else None,
                    data={"access": row.access})


# ------------------------------------------------------------------ supervisor
class Ingest:
    """One ffmpeg RTMP listener and the thread that watches it."""

    def __init__(self, platform, row: LiveStreamSession, key_hash: str, loop: asyncio.AbstractEventLoop | None):
        self.platform = platform
        self.id = row.id
        self.artist_id = row.artist_id
        self.title = row.title
        self.port = row.port
        self.aes_key = row.aes_key
        self.key_hash = key_hash
        self.loop = loop
        self.settings = ingest_settings(platform)
        self.expect = "x" + secrets.token_hex(16)          # the name ffmpeg expects: nobody knows it
        self.work = Path(platform.settings.data_dir) / "live-work" / str(row.id)
        self.proc: subprocess.Popen | None = None
        self.key_ok = False
        self.failure: tuple[str, str] | None = None       # (problem, reason) decided while reading logs
        self.tail: deque[str] = deque(maxlen=8)
        self.uploaded: set[str] = set()
        self.live = False
        self.stop_reason: str | None = None
        self.done = threading.Event()
        self.segment_times: dict[str, float] = {}         # segment -> wall time it became fetchable (bench)
        self.thread = threading.Thread(target=self._run, name=f"live-ingest-{row.id}", daemon=True)

    # -- ffmpeg
    def command(self) -> list[str]:
        st = self.settings
        return [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-v", "info",
                "-listen", "1", "-timeout", str(st.wait_seconds),
                "-i", f"rtmp://{st.rtmp_bind}:{self.port}/live/{self.expect}",
                "-t", str(st.max_seconds),
                "-map", "0:a:0", "-c:a", "aac", "-b:a", "160k", "-ar", "48000", "-ac", "2",
                "-f", "hls", "-hls_time", f"{st.hls_time:g}", "-hls_list_size", str(st.hls_list_size),
                "-hls_flags", "delete_segments+independent_segments", "-hls_delete_threshold", "3",
                "-hls_key_info_file", str(self.work / "key.info"),
                "-hls_segment_filename", str(self.work / "seg%05d.ts"), str(self.work / "live.m3u8"),
                "-map", "0:a:0", "-c:a", "aac", "-b:a", "192k", "-ar", "48000", "-ac", "2",
                "-f", "adts", str(self.work / "recording.aac")]

    def start(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.work, 0o700)
        (self.work / "key.bin").write_bytes(self.aes_key)
        # line 1: the key URI written into the playlist (relative: .../sessions/{id}/key), line 2: the file
        (self.work / "key.info").write_text(f"key\n{self.work / 'key.bin'}\n")
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, errors="replace",
                                     start_new_session=True)
        threading.Thread(target=self._read_log, name=f"live-log-{self.id}", daemon=True).start()
        self.thread.start()

    def _read_log(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for line in self.proc.stderr:
            line = line.strip()
            if not line:
                continue
            m = re.search(r"Unexpected stream (\S+), expecting", line)
            # the published name is the stream key: it never reaches a log, a reason or the database
            self.tail.append(re.sub(r"Unexpected stream \S+,", "Unexpected stream <key>,", line)
                             .replace(self.expect, "<expected>"))
            if m and not self.key_ok and self.failure is None:
                if hmac.compare_digest(hash_key(m.group(1)), self.key_hash):
                    self.key_ok = True
                else:
                    self._refuse("live-wrong-stream-key", "the encoder used a wrong stream key: copy the key "
                                 "from POST /api/v1/live/stream-key (rotating it invalidates the old one)")
            elif line.startswith("Input #0") and not self.key_ok and self.failure is None:
                self._refuse("live-wrong-stream-key", "the encoder published under no stream key")
            elif ("matches no streams" in line or "does not contain any stream" in line) and self.failure is None:
                self._refuse("live-no-audio", "the stream carries no audio track: send audio (AAC, MP3 or Opus) "
                             "from the encoder")

    def _refuse(self, problem: str, reason: str) -> None:
        self.failure = (problem, reason)
        self._kill()

    def _kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def stop(self, reason: str = "stopped by the artist") -> None:
        """Graceful end: ffmpeg finishes the playlist (ENDLIST) and the recording."""
        self.stop_reason = reason
        if self.proc and self.proc.poll() is None:
            if not self.key_ok:
                self._kill()
            else:
                self.proc.send_signal(signal.SIGINT)

    # -- the watch loop
    def _run(self) -> None:
        try:
            self._watch()
        except Exception:  # noqa: BLE001 - the thread must record an end whatever happened
            log.exception("live ingest %s crashed", self.id)
            self._kill()
            self.failure = self.failure or ("live-ingest-failed", "the ingest stopped unexpectedly")
        finally:
            try:
                self._finish()
            finally:
                _INGESTS.pop(self.id, None)
                shutil.rmtree(self.work, ignore_errors=True)
                self.done.set()

    def _watch(self) -> None:
        assert self.proc is not None
        last_beat = 0.0
        while True:
            code = self.proc.poll()
            if self.key_ok and self.failure is None:
                self._mirror()
            now = time.monotonic()
            if now - last_beat >= 1.0:
                last_beat = now
                self._beat()
            if code is not None:
                break
            time.sleep(0.05)
        self.proc.wait()
        if self.key_ok and self.failure is None:
            self._mirror()

    def _beat(self) -> None:
        """Heartbeat, and a stop asked for by another API process (status ``stopping``)."""
        with self.platform.session() as s:
            row = s.get(LiveStreamSession, self.id)
            if row is None:
                self._kill()
                return
            row.heartbeat_at = self.platform.clock.now()
            if row.status == "stopping" and self.stop_reason is None:
                self.stop(row.reason or "stopped by the artist")

    def _mirror(self) -> None:
        """Upload new segments, then the playlist that names them; drop segments ffmpeg dropped."""
        playlist = self.work / "live.m3u8"
        try:
            text = playlist.read_text()
        except FileNotFoundError:
            return
        names = [ln.strip() for ln in text.splitlines() if SEGMENT_RE.match(ln.strip())]
        if not names:
            return
        store = self.platform.storage
        prefix = live_prefix(self.id)
        new = [n for n in names if n not in self.uploaded]
        for name in new:
            store.put_file(f"{prefix}/{name}", self.work / name, "video/mp2t")
            self.uploaded.add(name)
        if not new and not text.rstrip().endswith("#EXT-X-ENDLIST"):
            return
        store.put_bytes(f"{prefix}/live.m3u8", text.encode(), "application/vnd.apple.mpegurl")
        at = time.time()
        for name in new:
            self.segment_times[name] = at
        for gone in sorted(self.uploaded - set(names)):
            if not (self.work / gone).exists():
                store.delete(f"{prefix}/{gone}")
                self.uploaded.discard(gone)
        if not self.live:
            self.live = True
            self._went_live()

    def _went_live(self) -> None:
        with self.platform.session() as s:
            row = s.get(LiveStreamSession, self.id)
            if row.status == "waiting":
                row.status = "live"
            row.started_at = self.platform.clock.now()
            emit(self.platform, s, "live.started", artist_id=self.artist_id, subject=("live_session", self.id),
                 data={"session_id": str(self.id), "title": self.title, "access": row.access,
                       "required_tier_id": str(row.required_tier_id) if row.required_tier_id else None})
        notify_live(self.platform, self.loop, self.artist_id, {
            "type": "artist_live", "artist_id": str(self.artist_id), "session_id": str(self.id),
            "title": self.title, "playlist": f"/api/v1/live/sessions/{self.id}/live.m3u8"})

    def _finish(self) -> None:
        """Record how it ended; keep the recording of a broadcast that went live."""
        recording = self.work / "recording.aac"
        rec_key = None
        if self.live and recording.is_file() and recording.stat().st_size > 0:
            rec_key = f"{recording_prefix(self.id)}/recording.aac"
            self.platform.storage.put_file(rec_key, recording, "audio/aac")
        with self.platform.session() as s:
            row = s.get(LiveStreamSession, self.id)
            if row is None:
                return
            now = self.platform.clock.now()
            row.ended_at = now
            row.heartbeat_at = now
            if self.live:
                row.status = "ended"
                row.reason = self.stop_reason or (
                    self.failure[1] if self.failure else "the encoder stopped streaming")
                row.recording_key = rec_key
                emit(self.platform, s, "live.ended", artist_id=self.artist_id, subject=("live_session", self.id),
                     data={"session_id": str(self.id), "reason": row.reason, "recording": rec_key is not None})
            else:
                problem, reason = self.failure or self._why_no_stream()
                row.status = "failed"
                row.problem, row.reason = problem, reason
        if self.live:
            notify_live(self.platform, self.loop, self.artist_id, {
                "type": "artist_live_ended", "artist_id": str(self.artist_id), "session_id": str(self.id)})
            # players finish the last segments, then the live copies go (the recording stays)
            timer = threading.Timer(segment_linger(self.settings), self._drop_segments)
            timer.daemon = True
            timer.start()

    def _drop_segments(self) -> None:
        try:
            self.platform.storage.delete_prefix(live_prefix(self.id) + "/")
        except Exception:  # noqa: BLE001 - the platform may be gone (shutdown); the files are harmless
            log.warning("live: could not delete the segments of %s", self.id)

    def _why_no_stream(self) -> tuple[str, str]:
        if self.stop_reason:
            return "live-stopped", f"{self.stop_reason} before the encoder connected"
        text = " | ".join(self.tail)
        if "Address already in use" in text or "Cannot assign requested address" in text:
            return "live-port-busy", f"RTMP port {self.port} is in use by another program"
        if "Unexpected stream" not in text and "Input #0" not in text:
            return "live-no-encoder", (f"no encoder connected within {self.settings.wait_seconds} s "
                                       f"to {rtmp_server(self.platform, self.port)}")
        return "live-ingest-failed", "the stream ended before any audio arrived: " + (text[-300:] or "no output")


_INGESTS: dict[uuid.UUID, Ingest] = {}
_PORT_LOCK = threading.Lock()


def running(session_id: uuid.UUID) -> Ingest | None:
    return _INGESTS.get(session_id)


def stop_all(platform) -> None:
    """Shutdown: end every ingest of this process gracefully (the recordings are kept)."""
    ingests = [i for i in list(_INGESTS.values()) if i.platform is platform]
    for ing in ingests:
        ing.stop("the server shut down")
    for ing in ingests:
        ing.done.wait(10)


def notify_live(platform, loop, artist_id: uuid.UUID, msg: dict[str, Any]) -> None:
    """Tell the artist's members with an open socket (``platform.realtime.send_to_user``).

    Followers are the fan club's (another plugin's table): the ``live.started`` event carries what
    a notifications plugin needs to reach them; here we reach the members who hold an active
    entitlement for the artist, through the core's tables."""
    rt = getattr(platform, "realtime", None)
    if rt is None or not hasattr(rt, "send_to_user"):
        return
    now = platform.clock.now()
    with platform.read() as s:
        users = set(s.scalars(select(Entitlement.user_id).where(
            Entitlement.artist_id == artist_id, Entitlement.status == "active",
            (Entitlement.expires_at.is_(None)) | (Entitlement.expires_at > now))))

    def deliver() -> None:
        for uid in users:
            try:
                r = rt.send_to_user(uid, msg)
                if inspect.isawaitable(r):
                    asyncio.ensure_future(r)
            except Exception:  # noqa: BLE001 - a notification must not break the broadcast
                log.exception("live: could not notify %s", uid)

    if loop is not None and loop.is_running():
        loop.call_soon_threadsafe(deliver)
    else:
        try:
            deliver()
        except RuntimeError:
            log.warning("live: no event loop to notify members of %s", artist_id)


STALE_SECONDS = 15


def alive(platform, row: LiveStreamSession) -> bool:
    """An active session is run by this process, or by another one that beat recently."""
    if running(row.id) is not None:
        return True
    last = row.heartbeat_at or row.created_at
    return (platform.clock.now() - last).total_seconds() < STALE_SECONDS


def reap(platform, row: LiveStreamSession) -> None:
    """An active session whose process died is failed (``live-ingest-lost``)."""
    if row.status in ACTIVE and not alive(platform, row):
        row.status, row.problem = "failed", "live-ingest-lost"
        row.reason = "the server process running this session stopped"
        row.ended_at = row.ended_at or platform.clock.now()


def _port_free(bind: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((bind, port))
        except OSError:
            return False
    return True


# ------------------------------------------------------------------ routes
class StreamKeyOut(BaseModel):
    stream_key: str | None = Field(None, description="shown once, when created or rotated")
    hint: str = Field(description="the key's last characters")
    server: str = Field(description="RTMP server of the first live port; each session names its own port")
    rtmp_url: str = Field(description="server/stream key; the key is masked except right after rotation")
    created_at: datetime


class SessionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"title": "Sunday night acoustic", "access": "perk"}]})
    title: str = Field(min_length=1, max_length=200)
    access: Literal["public", "tier", "perk"] = Field(
        "perk", description="who may listen: everyone, members of required_tier_id or above, "
                            "or members whose tier has the live_sessions perk")
    required_tier_id: uuid.UUID | None = None


class SessionOut(BaseModel):
    id: uuid.UUID
    artist_id: uuid.UUID
    title: str
    status: str = Field(description="waiting | live | stopping | ended | failed")
    access: str
    required_tier_id: uuid.UUID | None = None
    problem: str | None = Field(None, description="why it failed (a problem slug)")
    reason: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None
    playlist: str
    server: str | None = Field(None, description="RTMP server to stream to (the artist only)")
    rtmp_url: str | None = Field(None, description="server/<your stream key> (the artist only)")
    recording: bool = False
    track_id: uuid.UUID | None = None


def session_out(platform, row: LiveStreamSession, owner: bool) -> SessionOut:
    server = rtmp_server(platform, row.port)
    return SessionOut(id=row.id, artist_id=row.artist_id, title=row.title, status=row.status, access=row.access,
                      required_tier_id=row.required_tier_id, problem=row.problem if owner else None,
                      reason=row.reason if owner else None, created_at=row.created_at, started_at=row.started_at,
                      ended_at=row.ended_at, playlist=f"/api/v1/live/sessions/{row.id}/live.m3u8",
                      server=server if owner else None, rtmp_url=f"{server}/<stream key>" if owner else None,
                      recording=row.recording_key is not None, track_id=row.track_id)


def _artist(actor: Actor) -> uuid.UUID:
    if actor.artist_id is None:
        raise Problem(403, "forbidden", "only artists can go live")
    return actor.artist_id


@router.post("/stream-key", response_model=StreamKeyOut, status_code=201)
def rotate_stream_key(actor: Actor = Depends(ARTIST), platform=Depends(get_platform)):
    """Create or rotate the artist's RTMP stream key. The key is in this answer only (the server
    keeps its hash): paste it into OBS as the stream key. The old key stops working at once."""
    artist_id = _artist(actor)
    key = "mc_live_" + secrets.token_urlsafe(24)
    now = platform.clock.now()
    with platform.session() as s:
        row = s.get(LiveStreamKey, artist_id)
        if row is None:
            row = LiveStreamKey(artist_id=artist_id)
            s.add(row)
        row.key_hash, row.hint, row.created_at = hash_key(key), key[-4:], now
    server = rtmp_server(platform, ingest_settings(platform).rtmp_port)
    return StreamKeyOut(stream_key=key, hint=key[-4:], server=server, rtmp_url=f"{server}/{key}", created_at=now)


@router.get("/stream-key", response_model=StreamKeyOut, responses={404: {"description": "no key yet"}})
def show_stream_key(actor: Actor = Depends(ARTIST), platform=Depends(get_platform)):
    """The RTMP server and the key's hint (the key itself was shown once, at rotation)."""
    artist_id = _artist(actor)
    with platform.read() as s:
        row = s.get(LiveStreamKey, artist_id)
        if row is None:
            raise Problem(404, "live-no-stream-key", "no stream key yet: POST /api/v1/live/stream-key creates one")
        server = rtmp_server(platform, ingest_settings(platform).rtmp_port)
        return StreamKeyOut(hint=row.hint, server=server, rtmp_url=f"{server}/…{row.hint}", created_at=row.created_at)


@router.post("/sessions", response_model=SessionOut, status_code=201,
             responses={409: {"description": "a session is active, no stream key, or no free port"}})
async def start_session(body: SessionIn, actor: Actor = Depends(ARTIST), platform=Depends(get_platform)):
    """Open a live session: an RTMP listener on the session's port waits for the encoder
    (``server`` + the stream key). It goes ``live`` at the first segment, ``ended`` when the
    encoder stops (or ``POST .../stop``), ``failed`` with ``problem`` and ``reason`` when the stream
    is refused (wrong key, no audio, no encoder in time)."""
    artist_id = _artist(actor)
    loop = asyncio.get_running_loop()
    return await asyncio.to_thread(_start, platform, artist_id, body, loop)


def _start(platform, artist_id: uuid.UUID, body: SessionIn, loop) -> SessionOut:
    st = ingest_settings(platform)
    ffmpeg_exe()
    if body.access == "tier" and body.required_tier_id is None:
        raise Problem(422, "validation", "access 'tier' needs required_tier_id")
    with _PORT_LOCK, platform.session() as s:
        if body.access == "tier":
            tier = s.get(Tier, body.required_tier_id)
            if tier is None or tier.artist_id != artist_id:
                raise Problem(422, "validation", "required_tier_id is not a tier of this artist")
        key = s.get(LiveStreamKey, artist_id)
        if key is None:
            raise Problem(409, "live-no-stream-key", "create a stream key first: POST /api/v1/live/stream-key")
        active = s.scalars(select(LiveStreamSession).where(LiveStreamSession.status.in_(ACTIVE))).all()
        for other in active:
            reap(platform, other)
        active = [o for o in active if o.status in ACTIVE]
        for other in active:
            if other.artist_id == artist_id:
                raise Problem(409, "live-session-active", "this artist already has an active live session",
                              session_id=str(other.id))
        used = {o.port for o in active}
        port = next((p for p in range(st.rtmp_port, st.rtmp_port + st.rtmp_ports)
                     if p not in used and _port_free(st.rtmp_bind, p)), None)
        if port is None:
            raise Problem(409, "live-no-free-port", f"all {st.rtmp_ports} live ports are busy: try again later")
        row = LiveStreamSession(artist_id=artist_id, title=body.title, status="waiting", access=body.access,
                                required_tier_id=body.required_tier_id if body.access == "tier" else None,
                                port=port, aes_key=secrets.token_bytes(16), created_at=platform.clock.now())
        s.add(row)
        s.flush()
        ingest = Ingest(platform, row, key.key_hash, loop)
        out = session_out(platform, row, owner=True)
        _INGESTS[row.id] = ingest
    try:
        ingest.start()
    except Exception:
        _INGESTS.pop(row.id, None)
        with platform.session() as s:
            r = s.get(LiveStreamSession, row.id)
            r.status, r.problem, r.reason = "failed", "live-ingest-failed", "ffmpeg could not be started"
        raise
    return out


def _load(platform, s, session_id: uuid.UUID) -> LiveStreamSession:
    row = s.get(LiveStreamSession, session_id)
    if row is None:
        raise NotFound("live session")
    return row


@router.get("/sessions/{session_id}", response_model=SessionOut)
def get_session(session_id: uuid.UUID, actor: Actor | None = Depends(READ), platform=Depends(get_platform)):
    """A live session: its status; for the artist also why it failed and where to stream."""
    with platform.session() as s:
        row = _load(platform, s, session_id)
        reap(platform, row)
        owner = platform.access.manages(actor, row.artist_id)
        if not owner and row.status not in ("live", "ended"):
            raise NotFound("live session")
        return session_out(platform, row, owner)


@router.post("/sessions/{session_id}/stop", response_model=SessionOut)
async def stop_session(session_id: uuid.UUID, actor: Actor = Depends(ARTIST), platform=Depends(get_platform)):
    """End the broadcast: the playlist ends, the recording is kept (publish it as a track)."""
    def stop() -> SessionOut:
        with platform.session() as s:
            row = _load(platform, s, session_id)
            if not platform.access.manages(actor, row.artist_id):
                raise NotFound("live session")
            if row.status in ACTIVE:
                ing = running(session_id)
                if ing is not None:
                    ing.stop("stopped by the artist")
                else:
                    row.status, row.reason = "stopping", "stopped by the artist"   # the owning process acts
            return session_out(platform, row, owner=True)

    out = await asyncio.to_thread(stop)
    ing = running(session_id)
    if ing is not None:
        await asyncio.to_thread(ing.done.wait, 15)
        with platform.read() as s:
            out = session_out(platform, _load(platform, s, session_id), owner=True)
    return out
