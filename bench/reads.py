#!/usr/bin/env python3
"""Benchmark: the read routes fans hit, against a bare Starlette route running the same SQL
through the same driver (bench/bare_reads.py), and a connection sweep for errors.

1. Seeds the demo data into a fresh data dir (or ``--database-url``), signs the demo fan in, and
   calls each read route once in-process with warm caches while recording every SQL statement
   it runs (text + parameters).
2. Serves our app and the reference app (one uvicorn process each, uvloop + httptools) and drives
   each route with wrk at ``--connections`` (64): requests/s, p50, p99, errors, the ratio
   ours / reference (goal >= 0.5x) and p99 < 100 ms.
3. ``--sweep``: every route at 64, 256 and 1,024 connections against our app: errors (socket
   errors + non-2xx) must be 0 and no pool time-out may be logged.

Usage: python bench/reads.py [--seconds 8] [--connections 64] [--sweep] [--database-url URL]
       [--routes recommendations,matches,dashboard]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from _load import free_port, load, serve, wait_idle, wait_up  # noqa: E402

OPEN_LIMITS = {f"MC_RATE_LIMIT_{c}": "1000000000/minute" for c in ("ANONYMOUS", "FAN", "MEMBER", "ARTIST", "TOKEN")}


def record(env: dict[str, str], only: list[str] | None = None) -> tuple[list[dict], dict[str, str]]:
    """The read routes with demo ids filled in, and the SQL each runs with warm caches."""
    os.environ.update(env)
    from sqlalchemy import event
    from starlette.testclient import TestClient

    from musicconnect.app import create_app
    from musicconnect.platform import Platform
    from musicconnect.settings import Settings

    platform = Platform(Settings())
    app = create_app(platform)
    routes: list[dict] = []
    with TestClient(app) as client:
        tok = client.post("/api/v1/auth/login", json={"email": "fan@demo.com", "password": "password123"}).json()
        fan = {"Authorization": f"Bearer {tok['access_token']}"}
        tok = client.post("/api/v1/auth/login", json={"email": "artist@demo.com", "password": "password123"}).json()
        artist = {"Authorization": f"Bearer {tok['access_token']}"}
        nova = client.get("/api/v1/artists/nova-lane").json()["id"]
        content = client.get(f"/api/v1/artists/{nova}/content", headers=fan).json()
        post = next(c["id"] for c in content if c["kind"] == "post" and not c.get("locked"))
        track = next(c["id"] for c in content if c["kind"] == "track" and not c.get("locked"))
        plan = [("artists", "/api/v1/artists", {}), ("artist page", f"/api/v1/artists/{nova}", {}),
                ("tiers", f"/api/v1/artists/{nova}/tiers", {}), ("content list", f"/api/v1/artists/{nova}/content", fan),
                ("content item", f"/api/v1/content/{post}", fan), ("feed", "/api/v1/fanclub/feed", fan),
                ("comments", f"/api/v1/fanclub/content/{post}/comments", fan),
                ("track detail", f"/api/v1/streaming/tracks/{track}", fan),
                ("entitlements", "/api/v1/me/entitlements", fan),
                ("fan club me", f"/api/v1/fanclub/artists/{nova}/me", fan),
                ("recommendations", "/api/v1/ai/recommendations?limit=20", fan),
                ("artist matches", f"/api/v1/ai/artists/{nova}/matches", artist),
                ("dashboard", f"/api/v1/artists/{nova}/metrics", artist),
                ("coop page", "/api/v1/coop/coops/night-shift-collective", {}),
                ("artist coops", f"/api/v1/coop/artists/{nova}/coops", {}),
                ("nft status list", "/api/v1/nft/status-lists/1", {})]
        if only:
            plan = [x for x in plan if any(o in x[0] for o in only)]
        captured: list = []

        def grab(conn, cursor, statement, parameters, context, executemany):
            captured.append([statement, list(parameters) if isinstance(parameters, (list, tuple)) else parameters])

        for name, path, headers in plan:
            assert client.get(path, headers=headers).status_code == 200, (name, path)  # warm the caches
            captured.clear()
            event.listen(platform.db.engine, "before_cursor_execute", grab)
            try:
                assert client.get(path, headers=headers).status_code == 200
            finally:
                event.remove(platform.db.engine, "before_cursor_execute", grab)
            routes.append({"name": name, "path": path, "auth": "artist" if headers is artist else "fan" if headers else "",
                           "statements": list(captured)})
    platform.close()
    return routes, fan


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--sweep", action="store_true")
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--routes", default="", help="comma-separated parts of route names to run (default: all)")
    ap.add_argument("--async-compare", action="store_true",
                    help="also run each reference on SQLAlchemy's asyncio extension (needs aiosqlite / psycopg)")
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))

    data = tempfile.mkdtemp(prefix="mc-bench-")
    env = {"MC_DATA_DIR": data, "MC_LOG_LEVEL": "WARNING", **OPEN_LIMITS}
    if args.database_url:
        env["MC_DATABASE_URL"] = args.database_url
    subprocess.run([str(Path(sys.executable).parent / "musicconnect"), "demo", "seed"], env={**os.environ, **env},
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    routes, _ = record(env, [r.strip() for r in args.routes.split(",") if r.strip()])
    stmts = Path(data) / "statements.json"
    stmts.write_text(json.dumps(routes))
    db_url = args.database_url or f"sqlite:///{data}/musicconnect.db"

    ours_port, ref_port, fa_port = free_port(), free_port(), free_port()
    log = Path(data) / "server.log"
    ours = subprocess.Popen([sys.executable, "-m", "uvicorn", "musicconnect.asgi:app", "--host", "127.0.0.1", "--port",
                             str(ours_port), "--no-access-log", "--log-level", "warning", "--loop", "uvloop",
                             "--http", "httptools", "--backlog", "4096"],
                            env={**os.environ, **env}, stdout=log.open("w"), stderr=subprocess.STDOUT)
    ref = serve("bare_reads:app", ref_port, {"MC_BENCH_STATEMENTS": str(stmts), "MC_BENCH_DATABASE_URL": db_url,
                                             "PYTHONPATH": str(HERE)})
    fa = serve("bare_reads:fastapi_app", fa_port, {"MC_BENCH_STATEMENTS": str(stmts), "MC_BENCH_DATABASE_URL": db_url,
                                                   "PYTHONPATH": str(HERE), "UVICORN_FACTORY": "true"})
    try:
        base, rbase = f"http://127.0.0.1:{ours_port}", f"http://127.0.0.1:{ref_port}"
        wait_up(base + "/healthz")
        wait_up(rbase + "/ref/0")
        fbase = f"http://127.0.0.1:{fa_port}"
        wait_up(fbase + "/ref/0")
        tok = httpx.post(base + "/api/v1/auth/login", json={"email": "fan@demo.com", "password": "password123"}).json()
        fan = {"Authorization": f"Bearer {tok['access_token']}"}
        tok = httpx.post(base + "/api/v1/auth/login", json={"email": "artist@demo.com", "password": "password123"}).json()
        who = {"fan": fan, "artist": {"Authorization": f"Bearer {tok['access_token']}"}, "": {}}
        print(f"read routes at {args.connections} connections, {args.seconds} s each "
              f"({'PostgreSQL' if args.database_url else 'SQLite'})")
        print(f"{'route':14} {'SQL':>4} {'ours req/s':>11} {'p99 ms':>7} {'ref req/s':>10} {'ref p99':>8} {'ratio':>6} "
              f"{'errors':>6}  verdict     {'FastAPI req/s':>13} {'ours/FastAPI':>12}")
        for i, r in enumerate(routes):
            headers = who[r["auth"]]
            load(base + r["path"], connections=args.connections, seconds=2, headers=headers)
            o = load(base + r["path"], connections=args.connections, seconds=args.seconds, headers=headers)
            load(f"{rbase}/ref/{i}", connections=args.connections, seconds=2)
            f = load(f"{rbase}/ref/{i}", connections=args.connections, seconds=args.seconds)
            load(f"{fbase}/ref/{i}", connections=args.connections, seconds=2)
            fast = load(f"{fbase}/ref/{i}", connections=args.connections, seconds=args.seconds)
            ratio = o.rps / f.rps if f.rps else float("inf")
            ok = ratio >= 0.5 and o.p99_ms < 100 and o.errors == 0
            print(f"{r['name']:14} {len(r['statements']):4d} {o.rps:11.0f} {o.p99_ms:7.1f} {f.rps:10.0f} "
                  f"{f.p99_ms:8.1f} {ratio:5.2f}x {o.errors:6d}  {'PASS      ' if ok else 'BELOW GOAL'}"
                  f"  {fast.rps:13.0f} {o.rps / fast.rps:11.2f}x")
        if args.async_compare:
            print("\nthe same SQL: thread pool (sync engine) vs asyncio extension, bare Starlette")
            print(f"{'route':14} {'threads req/s':>14} {'p99':>7} {'asyncio req/s':>14} {'p99':>7} {'async/threads':>14}")
            for i, r in enumerate(routes):
                t = load(f"{rbase}/ref/{i}", connections=args.connections, seconds=args.seconds)
                load(f"{rbase}/ref-async/{i}", connections=args.connections, seconds=2)
                a = load(f"{rbase}/ref-async/{i}", connections=args.connections, seconds=args.seconds)
                print(f"{r['name']:14} {t.rps:14.0f} {t.p99_ms:7.1f} {a.rps:14.0f} {a.p99_ms:7.1f} {a.rps / t.rps:13.2f}x")
        if args.sweep:
            print("\nsweep (our app): errors = non-2xx + socket errors (timeouts: unanswered after 10 s)")
            print(f"{'route':14} " + " ".join(f"{f'c={c} req/s':>12} {'p99':>7} {'err':>5}" for c in (64, 256, 1024)))
            for r in routes:
                headers = who[r["auth"]]
                cells = []
                for c in (64, 256, 1024):
                    wait_idle(base + "/healthz")
                    res = load(base + r["path"], connections=c, seconds=args.seconds, headers=headers, threads=2,
                               timeout_s=10)
                    cells.append(f"{res.rps:12.0f} {res.p99_ms:7.1f} {res.errors:5d}")
                print(f"{r['name']:14} " + " ".join(cells))
            timeouts = log.read_text().count("QueuePool limit")
            print(f"pool time-outs logged: {timeouts}")
    finally:
        for p in (ours, ref, fa):
            p.terminate()
            p.wait(10)


if __name__ == "__main__":
    main()
