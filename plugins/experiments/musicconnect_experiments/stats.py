"""Frequentist statistics of an experiment, the way GrowthBook's ``gbstats`` frequentist engine
computes them (re-implemented on scipy; gbstats itself cannot share an environment with the
analytics plugin's pandas):

* per variant: users, mean and sample variance of a per-user metric, a CI of the mean;
* relative lift of a variant over the control, ``(m_t - m_c) / m_c``, with a delta-method variance
  ``v_t / (n_t m_c^2) + v_c m_t^2 / (n_c m_c^4)``, Welch-Satterthwaite degrees of freedom, a
  two-sided t CI and p-value;
* sample-ratio mismatch: a chi-square test of the users per variant against the allocation
  weights (GrowthBook warns below p = 0.001).

Everything takes sufficient statistics (n, sum, sum of squares), so a million users cost nothing.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from scipy import stats as _st

SRM_THRESHOLD = 0.001


@dataclass(frozen=True, slots=True)
class Moments:
    """Sufficient statistics of a per-user metric in one variant."""

    n: int
    total: float
    total_sq: float

    @classmethod
    def of(cls, values: Sequence[float]) -> "Moments":
        return cls(len(values), float(sum(values)), float(sum(v * v for v in values)))

    @classmethod
    def binomial(cls, n: int, converted: int) -> "Moments":
        return cls(n, float(converted), float(converted))

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else 0.0

    @property
    def variance(self) -> float:
        if self.n < 2:
            return 0.0
        return max((self.total_sq - self.total * self.total / self.n) / (self.n - 1), 0.0)


@dataclass(frozen=True, slots=True)
class Lift:
    """A variant against the control: relative lift, its CI, the p-value (None when undefined)."""

    lift: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    significant: bool
    error: str | None = None

    def as_dict(self) -> dict:
        return {"lift": self.lift, "lift_ci": [self.ci_low, self.ci_high] if self.lift is not None else None,
                "p_value": self.p_value, "significant": self.significant, "error": self.error}


def mean_ci(m: Moments, alpha: float = 0.05) -> tuple[float, float] | None:
    """A t confidence interval of the variant's mean."""
    if m.n < 2:
        return None
    half = _st.t.ppf(1 - alpha / 2, m.n - 1) * math.sqrt(m.variance / m.n)
    return m.mean - half, m.mean + half


def welch_dof(c: Moments, t: Moments) -> float:
    a, b = c.variance / c.n, t.variance / t.n
    den = (a * a / (c.n - 1) if c.n > 1 else 0) + (b * b / (t.n - 1) if t.n > 1 else 0)
    return (a + b) ** 2 / den if den > 0 else float(max(c.n + t.n - 2, 1))


def relative_lift(control: Moments, treatment: Moments, alpha: float = 0.05) -> Lift:
    """Relative lift of ``treatment`` over ``control``: delta-method CI, Welch t-test p-value."""
    if control.n < 2 or treatment.n < 2:
        return Lift(None, None, None, None, False, "too few users")
    mc, mt = control.mean, treatment.mean
    if mc == 0:
        return Lift(None, None, None, None, False, "the control's mean is zero")
    var = treatment.variance / (treatment.n * mc ** 2) + control.variance * mt ** 2 / (control.n * mc ** 4)
    lift = (mt - mc) / mc
    if var <= 0:
        return Lift(lift, lift, lift, None, False, "zero variance")
    se = math.sqrt(var)
    dof = welch_dof(control, treatment)
    crit = _st.t.ppf(1 - alpha / 2, dof)
    p = float(2 * _st.t.sf(abs(lift / se), dof))
    return Lift(lift, lift - crit * se, lift + crit * se, p, p < alpha)


def srm_p_value(counts: Sequence[int], weights: Sequence[float]) -> float | None:
    """Chi-square p-value of the users per variant against the allocation weights."""
    total, wsum = sum(counts), sum(weights)
    if total == 0 or wsum <= 0 or len(counts) < 2:
        return None
    expected = [total * w / wsum for w in weights]
    pairs = [(o, e) for o, e in zip(counts, expected) if e > 0]
    if len(pairs) < 2:
        return None
    chi = sum((o - e) ** 2 / e for o, e in pairs)
    return float(_st.chi2.sf(chi, len(pairs) - 1))


def guardrail_status(lift: Lift, *, higher_is_better: bool, threshold: float) -> str:
    """``harm``: significantly worse and by more than ``threshold`` (relative); ``warning``: worse
    by more than the threshold but not significant yet; ``ok`` otherwise (or unknown)."""
    if lift.lift is None:
        return "ok"
    worse = -lift.lift if higher_is_better else lift.lift
    if worse > threshold:
        return "harm" if lift.significant else "warning"
    return "ok"
