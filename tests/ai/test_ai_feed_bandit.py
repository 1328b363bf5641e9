"""The bandit over many simulated pages (seeded): the exploration share lands on the setting,
small artists are not starved by popularity, Thompson sampling learns completion."""
from __future__ import annotations

import random
from collections import Counter

import pytest

from musicconnect_ai.bandit import EXPLORE, Candidate, compose, explore_slots


def catalogue(rng):
    """40 tracks of 8 popular artists that fans complete, 20 of 10 small artists with no evidence."""
    big = [Candidate(f"b{i}", f"B{i % 8}", completions=rng.randint(200, 400), non_completions=rng.randint(50, 100),
                     popularity=1.0) for i in range(40)]
    small = [Candidate(f"s{i}", f"S{i % 10}", popularity=0.05, explore=True) for i in range(20)]
    return big, small


@pytest.mark.parametrize("share", [0.0, 0.2, 0.35, 0.5])
def test_exploration_share_matches_the_setting(share):
    rng = random.Random(1600 + int(share * 100))
    big, small = catalogue(rng)
    buckets = Counter()
    pages = 2000
    for _ in range(pages):
        page = compose(big + small, 10, share, rng)
        assert len(page) == 10 and len({c.track_id for c, _ in page}) == 10
        assert max(Counter(c.artist_id for c, _ in page).values()) <= 3
        buckets.update(b for _, b in page)
    measured = buckets[EXPLORE] / (pages * 10)
    assert abs(measured - share) < 0.01, measured


def test_explore_slots_expectation_is_exact():
    rng = random.Random(7)
    assert explore_slots(10, 0.2, rng) == 2 and explore_slots(10, 0.0, rng) == 0 and explore_slots(10, 1.0, rng) == 10
    counts = Counter(explore_slots(10, 0.25, rng) for _ in range(4000))
    assert set(counts) == {2, 3} and abs(counts[3] / 4000 - 0.5) < 0.05


def test_small_artists_are_starved_without_the_reserve_and_served_with_it():
    rng = random.Random(42)
    big, small = catalogue(rng)
    small_artists = {c.artist_id for c in small}

    def impressions(share):
        seen = Counter()
        for _ in range(500):
            seen.update(c.artist_id for c, _ in compose(big + small, 10, share, rng) if c.artist_id in small_artists)
        return seen

    starved = impressions(0.0)
    served = impressions(0.2)
    assert sum(starved.values()) < 0.02 * 5000  # popularity and evidence win nearly every slot
    assert sum(served.values()) >= 0.2 * 5000
    assert set(served) == small_artists  # Thompson draws spread the reserve over every small artist
    assert min(served.values()) >= 40


def test_thompson_sampling_prefers_what_gets_completed():
    rng = random.Random(3)
    good = Candidate("good", "A", completions=80, non_completions=20)
    bad = Candidate("bad", "B", completions=20, non_completions=80)
    fresh = Candidate("fresh", "C")  # no evidence: a wide posterior, sometimes first
    firsts = Counter(compose([good, bad, fresh], 1, 0.0, rng)[0][0].track_id for _ in range(2000))
    assert firsts["good"] > firsts["fresh"] > firsts["bad"]
    assert firsts["fresh"] > 100


def test_a_liked_artist_leads_and_a_muted_one_only_fills():
    rng = random.Random(5)
    liked = [Candidate(f"l{i}", "L", affinity=2.0) for i in range(5)]
    neutral = [Candidate(f"n{i}", f"N{i}") for i in range(5)]
    muted = [Candidate(f"m{i}", "M", affinity=-3.0, completions=99) for i in range(5)]
    page = compose(liked + neutral + muted, 10, 0.0, rng)
    assert page[0][0].artist_id == "L"
    assert [c.artist_id for c, _ in page].count("M") == 0
    page = compose(liked[:1] + muted, 4, 0.0, rng)  # nothing else left: muted tracks fill
    assert [c.artist_id for c, _ in page] == ["L", "M", "M", "M"]
