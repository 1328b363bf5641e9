#!/usr/bin/env python3
"""Benchmark: fan-out of one release to N followers (default 100,000) through the notify plugin.

By default in one process (embedded broker and worker, the database of ``MC_DATABASE_URL``, default a
throwaway SQLite file): an artist with N followers (inserted in bulk), then one
``content.published`` event of a track. Measured: the time from the event until every delivery
row exists (``notify_deliveries``: one inbox row per follower; the fan-out resolves the
followers, renders the template once and inserts in batched ``notify.batch`` jobs of 1,000 with
``INSERT ... ON CONFLICT DO NOTHING``). Email is left out, push too unless ``--push``
(``CHANNELS`` holds only the inbox then), so the figure is the pipeline's own cost.

Reference, same run: a bare loop inserting the same N rows (executemany in chunks of 1,000, one
transaction per chunk, no preferences, no idempotency key check beyond the table's).

Second measurement (``--latency-events``, default 50; 0 skips it): p50/p95 from a domain event
to push delivery on a quiet system. For each of N fans, one at a time: a push subscription against
a push service on loopback (a small HTTP server that records when each message arrives), then one
``artist.replied`` event for that fan (kind ``fanclub.dm_reply``, channels inbox and push); timed
from the event's commit until the push service has the message. Reference, same run: a bare
``pywebpush.webpush`` send (VAPID signing and aes128gcm encryption included) to the same service.

``--push``: every follower also has a push device (all on the loopback push service; one key pair
shared, each message still encrypted on its own) and the push channel is on; also timed: until
the push service has every message, beside a bare loop of ``pywebpush.webpush`` sends of the same
payload to as many devices. Default N with ``--push``: 10,000.

``--distributed``: a throwaway PostgreSQL cluster and Redis (free loopback ports, stopped
afterwards), the platform on them (``MC_DATABASE_URL``, ``MC_REDIS_URL``: the Redis broker) and
``--workers`` separate ``musicconnect worker`` processes (2 threads each; their notify plugin has
only the measured channels); the event is emitted from this process. The latency run is embedded
only.

Usage: python bench/notify_fanout.py [--followers 100000] [--workers 2] [--latency-events 50]
  [--push] [--distributed]   (``--followers 0`` skips the fan-out measurement)
"""
from __future__ import annotations

import argparse
import base64
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from _services import services


class PushService:
    """A push service on loopback: records when each message arrives, per path; answers 201."""

    def __init__(self):
        self.arrived: dict[str, float] = {}
        self.cond = threading.Condition()
        svc = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real push services (FCM, autopush) allow

            def do_POST(self):  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with svc.cond:
                    svc.arrived.setdefault(self.path, time.perf_counter())
                    svc.cond.notify_all()
                self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 128   # a push service takes a batch's concurrent connections (stdlib: 5)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, path: str, timeout: float = 30.0) -> float:
        with self.cond:
            if not self.cond.wait_for(lambda: path in self.arrived, timeout):
                raise TimeoutError(f"no push to {path} within {timeout}s")
            return self.arrived[path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def device() -> tuple[str, str]:
    """A browser's subscription keys: (p256dh, auth), base64url."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    raw = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)

    def b64(b: bytes) -> str:
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

    return b64(raw), b64(os.urandom(16))


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def latency(p, artist, n: int) -> None:
    """p50/p95 from a domain event's commit to its push arriving, one event at a time."""
    from py_vapid import Vapid
    from pywebpush import webpush

    from musicconnect.testing import make_user
    from musicconnect_notify import push

    svc = PushService()
    try:
        times = []
        for i in range(n):
            fan = make_user(p)
            path = f"/wpush/{i}-{uuid.uuid4().hex[:8]}"
            p256dh, auth = device()
            push.save_subscription(p, fan.id, svc.origin + path, p256dh, auth)
            with p.session() as s:
                p.emit(s, "artist.replied", actor_id=artist.id, artist_id=artist.artist_id,
                       subject=("message", uuid.uuid4()), data={"fan_id": str(fan.id)})
            t0 = time.perf_counter()  # the session has committed
            times.append(svc.wait(path) - t0)
        p.jobs.wait_idle(60)
        vapid = Vapid()
        vapid.generate_keys()
        ref = []
        for i in range(n):
            path = f"/ref/{i}"
            p256dh, auth = device()
            t0 = time.perf_counter()
            webpush({"endpoint": svc.origin + path, "keys": {"p256dh": p256dh, "auth": auth}},
                    data='{"title": "Nova replied to your message"}', vapid_private_key=vapid,
                    vapid_claims={"sub": "mailto:ops@example.org"}, content_encoding="aes128gcm", ttl=86400)
            ref.append(svc.wait(path) - t0)
    finally:
        svc.close()
    ms = [x * 1000 for x in times]
    rms = [x * 1000 for x in ref]
    print(f"event to push delivery, {n} single events (quiet system): p50 {pct(ms, 50):.0f} ms, "
          f"p95 {pct(ms, 95):.0f} ms, max {max(ms):.0f} ms; reference bare pywebpush send: "
          f"p50 {pct(rms, 50):.1f} ms, p95 {pct(rms, 95):.1f} ms")


#: a ``musicconnect worker`` process whose notify plugin has only the channels the bench measures
WORKER = ("import sys\nfrom musicconnect_notify import channels\n"
          "for c in sys.argv[1].split(','):\n    c and channels.CHANNELS.pop(c, None)\n"
          "sys.argv = ['musicconnect', 'worker']\nfrom musicconnect_cli.main import main\nmain()\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--followers", type=int, default=None, help="100,000; 10,000 with --push")
    ap.add_argument("--workers", type=int, default=2, help="worker threads (embedded) or worker processes (distributed)")
    ap.add_argument("--latency-events", type=int, default=50)
    ap.add_argument("--distributed", action="store_true",
                    help="throwaway PostgreSQL + Redis broker, separate 'musicconnect worker' processes")
    ap.add_argument("--push", action="store_true", help="every follower has a push device; push channel on")
    args = ap.parse_args()
    n = args.followers if args.followers is not None else (10_000 if args.push else 100_000)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a SIGTERM still stops the services and workers
    if args.distributed:
        with services("mc-notify-bench-") as (db_url, redis_url, work):
            os.environ.update({"MC_DATABASE_URL": db_url, "MC_REDIS_URL": redis_url, "MC_DATA_DIR": str(work)})
            run(args, n, work)
    else:
        tmp = tempfile.mkdtemp(prefix="mc-notify-bench-")
        os.environ.setdefault("MC_DATA_DIR", tmp)
        os.environ.setdefault("MC_DATABASE_URL", f"sqlite:///{tmp}/bench.db")
        os.environ.pop("MC_REDIS_URL", None)
        run(args, n, Path(tmp))


def run(args, n: int, work: Path) -> None:
    os.environ.setdefault("MC_ARGON2_TIME_COST", "1")
    os.environ.setdefault("MC_ARGON2_MEMORY_COST", "1024")
    os.environ["MC_NOTIFY_PUSH_ALLOW_HTTP_LOOPBACK"] = "true"
    os.environ["MC_NOTIFY_VAPID_SUBJECT"] = "mailto:ops@example.org"

    from sqlalchemy import func, insert, select

    from musicconnect import migrate
    from musicconnect.models import User
    from musicconnect.platform import Platform
    from musicconnect.plugins import installed_entry_points
    from musicconnect.settings import Settings
    from musicconnect.testing import make_user
    from musicconnect_fanclub.models import Follow
    from musicconnect_notify import channels
    from musicconnect_notify.channel_models import PushSubscription
    from musicconnect_notify.models import Delivery
    from musicconnect_notify.push import endpoint_hash

    dropped = ["email"] if args.push else ["email", "push"]
    for c in ("email",):  # push stays for the latency run; the fan-out keeps inbox (and push with --push)
        channels.CHANNELS.pop(c, None)
    settings = Settings(worker_threads=args.workers,
                        plugin_config={"notify": {"push_allow_http_loopback": True,
                                                  "vapid_subject": "mailto:ops@example.org"}})
    # distributed: every installed plugin (the worker processes load them all, so all are migrated)
    p = Platform(settings) if args.distributed else Platform(
        settings, entry_points=[ep for ep in installed_entry_points() if ep.name in ("notify", "fanclub", "streaming")])
    migrate.upgrade(p)
    artist = make_user(p, "artist", artist_name="Bench")
    procs: list[subprocess.Popen] = []
    svc = PushService() if args.push else None
    try:
        if args.distributed:
            env = {**os.environ, "MC_WORKER_THREADS": "2"}
            for i in range(args.workers):
                procs.append(subprocess.Popen([sys.executable, "-c", WORKER, ",".join(dropped)], env=env,
                                              stdout=open(work / f"worker{i}.log", "w"), stderr=subprocess.STDOUT))
            print(f"distributed: {len(procs)} worker processes, pids {[w.pid for w in procs]}", file=sys.stderr)
            p.start(worker=False)
        if args.latency_events > 0 and not args.distributed:
            p.run_worker = True
            p.start()
            latency(p, artist, args.latency_events)
        if n <= 0:
            return
        if not args.push:
            channels.CHANNELS.pop("push", None)
        t0 = time.perf_counter()
        now = p.clock.now()
        ids = [uuid.uuid4() for _ in range(n)]
        p256dh, auth = device()  # one device key for all fans: each message is still encrypted on its own
        for i in range(0, n, 5000):
            chunk = ids[i:i + 5000]
            with p.session() as s:
                s.execute(insert(User), [{"id": u, "email": f"f{u.hex}@bench.invalid", "password_hash": "!",
                                          "display_name": "fan", "role": "fan", "is_active": True,
                                          "created_at": now, "updated_at": now} for u in chunk])
                s.execute(insert(Follow), [{"user_id": u, "artist_id": artist.artist_id, "created_at": now}
                                           for u in chunk])
                if svc:
                    s.execute(insert(PushSubscription), [
                        {"id": uuid.uuid4(), "user_id": u, "endpoint": f"{svc.origin}/f/{u.hex}",
                         "endpoint_hash": endpoint_hash(f"{svc.origin}/f/{u.hex}"), "p256dh": p256dh, "auth": auth,
                         "created_at": now} for u in chunk])
        print(f"setup: {n} followers in {time.perf_counter() - t0:.1f}s", file=sys.stderr)

        if not args.distributed and not p.started:
            p.run_worker = True
            p.start()
        t0 = time.perf_counter()
        with p.session() as s:
            p.emit(s, "content.published", actor_id=artist.id, artist_id=artist.artist_id,
                   subject=("content", uuid.uuid4()), data={"kind": "track", "publish_at": now.isoformat()})
        inbox_s = push_s = None
        while inbox_s is None or (svc and push_s is None):
            with p.session() as s:
                have = s.scalar(select(func.count()).select_from(Delivery).where(
                    Delivery.kind == "streaming.new_release", Delivery.channel == "inbox"))
            if inbox_s is None and have >= n:
                inbox_s = time.perf_counter() - t0
            if svc and push_s is None:
                with svc.cond:
                    pushed = sum(1 for k in svc.arrived if k.startswith("/f/"))
                if pushed >= n:
                    push_s = max(svc.arrived.values()) - t0
            if any(w.poll() is not None for w in procs):
                raise SystemExit(f"error: a worker process exited; see {work}/worker*.log")
            if time.perf_counter() - t0 > 1800:
                raise SystemExit(f"error: timed out (inbox rows {have}/{n})")
            time.sleep(0.05)
        if not args.distributed:
            p.jobs.wait_idle(600)

        t0 = time.perf_counter()
        for i in range(0, n, 1000):
            with p.session() as s:
                s.execute(insert(Delivery), [
                    {"id": uuid.uuid4(), "kind": "bench.reference", "object_key": "content:ref", "recipient_id": u,
                     "channel": "inbox", "artist_id": artist.artist_id, "title": "New release from Bench",
                     "body": "Listen now.", "url": "/content/ref", "data": {}, "status": "sent", "attempts": 0,
                     "created_at": now, "sent_at": now} for u in ids[i:i + 1000]])
        bare_s = time.perf_counter() - t0
        db = "postgresql" if p.db.engine.dialect.name == "postgresql" else "sqlite"
        mode = f"distributed, {len(procs)} worker processes" if args.distributed else "embedded"
        print(f"notify fan-out to {n} followers ({db}, {mode}): inbox rows {inbox_s:.2f}s ({n / inbox_s:,.0f} rows/s); "
              f"reference bare insert loop {bare_s:.2f}s ({n / bare_s:,.0f} rows/s); ratio {inbox_s / bare_s:.2f}x")
        if svc:
            from py_vapid import Vapid
            from pywebpush import webpush

            vapid = Vapid()
            vapid.generate_keys()
            payload = '{"id": "%s", "kind": "streaming.new_release", "title": "New release from Bench", ' \
                      '"body": "Listen now.", "url": "http://localhost/content/ref"}' % uuid.uuid4()
            t0 = time.perf_counter()
            for u in ids:
                webpush({"endpoint": f"{svc.origin}/ref/{u.hex}", "keys": {"p256dh": p256dh, "auth": auth}},
                        data=payload, vapid_private_key=vapid, vapid_claims={"sub": "mailto:ops@example.org"},
                        content_encoding="aes128gcm", ttl=86400)
            ref_s = time.perf_counter() - t0
            print(f"push fan-out to {n} devices ({db}, {mode}): all pushes at the push service {push_s:.2f}s "
                  f"({n / push_s:,.0f}/s); reference bare pywebpush loop {ref_s:.2f}s ({n / ref_s:,.0f}/s); "
                  f"ratio {push_s / ref_s:.2f}x")
    finally:
        for w in procs:
            w.send_signal(signal.SIGTERM)
        for w in procs:
            try:
                w.wait(15)
            except subprocess.TimeoutExpired:
                w.kill()
                w.wait()
        if svc:
            svc.close()
        p.close()


if __name__ == "__main__":
    main()
