"""Fingerprint match index at scale: lookup time over 100K tracks.

100,000 synthetic Chromaprint-like fingerprints (about 3 minutes each: ~1,400 32-bit values,
each value held for 1-3 frames as real ones are) go into the moderation plugin's
:class:`MatchIndex`. Queries are stored tracks cut at a random point (a trimmed copy) with 10 %
of their bits flipped (what a re-encode and a volume change do), and tracks never stored. Each
lookup is what an upload's screening does: the index's candidates, then the exact bit-error score
at the voted offsets. The same run times a brute-force numpy scan of the same data (one XOR +
popcount of the query against every stored fingerprint at a single alignment: a lower bound of
what a scan costs, which would also have to try every offset) and prints the ratio.

    .venv/bin/python bench/fingerprint_lookup.py [--tracks 100000] [--queries 200]
"""
from __future__ import annotations

import argparse
import time
import uuid

import numpy as np

from musicconnect_moderation import fingerprint as fpm


def synthetic(rng: np.random.Generator, n: int, length: int) -> np.ndarray:
    """``n`` fingerprints of ``length`` values; each value is held for 1-3 frames."""
    out = np.empty((n, length), dtype=np.uint32)
    for start in range(0, n, 10_000):
        rows = min(10_000, n - start)
        values = rng.integers(0, 2**32, size=(rows, length), dtype=np.uint32)
        hold = rng.integers(0, 3, size=(rows, length)) == 0  # repeat the previous value a third of the time
        idx = np.where(hold, 0, np.arange(length))
        np.maximum.accumulate(idx, axis=1, out=idx)
        out[start:start + rows] = np.take_along_axis(values, idx, axis=1)
    return out


def flip_bits(rng: np.random.Generator, fp: np.ndarray, rate: float) -> np.ndarray:
    bits = rng.random((len(fp), 32)) < rate
    mask = (bits * (1 << np.arange(32, dtype=np.uint64))).sum(axis=1).astype(np.uint32)
    return fp ^ mask


def pct(samples: list[float], q: float) -> float:
    return float(np.percentile(np.array(samples) * 1000, q))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tracks", type=int, default=100_000)
    ap.add_argument("--length", type=int, default=1_400, help="values per fingerprint (~3 min)")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--ber", type=float, default=0.10, help="bit errors of a transformed copy")
    args = ap.parse_args()
    rng = np.random.default_rng(18)

    t0 = time.perf_counter()
    data = synthetic(rng, args.tracks, args.length)
    ids = [uuid.UUID(int=i + 1) for i in range(args.tracks)]
    artists = [uuid.UUID(int=(i % 5000) + 1) for i in range(args.tracks)]
    print(f"generated {args.tracks:,} fingerprints x {args.length} values ({data.nbytes / 2**20:.0f} MiB) "
          f"in {time.perf_counter() - t0:.1f}s")

    t0 = time.perf_counter()
    index = fpm.MatchIndex()
    index.add((ids[i], artists[i], fpm.index_keys(data[i])) for i in range(args.tracks))
    postings = len(index.main[0]) + len(index.tail[0])
    print(f"index built in {time.perf_counter() - t0:.1f}s: {postings:,} postings "
          f"({(index.main[0].nbytes + index.main[1].nbytes + index.main[2].nbytes) / 2**20:.0f} MiB)")

    queries = []
    for q in range(args.queries):
        if q % 4 == 3:  # a track nobody stored
            queries.append((None, synthetic(rng, 1, args.length)[0]))
            continue
        i = int(rng.integers(args.tracks))
        cut = int(rng.integers(0, args.length // 4))
        queries.append((i, flip_bits(rng, data[i][cut:], args.ber)))

    min_overlap = int(10 * fpm.RATE)
    timings, found, false = [], 0, 0
    for want, fp in queries:
        t0 = time.perf_counter()
        cands = index.candidates(fp)
        best = None
        for cand in cands:
            score, off = fpm.best_alignment(fp, data[cand.content_id.int - 1], cand.offsets, min_overlap)
            if best is None or score > best[0]:
                best = (score, cand.content_id.int - 1)
        timings.append(time.perf_counter() - t0)
        hit = best is not None and best[0] >= 0.75
        if want is not None and hit and best[1] == want:
            found += 1
        elif want is None and hit:
            false += 1
    stored = sum(1 for w, _ in queries if w is not None)

    brute = []
    for _, fp in queries[: max(5, args.queries // 10)]:
        n = min(len(fp), args.length)
        t0 = time.perf_counter()
        errors = np.bitwise_count(np.bitwise_xor(data[:, :n], fp[:n])).sum(axis=1, dtype=np.int64)
        int(np.argmin(errors))
        brute.append(time.perf_counter() - t0)

    p50, p99 = pct(timings, 50), pct(timings, 99)
    b50, b99 = pct(brute, 50), pct(brute, 99)
    print(f"index lookup:  p50 {p50:.2f} ms  p99 {p99:.2f} ms  ({args.queries} queries)")
    print(f"brute force:   p50 {b50:.1f} ms  p99 {b99:.1f} ms  (one alignment only, {len(brute)} queries)")
    print(f"ratio (brute / index, p50): {b50 / p50:.0f}x")
    print(f"found {found}/{stored} trimmed copies with {args.ber:.0%} bit errors; "
          f"{false}/{len(queries) - stored} unknown tracks matched something")


if __name__ == "__main__":
    main()
