"""Upload -> one-pass transcode -> encrypted HLS playback, on local disk or S3, with real ffmpeg."""
from __future__ import annotations

import io
import re
import uuid
from datetime import timedelta

import av
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from helpers import problem


def parse_master(text: str) -> list[dict]:
    lines = text.strip().splitlines()
    assert lines[0] == "#EXTM3U"
    out = []
    for i, ln in enumerate(lines):
        if ln.startswith("#EXT-X-STREAM-INF:"):
            attrs = dict(re.findall(r'([A-Z-]+)=("[^"]*"|[^,]*)', ln.split(":", 1)[1]))
            out.append({"bandwidth": int(attrs["BANDWIDTH"]), "average": int(attrs["AVERAGE-BANDWIDTH"]),
                        "codecs": attrs["CODECS"].strip('"'), "uri": lines[i + 1]})
    return out


def variant(env, tid, uri, headers=None):
    r = env.client.get(f"/api/v1/streaming/tracks/{tid}/{uri}", headers=headers or {})
    assert r.status_code == 200, r.text
    text = r.text
    key = re.search(r'#EXT-X-KEY:METHOD=AES-128,URI="([^"]+)",IV=0x([0-9a-f]{32})', text)
    segs = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    durs = [float(x) for x in re.findall(r"#EXTINF:([\d.]+),", text)]
    assert text.rstrip().endswith("#EXT-X-ENDLIST")
    return key.group(1), bytes.fromhex(key.group(2)), segs, durs


def get_key(env, tid, key_uri, headers=None):
    assert key_uri.startswith("../key?pt=")
    return env.client.get(f"/api/v1/streaming/tracks/{tid}/{key_uri[3:]}", headers=headers or {})


def decrypt(data: bytes, key: bytes, iv: bytes) -> bytes:
    d = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    out = d.update(data) + d.finalize()
    return out[: -out[-1]]  # PKCS#7


def test_ladder_bitrates_encryption_and_playback(env, audio):
    tid = env.ready_track(audio(20), title="Night Drive")
    detail = env.client.get(f"/api/v1/streaming/tracks/{tid}", headers=env.artist.headers).json()
    st = detail["extra"]["streaming"]
    assert st["loudness_lufs"] is not None and -40 < st["loudness_lufs"] < 0 and st["true_peak_db"] is not None
    assert detail["versions"][0]["job"]["state"] == "succeeded" and detail["versions"][0]["job"]["progress"] == 1.0
    m = env.client.get(f"/api/v1/streaming/tracks/{tid}/master.m3u8")  # public: no account needed
    assert m.status_code == 200 and m.headers["content-type"] == "application/vnd.apple.mpegurl"
    renditions = parse_master(m.text)
    assert [r["uri"].split("/")[0] for r in renditions] == ["128k", "256k", "320k"]
    measured = []
    for r in renditions:
        assert r["codecs"] == "mp4a.40.2"
        key_uri, iv, segs, durs = variant(env, tid, r["uri"])
        assert len(segs) == 4 and all(5.5 < d < 6.5 for d in durs[:-1])  # 6 s aligned segments
        k = get_key(env, tid, key_uri)
        assert k.status_code == 200 and len(k.content) == 16
        clear = b""
        for url in segs:
            enc = env.fetch(url)
            assert enc.status_code == 200
            assert enc.content[0] != 0x47 or enc.content[188] != 0x47  # really encrypted
            clear += decrypt(enc.content, k.content, iv)
        assert clear[0] == 0x47 and clear[188] == 0x47  # MPEG-TS after decryption
        with av.open(io.BytesIO(clear), format="mpegts") as c:
            a = c.streams.audio[0]
            assert a.codec_context.name == "aac" and a.codec_context.channels == 2
            frames = sum(1 for _ in c.decode(a))
        assert frames > 800  # ~20 s of AAC frames decode
        bits = len(clear) * 8 / sum(durs)
        measured.append(bits)
        assert abs(r["average"] - bits) / bits < 0.05  # the playlist carries the measured figure
    # the renditions really differ on rich material, near their nominal rates (TS overhead on top)
    assert measured[0] < measured[1] < measured[2]
    for got, nominal in zip(measured, (128_000, 256_000, 320_000)):
        assert 0.95 * nominal < got < 1.25 * nominal, (got, nominal)
    # preview, waveform, covers
    prev = env.client.get(f"/api/v1/streaming/tracks/{tid}/preview", follow_redirects=False)
    assert prev.status_code == 307
    body = env.fetch(prev.headers["location"]).content
    with av.open(io.BytesIO(body)) as c:
        assert 19 <= c.duration / 1_000_000 <= 20.5  # a 20 s track: the preview is all of it, capped at 30 s
    wf = env.client.get(f"/api/v1/streaming/tracks/{tid}/waveform").json()
    assert len(wf["peaks"]) == 800 and 0 < max(wf["peaks"]) <= 1


def test_gated_track_structure_without_key_until_entitled(env, audio, mc_clock):
    sup = str(env.tiers["supporter"].id)
    tid = env.ready_track(audio(8), visibility="tier", required_tier_id=sup)
    fan = env.fan
    m = env.client.get(f"/api/v1/streaming/tracks/{tid}/master.m3u8", headers=fan.headers)
    assert m.status_code == 200  # the structure
    key_uri, iv, segs, _ = variant(env, tid, parse_master(m.text)[0]["uri"])
    denied = problem(get_key(env, tid, key_uri), 403, "tier-required")  # ...but never the key
    assert denied["required_tier"]["id"] == sup and denied["reason"] == "this track is for Supporter members"
    assert denied["decided_by"] == "core"  # the core's tier rule, whatever plugins are enabled
    anon = env.client.get(f"/api/v1/streaming/tracks/{tid}/master.m3u8")
    key_anon, *_ = variant(env, tid, parse_master(anon.text)[0]["uri"])
    problem(get_key(env, tid, key_anon), 401)
    # the artist comps the fan: the same playback link now yields the key
    r = env.client.post(f"/api/v1/artists/{env.artist.artist_id}/comps", headers=env.artist.headers,
                        json={"email": fan.email, "tier_id": sup})
    ent = r.json()["id"]
    assert get_key(env, tid, key_uri).status_code == 200
    # revoked: the key stops at once (checked on every request)
    env.client.delete(f"/api/v1/artists/{env.artist.artist_id}/entitlements/{ent}", headers=env.artist.headers)
    problem(get_key(env, tid, key_uri), 403)
    # expired playback links are refused
    mc_clock.advance(hours=7)
    problem(get_key(env, tid, key_uri), 403, "playback-token-expired")
    problem(env.client.get(f"/api/v1/streaming/tracks/{tid}/key?pt=forged.1.-.9999999999.AAAA"), 403, "bad-playback-token")


def test_early_access_window(env, audio, mc_clock):
    sup = str(env.tiers["supporter"].id)
    release = mc_clock.now() + timedelta(days=2)
    tid = env.ready_track(audio(8), visibility="public", publish_at=release.isoformat())
    problem(env.client.get(f"/api/v1/streaming/tracks/{tid}/master.m3u8", headers=env.fan.headers), 404)
    assert env.client.get(f"/api/v1/streaming/tracks/{tid}/master.m3u8", headers=env.artist.headers).status_code == 200
    mc_clock.set(release + timedelta(seconds=1))
    env.fan.renew(env.platform)
    assert env.client.get(f"/api/v1/streaming/tracks/{tid}/master.m3u8", headers=env.fan.headers).status_code == 200
    del sup


def test_segment_signatures(env, audio, mc_clock):
    if env.platform.storage.backend != "local":
        pytest.skip("moto does not check presigned signatures; the local signer is tested here")
    tid = env.ready_track(audio(8))
    m = env.client.get(f"/api/v1/streaming/tracks/{tid}/master.m3u8")
    _, _, segs, _ = variant(env, tid, parse_master(m.text)[0]["uri"])
    url = segs[0][len("http://testserver"):]
    assert env.client.get(url).status_code == 200
    problem(env.client.get(url.replace("sig=", "sig=x")), 403, "bad-signature")
    problem(env.client.get(url.replace("seg_000", "seg_001")), 403, "bad-signature")
    mc_clock.advance(hours=2)
    problem(env.client.get(url), 403, "bad-signature")


def test_take_down_stops_keys_playlists_and_segments_at_once(env, audio):
    tid = env.ready_track(audio(8))
    m = env.client.get(f"/api/v1/streaming/tracks/{tid}/master.m3u8")
    key_uri, _, segs, _ = variant(env, tid, parse_master(m.text)[0]["uri"])
    assert env.fetch(segs[0]).status_code == 200
    r = env.client.post(f"/api/v1/content/{tid}/take-down", headers=env.artist.headers, json={"reason": "DMCA"})
    assert r.status_code == 200
    problem(get_key(env, tid, key_uri), 404)
    problem(env.client.get(f"/api/v1/streaming/tracks/{tid}/master.m3u8"), 404)
    assert env.fetch(segs[0]).status_code in (403, 404)  # the files moved to quarantine
    assert list(env.platform.storage.list(f"tracks/{tid}/")) == []
    assert list(env.platform.storage.list(f"quarantine/tracks/{tid}/"))


def test_delete_cleans_storage(env, audio):
    tid = env.ready_track(audio(8))
    assert list(env.platform.storage.list(f"tracks/{tid}/"))
    assert env.client.delete(f"/api/v1/content/{tid}", headers=env.artist.headers).status_code == 204
    assert list(env.platform.storage.list(f"tracks/{tid}/")) == []
    problem(env.client.get(f"/api/v1/streaming/tracks/{tid}/master.m3u8"), 404)
    from musicconnect_streaming.models import Track, TrackVersion
    with env.platform.session() as s:
        assert s.get(Track, uuid.UUID(tid)) is None
        assert s.get(TrackVersion, (uuid.UUID(tid), 1)) is None


def test_replace_audio_keeps_old_version_until_new_is_ready(env, audio):
    tid = env.ready_track(audio(8, seed=1))
    m1 = env.client.get(f"/api/v1/streaming/tracks/{tid}/master.m3u8").text
    with open(audio(14, seed=2), "rb") as fh:
        r = env.client.post(f"/api/v1/streaming/tracks/{tid}/audio", headers=env.artist.headers,
                            files={"file": ("v2.flac", fh, "audio/flac")})
    assert r.status_code == 202 and r.json()["pending_version"] == 2
    env.platform.jobs.wait_idle(120)
    m2 = env.client.get(f"/api/v1/streaming/tracks/{tid}/master.m3u8").text
    assert m1 != m2 and ".2." in parse_master(m2)[0]["uri"]  # playback token now names version 2
    _, _, segs, durs = variant(env, tid, parse_master(m2)[0]["uri"])
    assert 13 < sum(durs) < 15
    keys = list(env.platform.storage.list(f"tracks/{tid}/"))
    assert keys and all(k.startswith(f"tracks/{tid}/v2/") for k in keys)  # v1's files are gone
    # a playlist link of the old version is refused with a clear reason
    problem(env.client.get(f"/api/v1/streaming/tracks/{tid}/{parse_master(m1)[0]['uri']}"), 409, "track-replaced")


@pytest.mark.parametrize("ext", ["wav", "mp3", "ogg", "m4a"])
def test_other_codecs(env, audio, ext):
    tid = env.ready_track(audio(7, ext=ext))
    m = env.client.get(f"/api/v1/streaming/tracks/{tid}/master.m3u8")
    assert len(parse_master(m.text)) == 3
