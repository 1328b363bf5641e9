#!/usr/bin/env python3
"""Benchmark: the cost of the route guard (scope declaration + per-caller rate limit + RateLimit
fields) on an ordinary FastAPI route, against the same route with rate limits switched off, in
the same run. 64 connections (wrk), one uvicorn process.

Route: ``GET /api/v1/scopes`` (public: counted per address) and ``GET /api/v1/me/entitlements``
(a signed-in fan: counted per user). Policies are raised so that nothing is refused.
With ``--redis-url`` the counters live in Redis (the distributed configuration: one INCR per
request), otherwise in memory.
Usage: python bench/guard.py [--seconds 10] [--connections 64] [--redis-url URL]
"""
from __future__ import annotations

import argparse
import os
import subprocess
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
    ap.add_argument("--redis-url", default=None)
    args = ap.parse_args()

    data = tempfile.mkdtemp(prefix="mc-bench-")
    env = {"MC_DATA_DIR": data, "MC_LOG_LEVEL": "WARNING", "PYTHONPATH": str(Path(__file__).parent),
           **{f"MC_RATE_LIMIT_{c}": "100000000/minute" for c in ("ANONYMOUS", "FAN", "MEMBER", "ARTIST", "TOKEN")}}
    if args.redis_url:
        env["MC_REDIS_URL"] = args.redis_url
    subprocess.run([str(Path(sys.executable).parent / "musicconnect"), "demo", "seed"], env={**os.environ, **env},
                   check=True, stdout=subprocess.DEVNULL)

    results = {}
    for limits in ("off", "on"):
        port = free_port()
        proc = serve("musicconnect.asgi:app", port, {**env, "MC_RATE_LIMITS_ENABLED": "true" if limits == "on" else "false"})
        try:
            base = f"http://127.0.0.1:{port}"
            wait_up(base + "/healthz")
            tok = httpx.post(base + "/api/v1/auth/login",
                             json={"email": "fan@demo.com", "password": "password123"}).json()["access_token"]
            auth = {"Authorization": f"Bearer {tok}"}
            for name, path, headers in (("public /scopes", "/api/v1/scopes", {}),
                                        ("fan /me/entitlements", "/api/v1/me/entitlements", auth)):
                r = httpx.get(base + path, headers=headers)
                assert r.status_code == 200 and (("ratelimit" in r.headers) == (limits == "on")), r.headers
                load(base + path, connections=args.connections, seconds=2, headers=headers)  # warm-up
                results[(name, limits)] = load(base + path, connections=args.connections, seconds=args.seconds,
                                               headers=headers)
        finally:
            proc.terminate()
            proc.wait(10)

    store = "redis" if args.redis_url else "memory"
    print(f"rate-limit counters in {store}; {args.connections} connections, {args.seconds} s each")
    print(f"{'':34} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for (name, limits), r in results.items():
        print(f"{name + ' (limits ' + limits + ')':34} {r.rps:10.0f} {r.p50_ms:8.2f} {r.p99_ms:8.2f} {r.errors:7d}")
    for name in ("public /scopes", "fan /me/entitlements"):
        ratio = results[(name, "on")].rps / results[(name, "off")].rps
        print(f"{name}: guarded / unguarded = {ratio:.2f}x (goal >= 0.85x)")


if __name__ == "__main__":
    main()
