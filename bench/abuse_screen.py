"""The cost of abuse screening on the play path: ``platform.screen_activity("play.counted", ...)``
with the moderation plugin (its rules' sliding windows, in memory or in Redis with MC_REDIS_URL)
against the same call on a platform without it, in the same run.

    python bench/abuse_screen.py [--n 20000]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from pathlib import Path


def platform_with(plugins: list[str], base: Path):
    from importlib import metadata

    from musicconnect import migrate
    from musicconnect.plugins import ENTRY_POINT_GROUP
    from musicconnect.platform import Platform
    from musicconnect.settings import Settings

    base.mkdir(parents=True, exist_ok=True)
    from musicconnect.clock import FrozenClock

    p = Platform(Settings(data_dir=base, database_url=f"sqlite:///{base}/db.sqlite",
                          redis_url=os.environ.get("MC_REDIS_URL"), argon2_time_cost=1, argon2_memory_cost=1024),
                 clock=FrozenClock(),
                 entry_points=[ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name in plugins])
    migrate.upgrade(p)
    return p


def run(platform, n: int) -> float:
    users = [uuid.uuid4() for _ in range(200)]  # many listeners, no rule fires:
    artist, content = uuid.uuid4(), uuid.uuid4()
    sessions = [uuid.uuid4() for _ in range(n)]
    step = 31.0 / len(users)  # each listener counts one 31 s play every 31 s of the (frozen) platform clock
    start = time.perf_counter()
    for i in range(n):
        platform.clock.advance(seconds=step)
        platform.screen_activity("play.counted", users[i % len(users)], address=f"10.0.{i % 250}.{i % 199}",
                                 artist_id=artist, content_id=content, seconds=31.0, elapsed=31.0,
                                 session_id=sessions[i])
    return (time.perf_counter() - start) / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=5, help="alternate rounds; the best of each is reported")
    args = ap.parse_args()
    n = args.n
    with tempfile.TemporaryDirectory() as tmp:
        bare = platform_with(["streaming"], Path(tmp) / "bare")
        screened = platform_with(["streaming", "moderation"], Path(tmp) / "screened")
        try:
            without, with_ = float("inf"), float("inf")
            for _ in range(args.rounds):  # a shared machine is noisy: the best round of each
                without, with_ = min(without, run(bare, n)), min(with_, run(screened, n))
        finally:
            bare.close(), screened.close()
    print(f"screen_activity per play: without the plugin {without:.1f} us, with the abuse rules {with_:.1f} us "
          f"(+{with_ - without:.1f} us; "
          f"{'redis' if os.environ.get('MC_REDIS_URL') else 'memory'}, best of {args.rounds} rounds of {n} plays)")


if __name__ == "__main__":
    main()
