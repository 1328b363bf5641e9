#!/usr/bin/env python3
"""Benchmark: real-time sockets at scale (musicconnect.realtime).

N listeners (default 10,000) hold the core's personal channel (``/api/v1/realtime``, all signed
in as one user, so all in the room ``user:<id>``) on two API processes (``musicconnect serve``
on two ports, half the listeners each) that share rooms through Redis. The bench then pushes M
messages (``POST /api/v1/realtime/users/{id}/messages`` on process A: delivered to A's
listeners directly and to B's through Redis), one at a time: the next leaves when the previous
has reached every listener (so latencies measure a broadcast, not a queue of them), and reports:

* memory per connection: (RSS with the listeners connected - RSS before) / listeners, per
  server process;
* broadcast latency from the send (just before the POST) to the LAST listener, p50/p99 over the
  messages, and per delivery (every listener of every message), p50/p99;
* connection errors (a listener that could not connect, or missed a message).

Reference, same run, same client: a bare ``websockets`` broadcast server (bench/bare_sockets.py)
in two processes; the publisher sends each message to both (no authentication, no Redis).

The clients are asyncio + the ``websockets`` library in 2 processes. The fd limit is raised to
the hard limit. Needs Redis: ``--redis-url`` or a ``redis-server`` on PATH (started here).

Usage: python bench/sockets.py [--listeners 10000] [--messages 20] [--ws websockets]
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent / "musicconnect"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{url}: the server exited ({proc.returncode})")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"port {port}: the server exited ({proc.returncode})")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"port {port} did not open")


# ---------------------------------------------------------------------------- client processes

def client_main(url: str, headers: dict, n: int, messages: int, concurrency: int, ready, go, out, progress) -> None:
    """One client process: ``n`` listeners on ``url``; reports connect errors and, per message,
    the latency of every delivery (seconds, from the ``t`` the publisher stamped)."""
    raise_fd_limit()

    async def run():
        from websockets.asyncio.client import connect

        errors = 0
        socks = []
        sem = asyncio.Semaphore(concurrency)
        lat: dict[int, list[float]] = {i: [] for i in range(messages)}
        done = asyncio.Event()
        got = [0]
        per_seq = [0] * messages

        async def listen(ws):
            try:
                async for frame in ws:
                    now = time.monotonic()
                    msg = orjson.loads(frame)
                    if "seq" in msg:
                        lat[msg["seq"]].append(now - msg["t"])
                        got[0] += 1
                        per_seq[msg["seq"]] += 1
                        if per_seq[msg["seq"]] == len(socks):
                            progress.put(msg["seq"])  # every listener of this process has it
                        if got[0] == n * messages:
                            done.set()
            except Exception:
                pass

        async def one():
            nonlocal errors
            async with sem:
                for attempt in range(3):
                    try:
                        ws = await connect(url, additional_headers=headers, ping_interval=None, compression=None,
                                           open_timeout=60, max_queue=64)
                        socks.append(ws)
                        asyncio.ensure_future(listen(ws))
                        return
                    except Exception:
                        await asyncio.sleep(0.5 * (attempt + 1))
                errors += 1

        await asyncio.gather(*(one() for _ in range(n)))
        await asyncio.sleep(1.0)  # hellos read, rooms joined
        ready.put((len(socks), errors))
        while not go.is_set():
            await asyncio.sleep(0.05)
        try:
            await asyncio.wait_for(done.wait(), timeout=30 + messages * 2)
        except asyncio.TimeoutError:
            pass
        missed = n * messages - got[0] - errors * messages
        out.put(({k: v for k, v in lat.items()}, errors, missed))
        for ws in socks:
            ws.transport.abort()

    try:
        import uvloop

        uvloop.run(run())
    except ImportError:
        asyncio.run(run())


def run_clients(urls: list[str], headers: dict, per: int, messages: int, concurrency: int, publish, settle: float):
    """Start one client process per url, wait for every listener, call ``publish()`` (which
    measures RSS and sends the messages), then gather the latencies."""
    ctx = mp.get_context("spawn")
    ready, out, go, progress = ctx.Queue(), ctx.Queue(), ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=client_main, args=(u, headers, per, messages, concurrency, ready, go, out, progress))
             for u in urls]
    t0 = time.monotonic()
    for p in procs:
        p.start()
    held, errors = 0, 0
    for _ in procs:
        h, e = ready.get(timeout=900)
        held += h
        errors += e
    connect_s = time.monotonic() - t0
    time.sleep(settle)
    def delivered(seq: int) -> None:
        """Wait until every client process has the message (closed loop: no message is sent
        before the previous one reached every listener, so latencies do not queue up)."""
        for _ in procs:
            try:
                got = progress.get(timeout=60)
            except Exception:
                return
            assert got == seq, (got, seq)

    extra = publish(delivered)
    go.set()
    deliveries, last, missed = [], {}, 0
    for _ in procs:
        lat, _e, m = out.get(timeout=300)
        missed += m
        for seq, values in lat.items():
            deliveries += values
            if values:
                last[seq] = max(last.get(seq, 0.0), max(values))
    for p in procs:
        p.join(timeout=30)
    return {"held": held, "connect_errors": errors, "missed": missed, "connect_s": connect_s,
            "deliveries": deliveries, "to_last": [last[k] for k in sorted(last)], **extra}


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


# ---------------------------------------------------------------------------- the two setups

def setup_platform(env: dict) -> tuple[dict, dict, str]:
    """Migrate the database and make a listener and an admin; returns their headers and the
    listener's id."""
    os.environ.update(env)
    from musicconnect import migrate
    from musicconnect.platform import Platform
    from musicconnect.settings import Settings
    from musicconnect.testing import make_user

    p = Platform(Settings())
    migrate.upgrade(p)
    fan, admin = make_user(p, "fan"), make_user(p, "admin")
    p.close()
    return fan.headers, admin.headers, str(fan.id)


def bench_musicconnect(args, redis_url: str, tmp: Path) -> dict:
    env = {**os.environ, "MC_DATA_DIR": str(tmp / "data"), "MC_DATABASE_URL": f"sqlite:///{tmp / 'mc.db'}",
           "MC_REDIS_URL": redis_url, "MC_PLUGINS": "", "MC_RATE_LIMITS_ENABLED": "false",
           "MC_ARGON2_TIME_COST": "1", "MC_ARGON2_MEMORY_COST": "1024", "MC_LOG_LEVEL": "WARNING",
           "MC_REALTIME_WS": args.ws, "MC_ACCESS_TOKEN_TTL": "86400"}
    listener, admin, user_id = setup_platform(env)
    ports = [free_port(), free_port()]
    servers = [subprocess.Popen([str(BIN), "serve", "--port", str(port), "--no-migrate"], env=env,
                                stdout=subprocess.DEVNULL) for port in ports]
    try:
        for port, proc in zip(ports, servers):
            wait_http(f"http://127.0.0.1:{port}/healthz", proc)
        a = f"http://127.0.0.1:{ports[0]}"
        httpx.post(f"{a}/api/v1/realtime/users/{user_id}/messages", headers=admin, json={"warm": True})
        base = [rss_kib(s.pid) for s in servers]

        def publish(delivered):
            rss = [rss_kib(s.pid) for s in servers]
            with httpx.Client() as http:
                for seq in range(args.messages):
                    t = time.monotonic()
                    r = http.post(f"{a}/api/v1/realtime/users/{user_id}/messages", headers=admin,
                                  json={"seq": seq, "t": t})
                    if r.status_code != 202:
                        raise SystemExit(f"publish failed: {r.status_code} {r.text}")
                    delivered(seq)
                    time.sleep(args.interval)
            return {"rss_before_kib": base, "rss_after_kib": rss}

        urls = [f"ws://127.0.0.1:{port}/api/v1/realtime" for port in ports]
        return run_clients(urls, listener, args.listeners // 2, args.messages, args.concurrency, publish, 2.0)
    finally:
        for s in servers:
            s.terminate()
        for s in servers:
            try:
                s.wait(timeout=20)
            except subprocess.TimeoutExpired:
                s.kill()


def bench_bare(args) -> dict:
    ports = [free_port(), free_port()]
    servers = [subprocess.Popen([sys.executable, str(ROOT / "bench" / "bare_sockets.py"), str(port)],
                                stdout=subprocess.DEVNULL) for port in ports]
    try:
        for port, proc in zip(ports, servers):
            wait_port(port, proc)
        time.sleep(0.5)
        base = [rss_kib(s.pid) for s in servers]

        def publish(delivered):
            rss = [rss_kib(s.pid) for s in servers]

            async def send_all():
                from websockets.asyncio.client import connect

                pubs = [await connect(f"ws://127.0.0.1:{port}/publish", ping_interval=None) for port in ports]
                for seq in range(args.messages):
                    frame = orjson.dumps({"seq": seq, "t": time.monotonic()}).decode()
                    for ws in pubs:
                        await ws.send(frame)
                    await asyncio.get_running_loop().run_in_executor(None, delivered, seq)
                    await asyncio.sleep(args.interval)
                for ws in pubs:
                    await ws.close()
            asyncio.run(send_all())
            return {"rss_before_kib": base, "rss_after_kib": rss}

        urls = [f"ws://127.0.0.1:{port}/listen" for port in ports]
        return run_clients(urls, {}, args.listeners // 2, args.messages, args.concurrency, publish, 2.0)
    finally:
        for s in servers:
            s.terminate()
        for s in servers:
            try:
                s.wait(timeout=20)
            except subprocess.TimeoutExpired:
                s.kill()


def report(name: str, r: dict, per_process: int, verbose: bool = False) -> None:
    per_conn = [(after - before) / max(1, per_process) for before, after in zip(r["rss_before_kib"], r["rss_after_kib"])]
    print(f"{name}: {r['held']} listeners held ({r['connect_errors']} connect errors, {r['missed']} missed "
          f"deliveries), connected in {r['connect_s']:.1f} s")
    print(f"  memory per connection: {', '.join(f'{x:.1f} KiB' for x in per_conn)} (per server process; RSS "
          f"{', '.join(f'{b // 1024}->{a // 1024} MiB' for b, a in zip(r['rss_before_kib'], r['rss_after_kib']))})")
    print(f"  broadcast to the last listener: p50 {pct(r['to_last'], 0.5):.0f} ms, p99 {pct(r['to_last'], 0.99):.0f} ms"
          f" ({len(r['to_last'])} messages)")
    if verbose:
        print("  to the last listener, message by message (ms):", " ".join(f"{x * 1000:.0f}" for x in r["to_last"]))
    print(f"  per delivery: p50 {pct(r['deliveries'], 0.5):.0f} ms, p99 {pct(r['deliveries'], 0.99):.0f} ms"
          f" ({len(r['deliveries'])} deliveries)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--listeners", type=int, default=10_000)
    ap.add_argument("--messages", type=int, default=20)
    ap.add_argument("--interval", type=float, default=0.5,
                    help="pause after a message reached every listener, before the next")
    ap.add_argument("--concurrency", type=int, default=200, help="connects in flight per client process")
    ap.add_argument("--ws", default="websockets-sansio", help="MC_REALTIME_WS (uvicorn's implementation)")
    ap.add_argument("--redis-url", default=os.environ.get("MC_REDIS_URL"))
    ap.add_argument("--skip-reference", action="store_true")
    ap.add_argument("--verbose", action="store_true", help="print each message's latency")
    args = ap.parse_args()
    print(f"fd limit: {raise_fd_limit()}; {os.cpu_count()} cores; {args.listeners} listeners over 2 processes")
    redis_proc = None
    redis_url = args.redis_url
    with tempfile.TemporaryDirectory(prefix="mc-sockets-") as tmp:
        if not redis_url:
            exe = shutil.which("redis-server")
            if exe is None:
                raise SystemExit("error: needs Redis: --redis-url, MC_REDIS_URL or redis-server on PATH")
            port = free_port()
            redis_proc = subprocess.Popen([exe, "--port", str(port), "--save", "", "--appendonly", "no"],
                                          stdout=subprocess.DEVNULL)
            wait_port(port, redis_proc)
            redis_url = f"redis://127.0.0.1:{port}/0"
        try:
            r = bench_musicconnect(args, redis_url, Path(tmp))
            report(f"musicconnect ({args.ws}, Redis fan-out)", r, args.listeners // 2, args.verbose)
            if not args.skip_reference:
                report("bare websockets broadcast", bench_bare(args), args.listeners // 2, args.verbose)
        finally:
            if redis_proc is not None:
                redis_proc.terminate()
                redis_proc.wait(timeout=10)


if __name__ == "__main__":
    main()
