#!/usr/bin/env python3
"""Benchmark: protected playback on loopback, one `musicconnect` API process (uvloop, httptools).

* time to first audio: master playlist -> variant playlist -> key -> first segment, for a fan
  (median and p95 of sequential cold starts);
* segments per second served (wrk, 64 connections) vs. a bare Starlette FileResponse of the
  same file in the same run;
* keys per second (the access decision runs on every request).
Usage: python bench/playback.py [--seconds 8]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from _load import free_port, load, serve, wait_up  # noqa: E402

STATIC_APP = '''
import os
from starlette.applications import Starlette
from starlette.responses import FileResponse
from starlette.routing import Route
SEG = os.environ["BENCH_SEGMENT"]
async def seg(request):
    return FileResponse(SEG)
app = Starlette(routes=[Route("/seg.ts", seg)])
'''


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=8)
    args = ap.parse_args()
    data = Path(tempfile.mkdtemp(prefix="mc-bench-play-"))
    (data / "static_app.py").write_text(STATIC_APP)
    env = {"MC_DATA_DIR": str(data), "MC_LOG_LEVEL": "WARNING", "PYTHONPATH": str(data)}
    exe = str(Path(sys.executable).parent / "musicconnect")
    subprocess.run([exe, "demo", "seed"], env={**os.environ, **env}, check=True, stdout=subprocess.DEVNULL)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env["MC_BASE_URL"] = base
    proc = serve("musicconnect.asgi:app", port, env)
    try:
        wait_up(base + "/healthz")
        c = httpx.Client(base_url=base)
        tok = c.post("/api/v1/auth/login", json={"email": "fan@demo.com", "password": "password123"}).json()["access_token"]
        h = {"Authorization": f"Bearer {tok}"}
        nova = c.get("/api/v1/artists/nova-lane").json()
        track = next(i for i in c.get(f"/api/v1/artists/{nova['id']}/content").json() if i["title"] == "Night Drive")
        tid = track["id"]

        def first_audio() -> tuple[float, str, str]:
            t = time.perf_counter()
            m = c.get(f"/api/v1/streaming/tracks/{tid}/master.m3u8", headers=h).text
            v_uri = [ln for ln in m.splitlines() if ln and not ln.startswith("#")][-1]
            v = c.get(f"/api/v1/streaming/tracks/{tid}/{v_uri}").text
            key_uri = v.split('URI="')[1].split('"')[0]
            k = c.get(f"/api/v1/streaming/tracks/{tid}/{key_uri[3:]}")
            seg = [ln for ln in v.splitlines() if ln.startswith("http")][0]
            s = c.get(seg)
            assert k.status_code == 200 and s.status_code == 200 and len(s.content) > 1000
            return time.perf_counter() - t, seg, f"/api/v1/streaming/tracks/{tid}/{key_uri[3:]}"

        for _ in range(5):
            first_audio()
        times = []
        for _ in range(100):
            dt, seg_url, key_path = first_audio()
            times.append(dt * 1000)
        times.sort()
        ttfa50, ttfa95 = statistics.median(times), times[94]
        seg_res = load(seg_url, seconds=args.seconds)
        key_res = load(base + key_path, seconds=args.seconds)
        seg_file = data / "media" / seg_url.split("/media/")[1].split("?")[0]
    finally:
        proc.terminate()
        proc.wait(10)
    sport = free_port()
    sproc = serve("static_app:app", sport, {**env, "BENCH_SEGMENT": str(seg_file)})
    try:
        wait_up(f"http://127.0.0.1:{sport}/seg.ts")
        load(f"http://127.0.0.1:{sport}/seg.ts", seconds=2)
        ref = load(f"http://127.0.0.1:{sport}/seg.ts", seconds=args.seconds)
    finally:
        sproc.terminate()
        sproc.wait(10)
    print(f"time to first audio (master -> variant -> key -> first 320k segment), fan, loopback: "
          f"p50 {ttfa50:.1f} ms, p95 {ttfa95:.1f} ms")
    print(f"{'':32} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for name, r in (("signed segment (musicconnect)", seg_res), ("bare Starlette FileResponse", ref),
                    ("key with access decision", key_res)):
        print(f"{name:32} {r.rps:9.0f} {r.p50_ms:8.2f} {r.p99_ms:8.2f} {r.errors:7d}")
    print(f"segments ratio (musicconnect / bare FileResponse): {seg_res.rps / ref.rps:.2f}x "
          f"(segment {seg_file.stat().st_size // 1024} KiB; a CDN or static server can serve these URLs instead)")


if __name__ == "__main__":
    main()
