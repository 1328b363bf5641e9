#!/usr/bin/env python3
"""Benchmark: authenticated GET /api/v1/me vs. a bare Starlette route, same server, same run.

Both run as one uvicorn process (uvloop, httptools) on loopback; wrk drives 64 connections.
Prints requests/s, p50 and p99 for each and the throughput ratio (goal >= 0.5, p99 < 50 ms).
Usage: python bench/api.py [--seconds 10] [--connections 64] [--database-url URL]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from _load import free_port, load, serve, wait_up  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = ap.parse_args()

    data = tempfile.mkdtemp(prefix="mc-bench-")
    # the limiter is off: this measures the request path (bench/guard.py measures the limiter);
    # with it on, nearly every request of 64 connections from one address is a 429
    env = {"MC_DATA_DIR": data, "MC_LOG_LEVEL": "WARNING", "PYTHONPATH": str(Path(__file__).parent),
           "MC_RATE_LIMITS_ENABLED": "false"}
    if args.database_url:
        env["MC_DATABASE_URL"] = args.database_url
    import subprocess

    subprocess.run([str(Path(sys.executable).parent / "musicconnect"), "demo", "seed"], env={**os.environ, **env},
                   check=True, stdout=subprocess.DEVNULL)

    results = {}
    for name, target, path in (("bare starlette", "bare_app:app", "/me"),
                               ("musicconnect /api/v1/me", "musicconnect.asgi:app", "/api/v1/me")):
        port = free_port()
        proc = serve(target, port, env)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_up(base + ("/me" if "bare" in name else "/healthz"))
            headers = {}
            if "musicconnect" in name:
                tok = httpx.post(base + "/api/v1/auth/login",
                                 json={"email": "fan@demo.com", "password": "password123"}).json()["access_token"]
                headers = {"Authorization": f"Bearer {tok}"}
                assert httpx.get(base + path, headers=headers).json()["email"] == "fan@demo.com"
            load(base + path, connections=args.connections, seconds=2, headers=headers)  # warm-up
            results[name] = load(base + path, connections=args.connections, seconds=args.seconds, headers=headers)
        finally:
            proc.terminate()
            proc.wait(10)

    print(f"{'':26} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for name, r in results.items():
        print(f"{name:26} {r.rps:10.0f} {r.p50_ms:8.2f} {r.p99_ms:8.2f} {r.errors:7d}")
    ours, ref = results["musicconnect /api/v1/me"], results["bare starlette"]
    ratio = ours.rps / ref.rps
    print(f"ratio (musicconnect / bare): {ratio:.2f}x   goal >= 0.50x; p99 {ours.p99_ms:.1f} ms, goal < 50 ms")
    print("verdict:", "PASS" if ratio >= 0.5 and ours.p99_ms < 50 and ours.errors == 0 else "BELOW GOAL")


if __name__ == "__main__":
    main()
