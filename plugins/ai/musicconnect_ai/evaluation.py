"""Offline evaluation of the recommendations (owner: reco).

A time split of a listening log: everything before the split trains, the tracks each fan first
plays after it (and never before) are the truth. Every method ranks the catalogue for each fan
(tracks already played excluded) and is scored by recall@k (hits / min(k, truth)) and NDCG@k
(binary gains) beside two baselines, the most popular tracks and a random order. The model is
the production code path (:func:`musicconnect_ai.recommend.train` / ``top_candidates``).
"""
from __future__ import annotations

import time

import numpy as np
from scipy import sparse

from . import recommend
from .synthetic import Listening, generate


def recall_at_k(ranked: np.ndarray, truth: set, k: int = 10) -> float:
    if not truth:
        return 0.0
    hits = sum(1 for t in ranked[:k] if t in truth)
    return hits / min(k, len(truth))


def ndcg_at_k(ranked: np.ndarray, truth: set, k: int = 10) -> float:
    if not truth:
        return 0.0
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = sum(discounts[i] for i, t in enumerate(ranked[:k]) if t in truth)
    idcg = discounts[:min(k, len(truth))].sum()
    return float(dcg / idcg)


def split(data: Listening, quantile: float = 0.8):
    """(train matrix fans x tracks, {fan: truth set}) of a time split at ``quantile`` of the days."""
    cut = float(np.quantile(data.day, quantile)) if len(data.day) else 0.0
    before = data.day < cut
    train = sparse.csr_matrix((data.weight[before], (data.fan[before], data.track[before])),
                              shape=(data.n_fans, data.n_tracks), dtype=np.float32)
    train.sum_duplicates()
    truth: dict[int, set] = {}
    for f, t in zip(data.fan[~before], data.track[~before]):
        if train[f, t] == 0:
            truth.setdefault(int(f), set()).add(int(t))
    return train, truth


def _score(rankings: dict[int, np.ndarray], truth: dict[int, set], k: int) -> tuple[float, float]:
    fans = [f for f in truth if f in rankings]
    if not fans:
        return 0.0, 0.0
    return (float(np.mean([recall_at_k(rankings[f], truth[f], k) for f in fans])),
            float(np.mean([ndcg_at_k(rankings[f], truth[f], k) for f in fans])))


def evaluate(data: Listening | None = None, *, k: int = 10, quantile: float = 0.8, seed: int = 0,
             threads: int = 0, factors: int = 32, iterations: int = 15) -> list[dict]:
    """The table: one row per method (``als``, ``itemitem``, ``popularity``, ``random``)."""
    data = data if data is not None else generate(seed=seed)
    train, truth = split(data, quantile)
    active = np.flatnonzero(np.diff(train.indptr) > 0)
    truth = {f: t for f, t in truth.items() if train.indptr[f + 1] > train.indptr[f]}
    conf = recommend.confidence(train)
    rows = []
    for name in ("als", "itemitem"):
        t0 = time.perf_counter()
        model = recommend.train(conf, algorithm=name, factors=factors, iterations=iterations, seed=seed, threads=threads)
        ids, _ = recommend.top_candidates(model, conf, k)
        secs = time.perf_counter() - t0
        recall, ndcg = _score({int(f): ids[f] for f in active}, truth, k)
        rows.append({"method": name, f"recall@{k}": recall, f"ndcg@{k}": ndcg, "fans": len(truth), "seconds": secs})
    listeners = np.asarray((train > 0).sum(axis=0)).ravel()
    order = np.argsort(-listeners, kind="stable")
    rng = np.random.default_rng(seed)
    pop, rnd = {}, {}
    for f in truth:
        seen = set(train.indices[train.indptr[f]:train.indptr[f + 1]].tolist())
        pop[f] = np.asarray([t for t in order[:k + len(seen)] if t not in seen][:k])
        perm = rng.permutation(data.n_tracks)
        rnd[f] = np.asarray([t for t in perm[:k + len(seen)] if t not in seen][:k])
    for name, ranking in (("popularity", pop), ("random", rnd)):
        recall, ndcg = _score(ranking, truth, k)
        rows.append({"method": name, f"recall@{k}": recall, f"ndcg@{k}": ndcg, "fans": len(truth), "seconds": 0.0})
    return rows


def table(rows: list[dict], k: int = 10) -> str:
    lines = [f"| method | recall@{k} | NDCG@{k} | fans | seconds |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['method']} | {r[f'recall@{k}']:.3f} | {r[f'ndcg@{k}']:.3f} | {r['fans']} | {r['seconds']:.2f} |")
    return "\n".join(lines)
