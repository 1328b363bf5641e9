#!/usr/bin/env python3
"""Benchmark: glass-to-ear latency of a live session, from the encoder to a fan's player.

An ffmpeg encoder streams a tone in real time (the ``arealtime`` filter) over RTMP to a live session of the live
plugin (its ingest: ffmpeg listening, AES-128 HLS, segments mirrored into the object store); a
"player" polls the fan's playlist (``GET /api/v1/live/sessions/{id}/live.m3u8``, the HTTP API in
process) every 50 ms and notes when each segment becomes listed, i.e. fetchable. The capture
time of a segment's samples is the encoder's start plus the segment's position in the stream
(the sum of the EXTINF durations before it); the encoder's start is taken as the moment its
process was spawned, so ffmpeg's start-up is counted as latency (a few tens of ms too much).

Per segment length it prints:
* ``ready``: from the capture of a segment's LAST sample to the segment being fetchable (the
  pipeline's own delay: encode, segment, mirror, playlist);
* ``oldest``: from the capture of its FIRST sample (= ready + the segment length);
* glass-to-ear for a player that starts 3 target durations behind the live edge (what the HLS
  specification asks of players, hls.js's default ``liveSyncDurationCount``): ready + 3 × T,
  and for an aggressive player holding one segment: ready + T;
* the reference from the same run: a bare ``ffmpeg -re ... -f hls`` writing segments to a local
  folder (no RTMP, no key check, no store, no HTTP), watched the same way.

Usage: python bench/live_latency.py [--seconds 30] [--hls-time 2 --hls-time 1]
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

SEG = re.compile(r"seg(\d+)\.ts")


def free_base(n: int = 2) -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def encoder_cmd(ff: str, seconds: float, url_or_out: list[str]) -> list[str]:
    # the arealtime filter releases each sample at its wall time: the capture clock of a live source
    return [ff, "-hide_banner", "-nostdin", "-v", "error", "-f", "lavfi",
            "-i", f"sine=frequency=440:duration={seconds},arealtime", *url_or_out]


def watch(read_playlist, deadline: float, seconds: float) -> dict[int, tuple[float, float]]:
    """segment number -> (EXTINF duration, wall time first listed)."""
    seen: dict[int, tuple[float, float]] = {}
    while time.monotonic() < deadline:
        text = read_playlist()
        now = time.time()
        if text:
            dur = None
            for line in text.splitlines():
                if line.startswith("#EXTINF:"):
                    dur = float(line[8:].split(",")[0])
                m = SEG.search(line) if not line.startswith("#") else None
                if m and int(m.group(1)) not in seen and dur is not None:
                    seen[int(m.group(1))] = (dur, now)
            if "#EXT-X-ENDLIST" in text:
                break
        time.sleep(0.05)
    return seen


def readiness(seen: dict[int, tuple[float, float]], t0: float) -> list[float]:
    """Seconds from each segment's last captured sample to its being listed (the last segment,
    cut short by the end of the stream, is left out)."""
    out, pos = [], 0.0
    for n in sorted(seen)[:-1]:
        dur, at = seen[n]
        pos += dur
        out.append(at - (t0 + pos))
    return out


def reference(ff: str, seconds: float, hls_time: float, work: Path) -> list[float]:
    out = work / f"ref-{hls_time:g}"
    out.mkdir(parents=True)
    (work / "k.bin").write_bytes(os.urandom(16))
    (work / "k.info").write_text(f"key\n{work / 'k.bin'}\n")
    cmd = encoder_cmd(ff, seconds, ["-c:a", "aac", "-b:a", "160k", "-ar", "48000", "-ac", "2", "-f", "hls",
                                    "-hls_time", f"{hls_time:g}", "-hls_list_size", "6",
                                    "-hls_flags", "delete_segments+independent_segments",
                                    "-hls_key_info_file", str(work / "k.info"),
                                    "-hls_segment_filename", str(out / "seg%05d.ts"), str(out / "live.m3u8")])
    t0 = time.time()
    proc = subprocess.Popen(cmd)

    def read():
        try:
            return (out / "live.m3u8").read_text()
        except FileNotFoundError:
            return ""

    seen = watch(read, time.monotonic() + seconds + 20, seconds)
    proc.wait()
    return readiness(seen, t0)


def ours(ff: str, seconds: float, hls_time: float, work: Path) -> list[float]:
    base = free_base()
    os.environ.update(MC_LIVE_RTMP_PORT=str(base), MC_LIVE_RTMP_PORTS="1", MC_LIVE_RTMP_BIND="127.0.0.1",
                      MC_LIVE_RTMP_HOST="127.0.0.1", MC_LIVE_HLS_TIME=f"{hls_time:g}")
    from starlette.testclient import TestClient

    from musicconnect import migrate
    from musicconnect.app import create_app
    from musicconnect.platform import Platform
    from musicconnect.settings import Settings
    from musicconnect.testing import make_user

    platform = Platform(Settings(data_dir=work / f"data-{hls_time:g}", argon2_time_cost=1, argon2_memory_cost=1024,
                                 base_url="http://testserver"))
    migrate.upgrade(platform)
    artist = make_user(platform, "artist", artist_name="Bench")
    fan = make_user(platform, "fan")
    try:
        with TestClient(create_app(platform)) as client:
            key = client.post("/api/v1/live/stream-key", headers=artist.headers).json()["stream_key"]
            sess = client.post("/api/v1/live/sessions", json={"title": "bench", "access": "public"},
                               headers=artist.headers).json()
            url = f"{sess['server']}/{key}"
            cmd = encoder_cmd(ff, seconds, ["-c:a", "aac", "-b:a", "160k", "-f", "flv", url])
            while True:                      # until the session's listener accepts
                t0 = time.time()
                proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
                try:
                    proc.wait(0.3)
                except subprocess.TimeoutExpired:
                    break
                time.sleep(0.05)

            def read():
                r = client.get(f"/api/v1/live/sessions/{sess['id']}/live.m3u8", headers=fan.headers)
                return r.text if r.status_code == 200 else ""

            seen = watch(read, time.monotonic() + seconds + 20, seconds)
            proc.wait()
    finally:
        platform.close()
    return readiness(seen, t0)


def report(name: str, xs: list[float], hls_time: float) -> str:
    """The first segment (connection, stream probing, first encode) apart from the steady state."""
    if len(xs) < 2:
        return f"  {name}: too few segments seen"
    steady = xs[1:]
    med, worst = statistics.median(steady), max(steady)
    return (f"  {name:<42} first segment ready {xs[0] * 1000:5.0f} ms; then ready {med * 1000:4.0f} ms "
            f"(max {worst * 1000:4.0f}), oldest sample {med + hls_time:4.2f} s; glass-to-ear: "
            f"3 segments held {med + 3 * hls_time:4.2f} s, 1 held {med + hls_time:4.2f} s ({len(xs)} segments)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--hls-time", type=float, action="append")
    args = ap.parse_args()
    from musicconnect_live.ingest import ffmpeg_exe

    ff = ffmpeg_exe()
    work = Path(tempfile.mkdtemp(prefix="mc-bench-live-"))
    try:
        print(f"encoder: {args.seconds:.0f} s tone, AAC over RTMP, real time (arealtime); ffmpeg {ff}")
        for t in args.hls_time or [2.0, 1.0]:
            ref = reference(ff, args.seconds, t, work)
            mine = ours(ff, args.seconds, t, work)
            print(f"segment length {t:g} s:")
            print(report("live plugin (RTMP -> HLS -> store -> API)", mine, t))
            print(report("reference (bare ffmpeg HLS on disk)", ref, t))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
