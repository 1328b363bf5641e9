#!/usr/bin/env python3
"""Benchmark: peak memory of the API process while a 500 MB file is uploaded (multipart,
streamed). Reports idle RSS, peak RSS during the upload (until the 202 answer) and the growth.
Goal: within 30 MB of the idle process. The reference is the same process, idle, same run.
Usage: python bench/upload_memory.py [--mb 500]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from _load import free_port, serve, wait_up  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=500)
    args = ap.parse_args()
    from musicconnect_streaming import media

    data = Path(tempfile.mkdtemp(prefix="mc-bench-up-"))
    seconds = args.mb * 1024 * 1024 / (44100 * 2 * 2)
    src = data / "big.wav"
    media.generated_tone(src, round(seconds, 1))
    size_mb = src.stat().st_size / 1024 / 1024
    env = {"MC_DATA_DIR": str(data / "d"), "MC_LOG_LEVEL": "WARNING", "MC_STREAMING_MAX_DURATION_MINUTES": "600",
           "MC_ARGON2_TIME_COST": "1", "MC_ARGON2_MEMORY_COST": "1024"}
    exe = str(Path(sys.executable).parent / "musicconnect")
    subprocess.run([exe, "db", "upgrade"], env={**os.environ, **env}, check=True, stdout=subprocess.DEVNULL)
    subprocess.run([exe, "users", "create", "big@example.com", "--role", "artist", "--password", "correct-horse-9"],
                   env={**os.environ, **env}, check=True, stdout=subprocess.DEVNULL)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = serve("musicconnect.asgi:app", port, env)
    try:
        wait_up(base + "/healthz")
        c = httpx.Client(base_url=base, timeout=600)
        tok = c.post("/api/v1/auth/login", json={"email": "big@example.com", "password": "correct-horse-9"}).json()
        me = c.get("/api/v1/me", headers={"Authorization": f"Bearer {tok['access_token']}"}).json()
        for _ in range(20):  # warm the process up with small requests
            c.get("/api/v1/me", headers={"Authorization": f"Bearer {tok['access_token']}"})
        time.sleep(0.5)
        idle = rss_mb(proc.pid)
        peak = [idle]
        done = threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], rss_mb(proc.pid))
                time.sleep(0.02)

        t = threading.Thread(target=sample, daemon=True)
        t.start()
        started = time.perf_counter()
        with open(src, "rb") as fh:
            r = c.post(f"/api/v1/streaming/artists/{me['artist']['id']}/tracks",
                       headers={"Authorization": f"Bearer {tok['access_token']}"},
                       files={"file": ("big.wav", fh, "audio/wav")}, data={"title": "Big"})
        elapsed = time.perf_counter() - started
        done.set()
        t.join()
        assert r.status_code == 202, r.text
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    growth = peak[0] - idle
    print(f"upload: {size_mb:.0f} MB WAV in {elapsed:.1f} s (streamed to disk, probed, fully decoded, stored)")
    print(f"API process RSS: idle {idle:.1f} MB, peak during upload {peak[0]:.1f} MB, growth {growth:.1f} MB "
          f"(goal: within 30 MB)  -> {'PASS' if growth <= 30 else 'ABOVE GOAL'}")


if __name__ == "__main__":
    main()
