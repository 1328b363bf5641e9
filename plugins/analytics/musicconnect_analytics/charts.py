"""Charts of the artist's dashboard as PNG or SVG bytes (matplotlib, Agg backend).

Pure functions from plain data to image bytes; :mod:`.charts_api` fetches the data (from
``revenue``, ``audience``, ``ltv``, ``release_time``) and serves them. No global pyplot state:
each chart is a fresh :class:`matplotlib.figure.Figure` on its own Agg canvas, so charts render
safely from several threads at once.

* :func:`revenue_movements` ``(days, movements, mrr=None, currency="EUR")``: stacked daily bars
  (buckets of days past ``MAX_BARS`` days) of MRR movements (``new``, ``expansion``, ``reactivation`` up; ``contraction``, ``churn`` down;
  minor units, drawn in major units) and the MRR line on a second axis.
* :func:`retention_heatmap` ``(cohorts, matrix, sizes=None)``: rows = first-support months,
  columns = months since, values = share still retained (0..1, ``None`` = not yet observed).
* :func:`survival_curve` ``(tiers)``: the LTV fit's ``tiers`` (``ltv.fit_ltv``): per tier the
  Kaplan–Meier steps (``survival``: ``month``, ``survival``, ``ci``) with their 95 % band, the
  Weibull curve when fitted, the LTV in the legend.
* :func:`activity_heatmap` ``(matrix, best=())``: 7 weekdays (Monday first) × 24 hours of activity
  (any unit; square-root colour scale), the best slots (``(weekday, hour)``) outlined.

Every function takes ``fmt`` (``"png"`` or ``"svg"``), ``width`` and ``height`` in pixels
(``SIZE`` by default; PNG at ``DPI``) and ``title``.
"""
from __future__ import annotations

import io
import math
from collections.abc import Sequence
from datetime import date

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg  # Agg without pyplot: no global state
from matplotlib.colors import PowerNorm
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

FORMATS = {"png": "image/png", "svg": "image/svg+xml"}
SIZE = (960, 540)
DPI = 100
MAX_SIDE = 2400
#: at most this many bars in :func:`revenue_movements`: a longer period is drawn in buckets of
#: several days (sums of movements, MRR at each bucket's end), so ten years cost 120 bars, not 3,650
MAX_BARS = 120
MOVEMENTS = (("new", "#2e7d32"), ("expansion", "#66bb6a"), ("reactivation", "#26a69a"),
             ("contraction", "#ffa726"), ("churn", "#e53935"))
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
PALETTE = ("#1565c0", "#c62828", "#2e7d32", "#6a1b9a", "#ef6c00", "#00838f")


def _figure(width: int, height: int) -> Figure:
    if not (100 <= width <= MAX_SIDE and 100 <= height <= MAX_SIDE):
        raise ValueError(f"width and height must be within 100..{MAX_SIDE} pixels")
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _render(fig: Figure, fmt: str) -> bytes:
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    buf = io.BytesIO()
    # fixed size (no bbox_inches="tight"): the image is exactly width x height pixels
    fig.savefig(buf, format=fmt, dpi=DPI, metadata={"Software": None} if fmt == "png" else {"Date": None})
    return buf.getvalue()


def _empty(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=14, color="#757575", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _money(v: float, currency: str) -> str:
    return f"{v:,.0f} {currency}" if abs(v) >= 100 else f"{v:,.2f} {currency}"


# ---------------------------------------------------------------------------------- revenue
def revenue_movements(days: Sequence[date], movements: dict[str, Sequence[int]], mrr: Sequence[int] | None = None,
                      *, currency: str = "EUR", fmt: str = "png", width: int = SIZE[0], height: int = SIZE[1],
                      title: str = "MRR movements") -> bytes:
    fig = _figure(width, height)
    ax = fig.add_subplot()
    ax.set_title(title, fontsize=14, loc="left")
    n = len(days)
    if n == 0:
        _empty(ax, "No revenue in this period yet")
        return _render(fig, fmt)
    for name, _ in MOVEMENTS:
        if len(movements.get(name) or [0] * n) != n:
            raise ValueError(f"movement {name!r} has {len(movements[name])} values for {n} days")
    if n > MAX_BARS:
        k = math.ceil(n / MAX_BARS)
        movements = {name: [sum(vs[i:i + k]) for i in range(0, n, k)]
                     for name, vs in ((name, movements.get(name) or [0] * n) for name, _ in MOVEMENTS)}
        mrr = [mrr[min(i + k, n) - 1] for i in range(0, n, k)] if mrr is not None else None
        days = list(days)[::k]
        n = len(days)
    x = list(range(n))
    up, down = [0.0] * n, [0.0] * n
    for name, color in MOVEMENTS:
        values = [v / 100 for v in (movements.get(name) or [0] * n)]
        sign = -1 if name in ("contraction", "churn") else 1
        vals = [sign * abs(v) for v in values]
        base = down if sign < 0 else up
        ax.bar(x, vals, bottom=list(base), color=color, label=name, width=0.8)
        for i, v in enumerate(vals):
            base[i] += v
    ax.axhline(0, color="#424242", linewidth=0.8)
    ax.set_ylabel(f"movement ({currency} per month)")
    ax.grid(axis="y", alpha=0.3)
    step = max(1, math.ceil(n / 10))
    ax.set_xticks(x[::step], [d.strftime("%d %b") for d in list(days)[::step]], rotation=0, fontsize=9)
    handles, labels = ax.get_legend_handles_labels()
    if mrr is not None:
        ax2 = ax.twinx()
        ax2.plot(x, [v / 100 for v in mrr], color="#1565c0", linewidth=2.2, label="MRR")
        ax2.set_ylabel(f"MRR ({currency})", color="#1565c0")
        ax2.tick_params(axis="y", colors="#1565c0")
        ax2.set_ylim(bottom=0)
        h2, l2 = ax2.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
        ax.set_title(f"now {_money(mrr[-1] / 100, currency)}", fontsize=11, loc="right", color="#1565c0")
    ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.07), fontsize=9, ncol=6, frameon=False)
    fig.subplots_adjust(left=0.08, right=0.9, top=0.9, bottom=0.16)
    return _render(fig, fmt)


# ---------------------------------------------------------------------------------- retention
def retention_heatmap(cohorts: Sequence[str], matrix: Sequence[Sequence[float | None]],
                      sizes: Sequence[int] | None = None, *, fmt: str = "png", width: int = SIZE[0],
                      height: int = SIZE[1], title: str = "Retention by first-support month") -> bytes:
    import numpy as np

    fig = _figure(width, height)
    ax = fig.add_subplot()
    ax.set_title(title, fontsize=14, loc="left")
    if not cohorts:
        _empty(ax, "No supporters yet")
        return _render(fig, fmt)
    cols = max(len(r) for r in matrix)
    data = np.full((len(cohorts), cols), np.nan)
    for i, row in enumerate(matrix):
        for j, v in enumerate(row):
            if v is not None:
                data[i, j] = v
    cmap = matplotlib.colormaps["YlGnBu"].with_extremes(bad="#f5f5f5")
    im = ax.imshow(np.ma.masked_invalid(data), cmap=cmap, vmin=0, vmax=1, aspect="auto")
    small = len(cohorts) * cols <= 400
    for i in range(len(cohorts)):
        for j in range(cols):
            if small and not np.isnan(data[i, j]):
                v = data[i, j]
                ax.text(j, i, f"{v:.0%}", ha="center", va="center", fontsize=8,
                        color="white" if v > 0.6 else "#212121")
    labels = [f"{c} ({sizes[i]})" if sizes else str(c) for i, c in enumerate(cohorts)]
    ax.set_yticks(range(len(cohorts)), labels, fontsize=9)
    step = max(1, math.ceil(cols / 24))
    ax.set_xticks(range(0, cols, step), [str(j) for j in range(0, cols, step)], fontsize=9)
    ax.set_xlabel("months since first support")
    ax.set_ylabel("cohort (first-support month, size)")
    cb = fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02)
    cb.set_label("still supporting")
    cb.ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    fig.subplots_adjust(left=0.17, right=0.93, top=0.9, bottom=0.1)
    return _render(fig, fmt)


# ---------------------------------------------------------------------------------- survival
def survival_curve(tiers: Sequence[dict], *, currency: str | None = None, fmt: str = "png", width: int = SIZE[0],
                   height: int = SIZE[1], title: str = "Subscription survival and lifetime value") -> bytes:
    fig = _figure(width, height)
    ax = fig.add_subplot()
    ax.set_title(title, fontsize=14, loc="left")
    drawn = [t for t in tiers if t.get("survival")]
    if not drawn:
        _empty(ax, "No subscriptions to fit yet")
        return _render(fig, fmt)
    top = 1
    for k, tier in enumerate(drawn):
        color = PALETTE[k % len(PALETTE)]
        pts = tier["survival"]
        months = [p["month"] for p in pts]
        top = max(top, months[-1])
        label = tier.get("name") or tier.get("key") or f"tier {k + 1}"
        if tier.get("ltv") is not None:
            cur = currency or tier.get("currency") or ""
            label += f": LTV {_money(tier['ltv'] / 100, cur)}"
            if tier.get("ltv_ci"):
                lo, hi = tier["ltv_ci"]
                label += f" ({lo / 100:,.0f}–{hi / 100:,.0f})"
        ax.step(months, [p["survival"] for p in pts], where="post", color=color, linewidth=2, label=label)
        if all(p.get("ci") for p in pts):
            ax.fill_between(months, [p["ci"][0] for p in pts], [p["ci"][1] for p in pts], step="post",
                            color=color, alpha=0.15)
        wb = tier.get("weibull")
        if wb:
            lam, rho = wb["lambda"], wb["rho"]
            xs = [i / 4 for i in range(0, int(max(months[-1], 12) * 4) + 1)]
            ax.plot(xs, [math.exp(-((x / lam) ** rho)) for x in xs], color=color, linestyle="--", linewidth=1.2)
            top = max(top, xs[-1])
    ax.plot([], [], color="#616161", linestyle="--", label="Weibull fit")
    ax.set_xlim(0, top)
    ax.set_ylim(0, 1.02)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("months since subscribing")
    ax.set_ylabel("still subscribed")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=9, framealpha=0.9)
    fig.subplots_adjust(left=0.09, right=0.97, top=0.9, bottom=0.1)
    return _render(fig, fmt)


# ---------------------------------------------------------------------------------- activity
def activity_heatmap(matrix: Sequence[Sequence[float]], best: Sequence[tuple[int, int]] = (), *,
                     unit: str = "activity", fmt: str = "png", width: int = SIZE[0], height: int = SIZE[1],
                     title: str = "When your followers listen") -> bytes:
    import numpy as np
    from matplotlib.patches import Rectangle

    fig = _figure(width, height)
    ax = fig.add_subplot()
    ax.set_title(title, fontsize=14, loc="left")
    data = np.asarray(matrix, dtype=float) if len(matrix) else np.zeros((7, 24))
    if data.shape != (7, 24):
        raise ValueError("the activity matrix is 7 weekdays x 24 hours")
    if not data.any():
        _empty(ax, "No listening activity yet")
        return _render(fig, fmt)
    # square-root colour scale: a planted peak must not wash out the rest of the week's rhythm
    im = ax.imshow(data, cmap="magma_r", aspect="auto", norm=PowerNorm(0.5, vmin=0, vmax=float(data.max())))
    for rank, (wd, hour) in enumerate(best):
        ax.add_patch(Rectangle((hour - 0.5, wd - 0.5), 1, 1, fill=False, edgecolor="#00e676", linewidth=2.5))
        ax.text(hour, wd, str(rank + 1), ha="center", va="center", fontsize=9, fontweight="bold", color="#00e676")
    ax.set_yticks(range(7), WEEKDAYS)
    ax.set_xticks(range(0, 24, 2), [f"{h:02d}h" for h in range(0, 24, 2)], fontsize=9)
    ax.set_xlabel("hour (followers' local time)")
    if best:
        ax.set_title("best slots outlined: " + ", ".join(f"{WEEKDAYS[w]} {h:02d}h" for w, h in best),
                     fontsize=10, loc="right")
    cb = fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02)
    cb.set_label(unit)
    fig.subplots_adjust(left=0.07, right=0.93, top=0.9, bottom=0.12)
    return _render(fig, fmt)


CHARTS = {"revenue-movements": revenue_movements, "retention": retention_heatmap, "survival": survival_curve,
          "activity": activity_heatmap}
