"""A synthetic listening dataset with planted taste clusters (owner: reco).

Artists belong to one of ``clusters`` tastes; each fan has a home taste and plays mostly tracks of
it (``loyalty``), the rest from the whole catalogue by global popularity; within a taste, track
popularity follows a Zipf law. Plays are spread over ``days`` so a time split makes sense. Pure
numpy, no database: :mod:`.evaluation` and the benchmark use it; the demo can turn it into events.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Listening:
    fan: np.ndarray           # int32, one row per play
    track: np.ndarray         # int32
    day: np.ndarray           # float32, days since the start
    weight: np.ndarray        # float32 (1 counted, 2 completed)
    track_artist: np.ndarray  # int32 per track
    artist_cluster: np.ndarray
    fan_cluster: np.ndarray
    n_fans: int
    n_tracks: int
    #: content features planted with the clusters (what an artist's tags and the streaming
    #: plugin's analysis would say): each taste has a genre tag, a tempo and a loudness; a track
    #: carries its taste's genre (70 %, else another one) and a mood tag, its tempo and loudness
    #: spread around the taste's
    track_tags: list = None
    track_tempo: np.ndarray = None
    track_loudness: np.ndarray = None


def generate(*, fans: int = 1000, tracks: int = 600, artists: int = 60, clusters: int = 6,
             plays_per_fan: float = 30.0, loyalty: float = 0.8, days: float = 60.0, zipf: float = 1.1,
             seed: int = 0) -> Listening:
    rng = np.random.default_rng(seed)
    artist_cluster = np.arange(artists, dtype=np.int32) % clusters
    track_artist = np.concatenate([np.arange(artists), rng.integers(0, artists, max(0, tracks - artists))]).astype(np.int32)[:tracks]
    rng.shuffle(track_artist)
    track_cluster = artist_cluster[track_artist]
    # popularity: a Zipf weight per track (rank within a random order)
    pop = 1.0 / np.power(rng.permutation(tracks) + 1.0, zipf)
    glob = pop / pop.sum()
    by_cluster = []
    for c in range(clusters):
        idx = np.flatnonzero(track_cluster == c)
        w = pop[idx]
        by_cluster.append((idx, w / w.sum() if len(idx) else w))
    fan_cluster = rng.integers(0, clusters, fans).astype(np.int32)
    n_plays = rng.poisson(plays_per_fan, fans) + 1
    f_out, t_out = [], []
    for f in range(fans):
        n = int(n_plays[f])
        home = rng.random(n) < loyalty
        idx, w = by_cluster[fan_cluster[f]]
        picks = np.empty(n, dtype=np.int64)
        k = int(home.sum())
        picks[home] = rng.choice(idx, k, p=w) if len(idx) and k else rng.choice(tracks, k, p=glob)
        picks[~home] = rng.choice(tracks, n - k, p=glob)
        f_out.append(np.full(n, f, dtype=np.int32))
        t_out.append(picks.astype(np.int32))
    fan = np.concatenate(f_out) if f_out else np.zeros(0, np.int32)
    track = np.concatenate(t_out) if t_out else np.zeros(0, np.int32)
    day = (rng.random(len(fan)) * days).astype(np.float32)
    weight = np.where(rng.random(len(fan)) < 0.6, 2.0, 1.0).astype(np.float32)
    tags, tempo, loudness = _features(rng, track_cluster, clusters)
    return Listening(fan, track, day, weight, track_artist, artist_cluster, fan_cluster, fans, tracks,
                     tags, tempo, loudness)


MOODS = ("chill", "dark", "euphoric", "dreamy", "raw", "warm")


def _features(rng, track_cluster: np.ndarray, clusters: int):
    c_tempo = 70.0 + 100.0 * np.arange(clusters) / max(1, clusters)     # 70..170 BPM spread over the tastes
    c_loud = -16.0 + 8.0 * ((np.arange(clusters) * 7) % clusters) / max(1, clusters)
    n = len(track_cluster)
    own = rng.random(n) < 0.7
    genre = np.where(own, track_cluster, rng.integers(0, clusters, n))
    tags = [(f"genre-{int(g)}", MOODS[int(m)]) for g, m in zip(genre, rng.integers(0, len(MOODS), n))]
    tempo = (c_tempo[track_cluster] * np.exp(rng.normal(0, 0.04, n))).astype(np.float32)
    loudness = (c_loud[track_cluster] + rng.normal(0, 1.5, n)).astype(np.float32)
    return tags, tempo, loudness
