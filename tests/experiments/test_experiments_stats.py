"""The statistics (gbstats' frequentist method on scipy) against simulations whose truth is known:
the CI of the relative lift covers the true lift about 95 % of the time and the test detects a
real effect; an A/A test has about 5 % false positives; a broken allocation trips the SRM check."""
from __future__ import annotations

import numpy as np
from scipy import stats as st

from musicconnect_experiments.stats import Moments, guardrail_status, relative_lift, srm_p_value


def _binomial(rng, n, p):
    return Moments.binomial(n, int(rng.binomial(n, p)))


def test_known_conversion_effect_is_detected_and_covered():
    """10 % vs 13 % conversion (true relative lift +30 %), 5,000 users per variant, 400 runs."""
    rng = np.random.default_rng(19)
    true_lift = 0.13 / 0.10 - 1
    covered = detected = 0
    runs = 400
    for _ in range(runs):
        lift = relative_lift(_binomial(rng, 5000, 0.10), _binomial(rng, 5000, 0.13))
        covered += lift.ci_low <= true_lift <= lift.ci_high
        detected += lift.significant and lift.lift > 0
    assert 0.92 <= covered / runs <= 0.98, covered
    assert detected / runs > 0.95, detected  # power at this size is ~0.99


def test_one_large_experiment():
    rng = np.random.default_rng(7)
    control, treatment = _binomial(rng, 50_000, 0.10), _binomial(rng, 50_000, 0.13)
    lift = relative_lift(control, treatment)
    assert lift.significant and lift.p_value < 1e-10
    assert lift.ci_low < 0.30 < lift.ci_high and lift.ci_high - lift.ci_low < 0.1
    # near the null, the delta-method test agrees with scipy's Welch t-test on the raw data
    c_n, t_n, c_k, t_k = 5000, 5000, 500, 540
    near = relative_lift(Moments.binomial(c_n, c_k), Moments.binomial(t_n, t_k))
    c = np.r_[np.ones(c_k), np.zeros(c_n - c_k)]
    t = np.r_[np.ones(t_k), np.zeros(t_n - t_k)]
    assert abs(near.p_value - st.ttest_ind(t, c, equal_var=False).pvalue) < 0.02


def test_a_a_false_positive_rate_is_about_alpha():
    rng = np.random.default_rng(2026)
    runs, positives = 2000, 0
    for _ in range(runs):
        positives += relative_lift(_binomial(rng, 2000, 0.10), _binomial(rng, 2000, 0.10)).significant
    assert 0.035 <= positives / runs <= 0.065, positives


def test_count_metric_with_a_known_mean_change():
    """Plays per user: Poisson(2.0) vs Poisson(2.2), true lift +10 %."""
    rng = np.random.default_rng(3)
    covered, runs = 0, 300
    for _ in range(runs):
        lift = relative_lift(Moments.of(rng.poisson(2.0, 3000).tolist()), Moments.of(rng.poisson(2.2, 3000).tolist()))
        covered += lift.ci_low <= 0.10 <= lift.ci_high
    assert 0.92 <= covered / runs <= 0.98, covered
    m = Moments.of([1, 2, 3, 4])
    assert m.mean == 2.5 and abs(m.variance - np.var([1, 2, 3, 4], ddof=1)) < 1e-12


def test_sample_ratio_mismatch():
    rng = np.random.default_rng(11)
    healthy = [srm_p_value(list(rng.multinomial(10_000, [0.5, 0.5])), [50, 50]) for _ in range(500)]
    assert sum(p < 0.001 for p in healthy) <= 3  # ~0.1 % false alarms
    assert srm_p_value([5000, 5400], [50, 50]) < 0.001  # 4 % of one arm lost: caught
    assert srm_p_value([6000, 3000, 1000], [60, 30, 10]) > 0.5  # uneven weights honoured
    assert srm_p_value([0, 0], [1, 1]) is None


def test_degenerate_cases_and_guardrails():
    assert relative_lift(Moments.binomial(1000, 0), Moments.binomial(1000, 5)).error == "the control's mean is zero"
    assert relative_lift(Moments(1, 1, 1), Moments(5, 2, 2)).lift is None
    rng = np.random.default_rng(5)
    worse = relative_lift(Moments.of(rng.poisson(3.0, 4000).tolist()), Moments.of(rng.poisson(2.4, 4000).tolist()))
    assert guardrail_status(worse, higher_is_better=True, threshold=0.05) == "harm"
    assert guardrail_status(worse, higher_is_better=False, threshold=0.05) == "ok"
    noisy = relative_lift(Moments.of(rng.poisson(3.0, 30).tolist()), Moments.of(rng.poisson(2.6, 30).tolist()))
    assert guardrail_status(noisy, higher_is_better=True, threshold=0.05) in ("warning", "ok")
