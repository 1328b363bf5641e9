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

Usage: python bench/notify_fanout.py [--followers 100000] [--workers 2]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--followers", type=int, default=100_000)
    ap.add_argument("--workers", type=int, default=2)
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

    for other in ("push", "email"):
        channels.CHANNELS.pop(other, None)
    p = Platform(Settings(worker_threads=args.workers),
                 entry_points=[ep for ep in installed_entry_points() if ep.name in ("notify", "fanclub", "streaming")])
    migrate.upgrade(p)
    artist = make_user(p, "artist", artist_name="Bench")
    n = args.followers
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
