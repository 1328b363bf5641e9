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

from . import content_features, recommend
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


def evaluate_new(data: Listening | None = None, *, k: int = 10, quantile: float = 0.8, new_share: float = 0.1,
                 new_artist_share: float = 0.1, seed: int = 0, threads: int = 0, factors: int = 32,
                 iterations: int = 15) -> list[dict]:
    """Cold start of new tracks: ``new_share`` of the tracks and every track of ``new_artist_share``
    of the artists have no play before the split (uploads nobody has heard yet). ALS is fitted on
    the rest (production ``recommend.train``), each new track is placed in its taste space
    (production :func:`content_features.place`) and every fan's new tracks are ranked by
    ``fan . factors``; the truth is the new tracks each fan plays after the split. Rows: placement
    by content and artist (``content``), by the artist's audience only, the features withheld
    (``artist-only``), and a random order; each also on the new artists' tracks alone."""
    data = data if data is not None else generate(seed=seed)
    rng = np.random.default_rng(seed + 1)
    n_art = int(data.track_artist.max()) + 1 if data.n_tracks else 0
    new_artists = rng.random(n_art) < new_artist_share
    is_new = (rng.random(data.n_tracks) < new_share) | new_artists[data.track_artist]
    cut = float(np.quantile(data.day, quantile)) if len(data.day) else 0.0
    before = (data.day < cut) & ~is_new[data.track]
    train = sparse.csr_matrix((data.weight[before], (data.fan[before], data.track[before])),
                              shape=(data.n_fans, data.n_tracks), dtype=np.float32)
    train.sum_duplicates()
    heard_idx = np.flatnonzero(~is_new)
    new_idx = np.flatnonzero(is_new)
    conf = recommend.confidence(train[:, heard_idx].tocsr())
    model = recommend.train(conf, factors=factors, iterations=iterations, seed=seed, threads=threads)
    to_artist = sparse.csr_matrix((np.ones(len(heard_idx), np.float32), (np.arange(len(heard_idx)),
                                   data.track_artist[heard_idx])), shape=(len(heard_idx), n_art))
    artist_sim = recommend.artist_similarity((conf @ to_artist).tocsr())

    def feats(idx, withheld=False):
        if withheld:
            return content_features.Features([()] * len(idx), np.full(len(idx), np.nan, np.float32),
                                             np.full(len(idx), np.nan, np.float32))
        return content_features.Features([data.track_tags[i] for i in idx], data.track_tempo[idx],
                                         data.track_loudness[idx])

    after = (data.day >= cut) & is_new[data.track]
    truth: dict[int, set] = {}
    active = np.diff(train.indptr) > 0
    pos = {int(t): i for i, t in enumerate(new_idx)}
    for f, t in zip(data.fan[after], data.track[after]):
        if active[f]:
            truth.setdefault(int(f), set()).add(pos[int(t)])
    from_new_artist = new_artists[data.track_artist[new_idx]]
    users = np.asarray(model.user_factors, np.float32)
    rows = []
    for name, withheld in (("content", False), ("artist-only", True)):
        t0 = time.perf_counter()
        placed_f, placed, _ = content_features.place(np.asarray(model.item_factors, np.float32),
                                                     feats(heard_idx, withheld), data.track_artist[heard_idx],
                                                     feats(new_idx, withheld), data.track_artist[new_idx], artist_sim)
        fans = list(truth)
        scores = users[fans] @ placed_f.T
        scores[:, ~placed] = -np.inf
        rankings = {f: np.argsort(-scores[i], kind="stable")[:k] for i, f in enumerate(fans)}
        rows += _new_rows(name, rankings, truth, from_new_artist, k, time.perf_counter() - t0, placed)
    rnd = {f: rng.permutation(len(new_idx))[:k] for f in truth}
    rows += _new_rows("random", rnd, truth, from_new_artist, k, 0.0, np.ones(len(new_idx), bool))
    return rows


def _new_rows(name, rankings, truth, from_new_artist, k, secs, placed) -> list[dict]:
    out = []
    for scope, keep in (("all new tracks", None), ("new artists' tracks", from_new_artist)):
        t = truth if keep is None else {f: {x for x in ts if keep[x]} for f, ts in truth.items()}
        t = {f: ts for f, ts in t.items() if ts}
        r = rankings if keep is None else {f: np.asarray([x for x in rankings[f] if keep[x]]) for f in t}
        recall, ndcg = _score(r, t, k)
        share = float(placed.mean()) if keep is None else float(placed[keep].mean()) if keep.any() else 0.0
        out.append({"method": name, "tracks": scope, f"recall@{k}": recall, f"ndcg@{k}": ndcg,
                    "fans": len(t), "placed": share, "seconds": secs})
    return out


def table_new(rows: list[dict], k: int = 10) -> str:
    lines = [f"| method | tracks | recall@{k} | NDCG@{k} | fans | placed | seconds |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['method']} | {r['tracks']} | {r[f'recall@{k}']:.3f} | {r[f'ndcg@{k}']:.3f} | {r['fans']} "
                     f"| {r['placed']:.0%} | {r['seconds']:.2f} |")
    return "\n".join(lines)
