"""Charts of the artist's dashboard over HTTP: PNG or SVG (scope ``analytics:read``; the artist
themselves or an admin).

``GET /api/v1/analytics/artists/{artist_id}/charts/{chart}?format=png|svg&days=&end=&width=&height=``

=====================  ==========================================================  ============
chart                  data                                                        days default
=====================  ==========================================================  ============
``revenue-movements``  ``revenue.movements`` (daily MRR movements and MRR)          30
``retention``          ``audience.cohorts`` (retention by first-support month)      365
``survival``           the cached LTV fit (``ltv``; fitted now if none is cached)  (not used)
``activity``           the cached release-time fit (``release_time``): heatmap     (its own)
=====================  ==========================================================  ============

The route is synchronous, so FastAPI renders in its threadpool (never on the event loop); a
rendered image is kept ``CACHE_SECONDS`` per (artist, chart, period, format, size) in this
process and sent with ``Cache-Control: private, max-age=CACHE_SECONDS``. The period is whole UTC
days: ``end`` (a date or a time with a zone, today by default) and ``days`` before it.
"""
from __future__ import annotations

import importlib
import threading
import time
import uuid
from datetime import date, datetime, timedelta, timezone

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from sqlalchemy import select

from musicconnect import Problem
from musicconnect.models import Tier
from musicconnect.web import get_platform, scope

from .readers import check_reader

from . import charts

router = APIRouter(tags=["analytics"])

CACHE_SECONDS = 60.0
CACHE_ENTRIES = 256
DEFAULT_DAYS = {"revenue-movements": 30, "retention": 365, "survival": 365, "activity": 28}


class _Cache:
    """Rendered images of this process, for a short while (bounded; oldest dropped first)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.items: dict[tuple, tuple[float, bytes]] = {}

    def get(self, key):
        with self.lock:
            hit = self.items.get(key)
            if hit is None or hit[0] < time.monotonic():
                return None
            return hit[1]

    def put(self, key, value: bytes) -> None:
        with self.lock:
            if len(self.items) >= CACHE_ENTRIES:
                now = time.monotonic()
                for k in [k for k, (exp, _) in self.items.items() if exp < now] or [next(iter(self.items))]:
                    self.items.pop(k, None)
            self.items[key] = (time.monotonic() + CACHE_SECONDS, value)


def _cache(platform) -> _Cache:
    c = platform.__dict__.get("_analytics_charts")
    if c is None:
        c = platform.__dict__.setdefault("_analytics_charts", _Cache())
    return c


def _module(name: str):
    try:
        return importlib.import_module(f"{__package__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__package__}.{name}":
            raise
        raise Problem(404, "analytics-chart-unavailable", f"the {name} model is not installed in this version") from None


def _currency(platform, artist_id) -> str:
    with platform.read() as s:
        cur = s.scalar(select(Tier.currency).where(Tier.artist_id == artist_id, Tier.price_amount > 0)
                       .order_by(Tier.rank).limit(1))
    return (cur or "EUR").upper()


def _revenue(platform, artist_id, start: date, end: date, **kw) -> bytes:
    rows = _module("revenue").movements(platform, artist_id, start, end)
    days = [date.fromisoformat(r["day"]) for r in rows]
    moves = {k: [r[k] for r in rows] for k in ("new", "expansion", "contraction", "churn", "reactivation")}
    return charts.revenue_movements(days, moves, [r["mrr"] for r in rows], currency=_currency(platform, artist_id),
                                    **kw)


def _retention(platform, artist_id, start: date, end: date, **kw) -> bytes:
    got = _module("audience").cohorts(platform, artist_id, start, end)
    rows = got.get("cohorts") or []
    matrix = [list(r["retention"]) for r in rows]
    if (end + timedelta(days=1)).month == end.month:  # the last month is still running: not a 0 % yet
        for row in matrix:
            if len(row) > 1:
                row[-1] = None
    return charts.retention_heatmap([r["cohort"] for r in rows], matrix, [r["fans"] for r in rows], **kw)


def _fit(platform, artist_id, module: str, function: str) -> dict:
    """The cached fit of a model (fitted now, once, when the scheduled job has not run yet)."""
    mod = _module(module)
    from .model_store import load_fit

    found = load_fit(platform, artist_id, module)
    return found[1] if found is not None else getattr(mod, function)(platform, artist_id)


def _survival(platform, artist_id, start: date, end: date, **kw) -> bytes:
    return charts.survival_curve(_fit(platform, artist_id, "ltv", "fit_ltv").get("tiers") or [], **kw)


def _activity(platform, artist_id, start: date, end: date, **kw) -> bytes:
    fit = _fit(platform, artist_id, "release_time", "fit_release_time")
    best = [(s["weekday"], s["hour"]) for s in (fit.get("best_slots") or [])[:3]]
    return charts.activity_heatmap(fit.get("heatmap") or [], best, unit="followers expected active", **kw)


SOURCES = {"revenue-movements": _revenue, "retention": _retention, "survival": _survival, "activity": _activity}


#: a date, or a time with a zone (``Z`` or an offset); the calendar itself is checked by ``_end_day``
END_PATTERN = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2}))?$"


def _end_day(platform, end: str | None) -> date:
    if end is None:
        return platform.clock.now().astimezone(timezone.utc).date()
    try:
        if len(end) == 10:
            return date.fromisoformat(end)
        at = datetime.fromisoformat(end.replace("Z", "+00:00"))
    except ValueError:
        raise Problem(422, "analytics-invalid-date", "end is not a day of the calendar (2026-06-01) or a time "
                      "with a zone", errors=[{"loc": ["query", "end"], "msg": "not a date or a time"}]) from None
    if at.tzinfo is None:  # the pattern requires a zone; kept for callers of this function
        raise Problem(422, "analytics-naive-time", "end needs a time zone (e.g. 2026-06-01T00:00:00Z)")
    return at.astimezone(timezone.utc).date()


def render(platform, artist_id: uuid.UUID, chart: str, fmt: str = "png", *, days: int | None = None,
           end: date | None = None, width: int = charts.SIZE[0], height: int = charts.SIZE[1]) -> bytes:
    """The chart's image bytes (cached briefly): also for callers other than the route."""
    if chart not in SOURCES:
        raise Problem(404, "analytics-unknown-chart", f"no chart {chart!r}", available=sorted(SOURCES))
    end = end or platform.clock.now().astimezone(timezone.utc).date()
    days = days or DEFAULT_DAYS[chart]
    start = end - timedelta(days=days - 1)
    key = (artist_id, chart, start, end, fmt, width, height)
    cache = _cache(platform)
    hit = cache.get(key)
    if hit is None:
        hit = SOURCES[chart](platform, artist_id, start, end, fmt=fmt, width=width, height=height)
        cache.put(key, hit)
    return hit


@router.get("/artists/{artist_id}/charts/{chart}", response_class=Response,
            responses={200: {"content": {"image/png": {}, "image/svg+xml": {}},
                             "description": "the chart"},
                       404: {"description": "no such artist or chart"}})
def chart_image(artist_id: uuid.UUID, chart: str,
                format: str = Query("png", pattern="^(png|svg)$", description="png or svg"),
                days: int | None = Query(None, ge=1, le=3650, description="the period's length in days"),
                end: str | None = Query(None, pattern=END_PATTERN, max_length=40,
                                        description="the period's last day (a date, or a time with a zone)"),
                width: int = Query(charts.SIZE[0], ge=200, le=charts.MAX_SIDE, description="pixels"),
                height: int = Query(charts.SIZE[1], ge=150, le=charts.MAX_SIDE, description="pixels"),
                actor=Depends(scope("analytics:read")), platform=Depends(get_platform)):
    """One chart of the artist's dashboard as PNG or SVG: ``revenue-movements``, ``retention``,
    ``survival`` (LTV) or ``activity`` (release times)."""
    check_reader(platform, actor, artist_id)
    body = render(platform, artist_id, chart, format, days=days, end=_end_day(platform, end), width=width,
                  height=height)
    return Response(body, media_type=charts.FORMATS[format],
                    headers={"Cache-Control": f"private, max-age={int(CACHE_SECONDS)}"})
