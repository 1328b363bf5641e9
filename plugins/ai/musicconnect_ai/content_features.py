"""Cold start for new tracks: place an unheard track in the model's taste space (owner: reco).

A track nobody has played has no column in the fan x track matrix, so collaborative filtering
knows nothing of it. Its *content* is known: its tags (``data.tags``), its tempo
(``data.tempo_bpm``) and loudness (``data.loudness_lufs``) from the streaming plugin's analysis,
and its artist, whose audience the model knows when the artist has played tracks (and whose
neighbours, by shared fans, it knows too). Each new track is compared with every heard track on
those features (:func:`similarity`); its item factors are the similarity-weighted mean of the
factors of its :data:`NEAREST` most similar heard tracks (:func:`place`), so ``fan . factors``
scores it like the tracks it resembles, for every fan, from the first fit after the upload. A
track similar to nothing (no tags, no analysis, an artist nobody plays) is not placed; it still
reaches the followers of its artist through the recommendation's ``new`` slots.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import sparse

NEAREST = 20          # heard tracks averaged into a new track's factors
MIN_SIMILARITY = 0.5  # the best match must reach this, or the track is not placed
W_TAGS = 1.0          # cosine of the tag sets
W_TEMPO = 0.5         # within ~7 % (0.1 octave) of tempo, or half/double of it
W_LOUDNESS = 0.25     # within ~3 LU
W_ARTIST = 1.5        # the same artist
W_NEIGHBOUR = 1.0     # x the cosine of the two artists' audiences
CHUNK = 256


@dataclass
class Features:
    """Content features of ``n`` tracks, aligned with a list of track ids."""

    tags: list[tuple[str, ...]]
    tempo: np.ndarray      # float32 BPM, nan when unknown
    loudness: np.ndarray   # float32 LUFS, nan when unknown

    @classmethod
    def from_data(cls, datas) -> "Features":
        """From content items' ``data`` dicts (tags as written by artists: case and ``#`` ignored)."""
        tags, tempo, loud = [], [], []
        for d in datas:
            d = d or {}
            raw = d.get("tags") or []
            tags.append(tuple(sorted({str(t).strip().lstrip("#").lower() for t in raw
                                      if isinstance(t, str) and t.strip().lstrip("#")}))[:32])
            tempo.append(_num(d.get("tempo_bpm"), 20.0, 400.0))
            loud.append(_num(d.get("loudness_lufs"), -70.0, 5.0))
        return cls(tags, np.asarray(tempo, np.float32), np.asarray(loud, np.float32))

    def __len__(self) -> int:
        return len(self.tags)


def _num(v, lo: float, hi: float) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return math.nan
    return x if lo <= x <= hi else math.nan


def _tag_matrix(tags: list[tuple[str, ...]], vocab: dict[str, int]) -> sparse.csr_matrix:
    rows, cols = [], []
    for i, ts in enumerate(tags):
        for t in ts:
            j = vocab.get(t)
            if j is not None:
                rows.append(i)
                cols.append(j)
    m = sparse.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(len(tags), max(1, len(vocab))))
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sparse.diags(1.0 / norms).dot(m).tocsr()


def similarity(new: Features, new_artist: np.ndarray, heard: Features, heard_artist: np.ndarray,
               artist_sim: sparse.csr_matrix | None = None):
    """Yield ``(rows, sim)`` per chunk of new tracks: ``sim`` is ``len(rows) x len(heard)``."""
    vocab: dict[str, int] = {}
    for ts in heard.tags:
        for t in ts:
            vocab.setdefault(t, len(vocab))
    t_heard = _tag_matrix(heard.tags, vocab).T.tocsc()
    t_new = _tag_matrix(new.tags, vocab)
    log_tempo_heard = np.log2(heard.tempo)
    for start in range(0, len(new), CHUNK):
        rows = np.arange(start, min(len(new), start + CHUNK))
        sim = W_TAGS * np.asarray((t_new[rows] @ t_heard).todense(), dtype=np.float32)
        d = np.abs(np.log2(new.tempo[rows])[:, None] - log_tempo_heard[None, :])
        d = np.minimum(d, np.abs(d - 1.0))                       # half / double tempo is close too
        sim += W_TEMPO * np.nan_to_num(np.exp(-0.5 * (d / 0.1) ** 2), nan=0.0).astype(np.float32)
        dl = new.loudness[rows][:, None] - heard.loudness[None, :]
        sim += W_LOUDNESS * np.nan_to_num(np.exp(-0.5 * (dl / 3.0) ** 2), nan=0.0).astype(np.float32)
        sim += W_ARTIST * (new_artist[rows][:, None] == heard_artist[None, :])
        if artist_sim is not None and artist_sim.shape[0]:
            known = new_artist[rows] < artist_sim.shape[0]
            if known.any():
                block = np.zeros((len(rows), artist_sim.shape[1]), np.float32)
                block[known] = artist_sim[new_artist[rows][known]].toarray()
                sim += W_NEIGHBOUR * block[:, heard_artist]
        yield rows, sim


def place(item_factors: np.ndarray, heard: Features, heard_artist: np.ndarray, new: Features,
          new_artist: np.ndarray, artist_sim: sparse.csr_matrix | None = None
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Factors for each new track: ``(factors, placed mask, nearest heard track)``; rows that are
    not placed are zero (and their nearest is -1)."""
    n_new, k = len(new), item_factors.shape[1]
    factors = np.zeros((n_new, k), np.float32)
    placed = np.zeros(n_new, bool)
    nearest = np.full(n_new, -1, np.int32)
    if n_new == 0 or len(heard) == 0:
        return factors, placed, nearest
    top = min(NEAREST, len(heard))
    for rows, sim in similarity(new, new_artist, heard, heard_artist, artist_sim):
        idx = np.argpartition(-sim, top - 1, axis=1)[:, :top]
        w = np.take_along_axis(sim, idx, axis=1)
        best = w.max(axis=1)
        ok = best >= MIN_SIMILARITY
        w = np.where(w > 0, w, 0.0)
        total = w.sum(axis=1, keepdims=True)
        total[total == 0] = 1.0
        factors[rows] = np.einsum("rk,rkf->rf", w / total, item_factors[idx]).astype(np.float32)
        factors[rows[~ok]] = 0.0
        placed[rows] = ok
        nearest[rows] = np.where(ok, idx[np.arange(len(rows)), w.argmax(axis=1)], -1)
    return factors, placed, nearest


def top_new(user_factors: np.ndarray, factors: np.ndarray, placed: np.ndarray, n: int
            ) -> tuple[np.ndarray, np.ndarray]:
    """Each fan's ``n`` best placed new tracks by ``fan . factors``: (indexes, scores), -1 padded."""
    n_fans = user_factors.shape[0]
    cols = np.flatnonzero(placed)
    ids = np.full((n_fans, n), -1, np.int32)
    scores = np.zeros((n_fans, n), np.float32)
    if len(cols) == 0 or n_fans == 0:
        return ids, scores
    take = min(n, len(cols))
    f = factors[cols].T.copy()
    for start in range(0, n_fans, 4096):
        sc = user_factors[start:start + 4096] @ f
        part = np.argpartition(-sc, take - 1, axis=1)[:, :take]
        got = np.take_along_axis(sc, part, 1)
        order = np.argsort(-got, axis=1)
        ids[start:start + len(sc), :take] = cols[np.take_along_axis(part, order, 1)]
        scores[start:start + len(sc), :take] = np.take_along_axis(got, order, 1)
    return ids, scores
