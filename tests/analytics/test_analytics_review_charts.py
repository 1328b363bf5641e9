"""Review: the cost of one chart request is bounded whatever its period: ten years of daily
revenue movements are drawn in buckets (at most ``MAX_BARS`` bars), not 3,650 bars per movement
(which took ~9 s of CPU and a 3.6 MB SVG per request, with a cache any ``end`` or size bypasses)."""
from __future__ import annotations

from datetime import date, timedelta

from musicconnect_analytics import charts


def _bars(svg: bytes) -> int:
    return svg.count(b'id="patch_')


def _data(n):
    days = [date(2016, 1, 1) + timedelta(days=i) for i in range(n)]
    moves = {name: [100 + (i % 7) for i in range(n)] for name, _ in charts.MOVEMENTS}
    return days, moves, [1000 * (i + 1) for i in range(n)]


def test_a_ten_year_period_draws_a_bounded_number_of_bars():
    svg = charts.revenue_movements(*_data(3650), fmt="svg", width=2400, height=2400)
    assert _bars(svg) <= 5 * charts.MAX_BARS + 40  # the bars, the axes' frames and the legend's swatches
    assert len(svg) < 1_000_000


def test_a_short_period_keeps_one_bar_a_day_and_buckets_keep_the_totals(monkeypatch):
    short = charts.revenue_movements(*_data(60), fmt="svg")
    assert _bars(short) >= 5 * 60
    drawn = []
    real = charts.Figure.add_subplot

    def spy(fig, *a, **kw):
        ax = real(fig, *a, **kw)
        bar = ax.bar

        def record(x, vals, **kw2):
            drawn.append((kw2.get("label"), list(vals)))
            return bar(x, vals, **kw2)

        ax.bar = record
        return ax

    monkeypatch.setattr(charts.Figure, "add_subplot", spy)
    days, moves, mrr = _data(365)
    charts.revenue_movements(days, moves, mrr, fmt="png")
    new = [v for label, v in drawn if label == "new"][0]
    assert len(new) <= charts.MAX_BARS
    assert round(sum(new) * 100) == sum(moves["new"])  # no movement lost to the buckets


def test_the_api_answers_a_ten_year_chart(mc_client, mc_users):
    artist = mc_users.artist
    r = mc_client.get(f"/api/v1/analytics/artists/{artist.artist_id}/charts/revenue-movements",
                      headers=artist.headers, params={"days": 3650, "format": "svg", "width": 2400, "height": 2400})
    assert r.status_code == 200, r.text
    assert _bars(r.content) <= 5 * charts.MAX_BARS + 40
