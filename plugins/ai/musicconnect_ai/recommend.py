"""Recommendations of tracks and artists for a fan (owner: reco).

Two halves that never meet inside a request:

* **Fitting** (:func:`fit`, the scheduled job ``ai.fit_recommendations``): the fan x track matrix
  of :mod:`.interactions` -> ALS from ``implicit`` (item-item co-listening with
  ``CosineRecommender`` when ALS cannot fit, e.g. too little data), then everything a request needs
  is precomputed: the top :data:`CANDIDATES` unseen tracks of every fan with their scores, the
  fans' top artists, artist neighbours by shared fans (cosine over the fan x artist matrix), each
  artist's most popular tracks, the global popularity and the tracks nobody has heard yet (new
  uploads). It is saved as one ``.npz`` file in the core's storage with a row in ``ai_models``.
  A fit that fails writes a ``failed`` row and the previous model keeps serving.
* **Serving** (:func:`recommend`, ``GET /api/v1/ai/recommendations``): the fan's precomputed
  candidates (or, for a fan the model does not know, popular tracks of the neighbours of the
  artists they follow, then globally popular tracks), re-ranked with new tracks mixed in, at most
  :data:`MAX_PER_ARTIST` per artist in a page, and filtered by the core's access decision for
  ``stream`` on the current row of each track (so taken-down, deleted, unreleased and members-only
  tracks the fan may not play are never served), each with its explanation. No model is evaluated
  at request time.
"""
from __future__ import annotations

import io
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import numpy as np
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from scipy import sparse
from sqlalchemy import Float, Index, Integer, String, Uuid, func, select
from sqlalchemy.orm import Mapped, mapped_column

from musicconnect import Actor, Base, JobSpec, on_commit, resource_of
from musicconnect.db import JSONType
from musicconnect.models import Artist, ContentItem
from musicconnect.web import get_platform, scope

from . import content_features, interactions
from .interactions import TRACK_KIND, Interaction

log = logging.getLogger("musicconnect.ai.recommend")

CANDIDATES = 100        # precomputed tracks per fan
MAX_PER_ARTIST = 2      # at most this many tracks of one artist in a page
NEIGHBOURS = 10         # artist neighbours kept per artist
TOP_ARTISTS = 5         # a fan's top artists kept (explanations, cold start)
ARTIST_TRACKS = 10      # most popular tracks kept per artist
POPULAR = 500           # globally popular tracks kept
NEW_TRACKS = 5          # newest unheard tracks kept per artist
PLACE_MAX = 5000        # newest unheard tracks placed by their content features (ALS)
NEW_PER_FAN = 10        # best placed new tracks kept per fan
ALPHA = 1.0             # confidence = ALPHA * log1p(weight) (tuned on the synthetic set)
MIN_ALS_FANS = 2
_CACHE_KEY = ("ai", "reco_model")


class RecoModel(Base):
    __tablename__ = "ai_models"
    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    fitted_at: Mapped[datetime] = mapped_column()
    storage_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    n_fans: Mapped[int] = mapped_column(Integer)
    n_tracks: Mapped[int] = mapped_column(Integer)
    seconds: Mapped[float] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    meta: Mapped[dict] = mapped_column(JSONType, default=dict)
    __table_args__ = (Index("ix_ai_models_status_time", "status", "fitted_at"),)


# ---------------------------------------------------------------- fitting

def confidence(matrix: sparse.csr_matrix) -> sparse.csr_matrix:
    conf = matrix.astype(np.float32, copy=True)
    conf.data = (ALPHA * np.log1p(np.maximum(conf.data, 0))).astype(np.float32)
    conf.eliminate_zeros()
    return conf


def train(conf: sparse.csr_matrix, *, algorithm: str = "als", factors: int = 32, iterations: int = 15,
          regularization: float = 5.0, seed: int = 0, threads: int = 0):
    """An ``implicit`` model fitted on ``conf`` (fans x tracks): ALS, or item-item co-listening
    (``algorithm="itemitem"``). Raises when the fit is unusable (non-finite factors)."""
    if algorithm == "itemitem":
        from implicit.nearest_neighbours import CosineRecommender
        model = CosineRecommender(K=50, num_threads=threads)
        model.fit(conf, show_progress=False)
        return model
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits     # a dependency of implicit
    with threadpool_limits(1, "blas"):              # implicit parallelises itself; BLAS threads fight it
        model = AlternatingLeastSquares(factors=factors, regularization=regularization, iterations=iterations,
                                        random_state=seed, num_threads=threads)
        model.fit(conf, show_progress=False)
    if not (np.isfinite(model.user_factors).all() and np.isfinite(model.item_factors).all()):
        raise ValueError("ALS diverged (non-finite factors)")
    return model


def top_candidates(model, conf: sparse.csr_matrix, n: int = CANDIDATES) -> tuple[np.ndarray, np.ndarray]:
    """Every fan's top ``n`` unseen tracks: (indexes, scores), -1 where there are fewer."""
    n_fans, n_tracks = conf.shape
    k = max(1, min(n, n_tracks))
    ids = np.full((n_fans, k), -1, dtype=np.int32)
    scores = np.zeros((n_fans, k), dtype=np.float32)
    for start in range(0, n_fans, 4096):
        rows = np.arange(start, min(n_fans, start + 4096))
        got_ids, got_scores = model.recommend(rows, conf[rows], N=k, filter_already_liked_items=True)
        got_ids = np.asarray(got_ids, dtype=np.int32).reshape(len(rows), -1)
        got_scores = np.asarray(got_scores, dtype=np.float32).reshape(len(rows), -1)
        got_ids[got_scores < -1e30] = -1
        ids[rows, :got_ids.shape[1]] = got_ids
        scores[rows, :got_ids.shape[1]] = np.where(got_ids >= 0, got_scores, 0)
    return ids, scores


def _pad(lists: list[list[int]], width: int) -> np.ndarray:
    out = np.full((len(lists), width), -1, dtype=np.int32)
    for i, xs in enumerate(lists):
        xs = xs[:width]
        out[i, :len(xs)] = xs
    return out


def build(m: interactions.Matrix, new_tracks: list[tuple[uuid.UUID, uuid.UUID]] = (), *, algorithm: str = "als",
          factors: int = 32, iterations: int = 15, seed: int = 0, threads: int = 0,
          candidates: int = CANDIDATES, features: dict | None = None) -> tuple[dict[str, np.ndarray], str]:
    """Everything a request needs, as arrays (see the module doc), and the algorithm used.

    ``new_tracks``: (track, artist) of playable tracks, newest first (those nobody has heard are
    the new ones); ``features``: track id -> the content item's ``data`` (tags, tempo, loudness),
    with which ALS places the newest :data:`PLACE_MAX` unheard tracks in its taste space
    (:mod:`.content_features`) and keeps each fan's :data:`NEW_PER_FAN` best of them."""
    conf = confidence(m.matrix)
    n_fans, n_tracks = conf.shape
    used = algorithm
    if algorithm == "als" and n_fans < MIN_ALS_FANS:
        used = "itemitem"
    try:
        model = train(conf, algorithm=used, factors=factors, iterations=iterations, seed=seed, threads=threads)
    except Exception:
        if used != "als":
            raise
        log.warning("ai: ALS failed, falling back to item-item co-listening", exc_info=True)
        used = "itemitem"
        model = train(conf, algorithm=used, threads=threads)
    cand, cand_scores = top_candidates(model, conf, candidates)

    # artists: those with listeners, then those with only new tracks
    artists: list[uuid.UUID] = list(dict.fromkeys(m.track_artists))
    known = set(m.tracks)
    new_tracks = [(t, a) for t, a in new_tracks if t not in known]
    for _, a in new_tracks:
        if a not in artists:
            artists.append(a)
    a_ix = {a: i for i, a in enumerate(artists)}
    track_artist = np.asarray([a_ix[a] for a in m.track_artists], dtype=np.int32)
    n_art = len(artists)

    listeners = np.asarray((conf > 0).sum(axis=0)).ravel().astype(np.float32) if n_tracks else np.zeros(0, np.float32)
    popular = np.argsort(-listeners, kind="stable")[:POPULAR].astype(np.int32)
    per_artist: list[list[int]] = [[] for _ in range(n_art)]
    for j in np.argsort(-listeners, kind="stable"):
        lst = per_artist[track_artist[j]]
        if len(lst) < ARTIST_TRACKS:
            lst.append(int(j))

    # fan x artist engagement -> artist neighbours (cosine of shared fans) and fans' top artists
    to_artist = sparse.csr_matrix((np.ones(n_tracks, np.float32), (np.arange(n_tracks), track_artist)),
                                  shape=(n_tracks, n_art))
    fa = (conf @ to_artist).tocsr()
    co = artist_similarity(fa)
    neighbours, sims = _row_topk(co, NEIGHBOURS)
    fan_top, _ = _row_topk(fa.tocsr(), TOP_ARTISTS)

    new_ix = {a: [] for a in range(n_art)}
    for t, a in new_tracks:
        if len(new_ix[a_ix[a]]) < NEW_TRACKS:
            new_ix[a_ix[a]].append(t)
    # content placement (ALS only: it needs item factors): the newest unheard tracks first
    placing = new_tracks[:PLACE_MAX] if used == "als" and features is not None else []
    new_ids = list(dict.fromkeys([t for t, _ in placing] + [t for lst in new_ix.values() for t in lst]))
    new_pos = {t: i for i, t in enumerate(new_ids)}
    artist_of_new = dict(new_tracks)
    new_artist = np.asarray([a_ix[artist_of_new[t]] for t in new_ids], dtype=np.int32)
    fan_new = np.full((n_fans, NEW_PER_FAN), -1, np.int32)
    fan_new_scores = np.zeros((n_fans, NEW_PER_FAN), np.float32)
    new_like = np.full(len(new_ids), -1, np.int32)
    if placing:
        heard = content_features.Features.from_data([features.get(t) for t in m.tracks])
        fresh = content_features.Features.from_data([features.get(t) for t, _ in placing])
        placed_f, placed, nearest = content_features.place(
            np.asarray(model.item_factors, np.float32), heard, track_artist, fresh, new_artist[:len(placing)], co)
        new_like[:len(placing)] = nearest
        ids, sc = content_features.top_new(np.asarray(model.user_factors, np.float32), placed_f, placed, NEW_PER_FAN)
        fan_new, fan_new_scores = ids, sc

    arrays = {
        "fans": _ids(m.fans), "tracks": _ids(m.tracks), "artists": _ids(artists),
        "track_artist": track_artist, "cand": cand, "cand_scores": cand_scores,
        "popular": popular, "listeners": listeners, "artist_tracks": _pad(per_artist, ARTIST_TRACKS),
        "neighbours": neighbours, "neighbour_sims": sims, "fan_top": fan_top,
        "new_tracks": _ids(new_ids), "artist_new": _pad([[new_pos[t] for t in new_ix[a]] for a in range(n_art)], NEW_TRACKS),
        "new_artist": new_artist, "new_like": new_like, "fan_new": fan_new, "fan_new_scores": fan_new_scores,
    }
    if used == "als":
        arrays["item_factors"] = np.asarray(model.item_factors, dtype=np.float32)
    return arrays, used


def artist_similarity(fan_artist: sparse.csr_matrix) -> sparse.csr_matrix:
    """Artists x artists: the cosine of their audiences (fans x artists, any weight > 0 is a fan),
    zero on the diagonal."""
    binary = fan_artist.copy().tocsr()
    binary.data[:] = 1.0
    n_art = binary.shape[1]
    co = (binary.T @ binary).tocsr().astype(np.float32)
    norms = np.sqrt(np.maximum(co.diagonal(), 1e-9))
    co = co.tocoo()
    keep = co.row != co.col
    return sparse.csr_matrix((co.data[keep] / (norms[co.row[keep]] * norms[co.col[keep]]), (co.row[keep], co.col[keep])),
                             shape=(n_art, n_art))


def _row_topk(m: sparse.csr_matrix, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` largest entries of each row of ``m``: (column indexes -1 padded, values), vectorised."""
    m = m.tocsr()
    m.sum_duplicates()
    n = m.shape[0]
    counts = np.diff(m.indptr)
    rows = np.repeat(np.arange(n), counts)
    order = np.lexsort((m.indices, -m.data, rows))      # by row, then value descending, then column
    rank = np.arange(len(order)) - m.indptr[rows[order]]
    take = order[rank < k]
    cols = np.full((n, k), -1, dtype=np.int32)
    vals = np.zeros((n, k), dtype=np.float32)
    r = rows[take]
    pos = (np.arange(len(order)) - m.indptr[rows[order]])[rank < k]
    cols[r, pos] = m.indices[take]
    vals[r, pos] = m.data[take]
    return cols, vals


def _ids(ids) -> np.ndarray:
    return np.asarray([u.bytes for u in ids], dtype="S16") if len(ids) else np.zeros(0, dtype="S16")


def _uuids(arr: np.ndarray) -> list[uuid.UUID]:
    return [uuid.UUID(bytes=bytes(b).ljust(16, b"\0")) for b in arr]


def fit(platform, *, algorithm: str = "als", factors: int = 32, iterations: int = 15, threads: int = 0) -> dict:
    """Fit, save and activate a model; on failure record it and keep serving the previous one."""
    t0 = time.perf_counter()
    mid = uuid.uuid4()
    now = platform.clock.now()
    n_fans = n_tracks = 0
    try:
        m = interactions.weights(platform)
        n_fans, n_tracks = m.matrix.shape
        if n_fans == 0:
            status = {"status": "skipped", "reason": "no listening yet"}
            log.info("ai: nothing to fit yet")
            return status
        with platform.read() as s:
            # still transcoding counts too: an upload is placed from the first fit after it (by its
            # tags until its analysis lands); serving decides on the current row anyway
            catalogue = s.execute(select(ContentItem.id, ContentItem.artist_id, ContentItem.data)
                                  .where(ContentItem.kind == TRACK_KIND,
                                         ContentItem.status.in_(("ready", "processing")))
                                  .order_by(ContentItem.publish_at.desc(), ContentItem.id).limit(200_000)).all()
        features = {r.id: r.data or {} for r in catalogue}
        arrays, used = build(m, [(r.id, r.artist_id) for r in catalogue], algorithm=algorithm, factors=factors,
                             iterations=iterations, threads=threads, features=features)
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        key = f"ai/models/{mid}.npz"
        platform.storage.put_bytes(key, buf.getvalue(), "application/octet-stream")
    except Exception as exc:
        log.exception("ai: recommendation fit failed; the previous model keeps serving")
        with platform.session() as s:
            s.add(RecoModel(id=mid, algorithm=algorithm, status="failed", fitted_at=now, storage_key=None,
                            n_fans=n_fans, n_tracks=n_tracks, seconds=time.perf_counter() - t0,
                            error=f"{type(exc).__name__}: {exc}"[:500], meta={}))
        return {"status": "failed", "model_id": str(mid), "error": f"{type(exc).__name__}: {exc}"[:500]}
    seconds = time.perf_counter() - t0
    with platform.session() as s:
        s.add(RecoModel(id=mid, algorithm=used, status="ok", fitted_at=now, storage_key=key, n_fans=n_fans,
                        n_tracks=n_tracks, seconds=seconds, error=None, meta={"factors": factors, "iterations": iterations}))
        on_commit(s, lambda: platform.invalidate(_CACHE_KEY))
    return {"status": "ok", "model_id": str(mid), "algorithm": used, "fans": n_fans, "tracks": n_tracks,
            "seconds": round(seconds, 3)}


def fit_job(ctx, **_):
    return fit(ctx.platform)


JOBS = [JobSpec("fit_recommendations", fit_job, max_retries=1, every_seconds=3600)]


# ---------------------------------------------------------------- loading

@dataclass
class Loaded:
    id: uuid.UUID
    algorithm: str
    fitted_at: datetime
    a: dict[str, np.ndarray]
    fans: dict[uuid.UUID, int]
    tracks: list[uuid.UUID]
    artists: list[uuid.UUID]
    artist_ix: dict[uuid.UUID, int]
    new_tracks: list[uuid.UUID]
    track_ix: dict[uuid.UUID, int] | None = None
    gram: np.ndarray | None = None       # item_factors' Gram matrix (ALS fold-in)
    score_floor: float = 1e-6            # a folded-in score below this says nothing (1 % of a typical best)


_LOADED: dict[str, Loaded] = {}


def load_arrays(model_id, algorithm, fitted_at, arrays: dict[str, np.ndarray]) -> Loaded:
    artists = _uuids(arrays["artists"])
    tracks = _uuids(arrays["tracks"])
    factors = arrays.get("item_factors")
    return Loaded(id=model_id, algorithm=algorithm, fitted_at=fitted_at, a=arrays,
                  fans={u: i for i, u in enumerate(_uuids(arrays["fans"]))}, tracks=tracks,
                  artists=artists, artist_ix={a: i for i, a in enumerate(artists)},
                  new_tracks=_uuids(arrays["new_tracks"]), track_ix={t: j for j, t in enumerate(tracks)},
                  gram=(factors.T @ factors).astype(np.float64) if factors is not None else None,
                  score_floor=_score_floor(arrays))


def _score_floor(arrays) -> float:
    best = arrays["cand_scores"][:, 0] if arrays["cand_scores"].size else np.zeros(0)
    best = best[best > 0]
    return max(1e-6, 0.01 * float(np.median(best))) if len(best) else 1e-6


def active(platform) -> Loaded | None:
    """The newest successfully fitted model (cached per process; re-read when a fit commits)."""
    row = platform.cache.get(_CACHE_KEY)
    if row is None:
        with platform.read() as s:
            m = s.scalars(select(RecoModel).where(RecoModel.status == "ok")
                          .order_by(RecoModel.fitted_at.desc(), RecoModel.id).limit(1)).first()
            row = (m.id, m.algorithm, m.fitted_at, m.storage_key) if m is not None else ("none",)
        platform.cache.set(_CACHE_KEY, row)
    if row[0] == "none":
        return None
    mid, algorithm, fitted_at, key = row
    got = _LOADED.get(key)
    if got is None:
        try:
            with np.load(io.BytesIO(platform.storage.get_bytes(key))) as z:
                arrays = {k: z[k] for k in z.files}
        except Exception:
            log.exception("ai: model %s could not be loaded", mid)
            return None
        got = load_arrays(mid, algorithm, fitted_at, arrays)
        if len(_LOADED) >= 2:
            _LOADED.pop(next(iter(_LOADED)))
        _LOADED[key] = got
    return got


# ---------------------------------------------------------------- serving

@dataclass
class Candidate:
    track_id: uuid.UUID
    score: float
    source: str          # model | neighbours | new | popular
    because: uuid.UUID | None = None     # an artist the fan engages with
    new: bool = False
    like: uuid.UUID | None = None        # a new track: the artist whose heard track it sounds most like


class _Explainer:
    """The fan's artist that explains a track of an artist: the artist itself, or the first of the
    fan's top artists that has it among its neighbours (their neighbour lists read once per request)."""

    def __init__(self, model: Loaded, fan_top: list[int]):
        self.top = fan_top
        neigh = model.a["neighbours"]
        self.neighbours = [set(neigh[t].tolist()) for t in fan_top]

    def __call__(self, artist: int) -> int | None:
        if artist in self.top:
            return artist
        for t, ns in zip(self.top, self.neighbours):
            if artist in ns:
                return t
        return None


def _fan_candidates(model: Loaded, row: int):
    a = model.a
    fan_top = [x for x in a["fan_top"][row].tolist() if x >= 0]
    explain = _Explainer(model, fan_top)
    new = _placed_for(model, row, fan_top) + _new_for(model, fan_top)
    track_artist, tracks, artists = a["track_artist"], model.tracks, model.artists
    k = 0
    for j, score in zip(a["cand"][row].tolist(), a["cand_scores"][row].tolist()):   # plain ints and floats
        if j < 0:
            break
        k += 1
        if k % 5 == 0 and new:
            yield new.pop(0)
        because = explain(int(track_artist[j]))
        yield Candidate(tracks[j], score, "model", artists[because] if because is not None else None)
    yield from new


def _placed_for(model: Loaded, row: int, fan_top: list[int]) -> list[Candidate]:
    """The fan's best new tracks placed by their content (:mod:`.content_features`), explained by
    the fan's artist they relate to, else by the artist of the heard track they sound most like."""
    a = model.a
    if "fan_new" not in a:          # a model file of an earlier version
        return []
    out = []
    explain = _Explainer(model, fan_top)
    for t, score in zip(a["fan_new"][row].tolist(), a["fan_new_scores"][row].tolist()):
        if t < 0:
            break
        because = explain(int(a["new_artist"][t]))
        like = int(a["new_like"][t])
        out.append(Candidate(model.new_tracks[t], float(score), "new",
                             model.artists[because] if because is not None else None, new=True,
                             like=model.artists[int(a["track_artist"][like])] if like >= 0 and because is None else None))
    return out


def _new_for(model: Loaded, seeds: list[int]) -> list[Candidate]:
    a = model.a
    out = []
    for s in seeds:
        for artist, why in [(s, s)] + [(int(n), s) for n in a["neighbours"][s] if n >= 0][:3]:
            for t in a["artist_new"][artist]:
                if t >= 0:
                    out.append(Candidate(model.new_tracks[t], 0.0, "new", model.artists[why], new=True))
    return out


def _seed_candidates(model: Loaded, seeds: list[int]):
    """Cold start: popular tracks of the followed artists' neighbours, then of the artists."""
    a = model.a
    ranked: dict[int, tuple[float, int]] = {}
    for s in seeds:
        for n, sim in zip(a["neighbours"][s], a["neighbour_sims"][s]):
            if n < 0:
                break
            if int(n) not in seeds:
                ranked[int(n)] = max(ranked.get(int(n), (0.0, s)), (float(sim), s))
    order = sorted(ranked.items(), key=lambda kv: -kv[1][0])
    yield from _new_for(model, seeds)
    # round robin over neighbours (best first), then the followed artists' own tracks
    lists = [(n, why, [j for j in a["artist_tracks"][n] if j >= 0]) for n, (sim, why) in order]
    lists += [(s, s, [j for j in a["artist_tracks"][s] if j >= 0]) for s in seeds]
    depth = 0
    while any(depth < len(ts) for _, _, ts in lists):
        for n, why, ts in lists:
            if depth < len(ts):
                j = ts[depth]
                yield Candidate(model.tracks[j], float(a["listeners"][j]), "neighbours", model.artists[why])
        depth += 1


def _popular_candidates(platform, model: Loaded | None):
    if model is not None:
        for j in model.a["popular"]:
            yield Candidate(model.tracks[j], float(model.a["listeners"][j]), "popular")
        return
    rows = platform.cache.get(("ai", "reco_popular"))
    if rows is None:
        with platform.read() as s:
            rows = s.execute(select(Interaction.content_id, func.count()).where(Interaction.weight > 0)
                             .group_by(Interaction.content_id).order_by(func.count().desc(), Interaction.content_id)
                             .limit(POPULAR)).all()
        rows = [(r[0], int(r[1])) for r in rows]
        platform.cache.set(("ai", "reco_popular"), rows)
    for tid, n in rows:
        yield Candidate(tid, float(n), "popular")


REGULARIZATION = 5.0    # as fitted (train's default): the fold-in solves the same least squares


def fold_in(model: Loaded, played: dict[uuid.UUID, float], n: int = CANDIDATES) -> tuple[np.ndarray, np.ndarray] | None:
    """A fan the model does not know yet, from their plays since the fit: the ALS user factors
    solved against the fixed item factors (the fit's own least-squares step for one user: A =
    YtY + reg I + sum (c-1) y y', b = sum c y, c the confidence of each played track), then their
    ``n`` best unplayed tracks: (indexes, scores). None without item factors or known plays."""
    factors = model.a.get("item_factors")
    if factors is None or model.gram is None or not model.track_ix:
        return None
    idx = [model.track_ix[t] for t, w in played.items() if w > 0 and t in model.track_ix]
    if not idx:
        return None
    weights = np.asarray([played[model.tracks[j]] for j in idx], np.float64)
    conf = ALPHA * np.log1p(weights)
    y = factors[idx].astype(np.float64)
    a = model.gram + REGULARIZATION * np.eye(model.gram.shape[0]) + (y.T * (conf - 1.0)) @ y
    b = (y * conf[:, None]).sum(axis=0)
    user = np.linalg.solve(a, b).astype(np.float32)
    scores = factors @ user
    scores[idx] = -np.inf
    k = max(1, min(n, len(scores) - len(idx)))
    top = np.argpartition(-scores, k - 1)[:k]
    top = top[np.argsort(-scores[top], kind="stable")]
    return top.astype(np.int32), scores[top].astype(np.float32)


def _folded_candidates(model: Loaded, played: dict[uuid.UUID, float]):
    got = fold_in(model, played)
    if got is None:
        return
    ids, scores = got
    track_artist = model.a["track_artist"]
    weight: dict[int, float] = {}
    for t, w in played.items():
        j = model.track_ix.get(t)
        if j is not None and w > 0:
            weight[int(track_artist[j])] = weight.get(int(track_artist[j]), 0.0) + w
    fan_top = sorted(weight, key=lambda a: -weight[a])[:TOP_ARTISTS]
    explain = _Explainer(model, fan_top)
    for j, score in zip(ids.tolist(), scores.tolist()):
        if score <= model.score_floor:   # nothing the model can say (items it learnt ~no factors for): cold start decides
            break
        because = explain(int(track_artist[j]))
        yield Candidate(model.tracks[j], score, "model", model.artists[because] if because is not None else None)


def candidates(platform, user_id: uuid.UUID, model: Loaded | None, played: dict | None = None):
    """The candidate stream of a fan, best first (may repeat; the caller dedups). A fan the model
    does not know but who has played since the fit is folded in (:func:`fold_in`)."""
    if model is not None:
        row = model.fans.get(user_id)
        if row is not None:
            yield from _fan_candidates(model, row)
        else:
            yield from _folded_candidates(model, played if played is not None
                                          else interactions.fan_tracks(platform, user_id))
            followed = interactions.followed_artists(platform, user_id)
            seeds = [model.artist_ix[a] for a in followed if a in model.artist_ix][:TOP_ARTISTS]
            if seeds:
                yield from _seed_candidates(model, seeds)
    yield from _popular_candidates(platform, model)


def _reason(c: Candidate, names: dict[uuid.UUID, str], artist_id: uuid.UUID) -> str:
    if c.because is not None and c.because == artist_id:
        return f"new from {names.get(artist_id, 'an artist you play')}" if c.new else \
            f"because you play {names.get(artist_id, 'this artist')}"
    if c.because is not None:
        who = names.get(c.because, "an artist you play")
        return f"new, and fans of {who} play this artist" if c.new else f"fans of {who} also play this"
    if c.like is not None:
        return f"new, and it sounds like {names.get(c.like, 'music you play')}"
    return "popular with listeners on MusicConnect" if c.source == "popular" else "listeners with your taste play this"


_ITEM_COLUMNS = (ContentItem.id, ContentItem.kind, ContentItem.artist_id, ContentItem.title, ContentItem.visibility,
                 ContentItem.status, ContentItem.required_tier_id, ContentItem.publish_at, ContentItem.data)


def recommend_tracks(platform, actor: Actor, limit: int = 20, *, per_artist: int = MAX_PER_ARTIST,
                     model: Loaded | None = None, scan: int = 600) -> tuple[list[dict], Loaded | None]:
    # one session for every read of the request (the model row, the fan's tracks, the candidates'
    # rows, the access contexts): helpers that read through platform.read() reuse it
    model = model if model is not None else active(platform)   # (a first load reads storage: no session held)
    with platform.read():
        return _recommend_tracks(platform, actor, limit, per_artist, model, scan)


def _recommend_tracks(platform, actor: Actor, limit: int, per_artist: int, model: Loaded | None,
                      scan: int) -> tuple[list[dict], Loaded | None]:
    weights = interactions.fan_tracks(platform, actor.user_id)
    played = set(weights)
    stream = candidates(platform, actor.user_id, model, weights)
    seen: set[uuid.UUID] = set()
    per: dict[uuid.UUID, int] = {}
    out: list[dict] = []
    scanned = 0
    chunk = max(2 * limit, 10)
    while len(out) < limit and scanned < scan:
        batch: list[Candidate] = []
        for c in stream:
            if c.track_id in seen or c.track_id in played:
                continue
            seen.add(c.track_id)
            batch.append(c)
            if len(batch) >= chunk:
                break
        if not batch:
            break
        scanned += len(batch)
        with platform.read() as s:
            rows = {i.id: i for i in s.execute(select(*_ITEM_COLUMNS).where(ContentItem.id.in_([c.track_id for c in batch])))}
            names = dict(s.execute(select(Artist.id, Artist.name).where(Artist.id.in_(
                {i.artist_id for i in rows.values()} | {c.because for c in batch if c.because}
                | {c.like for c in batch if c.like}))).all())
        contexts = platform.access.contexts(actor, [i.artist_id for i in rows.values()])
        for c in batch:
            item = rows.get(c.track_id)
            if item is None or item.kind != TRACK_KIND or per.get(item.artist_id, 0) >= per_artist:
                continue
            if item.artist_id == getattr(actor, "artist_id", None):
                continue   # an artist is not recommended their own tracks
            if not platform.access.decide(actor, "stream", resource_of(item), contexts[item.artist_id]).allowed:
                continue
            per[item.artist_id] = per.get(item.artist_id, 0) + 1
            out.append({"track_id": item.id, "title": item.title, "artist_id": item.artist_id,
                        "artist_name": names.get(item.artist_id, ""), "score": round(c.score, 6),
                        "source": c.source, "reason": _reason(c, names, item.artist_id)})
            if len(out) >= limit:
                break
    return out, model


def recommend_artists(platform, actor: Actor, limit: int = 10, *, model: Loaded | None = None) -> tuple[list[dict], Loaded | None]:
    """Artists the fan does not engage with yet, ranked by their tracks among the fan's playable
    candidates."""
    tracks, model = recommend_tracks(platform, actor, limit=max(50, 5 * limit), per_artist=10 ** 6,
                                     model=model, scan=1500)
    engaged = set(interactions.followed_artists(platform, actor.user_id))
    scores: dict[uuid.UUID, dict] = {}
    for rank, t in enumerate(tracks):
        a = t["artist_id"]
        if a in engaged:
            continue
        got = scores.setdefault(a, {"artist_id": a, "name": t["artist_name"], "score": 0.0, "tracks": 0,
                                    "reason": t["reason"].replace("also play this", "also play them")
                                                         .replace("play this artist", "play them")})
        got["score"] += 1.0 / (1 + rank)
        got["tracks"] += 1
    ranked = sorted(scores.values(), key=lambda x: -x["score"])[:limit]
    for r in ranked:
        r["score"] = round(r["score"], 6)
    return ranked, model


# ---------------------------------------------------------------- routes

router = APIRouter()


class ModelInfo(BaseModel):
    id: uuid.UUID | None
    algorithm: str
    fitted_at: datetime | None


class TrackRec(BaseModel):
    track_id: uuid.UUID
    title: str
    artist_id: uuid.UUID
    artist_name: str
    score: float
    source: Literal["model", "neighbours", "new", "popular"]
    reason: str


class ArtistRec(BaseModel):
    artist_id: uuid.UUID
    name: str
    score: float
    tracks: int
    reason: str


class Recommendations(BaseModel):
    kind: Literal["tracks", "artists"]
    model: ModelInfo
    tracks: list[TrackRec] = []
    artists: list[ArtistRec] = []


@router.get("/recommendations", response_model=Recommendations)
def get_recommendations(kind: Literal["tracks", "artists"] = "tracks", limit: int = Query(20, ge=1, le=100),
                        actor: Actor = Depends(scope("ai:read")), platform=Depends(get_platform)):
    """Tracks (or artists) for the caller, each with the reason it is there. Only tracks the
    caller may play are listed; a fan the model does not know yet gets popular tracks of the
    neighbours of the artists they follow, then popular tracks."""
    if kind == "tracks":
        items, model = recommend_tracks(platform, actor, limit)
    else:
        items, model = recommend_artists(platform, actor, limit)
    info = ModelInfo(id=model.id if model else None, algorithm=model.algorithm if model else "popularity",
                     fitted_at=model.fitted_at if model else None)
    return Recommendations(kind=kind, model=info, **{kind: items})
