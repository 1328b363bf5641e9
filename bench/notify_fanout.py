#!/usr/bin/env python3
"""Benchmark: fan-out of one release to N followers (default 100,000) through the notify plugin.

In one process (embedded broker and worker, the database of ``MC_DATABASE_URL``, default a
throwaway SQLite file): an artist with N followers (inserted in bulk), then one
``content.published`` event of a track. Measured: the time from the event until every delivery
row exists (``notify_deliveries``: one inbox row per follower; the fan-out resolves the
followers, renders the template once and inserts in batched ``notify.batch`` jobs of 1,000 with
``INSERT ... ON CONFLICT DO NOTHING``). Push and email are left out (``CHANNELS`` holds only the
inbox here), so the figure is the pipeline's own cost.

Reference, same run: a bare loop inserting the same N rows (executemany in chunks of 1,000, one
transaction per chunk, no preferences, no idempotency key check beyond the table's).

Second measurement (``--latency-events``, default 50; 0 skips it): p50/p95 from a domain event
to push delivery on a quiet system. For each of N fans, one at a time: a push subscription against
a push service on loopback (a small HTTP server that records when each message arrives), then one
``artist.replied`` event for that fan (kind ``fanclub.dm_reply``, channels inbox and push); timed
from the event's commit until the push service has the message. Reference, same run: a bare
``pywebpush.webpush`` send (VAPID signing and aes128gcm encryption included) to the same service.

Usage: python bench/notify_fanout.py [--followers 100000] [--workers 2] [--latency-events 50]
  (``--followers 0`` skips the fan-out measurement)
"""
from __future__ import annotations

import argparse
import base64
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class PushService:
    """A push service on loopback: records when each message arrives, per path; answers 201."""

    def __init__(self):
        self.arrived: dict[str, float] = {}
        self.cond = threading.Condition()
        svc = self

        class Handler(BaseHTTPRequestHandler):
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

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--followers", type=int, default=100_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--latency-events", type=int, default=50)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="mc-notify-bench-")
    os.environ.setdefault("MC_DATA_DIR", tmp)
    os.environ.setdefault("MC_DATABASE_URL", f"sqlite:///{tmp}/bench.db")
    os.environ.pop("MC_REDIS_URL", None)
    os.environ.setdefault("MC_ARGON2_TIME_COST", "1")
    os.environ.setdefault("MC_ARGON2_MEMORY_COST", "1024")

    from sqlalchemy import func, insert, select

    from musicconnect import migrate
    from musicconnect.models import User
    from musicconnect.platform import Platform
    from musicconnect.plugins import installed_entry_points
    from musicconnect.settings import Settings
    from musicconnect.testing import make_user
    from musicconnect_fanclub.models import Follow
    from musicconnect_notify import channels
    from musicconnect_notify.models import Delivery

    channels.CHANNELS.pop("email", None)  # push stays for the latency run; the fan-out bench keeps inbox only
    p = Platform(Settings(worker_threads=args.workers,
                          plugin_config={"notify": {"push_allow_http_loopback": True,
                                                    "vapid_subject": "mailto:ops@example.org"}}),
                 entry_points=[ep for ep in installed_entry_points() if ep.name in ("notify", "fanclub", "streaming")])
    migrate.upgrade(p)
    artist = make_user(p, "artist", artist_name="Bench")
    n = args.followers
    if args.latency_events > 0:
        p.run_worker = True
        p.start()
        latency(p, artist, args.latency_events)
    if n <= 0:
        p.close()
        return
    channels.CHANNELS.pop("push", None)
    t0 = time.perf_counter()
    now = p.clock.now()
    ids = [uuid.uuid4() for _ in range(n)]
    for i in range(0, n, 5000):
        chunk = ids[i:i + 5000]
        with p.session() as s:
            s.execute(insert(User), [{"id": u, "email": f"f{u.hex}@bench.invalid", "password_hash": "!",
                                      "display_name": "fan", "role": "fan", "is_active": True,
                                      "created_at": now, "updated_at": now} for u in chunk])
            s.execute(insert(Follow), [{"user_id": u, "artist_id": artist.artist_id, "created_at": now} for u in chunk])
    print(f"setup: {n} followers in {time.perf_counter() - t0:.1f}s", file=sys.stderr)

    if not p.run_worker:
        p.run_worker = True
        p.start()
    t0 = time.perf_counter()
    with p.session() as s:
        p.emit(s, "content.published", actor_id=artist.id, artist_id=artist.artist_id,
               subject=("content", uuid.uuid4()), data={"kind": "track", "publish_at": now.isoformat()})
    while True:
        with p.session() as s:
            have = s.scalar(select(func.count()).select_from(Delivery).where(Delivery.kind == "streaming.new_release"))
        if have >= n:
            break
        time.sleep(0.05)
    pipeline_s = time.perf_counter() - t0
    p.jobs.wait_idle(600)

    t0 = time.perf_counter()
    for i in range(0, n, 1000):
        with p.session() as s:
            s.execute(insert(Delivery), [
                {"id": uuid.uuid4(), "kind": "bench.reference", "object_key": "content:ref", "recipient_id": u,
                 "channel": "inbox", "artist_id": artist.artist_id, "title": "New release from Bench", "body": "Listen now.",
                 "url": "/content/ref", "data": {}, "status": "sent", "attempts": 0, "created_at": now, "sent_at": now}
                for u in ids[i:i + 1000]])
    bare_s = time.perf_counter() - t0
    db = "postgresql" if p.db.engine.dialect.name == "postgresql" else "sqlite"
    print(f"notify fan-out to {n} followers ({db}): pipeline {pipeline_s:.2f}s ({n / pipeline_s:,.0f} rows/s); "
          f"reference bare insert loop {bare_s:.2f}s ({n / bare_s:,.0f} rows/s); ratio {pipeline_s / bare_s:.2f}x")
    p.close()


if __name__ == "__main__":
    main()
