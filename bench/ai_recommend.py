"""Benchmark: AI recommendations (issue 16 targets).

1. **Serving.** ``--fans`` x ``--tracks`` (default 100,000 x 20,000) synthetic ALS factors
   (``--factors`` 32) with planted clusters; the fit's precompute (each fan's top
   ``recommend.CANDIDATES`` tracks by a batched dot product) is run and saved as a model through
   the production code path (``ai_models`` row + ``.npz`` in the core storage). ``--users`` real
   fans (signed in, mapped to model rows) call ``GET /api/v1/ai/recommendations?limit=20`` through
   the in-process ASGI client (``--reps`` each): p50 / p99 per request (target p99 < 20 ms). The
   tracks are real rows (the access check runs on each). Reference, same run: a bare numpy
   dot-product top-20 for one fan (``user @ item_factors.T`` + ``argpartition``). ``--new-tracks``
   (1,000) unheard uploads are real rows too, and each fan's best 10 of them (placed by content)
   are in the model, so the ``new`` slots are exercised. ``--profile FILE`` writes a cProfile of
   direct calls with a cold cache (what the p99 is made of).
   Then the same data through a **real server** (a uvicorn process, as ``musicconnect serve``
   runs it): each fan's requests in turn over a kept-alive connection (the first per fan cold),
   beside the framework's floor on the same client (``/healthz``, ``/api/v1/me``), and wrk at 64
   connections (``--no-server`` to leave it out). The target is read on the real server.
2. **Refit.** Synthetic listening of the same size (``--plays-per-fan`` 30, planted taste clusters,
   ``musicconnect_ai.synthetic``) through ``recommend.build``: ALS fit + candidates + neighbours,
   timed (``--skip-refit`` to leave it out).
3. **Fold-in.** A new fan's first 10 plays folded into the fitted ALS model with implicit's
   ``recalculate_user`` (the least-squares solve for one user against fixed item factors):
   mean time per fan.

Usage: python bench/ai_recommend.py [--fans 100000] [--tracks 20000] [--users 100] [--reps 5]
  [--factors 32] [--plays-per-fan 30] [--skip-refit]
SQLite in a temporary data directory (the request path reads only the candidates' rows by id).
"""
from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(q / 100 * len(values)) - 1))]


def real_server(args, users) -> dict:
    """The same data served by a real uvicorn process (as ``musicconnect serve`` runs it): each
    fan's requests in turn over one kept-alive connection, the first per fan with a cold cache;
    the framework's floor beside it (``/healthz`` and the authenticated ``/api/v1/me``, same
    client); then wrk at 64 connections for throughput."""
    import httpx

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _load import free_port, load, serve, wait_up

    port = free_port()
    env = {**{f"MC_RATE_LIMIT_{c}": "1000000000/minute" for c in ("ANONYMOUS", "FAN", "MEMBER", "ARTIST", "TOKEN")},
           "MC_LOG_LEVEL": "WARNING"}
    proc = serve("musicconnect.asgi:app", port, env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_up(base + "/healthz", timeout=60)
        url = base + "/api/v1/ai/recommendations?limit=20"
        reco: list[float] = []
        floor_me: list[float] = []
        floor_health: list[float] = []
        with httpx.Client(timeout=30) as c:
            assert c.get(url, headers=users[0].headers).status_code == 200      # loads the model file
            for _ in range(args.reps):
                for u in users:
                    t0 = time.perf_counter()
                    r = c.get(url, headers=u.headers)
                    reco.append((time.perf_counter() - t0) * 1000)
                    assert r.status_code == 200, r.text
                    t0 = time.perf_counter()
                    c.get(base + "/api/v1/me", headers=u.headers)
                    floor_me.append((time.perf_counter() - t0) * 1000)
                    t0 = time.perf_counter()
                    c.get(base + "/healthz")
                    floor_health.append((time.perf_counter() - t0) * 1000)
        n = len(users)
        rows = [("GET /api/v1/ai/recommendations, real server (uvicorn), every request", reco),
                ("of which each fan's first request (cold caches)", reco[:n]),
                ("of which the repeats", reco[n:] or reco[:n]),
                ("framework floor: GET /api/v1/me (authenticated fast route), same client", floor_me),
                ("framework floor: GET /healthz, same client", floor_health)]
        result = load(url, connections=64, seconds=8, headers=users[0].headers)
        return {"rows": rows, "wrk": result}
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fans", type=int, default=100_000)
    ap.add_argument("--tracks", type=int, default=20_000)
    ap.add_argument("--artists", type=int, default=2_000)
    ap.add_argument("--factors", type=int, default=32)
    ap.add_argument("--users", type=int, default=100)
    ap.add_argument("--new-tracks", type=int, default=1000, help="unheard uploads placed by content")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--plays-per-fan", type=float, default=30.0)
    ap.add_argument("--skip-refit", action="store_true")
    ap.add_argument("--no-server", action="store_true", help="skip the real-server (uvicorn + wrk) measurement")
    ap.add_argument("--profile", metavar="FILE", help="cProfile the measured requests into FILE (pstats)")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="mc-ai-bench-")
    os.environ.update({"MC_DATA_DIR": work, "MC_ARGON2_TIME_COST": "1", "MC_ARGON2_MEMORY_COST": "1024"})
    os.environ.pop("MC_DATABASE_URL", None)
    os.environ.pop("MC_REDIS_URL", None)
    run(args)


def run(args) -> None:
    import numpy as np
    from sqlalchemy import insert
    from starlette.testclient import TestClient

    from musicconnect import migrate
    from musicconnect.app import create_app
    from musicconnect.models import ContentItem
    from musicconnect.platform import Platform
    from musicconnect.settings import Settings
    from musicconnect.testing import make_user
    from musicconnect_ai import interactions, recommend, synthetic

    p = Platform(Settings(worker_threads=1))
    migrate.upgrade(p)
    rng = np.random.default_rng(16)
    n_f, n_t, k = args.fans, args.tracks, args.factors
    clusters = 20

    # ---- catalogue: artists and tracks as real rows
    t0 = time.perf_counter()
    artist_ids = [make_user(p, "artist", artist_name=f"Artist {i}").artist_id for i in range(args.artists)]
    track_artist = rng.integers(0, args.artists, n_t).astype(np.int32)
    track_ids = [uuid.uuid4() for _ in range(n_t)]
    when = p.clock.now() - timedelta(days=30)
    with p.session() as s:
        rows = [{"id": track_ids[j], "artist_id": artist_ids[track_artist[j]], "kind": "track", "title": f"Track {j}",
                 "status": "ready", "visibility": "public", "publish_at": when, "data": {}} for j in range(n_t)]
        for i in range(0, n_t, 5000):
            s.execute(insert(ContentItem), rows[i:i + 5000])
    # new uploads nobody has heard yet (placed by content at fit time: each fan keeps its best 10)
    n_new = args.new_tracks
    new_artist = rng.integers(0, args.artists, n_new).astype(np.int32)
    new_ids = [uuid.uuid4() for _ in range(n_new)]
    with p.session() as s:
        rows = [{"id": new_ids[j], "artist_id": artist_ids[new_artist[j]], "kind": "track", "title": f"New {j}",
                 "status": "ready", "visibility": "public", "publish_at": when + timedelta(days=29), "data": {}}
                for j in range(n_new)]
        for i in range(0, n_new, 5000):
            s.execute(insert(ContentItem), rows[i:i + 5000])
    users = [make_user(p, "fan") for _ in range(args.users)]
    print(f"catalogue: {args.artists:,} artists, {n_t:,} tracks, {args.users} signed-in fans in "
          f"{time.perf_counter() - t0:.0f}s", file=sys.stderr)

    # ---- 1. synthetic factors with clusters -> precomputed candidates (the fit's serving half)
    centres = rng.normal(size=(clusters, k)).astype(np.float32)
    item_f = (centres[(track_artist % clusters)] + 0.5 * rng.normal(size=(n_t, k))).astype(np.float32)
    user_f = (centres[rng.integers(0, clusters, n_f)] + 0.5 * rng.normal(size=(n_f, k))).astype(np.float32)
    C = recommend.CANDIDATES
    t0 = time.perf_counter()
    cand = np.empty((n_f, C), np.int32)
    cand_scores = np.empty((n_f, C), np.float32)
    for i in range(0, n_f, 2048):
        sc = user_f[i:i + 2048] @ item_f.T
        top = np.argpartition(-sc, C, axis=1)[:, :C]
        part = np.take_along_axis(sc, top, 1)
        order = np.argsort(-part, axis=1)
        cand[i:i + 2048] = np.take_along_axis(top, order, 1)
        cand_scores[i:i + 2048] = np.take_along_axis(part, order, 1)
    precompute_s = time.perf_counter() - t0
    from musicconnect_ai import content_features
    new_f = (centres[(new_artist % clusters)] + 0.5 * rng.normal(size=(n_new, k))).astype(np.float32)
    t0 = time.perf_counter()
    fan_new, fan_new_scores = content_features.top_new(user_f, new_f, np.ones(n_new, bool), recommend.NEW_PER_FAN)
    placement_s = time.perf_counter() - t0
    fans = [u.id for u in users] + [uuid.uuid4() for _ in range(n_f - len(users))]
    # artist neighbours / fans' top artists from a sparse sample of listening (what build() derives)
    sample = interactions.Matrix(fans, track_ids, [artist_ids[a] for a in track_artist], None)
    listeners = rng.zipf(1.5, n_t).clip(max=10_000).astype(np.float32)
    art_of = track_artist
    artist_tracks = np.full((args.artists, recommend.ARTIST_TRACKS), -1, np.int32)
    for a in range(args.artists):
        ts = np.flatnonzero(art_of == a)
        ts = ts[np.argsort(-listeners[ts])][:recommend.ARTIST_TRACKS]
        artist_tracks[a, :len(ts)] = ts
    neighbours = (np.arange(args.artists)[:, None] + clusters * np.arange(1, recommend.NEIGHBOURS + 1)[None, :]) % args.artists
    fan_top = art_of[cand[:, :recommend.TOP_ARTISTS]]
    arrays = {
        "fans": recommend._ids(sample.fans), "tracks": recommend._ids(track_ids), "artists": recommend._ids(artist_ids),
        "track_artist": art_of, "cand": cand, "cand_scores": cand_scores,
        "popular": np.argsort(-listeners)[:recommend.POPULAR].astype(np.int32), "listeners": listeners,
        "artist_tracks": artist_tracks, "neighbours": neighbours.astype(np.int32),
        "neighbour_sims": np.full(neighbours.shape, 0.5, np.float32), "fan_top": fan_top.astype(np.int32),
        "new_tracks": recommend._ids(new_ids), "artist_new": np.full((args.artists, recommend.NEW_TRACKS), -1, np.int32),
        "new_artist": new_artist, "new_like": np.full(n_new, -1, np.int32), "fan_new": fan_new,
        "fan_new_scores": fan_new_scores,
        "item_factors": item_f,
    }
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    mid = uuid.uuid4()
    key = f"ai/models/{mid}.npz"
    p.storage.put_bytes(key, buf.getvalue())
    with p.session() as s:
        s.add(recommend.RecoModel(id=mid, algorithm="als", status="ok", fitted_at=p.clock.now(), storage_key=key,
                                  n_fans=n_f, n_tracks=n_t, seconds=precompute_s, error=None, meta={"bench": True}))
    print(f"candidates precomputed for {n_f:,} fans x {n_t:,} tracks in {precompute_s:.1f}s, each fan's best "
          f"{recommend.NEW_PER_FAN} of {n_new:,} new tracks in {placement_s:.1f}s "
          f"(model file {len(buf.getvalue()) / 1e6:.0f} MB)", file=sys.stderr)

    app = create_app(p)
    lat: list[float] = []
    with TestClient(app) as client:
        t0 = time.perf_counter()
        r = client.get("/api/v1/ai/recommendations?limit=20", headers=users[0].headers)
        assert r.status_code == 200 and len(r.json()["tracks"]) == 20, r.text
        first = time.perf_counter() - t0
        profiler = None
        if args.profile:
            import cProfile
            profiler = cProfile.Profile()
            profiler.enable()
        cold: list[float] = []
        for rep in range(args.reps):
            for u in users:
                t0 = time.perf_counter()
                r = client.get("/api/v1/ai/recommendations?limit=20", headers=u.headers)
                lat.append((time.perf_counter() - t0) * 1000)
                if rep == 0:
                    cold.append(lat[-1])
                assert r.status_code == 200, r.text
        if profiler is not None:   # the app runs in the client's portal thread: profile direct calls instead
            profiler.disable()
            from musicconnect import Actor
            profiler = cProfile.Profile()
            for u in users:
                p.cache.clear()        # the cold path (what the p99 is made of)
                profiler.enable()
                recommend.recommend_tracks(p, Actor(u.id, "fan"), 20)
                profiler.disable()
            profiler.dump_stats(args.profile)
            profiler = cProfile.Profile()      # and the warm path, into FILE.warm
            t_direct = []
            for u in users:
                t0 = time.perf_counter()
                profiler.enable()
                recommend.recommend_tracks(p, Actor(u.id, "fan"), 20)
                profiler.disable()
                t_direct.append((time.perf_counter() - t0) * 1000)
            profiler.dump_stats(args.profile + ".warm")
            t_plain = []
            for u in users:
                t0 = time.perf_counter()
                recommend.recommend_tracks(p, Actor(u.id, "fan"), 20)
                t_plain.append((time.perf_counter() - t0) * 1000)
            print(f"direct call, warm caches, no HTTP: p50 {statistics.median(t_plain):.2f} ms, "
                  f"p99 {pct(t_plain, 99):.2f} ms", file=sys.stderr)
    served = real_server(args, users) if not args.no_server else None
    ref: list[float] = []
    for i in range(len(lat)):
        t0 = time.perf_counter()
        sc = item_f @ user_f[i % n_f]
        top = np.argpartition(-sc, 20)[:20]
        top[np.argsort(-sc[top])]
        ref.append((time.perf_counter() - t0) * 1000)
    print(f"\n## Recommendations per request ({n_f:,} fans x {n_t:,} tracks, {len(lat)} requests, limit=20)")
    print("| path | p50 ms | p99 ms |\n|---|---|---|")
    print(f"| GET /api/v1/ai/recommendations (in-process ASGI, access-checked) | {statistics.median(lat):.2f} | {pct(lat, 99):.2f} |")
    print(f"| of which each fan's first request (cold entitlement cache) | {statistics.median(cold):.2f} | {pct(cold, 99):.2f} |")
    warm = lat[len(cold):]
    if warm:
        print(f"| of which the repeats (warm caches) | {statistics.median(warm):.2f} | {pct(warm, 99):.2f} |")
    print(f"| bare numpy dot product + top-20 (one fan, no HTTP, no filtering) | {statistics.median(ref):.2f} | {pct(ref, 99):.2f} |")
    if served:
        for name, values in served["rows"]:
            print(f"| {name} | {statistics.median(values):.2f} | {pct(values, 99):.2f} |")
    print(f"first request (loads the model file): {first * 1000:.0f} ms")
    if served:
        print(f"real server at 64 connections (wrk, one fan, warm): {served['wrk'].rps:.0f} req/s, "
              f"p50 {served['wrk'].p50_ms:.1f} ms, p99 {served['wrk'].p99_ms:.1f} ms, errors {served['wrk'].errors}")
        key = served["rows"][0][1]
        print(f"target p99 < 20 ms per request (real server, each fan's requests, cold ones included): "
              f"{'met' if pct(key, 99) < 20 else 'NOT met'} ({pct(key, 99):.2f} ms)")

    # ---- 2. full refit on synthetic listening of the same size
    if not args.skip_refit:
        data = synthetic.generate(fans=n_f, tracks=n_t, artists=args.artists, clusters=clusters,
                                  plays_per_fan=args.plays_per_fan, seed=16)
        from scipy import sparse
        mat = sparse.csr_matrix((data.weight, (data.fan, data.track)), shape=(n_f, n_t), dtype=np.float32)
        mat.sum_duplicates()
        m = interactions.Matrix(fans, track_ids, [artist_ids[a] for a in data.track_artist], mat)
        features = {t: {"tags": list(data.track_tags[j]), "tempo_bpm": float(data.track_tempo[j]),
                        "loudness_lufs": float(data.track_loudness[j])} for j, t in enumerate(track_ids)}
        for j, t in enumerate(new_ids):
            src = int(rng.integers(0, n_t))
            features[t] = features[track_ids[src]]
        t0 = time.perf_counter()
        arrays2, used = recommend.build(m, [(t, artist_ids[new_artist[j]]) for j, t in enumerate(new_ids)],
                                        features=features)
        refit_s = time.perf_counter() - t0
        print(f"\n## Full refit: {used}, {mat.nnz:,} (fan, track) pairs, {n_f:,} x {n_t:,}: {refit_s:.1f}s "
              f"(ALS {recommend.CANDIDATES} candidates per fan, neighbours, popularity, {n_new:,} new tracks placed by "
              f"content, {int((arrays2['fan_new'][:, 0] >= 0).sum()):,} fans with new tracks)")
        item_factors = arrays2["item_factors"]
    else:
        item_factors = item_f

    # ---- 3. fold-in of a new fan's first plays
    from implicit.cpu.als import AlternatingLeastSquares
    from scipy import sparse
    model = AlternatingLeastSquares(factors=item_factors.shape[1], regularization=5.0, num_threads=1)
    model.item_factors = item_factors
    model.user_factors = np.zeros((1, item_factors.shape[1]), np.float32)
    times = []
    for i in range(50):
        played = rng.choice(n_t, 10, replace=False)
        row = sparse.csr_matrix((np.log1p(np.full(10, 2.0, np.float32)), (np.zeros(10, int), played)), shape=(1, n_t))
        t0 = time.perf_counter()
        model.recommend(0, row, N=recommend.CANDIDATES, recalculate_user=True)
        times.append((time.perf_counter() - t0) * 1000)
    print(f"\n## Fold-in of a new fan (10 plays, recalculate_user + top {recommend.CANDIDATES}): "
          f"median {statistics.median(times):.2f} ms, p99 {pct(times, 99):.2f} ms")


if __name__ == "__main__":
    main()
