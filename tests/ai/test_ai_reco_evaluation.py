"""Offline quality: the time-split evaluation on synthetic listening with planted taste clusters.
The model must beat the popularity baseline (and the baselines must beat random); the metric
functions are checked by hand; the CLI prints the table."""
from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from musicconnect_ai import evaluation, synthetic
from musicconnect_ai.cli import make_app


def test_metrics_by_hand():
    ranked = np.array([5, 1, 7, 3])
    assert evaluation.recall_at_k(ranked, {1, 3, 9}, k=4) == pytest.approx(2 / 3)
    assert evaluation.recall_at_k(ranked, {1}, k=2) == 1.0
    assert evaluation.recall_at_k(ranked, set(), k=2) == 0.0
    # hits at ranks 2 and 4: (1/log2(3) + 1/log2(5)) / (1 + 1/log2(3))
    assert evaluation.ndcg_at_k(ranked, {1, 3}, k=4) == pytest.approx((1 / np.log2(3) + 1 / np.log2(5)) / (1 + 1 / np.log2(3)))
    assert evaluation.ndcg_at_k(np.array([1, 3]), {1, 3}, k=10) == pytest.approx(1.0)


def test_synthetic_plants_clusters():
    d = synthetic.generate(fans=200, tracks=120, artists=12, clusters=3, seed=1)
    assert d.n_fans == 200 and len(d.track_artist) == 120 and len(d.fan) == len(d.track) == len(d.day)
    home = d.artist_cluster[d.track_artist[d.track]] == d.fan_cluster[d.fan]
    assert home.mean() > 0.75          # mostly the home taste: there is something to learn


@pytest.mark.parametrize("seed", [0, 3])
def test_the_model_beats_popularity_and_random(seed):
    rows = {r["method"]: r for r in evaluation.evaluate(synthetic.generate(seed=seed), seed=seed, threads=1)}
    assert rows["als"]["fans"] > 500
    for model in ("als", "itemitem"):
        assert rows[model]["recall@10"] > rows["popularity"]["recall@10"], rows
        assert rows[model]["ndcg@10"] > rows["popularity"]["ndcg@10"], rows
    assert rows["popularity"]["recall@10"] > rows["random"]["recall@10"]


def test_cli_evaluate_prints_the_table(mc_platform):
    app = make_app(mc_platform)
    r = CliRunner().invoke(app, ["evaluate", "--fans", "300", "--tracks", "200", "--clusters", "4"])
    assert r.exit_code == 0, r.output
    lines = r.output.strip().splitlines()
    assert lines[0].startswith("| method | recall@10 | NDCG@10")
    assert [ln.split("|")[1].strip() for ln in lines[2:]] == ["als", "itemitem", "popularity", "random"]
    r = CliRunner().invoke(app, ["evaluate", "--fans", "300", "--tracks", "200", "--clusters", "4", "--new-tracks"])
    assert r.exit_code == 0, r.output
    lines = r.output.strip().splitlines()
    assert lines[0].startswith("| method | tracks | recall@10")
    assert [ln.split("|")[1].strip() for ln in lines[2:]] == ["content"] * 2 + ["artist-only"] * 2 + ["random"] * 2
    r = CliRunner().invoke(app, ["evaluate", "--tracks", "20", "--clusters", "20"])
    assert r.exit_code == 1 and "error: need at least two tracks per cluster" in r.output


def test_cli_fit_and_rebuild_with_no_listening(mc_platform):
    app = make_app(mc_platform)
    r = CliRunner().invoke(app, ["rebuild"])
    assert r.exit_code == 0 and "0 fan-track pairs" in r.output, r.output
    r = CliRunner().invoke(app, ["fit"])
    assert r.exit_code == 0 and "status: skipped" in r.output, r.output


@pytest.mark.parametrize("seed", [0, 5])
def test_new_tracks_placed_by_content_beat_the_artist_alone_and_random(seed):
    """Cold start of uploads nobody has heard: placing them by tags, tempo and loudness (and the
    artist's audience) finds the fans who will play them; new artists' tracks are reached only
    through their content."""
    rows = {(r["method"], r["tracks"]): r for r in evaluation.evaluate_new(synthetic.generate(seed=seed), seed=seed,
                                                                            threads=1)}
    everything, newcomers = "all new tracks", "new artists' tracks"
    assert rows[("content", everything)]["fans"] > 300 and rows[("content", newcomers)]["fans"] > 100
    assert rows[("content", everything)]["placed"] == 1.0
    assert rows[("content", everything)]["recall@10"] > rows[("artist-only", everything)]["recall@10"] + 0.05, rows
    assert rows[("artist-only", everything)]["recall@10"] > rows[("random", everything)]["recall@10"], rows
    assert rows[("content", newcomers)]["recall@10"] > 2 * rows[("random", newcomers)]["recall@10"], rows
    assert rows[("artist-only", newcomers)]["placed"] == 0.0      # nothing known of a new artist but its content
