"""Going live end to end: a real ffmpeg encoder pushes RTMP to the session's ingest (ffmpeg
listening), fans fetch the AES-128 live HLS behind the access decision, refusals (wrong key, no
audio) reach the artist, start/stop are domain events and socket messages, the recording
becomes a track through the streaming plugin's upload route."""
from __future__ import annotations

import random
import re
import socket
import subprocess
import time
import uuid

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from sqlalchemy import select

from musicconnect.models import ContentItem, DomainEvent, Tier
from musicconnect_live.ingest import ffmpeg_exe



def tiers(p, artist_id) -> dict[str, uuid.UUID]:
    with p.read() as s:
        return {t.key: t.id for t in s.scalars(select(Tier).where(Tier.artist_id == artist_id))}


def grant(p, user_id, artist_id, tier_id) -> None:
    with p.session() as s:
        p.entitlements.grant(s, user_id=user_id, artist_id=artist_id, tier_id=tier_id, source="test",
                             source_ref=f"{user_id}:{tier_id}")


def _free_base(n: int = 3) -> int:
    for _ in range(200):
        base = random.randint(20000, 60000)
        ok = True
        for p in range(base, base + n):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no free ports")


@pytest.fixture(autouse=True)
def live_ports(monkeypatch):
    base = _free_base()
    monkeypatch.setenv("MC_LIVE_RTMP_PORT", str(base))
    monkeypatch.setenv("MC_LIVE_RTMP_PORTS", "3")
    monkeypatch.setenv("MC_LIVE_RTMP_BIND", "127.0.0.1")
    monkeypatch.setenv("MC_LIVE_RTMP_HOST", "127.0.0.1")
    monkeypatch.setenv("MC_LIVE_WAIT_SECONDS", "20")
    return base


class FakeRealtime:
    def __init__(self):
        self.sent = []

    async def send_to_user(self, user_id, msg):
        self.sent.append((str(user_id), msg))

    def close(self):
        pass


def encoder(url: str, *, seconds: float = 6, audio: bool = True) -> subprocess.Popen:
    """ffmpeg as the artist's encoder; retried until the session's listener accepts."""
    if audio:
        src = ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", "-c:a", "aac", "-b:a", "96k"]
    else:
        src = ["-f", "lavfi", "-i", f"testsrc=size=64x64:rate=10:duration={seconds}", "-an", "-c:v", "flv1"]
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-re", *src, "-f", "flv", url]
    deadline = time.monotonic() + 15
    while True:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            proc.wait(0.5)
        except subprocess.TimeoutExpired:
            return proc                                   # connected and streaming
        err = proc.stderr.read()
        if "Connection refused" not in err or time.monotonic() > deadline:
            proc.stderr = None
            proc.early_error = err
            return proc
        time.sleep(0.1)


def wait_status(client, sid, headers, statuses, timeout=30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(f"/api/v1/live/sessions/{sid}", headers=headers).json()
        if body.get("status") in statuses or time.monotonic() > deadline:
            return body
        time.sleep(0.1)


def stream_key(client, artist) -> str:
    r = client.post("/api/v1/live/stream-key", headers=artist.headers)
    assert r.status_code == 201, r.text
    return r.json()["stream_key"]


def open_session(client, artist, **body) -> dict:
    r = client.post("/api/v1/live/sessions", json={"title": "Sunday night", **body}, headers=artist.headers)
    assert r.status_code == 201, r.text
    return r.json()


def set_perk(platform, tier_id, on=True):
    """The tier carries the perk (written directly: which plugin declares it is not this test's matter)."""
    with platform.session() as s:
        t = s.get(Tier, tier_id)
        t.perks = {**(t.perks or {}), "live_sessions": on}
        artist_id = t.artist_id
    platform.invalidate(("tiers", artist_id))


def decrypt_segment(client, playlist: str, key: bytes) -> bytes:
    seq = int(re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", playlist).group(1))
    urls = [ln for ln in playlist.splitlines() if ln.startswith("http")]
    assert urls, playlist
    if urls[0].startswith("http://testserver"):  # local media: the app serves it
        r = client.get(urls[0])
    else:  # the object store (distributed pass): the signed URL is the S3 API server's
        import httpx

        r = httpx.get(urls[0])
    assert r.status_code == 200
    iv_attr = re.search(r"IV=0x([0-9a-fA-F]{32})", playlist)
    iv = bytes.fromhex(iv_attr.group(1)) if iv_attr else seq.to_bytes(16, "big")
    dec = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    plain = dec.update(r.content) + dec.finalize()
    return plain[: -plain[-1]]


def test_stream_key_is_shown_once_and_stored_hashed(mc_client, mc_users, mc_platform, live_ports):
    artist = mc_users.artist
    assert mc_client.get("/api/v1/live/stream-key", headers=artist.headers).json()["type"].endswith(
        "/live-no-stream-key")
    r = mc_client.post("/api/v1/live/stream-key", headers=artist.headers).json()
    key = r["stream_key"]
    assert r["rtmp_url"] == f"rtmp://127.0.0.1:{live_ports}/live/{key}"
    shown = mc_client.get("/api/v1/live/stream-key", headers=artist.headers).json()
    assert shown["stream_key"] is None and key not in shown["rtmp_url"] and shown["hint"] == key[-4:]
    from musicconnect_live.ingest_models import LiveStreamKey
    with mc_platform.read() as s:
        row = s.get(LiveStreamKey, artist.artist_id)
        assert key not in row.key_hash and len(row.key_hash) == 64
    again = mc_client.post("/api/v1/live/stream-key", headers=artist.headers).json()["stream_key"]
    assert again != key
    # fans cannot have a key
    fan = mc_client.post("/api/v1/live/stream-key", headers=mc_users.fan.headers)
    assert fan.status_code == 403


def test_live_end_to_end(mc_client, mc_users, mc_platform):
    artist, fan = mc_users.artist, mc_users.fan
    outsider = mc_users.make("fan")
    rt = FakeRealtime()
    mc_platform.realtime = rt
    ts = tiers(mc_platform, artist.artist_id)
    set_perk(mc_platform, ts["superfan"])
    grant(mc_platform, fan.id, artist.artist_id, ts["superfan"])
    key = stream_key(mc_client, artist)
    sess = open_session(mc_client, artist, access="perk")
    sid = sess["id"]
    assert sess["status"] == "waiting" and sess["server"].startswith("rtmp://127.0.0.1:")
    # not on air yet
    r = mc_client.get(f"/api/v1/live/sessions/{sid}/live.m3u8", headers=fan.headers)
    assert r.status_code == 409 and r.json()["type"].endswith("/live-not-live")

    enc = encoder(f"{sess['server']}/{key}", seconds=20)
    body = wait_status(mc_client, sid, artist.headers, ("live", "failed", "ended"))
    assert body["status"] == "live", body

    # a member with the perk: playlist, key, a segment that decrypts to MPEG-TS
    r = mc_client.get(f"/api/v1/live/sessions/{sid}/live.m3u8", headers=fan.headers)
    assert r.status_code == 200, r.text
    playlist = r.text
    assert '#EXT-X-KEY:METHOD=AES-128,URI="key"' in playlist
    assert "live/" in playlist and ("sig=" in playlist or "X-Amz-Signature=" in playlist)  # signed, either store
    k = mc_client.get(f"/api/v1/live/sessions/{sid}/key", headers=fan.headers)
    assert k.status_code == 200 and len(k.content) == 16
    ts_bytes = decrypt_segment(mc_client, playlist, k.content)
    assert ts_bytes[0] == 0x47 and len(ts_bytes) % 188 == 0

    # a fan without the perk and an anonymous listener are refused, with the reason
    r = mc_client.get(f"/api/v1/live/sessions/{sid}/key", headers=outsider.headers)
    assert r.status_code == 403
    assert r.json()["type"].endswith("/live-perk-required") and r.json()["decided_by"] == "live"
    assert mc_client.get(f"/api/v1/live/sessions/{sid}/live.m3u8", headers=outsider.headers).status_code == 403
    assert mc_client.get(f"/api/v1/live/sessions/{sid}/live.m3u8").status_code == 401
    # the outsider learns nothing of the failure details but sees the session is live
    pub = mc_client.get(f"/api/v1/live/sessions/{sid}", headers=outsider.headers).json()
    assert pub["status"] == "live" and pub["server"] is None

    # members with an open socket were told; the artist stops; the recording is kept
    assert any(uid == str(fan.id) and m["type"] == "artist_live" and m["session_id"] == sid for uid, m in rt.sent)
    assert not any(uid == str(outsider.id) for uid, _ in rt.sent)
    r = mc_client.post(f"/api/v1/live/sessions/{sid}/stop", headers=artist.headers)
    assert r.status_code == 200
    body = wait_status(mc_client, sid, artist.headers, ("ended",))
    assert body["status"] == "ended" and body["reason"] == "stopped by the artist" and body["recording"] is True
    enc.kill()
    enc.wait()
    final = mc_client.get(f"/api/v1/live/sessions/{sid}/live.m3u8", headers=fan.headers)
    assert final.status_code == 200 and "#EXT-X-ENDLIST" in final.text
    with mc_platform.read() as s:
        evs = s.scalars(select(DomainEvent).where(DomainEvent.subject_id == sid).order_by(DomainEvent.occurred_at)).all()
        types = [e.type for e in evs]
    assert types.count("live.started") == 1 and types.count("live.ended") == 1
    assert any(m["type"] == "artist_live_ended" for _, m in rt.sent)


def test_tier_session_lets_members_of_the_tier_in(mc_client, mc_users, mc_platform, monkeypatch):
    import musicconnect_live.ingest as ingest

    monkeypatch.setattr(ingest, "segment_linger", lambda st: 1.0)
    artist, fan = mc_users.artist, mc_users.fan
    other = mc_users.make("fan")
    ts = tiers(mc_platform, artist.artist_id)
    grant(mc_platform, fan.id, artist.artist_id, ts["superfan"])
    key = stream_key(mc_client, artist)
    sess = open_session(mc_client, artist, access="tier", required_tier_id=str(ts["supporter"]))
    enc = encoder(f"{sess['server']}/{key}", seconds=20)
    assert wait_status(mc_client, sess["id"], artist.headers, ("live", "failed", "ended"))["status"] == "live"
    assert mc_client.get(f"/api/v1/live/sessions/{sess['id']}/key", headers=fan.headers).status_code == 200
    r = mc_client.get(f"/api/v1/live/sessions/{sess['id']}/key", headers=other.headers)
    assert r.status_code == 403 and r.json()["type"].endswith("/tier-required")
    assert any(k.endswith("/live.m3u8") for k in mc_platform.storage.list(f"live/{sess['id']}/"))
    # the artist themself may listen
    assert mc_client.get(f"/api/v1/live/sessions/{sess['id']}/key", headers=artist.headers).status_code == 200
    mc_client.post(f"/api/v1/live/sessions/{sess['id']}/stop", headers=artist.headers)
    assert wait_status(mc_client, sess["id"], artist.headers, ("ended",))["status"] == "ended"
    enc.kill()
    enc.wait()
    # the live copies go shortly after the end; the recording stays
    deadline = time.monotonic() + 10
    while list(mc_platform.storage.list(f"live/{sess['id']}/")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not list(mc_platform.storage.list(f"live/{sess['id']}/"))
    assert list(mc_platform.storage.list(f"live-recordings/{sess['id']}/"))


def test_wrong_stream_key_is_refused(mc_client, mc_users, mc_platform):
    artist = mc_users.artist
    stream_key(mc_client, artist)
    sess = open_session(mc_client, artist, access="public")
    enc = encoder(f"{sess['server']}/mc_live_not-the-key", seconds=6)
    body = wait_status(mc_client, sess["id"], artist.headers, ("failed", "live", "ended"))
    assert body["status"] == "failed" and body["problem"] == "live-wrong-stream-key", body
    assert "wrong stream key" in body["reason"] and "not-the-key" not in body["reason"]
    assert enc.wait(20) != 0                      # the encoder is cut off
    r = mc_client.get(f"/api/v1/live/sessions/{sess['id']}/live.m3u8")
    assert r.status_code == 409
    assert not list(mc_platform.storage.list(f"live/{sess['id']}/"))
    with mc_platform.read() as s:
        assert not s.scalars(select(DomainEvent).where(DomainEvent.type == "live.started")).all()


def test_stream_without_audio_is_refused(mc_client, mc_users):
    artist = mc_users.artist
    key = stream_key(mc_client, artist)
    sess = open_session(mc_client, artist, access="public")
    enc = encoder(f"{sess['server']}/{key}", seconds=5, audio=False)
    body = wait_status(mc_client, sess["id"], artist.headers, ("failed", "live", "ended"))
    assert body["status"] == "failed" and body["problem"] == "live-no-audio", body
    assert "no audio" in body["reason"]
    enc.kill()
    enc.wait()


def test_session_needs_a_key_and_one_at_a_time(mc_client, mc_users):
    artist = mc_users.artist
    r = mc_client.post("/api/v1/live/sessions", json={"title": "x"}, headers=artist.headers)
    assert r.status_code == 409 and r.json()["type"].endswith("/live-no-stream-key")
    stream_key(mc_client, artist)
    first = open_session(mc_client, artist)
    r = mc_client.post("/api/v1/live/sessions", json={"title": "y"}, headers=artist.headers)
    assert r.status_code == 409 and r.json()["session_id"] == first["id"]
    r = mc_client.post("/api/v1/live/sessions", json={"title": "y", "access": "tier"}, headers=artist.headers)
    assert r.status_code == 422
    stopped = mc_client.post(f"/api/v1/live/sessions/{first['id']}/stop", headers=artist.headers).json()
    assert stopped["status"] == "failed" and stopped["problem"] == "live-stopped"
    # an unknown session, and another artist's session
    assert mc_client.get(f"/api/v1/live/sessions/{uuid.uuid4()}", headers=artist.headers).status_code == 404
    other = mc_users.make("artist", artist_name="Other")
    assert mc_client.post(f"/api/v1/live/sessions/{first['id']}/stop", headers=other.headers).status_code == 404


@pytest.mark.mc_plugins("live", "streaming")
def test_recording_becomes_a_track(mc_client, mc_users, mc_platform):
    artist = mc_users.artist
    key = stream_key(mc_client, artist)
    sess = open_session(mc_client, artist, access="public")
    r = mc_client.post(f"/api/v1/live/sessions/{sess['id']}/publish", json={}, headers=artist.headers)
    assert r.status_code == 409 and r.json()["type"].endswith("/live-no-recording")
    enc = encoder(f"{sess['server']}/{key}", seconds=4)
    assert enc.wait(30) == 0
    body = wait_status(mc_client, sess["id"], artist.headers, ("ended", "failed"))
    assert body["status"] == "ended" and body["recording"] is True, body
    r = mc_client.post(f"/api/v1/live/sessions/{sess['id']}/publish", json={"title": "Live at home"},
                       headers=artist.headers)
    assert r.status_code == 201, r.text
    track_id = r.json()["track_id"]
    with mc_platform.read() as s:
        item = s.get(ContentItem, uuid.UUID(track_id))
        assert item.kind == "track" and item.artist_id == artist.artist_id and item.title == "Live at home"
    again = mc_client.post(f"/api/v1/live/sessions/{sess['id']}/publish", json={}, headers=artist.headers)
    assert again.status_code == 409 and again.json()["track_id"] == track_id
    # the upload transcodes like any other: it becomes a ready track of about the broadcast's length
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        t = mc_client.get(f"/api/v1/streaming/tracks/{track_id}", headers=artist.headers).json()
        if t.get("status") in ("ready", "failed"):
            break
        time.sleep(0.3)
    assert t["status"] == "ready", t
    assert 3.0 <= t["data"]["duration"] <= 5.5, t["data"]       # the 4 s the encoder sent


def test_a_session_whose_process_died_is_failed_and_frees_the_artist(mc_client, mc_users, mc_platform, mc_clock):
    from datetime import timedelta

    from musicconnect_live.ingest_models import LiveStreamSession

    artist = mc_users.artist
    stream_key(mc_client, artist)
    with mc_platform.session() as s:
        row = LiveStreamSession(artist_id=artist.artist_id, title="Crashed", status="live", access="public",
                                port=1, aes_key=b"k" * 16, created_at=mc_clock.now() - timedelta(minutes=5),
                                started_at=mc_clock.now() - timedelta(minutes=5),
                                heartbeat_at=mc_clock.now() - timedelta(seconds=5))
        s.add(row)
    sid = str(row.id)
    # beating recently (another API process): still live, and the artist cannot open a second one
    assert mc_client.get(f"/api/v1/live/sessions/{sid}", headers=artist.headers).json()["status"] == "live"
    r = mc_client.post("/api/v1/live/sessions", json={"title": "again"}, headers=artist.headers)
    assert r.status_code == 409 and r.json()["session_id"] == sid
    mc_clock.advance(seconds=30)
    body = mc_client.get(f"/api/v1/live/sessions/{sid}", headers=mc_users.artist.headers).json()
    assert body["status"] == "failed" and body["problem"] == "live-ingest-lost"
    new = open_session(mc_client, mc_users.artist)
    assert new["status"] == "waiting"
    mc_client.post(f"/api/v1/live/sessions/{new['id']}/stop", headers=mc_users.artist.headers)
