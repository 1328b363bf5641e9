"""The discovery feed's bandit: Thompson sampling over Beta posteriors of completion, with a
reserved share of impressions for new and small artists.

Pure functions over plain values (no database), so the exploration share can be simulated over
many pages with a seeded generator.

* Each track's completion rate has a ``Beta(1 + completions, 1 + non_completions)`` posterior;
  a page draws one sample per candidate (Thompson sampling): a track with little evidence gets a
  wide posterior, so it is sometimes drawn high and gets shown (exploration), while a track that
  keeps getting skipped sinks.
* ``explore_share`` of the slots of a page (in expectation: the fractional slot is a coin flip,
  so a page of 10 at 25 % has 2 or 3) go to candidates of the *explore* bucket (new and small
  artists); the rest to the *main* bucket (everyone, popularity counts). When the explore bucket
  runs dry the main bucket (which holds every candidate) fills the page; when the per-artist cap leaves
  holes, the cap is relaxed in score order, so a page is always full when there are enough
  candidates.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

EXPLORE = "explore"
MAIN = "main"
#: a fan's affinity at or below this (two net skips of an artist) mutes the artist: its tracks
#: only fill a page when nothing else is left
MUTED_BELOW = -1.5


@dataclass(slots=True)
class Candidate:
    """One playable track for one fan. ``affinity`` is the fan's learnt taste for the artist
    (likes raise it, skips lower it); ``popularity`` is in [0, 1] (the artist's engaged fans,
    relative to the biggest); ``explore`` marks new and small artists."""

    track_id: object
    artist_id: object
    completions: int = 0
    non_completions: int = 0
    affinity: float = 0.0
    popularity: float = 0.0
    explore: bool = False
    boost: float = 0.0  # personal recommendation (the reco model's candidates for this fan), 0..1
    extra: dict = field(default_factory=dict)


def sample(c: Candidate, rng: random.Random) -> float:
    """One Thompson draw of the track's completion rate."""
    return rng.betavariate(1.0 + max(0, c.completions), 1.0 + max(0, c.non_completions))


def score(c: Candidate, theta: float, bucket: str) -> float:
    """The ranking score of a candidate: the fan's affinity for the artist dominates (a liked
    artist's tracks come before strangers', a skipped artist's after), then the completion draw
    and the personal recommendation boost; in the main bucket popularity adds up to 0.5."""
    s = c.affinity + theta + c.boost
    if bucket == MAIN:
        s += 0.5 * c.popularity
    return s


def explore_slots(n: int, share: float, rng: random.Random) -> int:
    """How many of ``n`` slots go to the explore bucket: ``n * share`` with the fractional part a
    coin flip, so the expected share is exactly ``share``."""
    share = min(1.0, max(0.0, share))
    exact = n * share
    k = math.floor(exact)
    if rng.random() < exact - k:
        k += 1
    return min(n, k)


def compose(candidates: list[Candidate], n: int, share: float, rng: random.Random,
            max_per_artist: int = 3) -> list[tuple[Candidate, str]]:
    """Pick ``n`` candidates: ``explore_slots`` from the explore bucket, the rest from the main
    bucket (which holds every candidate), each ranked by its Thompson score, at most
    ``max_per_artist`` per artist, then interleaved (explore cards spread through the page).
    Artists the fan keeps skipping (affinity at or below ``MUTED_BELOW``) are neither explored
    nor ranked: they only fill what is left. Returns ``(candidate, bucket)`` pairs in display
    order."""
    if n <= 0 or not candidates:
        return []
    draws = {id(c): sample(c, rng) for c in candidates}
    wanted = [c for c in candidates if c.affinity > MUTED_BELOW]
    muted = [c for c in candidates if c.affinity <= MUTED_BELOW]
    explore = sorted((c for c in wanted if c.explore), key=lambda c: score(c, draws[id(c)], EXPLORE), reverse=True)
    main = sorted(wanted, key=lambda c: score(c, draws[id(c)], MAIN), reverse=True)
    k = explore_slots(n, share, rng)
    per_artist: dict = {}
    taken: set = set()

    def take(pool, count, bucket, out, cap):
        for c in pool:
            if len(out) >= count:
                break
            if id(c) in taken or per_artist.get(c.artist_id, 0) >= cap:
                continue
            taken.add(id(c))
            per_artist[c.artist_id] = per_artist.get(c.artist_id, 0) + 1
            out.append((c, bucket))

    picked_explore: list = []
    take(explore, k, EXPLORE, picked_explore, max_per_artist)
    picked_main: list = []
    rest = n - len(picked_explore)
    take(main, rest, MAIN, picked_main, max_per_artist)
    take(main, rest, MAIN, picked_main, n)  # the per-artist cap left holes: relax it, in score order
    # artists the fan keeps skipping come last, only when nothing else is left
    take(sorted(muted, key=lambda c: score(c, draws[id(c)], MAIN), reverse=True), rest, MAIN, picked_main, n)
    # interleave: explore cards at evenly spaced positions, the best main cards first
    out: list = []
    total = len(picked_explore) + len(picked_main)
    ei = mi = 0
    for pos in range(total):
        want_explore = ei < len(picked_explore) and (
            mi >= len(picked_main) or (ei + 1) * total <= (pos + 1) * len(picked_explore))
        if want_explore:
            out.append(picked_explore[ei])
            ei += 1
        else:
            out.append(picked_main[mi])
            mi += 1
    return out
