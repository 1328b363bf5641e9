"""What a hostile review of the issue 9 work found in the streaming plugin, each with its
regression test: artwork decompression bombs (an upload's cover and an embedded one),
out-of-range release times, and a supporter-only track's details served to anyone."""
from __future__ import annotations

import io
import os
import subprocess
import time
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select

from helpers import PeakRSS, png_bomb, problem
from musicconnect.models import ContentItem
from musicconnect_streaming import media

needs_proc = pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads /proc/self/statm")




def upload(env, path: Path, artwork: bytes | None = None, **fields):
    files = {"file": (path.name, open(path, "rb"), "application/octet-stream")}
    if artwork is not None:
        files["artwork"] = ("cover.png", artwork, "image/png")
    try:
        return env.client.post(f"/api/v1/streaming/artists/{env.artist.artist_id}/tracks", headers=env.artist.headers,
                               files=files, data={k: str(v) for k, v in fields.items()})
    finally:
        files["file"][1].close()


def nothing_stored(env) -> None:
    with env.platform.session() as s:
        assert s.scalar(select(func.count()).select_from(ContentItem)) == 0
    assert list(env.platform.storage.list("tracks/")) == []


# ---------------------------------------------------------------- 1. artwork bombs

@needs_proc
def test_artwork_bomb_is_refused_from_its_header(env, audio):
    """A 13000x13000 1-bit PNG cover (a few KB) took +1.6 GB in the transcode job."""
    src = audio(4)
    bomb = png_bomb(13000, 13000)
    assert len(bomb) < 100_000
    with PeakRSS() as rss:
        started = time.monotonic()
        r = upload(env, src, artwork=bomb)
        took = time.monotonic() - started
    body = problem(r, 413, "image-too-large")
    assert "megapixels" in body["detail"]
    assert rss.growth_mb < 60, f"+{rss.growth_mb:.0f} MB"
    assert took < 5, took
    problem(upload(env, src, artwork=png_bomb(6400, 6400)), 413, "image-too-large")  # 41 MP: just over
    problem(upload(env, src, artwork=b"GIF89a not really"), 415, "unsupported-image")
    nothing_stored(env)


@needs_proc
def test_oversized_embedded_cover_is_left_out_without_decoding_it(env, audio, tmp_path):
    """A cover embedded in the audio file is not decoded by ffmpeg nor Pillow when its header
    says it is too large: the track is ready, without covers."""
    big = tmp_path / "big.png"
    big.write_bytes(png_bomb(9000, 9000))  # 81 MP
    src = tmp_path / "with-cover.flac"
    subprocess.run([media.ffmpeg_exe(), "-v", "error", "-y", "-i", str(audio(4, "wav")), "-i", str(big),
                    "-map", "0:a", "-map", "1:v", "-c:v", "copy", "-disposition:v", "attached_pic", str(src)],
                   check=True)
    with PeakRSS() as rss:
        r = upload(env, src)
        assert r.status_code == 202, r.text
        env.platform.jobs.wait_idle(120)
    detail = env.client.get(f"/api/v1/streaming/tracks/{r.json()['id']}", headers=env.artist.headers).json()
    assert detail["status"] == "ready", detail
    assert detail["extra"]["streaming"].get("covers") == {}, detail["extra"]["streaming"].get("covers")
    assert rss.growth_mb < 150, f"+{rss.growth_mb:.0f} MB"


def test_embedded_and_uploaded_covers_still_made(env, audio, tmp_path):
    """A reasonable embedded cover (JPEG, EXIF-rotated) still gives the three square covers."""
    im = Image.new("RGB", (3000, 2000), (200, 30, 30))
    exif = Image.Exif()
    exif[0x0112] = 6
    cover = tmp_path / "cover.jpg"
    im.save(cover, "JPEG", exif=exif)
    src = tmp_path / "with-cover.flac"
    subprocess.run([media.ffmpeg_exe(), "-v", "error", "-y", "-i", str(audio(4, "wav")), "-i", str(cover),
                    "-map", "0:a", "-map", "1:v", "-c:v", "copy", "-disposition:v", "attached_pic", str(src)],
                   check=True)
    r = upload(env, src)
    assert r.status_code == 202, r.text
    buf = io.BytesIO()
    Image.new("P", (1500, 900), 7).save(buf, "PNG")
    r2 = upload(env, audio(4), artwork=buf.getvalue())
    assert r2.status_code == 202, r2.text
    env.platform.jobs.wait_idle(120)
    for tid in (r.json()["id"], r2.json()["id"]):
        covers = env.client.get(f"/api/v1/streaming/tracks/{tid}", headers=env.artist.headers).json()[
            "extra"]["streaming"]["covers"]
        assert set(covers) == {"1200", "600", "300"}, covers
        url = covers["600"]
        body = env.fetch(url).content
        with Image.open(io.BytesIO(body)) as out:
            assert out.format == "JPEG" and out.size == (600, 600)


# ---------------------------------------------------------------- 3. release times

def test_upload_publish_at_out_of_range_is_422(env, audio):
    for value in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "9999-12-31T23:59:59Z",
                  "1899-12-31T23:59:59Z", "3000-01-01T00:00:00Z"):
        body = problem(upload(env, audio(4), publish_at=value), 422, "validation")
        assert "publish_at" in body["detail"], body
    for value in ("nan", "inf", "-1"):
        problem(upload(env, audio(4), preview_start=value), 422, "validation")
    nothing_stored(env)
    r = upload(env, audio(4), publish_at="2999-12-31T23:59:59Z")
    assert r.status_code == 202, r.text


# ---------------------------------------------------------------- 4. gated track details

def test_supporter_only_track_details_answer_as_the_core(env, audio):
    from musicconnect.testing import make_user

    supporter = env.tiers["supporter"]
    buf = io.BytesIO()
    Image.new("RGB", (800, 800), (10, 200, 10)).save(buf, "PNG")
    r = upload(env, audio(6), artwork=buf.getvalue(), title="Members' B-side", description="liner notes",
               visibility="tier", required_tier_id=str(supporter.id))
    assert r.status_code == 202, r.text
    tid = r.json()["id"]
    env.platform.jobs.wait_idle(120)
    base = f"/api/v1/streaming/tracks/{tid}"
    member = make_user(env.platform, "fan")
    r = env.client.post(f"/api/v1/artists/{env.artist.artist_id}/comps", headers=env.artist.headers,
                        json={"email": member.email, "tier_id": str(supporter.id)})
    assert r.status_code in (200, 201), r.text

    for headers, status in (({}, 401), (env.fan.headers, 403)):
        core = env.client.get(f"/api/v1/content/{tid}", headers=headers)
        assert core.status_code == status, core.text
        mine = problem(env.client.get(base, headers=headers), status)
        text = str(mine)
        for leak in ("liner notes", "covers", "renditions", "signature", "sig=", "/media/"):
            assert leak not in text, (leak, mine)
    full = env.client.get(base, headers=member.headers)
    assert full.status_code == 200, full.text
    streaming = full.json()["extra"]["streaming"]
    assert full.json()["description"] == "liner notes"
    assert set(streaming["covers"]) == {"1200", "600", "300"} and len(streaming["renditions"]) == 3
    owner = env.client.get(base, headers=env.artist.headers).json()
    assert owner["versions"] and owner["extra"]["streaming"]["covers"]
