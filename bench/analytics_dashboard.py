#!/usr/bin/env python3
"""Benchmark: the analytics dashboard over millions of events (issue 15 targets).

1. **Data.** A throwaway PostgreSQL cluster (``bench/_services.py``; or ``--database-url``), every
   installed plugin migrated, one artist with ``--fans`` fans (default 100,000) written by the
   analytics plugin's synthetic generator (``musicconnect_analytics.synthetic``: follows,
   subscriptions with churn, payments, plays with a rhythm, posts engagement, shares) over
   ``--weeks`` weeks, with ``--plays-per-week`` tuned so that the artist has about
   ``--events`` domain events (default 10,000,000). Then ``rollups.rebuild`` (timed: events/s)
   and the model fits (LTV, churn, release time, viral; timed).
2. **Dashboard reads.** Every analytics metric through the HTTP API (in-process ASGI, the
   artist's token: ``GET /api/v1/analytics/artists/{id}/metrics/{metric}``), ``--reps`` times
   each after a first read (printed too: figures of past days are computed once per process and
   day, then kept until a late event changes them): p50 / p95 per metric. Target: every p95 < 200 ms.
   Reference, same run: the same figures as one SQL query over the raw ``domain_events`` (plays
   in 30 days, active audience in 28 days, listener segments, followers over time, revenue in
   30 days) — what a dashboard without rollups would run.
3. **Ingest.** ``--ingest`` events (default 100,000: plays, follows, payments in the mix of the
   generator) handed to the plugin's ``on_event`` as they would arrive after their commits, then
   flushed: events/s (target >= 5,000/s). Reference: the core's own sink writing the same events
   (a bare executemany insert into ``domain_events``).

Usage: python bench/analytics_dashboard.py [--events 10000000] [--fans 100000] [--weeks 26]
  [--reps 20] [--ingest 100000] [--database-url URL]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import nullcontext
from datetime import timedelta
from pathlib import Path

from _services import services


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(q / 100 * len(values)) - 1))]


#: the reference: each figure as one SQL query over raw events (PostgreSQL)
RAW = {
    "plays in 30 days": """select count(*) from domain_events where artist_id = :a and type = 'play.counted'
                           and occurred_at > :now - interval '30 days'""",
    "active audience (28 days)": """select count(distinct actor_id) from domain_events where artist_id = :a
                           and type = 'play.counted' and actor_id is not null
                           and occurred_at > :now - interval '28 days'""",
    "listener segments": """select sum(case when d >= 10 then 1 else 0 end), sum(case when d between 3 and 9
                           then 1 else 0 end), sum(case when d between 1 and 2 then 1 else 0 end) from (
                           select actor_id, count(distinct date(occurred_at)) d from domain_events
                           where artist_id = :a and type = 'play.counted' and actor_id is not null
                           and occurred_at > :now - interval '28 days' group by actor_id) x""",
    "followers over time": """select day, sum(n) over (order by day) from (select date(occurred_at) as day,
                           sum(case when type = 'fan.followed' then 1 else -1 end) n from domain_events
                           where artist_id = :a and type in ('fan.followed', 'fan.unfollowed')
                           group by 1) x order by day""",
    "revenue in 30 days": """select coalesce(sum((data->>'amount')::bigint), 0) from domain_events
                           where artist_id = :a and type = 'payment.succeeded'
                           and occurred_at > :now - interval '30 days'""",
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--fans", type=int, default=100_000)
    ap.add_argument("--weeks", type=int, default=26)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--ingest", type=int, default=100_000)
    ap.add_argument("--database-url", default=None, help="an existing PostgreSQL database (else a throwaway one)")
    args = ap.parse_args()
    ctx = nullcontext((args.database_url, None, Path(tempfile.mkdtemp(prefix="mc-analytics-bench-")))) \
        if args.database_url else services("mc-analytics-bench-")
    with ctx as (db_url, _redis, work):
        os.environ.update({"MC_DATABASE_URL": db_url, "MC_DATA_DIR": str(work)})
        os.environ.pop("MC_REDIS_URL", None)
        run(args)


def run(args) -> None:
    os.environ.setdefault("MC_ARGON2_TIME_COST", "1")
    os.environ.setdefault("MC_ARGON2_MEMORY_COST", "1024")
    import httpx
    from sqlalchemy import func, insert, select, text

    from musicconnect import Event
    from musicconnect.app import create_app
    from musicconnect.models import DomainEvent
    from musicconnect.platform import Platform
    from musicconnect.settings import Settings
    from musicconnect.testing import make_user
    from musicconnect import migrate
    from musicconnect_analytics import plugin as analytics, rollups, synthetic

    p = Platform(Settings(worker_threads=1))
    migrate.upgrade(p)
    print(f"database: {p.db.engine.dialect.name} ({p.db.engine.url.render_as_string(hide_password=True)})",
          file=sys.stderr)
    artist = make_user(p, "artist", artist_name="Bench Artist")
    a = artist.artist_id

    # 1. data: calibrate plays per week on a small population, then the real one
    probe = make_user(p, "artist", artist_name="Probe").artist_id
    small = 500
    t = synthetic.generate(p, probe, fans=small, weeks=args.weeks, seed=1, plays_per_week=1.0)
    with p.read() as s:
        plays = s.scalar(select(func.count()).select_from(DomainEvent).where(
            DomainEvent.artist_id == probe, DomainEvent.type.like("play.%")))
    per_fan_play = plays / small  # per fan per unit of plays_per_week
    per_fan_other = (t["events"] - plays) / small
    ppw = max(0.1, (args.events / args.fans - per_fan_other) / per_fan_play)
    print(f"calibrated: {per_fan_play:.1f} play events and {per_fan_other:.1f} other events per fan "
          f"at 1 play/week -> plays_per_week {ppw:.2f}", file=sys.stderr)
    t0 = time.perf_counter()
    truths = synthetic.generate(p, a, fans=args.fans, weeks=args.weeks, seed=15, plays_per_week=ppw)
    gen_s = time.perf_counter() - t0
    with p.read() as s:
        n_events = s.scalar(select(func.count()).select_from(DomainEvent).where(DomainEvent.artist_id == a))
        total = s.scalar(select(func.count()).select_from(DomainEvent))
    print(f"generated: {n_events:,} events of the artist ({total:,} in the table), {args.fans:,} fans, in "
          f"{gen_s:.0f}s", file=sys.stderr)
    with p.db.engine.begin() as c:
        c.execute(text("analyze"))
    t0 = time.perf_counter()
    rollups.rebuild(p, a)
    rebuild_s = time.perf_counter() - t0
    print(f"rebuild: {rebuild_s:.1f}s ({n_events / rebuild_s:,.0f} events/s)", file=sys.stderr)
    fits = {}
    for name in ("ltv", "churn", "release_time", "viral"):
        mod = __import__(f"musicconnect_analytics.{name}", fromlist=["x"])
        fit = getattr(mod, f"fit_{name}", None)
        if fit is None:
            continue
        t0 = time.perf_counter()
        fit(p, a)
        fits[name] = time.perf_counter() - t0
    print("model fits: " + ", ".join(f"{k} {v:.1f}s" for k, v in fits.items()), file=sys.stderr)

    # 2. dashboard reads through the HTTP API
    app = create_app(p)
    metrics = [m.id for m in analytics.register_metrics(p)]
    cold: dict[str, float] = {}

    async def reads() -> dict[str, list[float]]:
        out: dict[str, list[float]] = {}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for mid in metrics:
                url = f"/api/v1/analytics/artists/{a}/metrics/{mid}"
                t0 = time.perf_counter()
                r = await client.get(url, headers=artist.headers)
                cold[mid] = (time.perf_counter() - t0) * 1000
                if r.status_code != 200:
                    raise SystemExit(f"error: {url} answered {r.status_code}: {r.text[:300]}")
                times = []
                for _ in range(args.reps):
                    t0 = time.perf_counter()
                    r = await client.get(url, headers=artist.headers)
                    times.append((time.perf_counter() - t0) * 1000)
                    assert r.status_code == 200, r.text
                out[mid] = times
        return out

    p.start(worker=False)
    artist.renew(p)  # generating and fitting outlast an access token
    got = asyncio.run(reads())
    worst = max(pct(v, 95) for v in got.values())
    print(f"\ndashboard metrics of an artist with {args.fans:,} fans and {n_events:,} events "
          f"({p.db.engine.dialect.name}), {args.reps} reads each:")
    for mid, times in got.items():
        print(f"  {mid:32s} first {cold[mid]:8.1f} ms   p50 {statistics.median(times):7.1f} ms   "
              f"p95 {pct(times, 95):7.1f} ms")
    print(f"  slowest p95: {worst:.1f} ms (target < 200 ms): {'PASS' if worst < 200 else 'FAIL'}")
    if p.db.engine.dialect.name == "postgresql":
        print("reference, same figures as one SQL query over raw events (p50 of 3):")
        now = p.clock.now()
        for name, sql in RAW.items():
            times = []
            for _ in range(3):
                t0 = time.perf_counter()
                with p.db.engine.connect() as c:
                    c.execute(text(sql), {"a": a, "now": now}).all()
                times.append((time.perf_counter() - t0) * 1000)
            print(f"  {name:28s} {statistics.median(times):9.1f} ms")

    # 3. ingest: events as they arrive after their commits -> the plugin's on_event -> flush
    n = args.ingest
    now = p.clock.now()
    fans = [uuid.UUID(str(f)) for f in list(truths.get("churn_labels") or {})[:5000]] or \
        [uuid.uuid4() for _ in range(5000)]
    tracks = [uuid.UUID(str(x)) for x in truths.get("tracks") or []] or [uuid.uuid4()]
    events = []
    for i in range(n):
        kind = i % 20
        type_ = "fan.followed" if kind == 0 else "play.started" if kind < 8 else "play.counted" if kind < 15 \
            else "play.completed"
        subject = ("artist", a) if kind == 0 else ("content", tracks[i % len(tracks)])
        events.append(Event(id=uuid.uuid4(), type=type_, occurred_at=now - timedelta(seconds=n - i),
                            actor_id=fans[i % len(fans)], artist_id=a, subject_type=subject[0],
                            subject_id=str(subject[1]), data={}))
    t0 = time.perf_counter()
    for ev in events:
        analytics.on_event(p, ev)
    rollups.flush(p)
    ingest_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    rows = [{"id": uuid.uuid4(), "type": ev.type, "occurred_at": ev.occurred_at, "actor_id": ev.actor_id,
             "artist_id": ev.artist_id, "subject_type": ev.subject_type, "subject_id": ev.subject_id, "data": {}}
            for ev in events]
    for i in range(0, n, 5000):
        with p.session() as s:
            s.execute(insert(DomainEvent), rows[i:i + 5000])
    sink_s = time.perf_counter() - t0
    print(f"\ningest: {n:,} events through the analytics plugin's on_event + flush: {ingest_s:.2f}s "
          f"({n / ingest_s:,.0f} events/s; target >= 5,000/s: {'PASS' if n / ingest_s >= 5000 else 'FAIL'}); "
          f"reference: the core's sink inserting the same events {sink_s:.2f}s ({n / sink_s:,.0f} events/s); "
          f"ratio {ingest_s / sink_s:.2f}x")
    p.close()


if __name__ == "__main__":
    main()
