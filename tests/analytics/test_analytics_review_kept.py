"""Review: figures of past days kept per process are bounded in size, not only in number: an
artist asking top fans with many different ``end`` values must not make the process keep one
per-fan map per request (64 maps of 100,000 fans is about a gigabyte)."""
from __future__ import annotations

from musicconnect_analytics import rollups


def _kept_items(platform) -> int:
    """The per-fan entries the process keeps (the dicts inside the kept values)."""
    def size(v):
        if isinstance(v, dict):
            return len(v)
        return sum(size(x) for x in v) if isinstance(v, (tuple, list)) else 0
    return sum(size(e[2]) for e in rollups._kept.get(platform, {}).values())


def test_kept_figures_stay_within_the_item_budget(mc_platform, mc_users, monkeypatch):
    monkeypatch.setattr(rollups, "KEEP_ITEMS", 1_000, raising=False)
    a = mc_users.artist.artist_id
    calls = []

    def per_fan_map(i):
        def compute():
            calls.append(i)
            return {f"fan-{j}": j for j in range(300)}, [f"fan-{j}" for j in range(10)]
        return compute

    for i in range(20):  # twenty different periods, each a 300-fan map
        value = rollups.keep_past(mc_platform, a, ("top", "fan_plays", i), per_fan_map(i))
        assert len(value[0]) == 300
    assert _kept_items(mc_platform) <= 1_000
    assert len(rollups._kept[mc_platform]) < 20
    # the latest figure is still kept (computed once), the oldest was dropped (computed again)
    rollups.keep_past(mc_platform, a, ("top", "fan_plays", 19), per_fan_map(19))
    assert calls.count(19) == 1
    rollups.keep_past(mc_platform, a, ("top", "fan_plays", 0), per_fan_map(0))
    assert calls.count(0) == 2


def test_a_figure_larger_than_the_budget_is_computed_but_not_kept(mc_platform, mc_users, monkeypatch):
    monkeypatch.setattr(rollups, "KEEP_ITEMS", 100, raising=False)
    a = mc_users.artist.artist_id
    big = rollups.keep_past(mc_platform, a, ("segments", 1), lambda: {str(j): j for j in range(500)})
    assert len(big) == 500 and _kept_items(mc_platform) <= 100
