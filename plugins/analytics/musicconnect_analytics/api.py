"""The analytics API: every metric of the plugin as JSON (with its period, dimension and
definition) and as CSV, for the artist themselves or an admin (scope ``analytics:read``).

* ``GET /api/v1/analytics/artists/{artist_id}/metrics``: every analytics metric;
* ``GET /api/v1/analytics/artists/{artist_id}/metrics/{metric_id}``: one;
* ``GET /api/v1/analytics/artists/{artist_id}/export.csv?metric=...``: one metric as ``text/csv``.

``days`` (1-3650, 30 by default) and ``end`` (with a time zone; now by default) choose the
period ``[end - days, end]`` as in the core's ``/artists/{id}/metrics``. Metrics read rollups.
"""
from __future__ import annotations

import csv
import io
import logging
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel

from musicconnect import MetricWindow, Problem
from musicconnect.web import get_platform, scope

from .readers import check_reader

from .rollups import DIMENSIONS

log = logging.getLogger("musicconnect.analytics")
router = APIRouter(tags=["analytics"])
METRIC_ID = r"^[a-z][a-z0-9_]{0,79}$"
EARLIEST, LATEST = datetime(2000, 1, 1, tzinfo=timezone.utc), datetime(9000, 1, 1, tzinfo=timezone.utc)


class Period(BaseModel):
    start: datetime
    end: datetime
    days: int


class MetricOut(BaseModel):
    id: str
    title: str
    definition: str
    unit: str
    dimension: str
    period: Period
    value: Any = None
    error: str | None = None


class MetricsOut(BaseModel):
    artist_id: uuid.UUID
    period: Period
    metrics: list[MetricOut]


def index(platform) -> dict[str, Any]:
    """The analytics plugin's metrics by id (every module's, the models' too)."""
    return {m.id: m for plugin, m in platform.plugins.collect("register_metrics", platform=platform)
            if plugin == "analytics"}


def _window(platform, days: int, end: datetime | None) -> tuple[MetricWindow, Period]:
    if end is not None and end.tzinfo is None:
        raise Problem(422, "analytics-naive-time", "end needs a time zone (e.g. 2026-06-01T00:00:00Z)")
    if end is not None and not (EARLIEST <= end <= LATEST):
        raise Problem(422, "analytics-time-out-of-range", "end must lie between 2000 and 9000")
    stop = end or platform.clock.now()
    w = MetricWindow(start=stop - timedelta(days=days), end=stop)
    return w, Period(start=w.start, end=w.end, days=days)


def compute(platform, metric, artist_id: uuid.UUID, window: MetricWindow, period: Period) -> dict:
    row = {"id": metric.id, "title": metric.title, "definition": metric.description, "unit": metric.unit,
           "dimension": DIMENSIONS.get(metric.id, "none"), "period": period}
    try:
        value = metric.compute(platform, artist_id, window)
        if hasattr(value, "__await__"):
            raise TypeError("asynchronous metrics are computed by /api/v1/artists/{id}/metrics")
        row["value"] = value
    except Exception as exc:
        log.exception("analytics metric %s failed", metric.id)
        row["error"] = f"{type(exc).__name__}: could not compute"
    return row


Days = Query(30, ge=1, le=3650, description="the period's length in days")
End = Query(None, description="the period's end, with a time zone (now by default)")


@router.get("/artists/{artist_id}/metrics", response_model=MetricsOut)
def all_metrics(artist_id: uuid.UUID, days: int = Days, end: datetime | None = End,
                actor=Depends(scope("analytics:read")), platform=Depends(get_platform)):
    """Every analytics metric of this artist over the period, with its definition and dimension."""
    check_reader(platform, actor, artist_id)
    window, period = _window(platform, days, end)
    return {"artist_id": artist_id, "period": period,
            "metrics": [compute(platform, m, artist_id, window, period) for m in index(platform).values()]}


def _metric(platform, metric_id: str):
    found = index(platform)
    if metric_id not in found:
        raise Problem(404, "unknown-metric", f"the analytics plugin has no metric {metric_id!r}",
                      available=sorted(found))
    return found[metric_id]


@router.get("/artists/{artist_id}/metrics/{metric_id}", response_model=MetricOut)
def one_metric(artist_id: uuid.UUID, metric_id: str = Path(pattern=METRIC_ID), days: int = Days,
               end: datetime | None = End, actor=Depends(scope("analytics:read")), platform=Depends(get_platform)):
    """One analytics metric of this artist over the period."""
    check_reader(platform, actor, artist_id)
    metric = _metric(platform, metric_id)
    window, period = _window(platform, days, end)
    return compute(platform, metric, artist_id, window, period)


def to_rows(value: Any) -> tuple[list[str], list[list[Any]]]:
    """A metric's value as a table: a number is one row; a list of objects one row each (nested
    lists spread into numbered columns); an object of numbers one row per key."""
    if isinstance(value, dict) and "cohorts" in value and isinstance(value["cohorts"], list):
        value = value["cohorts"]
    if isinstance(value, list):
        rows = [v if isinstance(v, dict) else {"value": v} for v in value]
        flat = []
        for r in rows:
            out: dict[str, Any] = {}
            for k, v in r.items():
                if isinstance(v, list):
                    out.update({f"{k}_{i}": x for i, x in enumerate(v)})
                elif isinstance(v, dict):
                    out.update({f"{k}_{kk}": x for kk, x in v.items()})
                else:
                    out[k] = v
            flat.append(out)
        header: list[str] = []
        for r in flat:
            header.extend(k for k in r if k not in header)
        return header, [[r.get(k, "") for k in header] for r in flat]
    if isinstance(value, dict):
        return ["key", "value"], [[k, v] for k, v in value.items()]
    return ["value"], [[value]]


def _cell(value: Any) -> Any:
    """A CSV cell that a spreadsheet will not run: text that starts like a formula (a fan's name
    or a track title such as ``=HYPERLINK(...)``) is prefixed with ``'`` (OWASP's advice)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


@router.get("/artists/{artist_id}/export.csv", response_class=Response,
            responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}},
                             "description": "the metric as CSV: a header line, then one line per row"}})
def export_csv(artist_id: uuid.UUID, metric: str = Query(pattern=METRIC_ID, description="the metric id"),
               days: int = Days, end: datetime | None = End, actor=Depends(scope("analytics:read")),
               platform=Depends(get_platform)):
    """One analytics metric as CSV (``text/csv``), with its period in the file name."""
    check_reader(platform, actor, artist_id)
    m = _metric(platform, metric)
    window, period = _window(platform, days, end)
    row = compute(platform, m, artist_id, window, period)
    if "error" in row:
        raise Problem(500, "analytics-metric-failed", f"the metric {metric} could not be computed")
    header, rows = to_rows(row.get("value"))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([_cell(h) for h in header])
    w.writerows([[_cell(v) for v in r] for r in rows])
    name = f"{metric}_{window.start.date().isoformat()}_{window.end.date().isoformat()}.csv"
    return Response(buf.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
