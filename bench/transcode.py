#!/usr/bin/env python3
"""Benchmark: our transcode job for a 3-minute track vs. the best hand-written ffmpeg command
producing the same three AES-128 HLS renditions, same machine, same run.

Ours does more in that time (EBU R128 loudness with true peak, waveform, 30 s preview, covers,
the .m4a download package, storing every file, publishing); the reference only encodes.
Prints both wall times, the ratio (goal <= 1.10) and our realtime factor.
Usage: python bench/transcode.py [--seconds 180] [--runs 2]
"""
from __future__ import annotations

import argparse
import secrets
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path


def reference(src: Path, work: Path) -> float:
    ff = media.ffmpeg_exe()
    out = work / "ref"
    shutil.rmtree(out, ignore_errors=True)
    for name, _ in media.RENDITIONS:
        (out / name).mkdir(parents=True)
    (work / "k.bin").write_bytes(secrets.token_bytes(16))
    (work / "k.info").write_text(f"k.bin\n{work / 'k.bin'}\n{secrets.token_hex(16)}\n")
    cmd = [ff, "-hide_banner", "-nostdin", "-v", "error", "-y", "-i", str(src),
           "-map", "0:a", "-map", "0:a", "-map", "0:a", "-c:a", "aac", "-ar", "44100", "-ac", "2",
           "-b:a:0", "128k", "-b:a:1", "256k", "-b:a:2", "320k", "-f", "hls", "-hls_time", "6",
           "-hls_playlist_type", "vod", "-hls_key_info_file", str(work / "k.info"),
           "-hls_segment_filename", str(out / "%v" / "seg_%03d.ts"), "-master_pl_name", "master.m3u8",
           "-var_stream_map", "a:0,name:128k a:1,name:256k a:2,name:320k", str(out / "%v" / "index.m3u8")]
    t = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t


def ours(platform, artist, src: Path) -> float:
    from musicconnect_streaming.models import Track, TrackVersion
    from musicconnect_streaming.pipeline import JOB, prefix

    probe = media.probe(src)
    cid = uuid.uuid4()
    with platform.session() as s:
        platform.content.create(s, artist_id=artist.artist_id, kind="track", title="Bench", status="processing",
                                data={"duration": probe.duration}, item_id=cid)
        s.add(Track(content_id=cid, artist_id=artist.artist_id, version=0, pending_version=1,
                    created_at=platform.clock.now()))
        key = f"{prefix(cid, 1)}/original.flac"
        platform.storage.put_file(key, src)
        s.add(TrackVersion(content_id=cid, version=1, state="processing", original_key=key, original_filename="b.flac",
                           size_bytes=src.stat().st_size, probe=probe.as_dict(), duration=probe.duration,
                           aes_key=secrets.token_bytes(16), aes_iv="0x" + secrets.token_hex(16), artwork={},
                           created_at=platform.clock.now()))
    t = time.perf_counter()
    platform.jobs.enqueue(JOB, content_id=str(cid), version=1)
    platform.jobs.wait_idle(1800, interval=0.02)
    elapsed = time.perf_counter() - t
    from musicconnect.models import ContentItem
    with platform.session() as s:
        assert s.get(ContentItem, cid).status == "ready"
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=180)
    ap.add_argument("--runs", type=int, default=2)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mc-bench-tx-"))
    src = work / "track.flac"
    media.generated_tone(src, args.seconds)

    from musicconnect import migrate
    from musicconnect.platform import Platform
    from musicconnect.settings import Settings
    from musicconnect.testing import make_user

    platform = Platform(Settings(data_dir=work / "data", argon2_time_cost=1, argon2_memory_cost=1024))
    migrate.upgrade(platform)
    platform.start()
    artist = make_user(platform, "artist", artist_name="Bench")
    refs, mine = [], []
    for _ in range(args.runs):  # interleaved, so that machine noise hits both alike
        refs.append(reference(src, work))
        mine.append(ours(platform, artist, src))
    platform.close()
    r, o = statistics.median(refs), statistics.median(mine)
    print(f"input: {args.seconds:.0f} s rich stereo FLAC, ffmpeg {media.ffmpeg_exe()}")
    print(f"hand-written ffmpeg (3 AES-128 HLS renditions): {r:6.2f} s  (runs: {', '.join(f'{x:.2f}' for x in refs)})")
    print(f"our transcode job (ladder + loudness + waveform + preview + download + store + publish): "
          f"{o:6.2f} s  (runs: {', '.join(f'{x:.2f}' for x in mine)})")
    print(f"ratio: {o / r:.2f}x  (goal <= 1.10)   realtime factor: {args.seconds / o:.1f}x")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    from musicconnect_streaming import media

    main()
