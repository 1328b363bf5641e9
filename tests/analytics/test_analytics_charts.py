"""Charts: real PNG and SVG bytes of the right size for every chart (from hand-made data, and
through the HTTP API from a synthetic artist's rollups), who may read them, and the short cache.
One image of each chart is kept in /tmp/analytics-charts/ to be looked at."""
from __future__ import annotations

import io
import math
import random
import threading
import xml.etree.ElementTree as ET
from datetime import date, timedelta
from pathlib import Path

import pytest
from PIL import Image

from musicconnect.testing import make_user

from musicconnect_analytics import charts, charts_api, rollups, synthetic

OUT = Path("/tmp/analytics-charts")
PNG = b"\x89PNG\r\n\x1a\n"
SVG_NS = "{http://www.w3.org/2000/svg}svg"


def _png(body: bytes, size=charts.SIZE) -> Image.Image:
    assert body[:8] == PNG
    img = Image.open(io.BytesIO(body))
    img.load()
    assert img.format == "PNG" and img.size == size
    return img


def _svg(body: bytes) -> ET.Element:
    root = ET.fromstring(body)
    assert root.tag == SVG_NS
    return root


def _save(name: str, body: bytes) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / name).write_bytes(body)


def _colours(img: Image.Image) -> int:
    return len(img.convert("RGB").getcolors(maxcolors=1 << 20) or ())


# ------------------------------------------------------------------ hand-made data
def _revenue_data():
    r = random.Random(3)
    days = [date(2026, 5, 1) + timedelta(days=i) for i in range(31)]
    moves = {k: [r.randint(0, 3) * 500 for _ in days] for k in ("new", "expansion", "reactivation", "contraction", "churn")}
    mrr, m = [], 50_000
    for i in range(len(days)):
        m += moves["new"][i] + moves["expansion"][i] + moves["reactivation"][i] - moves["contraction"][i] - moves["churn"][i]
        mrr.append(m)
    return days, moves, mrr


def _retention_data():
    cohorts = ["2025-10", "2025-11", "2025-12", "2026-01", "2026-02"]
    matrix = [[round(0.85 ** j, 3) for j in range(len(cohorts) - i)] for i in range(len(cohorts))]
    return cohorts, matrix, [40, 52, 33, 61, 18]


def _survival_data():
    tiers = []
    for name, hazard, price in (("Supporter", 0.10, 500), ("Superfan", 0.06, 1500)):
        pts = [{"month": m, "survival": math.exp(-hazard * m), "ci": [math.exp(-hazard * m) * 0.9, 1.0]} for m in range(13)]
        tiers.append({"name": name, "currency": "EUR", "survival": pts, "weibull": {"lambda": 1 / hazard, "rho": 1.0},
                      "ltv": price / hazard, "ltv_ci": [price / hazard * 0.9, price / hazard * 1.1]})
    return tiers


def _activity_data():
    return [[1 + h / 4 + (10 if (wd, h) == (4, 20) else 0) for h in range(24)] for wd in range(7)]


CASES = {
    "revenue-movements": lambda **kw: charts.revenue_movements(*_revenue_data(), **kw),
    "retention": lambda **kw: charts.retention_heatmap(*_retention_data(), **kw),
    "survival": lambda **kw: charts.survival_curve(_survival_data(), **kw),
    "activity": lambda **kw: charts.activity_heatmap(_activity_data(), [(4, 20), (5, 19)], unit="plays", **kw),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_chart_renders_png_and_svg(name):
    png = CASES[name](fmt="png")
    img = _png(png)
    assert _colours(img) > 20  # drawn, not a blank canvas
    _save(f"{name}.png", png)
    svg = CASES[name](fmt="svg")
    root = _svg(svg)
    assert root.get("width", "").startswith("691") or root.get("viewBox")  # 960 px at 100 dpi = 691.2 pt
    _save(f"{name}.svg", svg)
    small = CASES[name](fmt="png", width=480, height=300)
    _png(small, (480, 300))


def test_empty_data_still_gives_an_image_that_says_so():
    for body in (charts.revenue_movements([], {}), charts.retention_heatmap([], []), charts.survival_curve([]),
                 charts.activity_heatmap([[0] * 24 for _ in range(7)])):
        _png(body)
    assert b"No revenue in this period yet" in charts.revenue_movements([], {}, fmt="svg") or \
        _svg(charts.revenue_movements([], {}, fmt="svg")) is not None


def test_bad_input_is_refused():
    with pytest.raises(ValueError):
        charts.activity_heatmap([[1] * 24] * 6)
    with pytest.raises(ValueError):
        charts.revenue_movements(*_revenue_data(), fmt="gif")
    with pytest.raises(ValueError):
        charts.revenue_movements(*_revenue_data(), width=50)
    days, moves, mrr = _revenue_data()
    moves["churn"] = moves["churn"][:3]
    with pytest.raises(ValueError):
        charts.revenue_movements(days, moves, mrr)


def test_charts_render_from_several_threads_at_once():
    """No pyplot state: concurrent renders each give their own complete image."""
    out, errors = {}, []

    def work(i):
        try:
            name = sorted(CASES)[i % len(CASES)]
            out[i] = (name, CASES[name](fmt="png"))
        except Exception as exc:  # pragma: no cover - the failure is asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for name, body in out.values():
        _png(body)
        assert body == CASES[name](fmt="png")  # the same image as rendered alone


# ------------------------------------------------------------------ through the API
@pytest.fixture
def seeded(mc_client, mc_platform, mc_users):
    # the generator writes the provider's subscription facts too: MRR and its movements
    truths = synthetic.generate(mc_platform, mc_users.artist.artist_id, fans=150, weeks=30, seed=7)
    rollups.rebuild(mc_platform)
    return truths


def _get(client, artist_id, chart, headers, **params):
    return client.get(f"/api/v1/analytics/artists/{artist_id}/charts/{chart}", headers=headers, params=params)


@pytest.mark.parametrize("chart,days", [("revenue-movements", 60), ("retention", 240), ("survival", None),
                                        ("activity", None)])
def test_the_artist_gets_charts_of_their_own_data(mc_client, mc_users, seeded, chart, days):
    artist = mc_users.artist
    params = {"days": days} if days else {}
    r = _get(mc_client, artist.artist_id, chart, artist.headers, **params)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    assert r.headers["cache-control"] == f"private, max-age={int(charts_api.CACHE_SECONDS)}"
    img = _png(r.content)
    assert _colours(img) > 50
    _save(f"api-{chart}.png", r.content)
    r = _get(mc_client, artist.artist_id, chart, artist.headers, format="svg", width=800, height=400, **params)
    assert r.status_code == 200 and r.headers["content-type"] == "image/svg+xml"
    _svg(r.content)


def _pixels(img: Image.Image, rgb: tuple[int, int, int]) -> int:
    return {c: n for n, c in img.convert("RGB").getcolors(maxcolors=1 << 24)}.get(rgb, 0)


def test_revenue_chart_draws_the_artists_movements(mc_client, mc_platform, mc_users, seeded):
    empty = make_user(mc_platform, "artist", artist_name="Empty")
    # the synthetic fans join over the first 80 % of the history: a long window holds their starts
    full = _png(_get(mc_client, mc_users.artist.artist_id, "revenue-movements", mc_users.artist.headers,
                     days=200).content)
    none = _png(_get(mc_client, empty.artist_id, "revenue-movements", empty.headers, days=200).content)
    new, churn = (0x2E, 0x7D, 0x32), (0xE5, 0x39, 0x35)
    # the legend's swatches only for the empty artist; bars of new MRR and churn for the seeded one
    assert _pixels(none, new) < 300 and _pixels(none, churn) < 300
    assert _pixels(full, new) > 5 * _pixels(none, new) and _pixels(full, churn) > 2 * _pixels(none, churn)


def test_who_may_read_charts(mc_client, mc_platform, mc_users):
    a = mc_users.artist.artist_id
    other = make_user(mc_platform, "artist", artist_name="Other")
    for who in (mc_users.fan, other):
        r = _get(mc_client, a, "retention", who.headers)
        assert r.status_code == 403 and r.json()["type"] == "/problems/analytics-not-your-artist"
    assert _get(mc_client, a, "retention", {}).status_code == 401
    assert _get(mc_client, a, "retention", mc_users.admin.headers).status_code == 200
    r = _get(mc_client, a, "pie", mc_users.artist.headers)
    assert r.status_code == 404 and r.json()["type"] == "/problems/analytics-unknown-chart"
    assert "retention" in r.json()["available"]
    assert _get(mc_client, a, "retention", mc_users.artist.headers, format="gif").status_code == 422
    assert _get(mc_client, a, "retention", mc_users.artist.headers, end="yesterday").status_code == 422
    import uuid

    assert _get(mc_client, uuid.uuid4(), "retention", mc_users.admin.headers).status_code == 404


def test_rendered_images_are_cached_briefly(mc_client, mc_users, monkeypatch):
    calls = []
    real = charts_api.SOURCES["retention"]

    def counting(*a, **kw):
        calls.append(1)
        return real(*a, **kw)

    monkeypatch.setitem(charts_api.SOURCES, "retention", counting)
    artist = mc_users.artist
    first = _get(mc_client, artist.artist_id, "retention", artist.headers)
    again = _get(mc_client, artist.artist_id, "retention", artist.headers)
    assert first.content == again.content and len(calls) == 1
    _get(mc_client, artist.artist_id, "retention", artist.headers, format="svg")
    _get(mc_client, artist.artist_id, "retention", artist.headers, days=90)
    assert len(calls) == 3  # another format, another period: rendered
    monkeypatch.setattr(charts_api, "CACHE_SECONDS", 0.0)
    _get(mc_client, artist.artist_id, "retention", artist.headers, days=30)
    _get(mc_client, artist.artist_id, "retention", artist.headers, days=30)
    assert len(calls) == 5  # expired at once
