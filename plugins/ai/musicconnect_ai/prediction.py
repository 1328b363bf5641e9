"""Demo prediction (owner: posts): an early estimate of a new track's 30-day plays from its
first hours of listening.

Everything is read from domain events whose subject is the track (``("content", id)``), counted
from its release (``publish_at``):

* ``play.started`` (a listening session), ``play.counted`` (a play), ``play.completed``;
  a session started but never counted is a skip;
* saves and likes: :data:`LIKE_TYPES` (reactions, discovery-feed likes, shares).

For each track the *early* window is its first :data:`WINDOW_HOURS` hours, the *outcome* its
counted plays in the first :data:`HORIZON_DAYS` days. The artist's *baseline* is what their
earlier tracks did (tracks whose 30 days had ended by then): mean 30-day plays, mean early
plays, completion, skip and like rates.

The model is a ridge regression of ``log(1 + plays_30d)`` on ``log(1 + early plays)``, the
track's completion, skip and like rates *relative to* the artist's baseline, the baseline's
30-day mean and the early plays relative to the artist's usual early plays. It is fitted on
every track whose 30 days are over (most recent :data:`MAX_TRAIN`) and backtested in time
order: each of the last :data:`MAX_BACKTEST` tracks is predicted by a model fitted only on
tracks whose 30 days had ended before that track's early window closed, beside the baseline
"the artist's average track"; both MAPEs are stored with the model. With fewer than
:data:`MIN_TRAIN` finished tracks the estimate is the artist's own ratio of 30-day to early
plays (``ratio``), or the platform's, or :data:`DEFAULT_RATIO` (``default-ratio``).

A scheduled job (``ai.prediction_fit``, daily) refits; the route fits once on demand when no
model is stored yet.
"""
from __future__ import annotations

import logging
import math
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

import numpy as np
from fastapi import APIRouter, Depends
from pydantic import BaseModel
from sqlalchemy import Index, Integer, String, case, func, select
from sqlalchemy.orm import Mapped, mapped_column

from musicconnect import Base, JobSpec, NotFound, Problem, resource_of
from musicconnect.db import JSONType
from musicconnect.models import ContentItem, DomainEvent
from musicconnect.web import get_platform, scope

log = logging.getLogger("musicconnect.ai")

WINDOW_HOURS = 48
HORIZON_DAYS = 30
MIN_TRAIN = 8
MAX_TRAIN = 1500
MAX_BACKTEST = 300
RIDGE = 0.05
DEFAULT_RATIO = 5.0
#: a stored model older than this is refitted on the next request (the daily job usually has)
MAX_AGE = timedelta(days=2)
PLAY_TYPES = ("play.started", "play.counted", "play.completed")
#: saves and likes of a track (reactions, the discovery feed's likes, shares)
LIKE_TYPES = ("fan.reacted", "ai.feed_liked", "analytics.shared")
FEATURES = ("intercept", "log_early_plays", "completion_vs_artist", "skip_vs_artist", "like_rate_vs_artist",
            "log_artist_avg_30d", "has_artist_baseline", "early_vs_artist_early")
CACHE_KEY = ("ai", "prediction-model")


class PredictionModel(Base):
    __tablename__ = "ai_prediction_models"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    fitted_at: Mapped[datetime] = mapped_column()
    window_hours: Mapped[int] = mapped_column(Integer)
    n_tracks: Mapped[int] = mapped_column(Integer)
    method: Mapped[str] = mapped_column(String(16))
    meta: Mapped[dict] = mapped_column(JSONType, default=dict)
    __table_args__ = (Index("ix_ai_prediction_models_time", "fitted_at"),)


# ---------------------------------------------------------------- what the events say

@dataclass
class Early:
    """A track's listening over a window: sessions, plays, completions, likes."""

    started: float = 0.0
    counted: float = 0.0
    completed: float = 0.0
    likes: float = 0.0

    @property
    def completion(self) -> float:
        return min(1.0, self.completed / self.started) if self.started else 0.0

    @property
    def skip(self) -> float:
        return max(0.0, (self.started - self.counted) / self.started) if self.started else 0.0

    @property
    def like_rate(self) -> float:
        return self.likes / max(self.counted, 1.0)

    def scaled(self, factor: float) -> "Early":
        return Early(self.started * factor, self.counted * factor, self.completed * factor, self.likes * factor)


@dataclass
class TrackStats:
    content_id: uuid.UUID
    artist_id: uuid.UUID
    released_at: datetime
    early: Early
    plays_30d: int | None = None  # None while the 30 days are not over


@dataclass
class Baseline:
    """The artist's earlier tracks (whose 30 days were over)."""

    tracks: int = 0
    plays_30d: float = 0.0
    early_plays: float = 0.0
    completion: float = 0.0
    skip: float = 0.0
    like_rate: float = 0.0

    def as_dict(self) -> dict:
        return {"tracks": self.tracks, "avg_plays_30d": round(self.plays_30d, 1) if self.tracks else None,
                "avg_early_plays": round(self.early_plays, 1) if self.tracks else None,
                "completion_rate": round(self.completion, 3) if self.tracks else None,
                "skip_rate": round(self.skip, 3) if self.tracks else None,
                "like_rate": round(self.like_rate, 3) if self.tracks else None}


def released(item: ContentItem) -> datetime:
    return item.publish_at


def count_events(s, item: ContentItem, start: datetime, early_end: datetime, end: datetime) -> tuple[Early, int]:
    """(the early window's counts, counted plays in ``[start, end)``) of one track: one grouped
    query on the events index (artist, type, time)."""
    early = case((DomainEvent.occurred_at < early_end, 1), else_=0)
    rows = s.execute(select(DomainEvent.type, func.count(), func.sum(early)).where(
        DomainEvent.artist_id == item.artist_id, DomainEvent.type.in_(PLAY_TYPES + LIKE_TYPES),
        DomainEvent.occurred_at >= start, DomainEvent.occurred_at < end,
        DomainEvent.subject_type == "content", DomainEvent.subject_id == str(item.id),
    ).group_by(DomainEvent.type)).all()
    e, total = Early(), 0
    for type_, n, n_early in rows:
        n_early = float(n_early or 0)
        if type_ == "play.started":
            e.started += n_early
        elif type_ == "play.counted":
            e.counted += n_early
            total = int(n)
        elif type_ == "play.completed":
            e.completed += n_early
        else:
            e.likes += n_early
    return e, total


def track_stats(s, item: ContentItem, now: datetime, window_hours: int = WINDOW_HOURS) -> tuple[TrackStats, float]:
    """A track's early counts (over the part of the window that has passed) and the hours of
    the window observed so far."""
    start = released(item)
    early_end = min(start + timedelta(hours=window_hours), now)
    horizon = start + timedelta(days=HORIZON_DAYS)
    early, total = count_events(s, item, start, early_end, min(horizon, now))
    observed = max(0.0, (early_end - start).total_seconds() / 3600)
    return TrackStats(item.id, item.artist_id, start, early, total if now >= horizon else None), observed


def baseline_of(history: list[TrackStats], artist_id: uuid.UUID, at: datetime) -> Baseline:
    """The artist's tracks whose 30 days were over at ``at``."""
    done = [t for t in history if t.artist_id == artist_id and t.plays_30d is not None
            and t.released_at + timedelta(days=HORIZON_DAYS) <= at]
    if not done:
        return Baseline()
    n = len(done)
    return Baseline(n, sum(t.plays_30d for t in done) / n, sum(t.early.counted for t in done) / n,
                    sum(t.early.completion for t in done) / n, sum(t.early.skip for t in done) / n,
                    sum(t.early.like_rate for t in done) / n)


def features(early: Early, base: Baseline) -> list[float]:
    has = 1.0 if base.tracks else 0.0
    le = math.log1p(early.counted)
    return [1.0, le,
            early.completion - (base.completion if has else 0.6),
            early.skip - (base.skip if has else 0.3),
            early.like_rate - (base.like_rate if has else 0.0),
            math.log1p(base.plays_30d) if has else 0.0,
            has,
            (le - math.log1p(base.early_plays)) if has else 0.0]


def _fit(xs: list[list[float]], ys: list[float]) -> np.ndarray:
    x = np.asarray(xs, dtype=float)
    y = np.asarray(ys, dtype=float)
    reg = RIDGE * np.eye(x.shape[1])
    reg[0, 0] = 0.0  # the intercept is not shrunk
    return np.linalg.solve(x.T @ x + reg, x.T @ y)


def _mape(pairs: list[tuple[float, float]]) -> float | None:
    pairs = [(p, a) for p, a in pairs if a > 0]
    if not pairs:
        return None
    return float(sum(abs(p - a) / a for p, a in pairs) / len(pairs))


# ---------------------------------------------------------------- fitting and backtest

def load_history(platform, now: datetime, window_hours: int = WINDOW_HOURS) -> list[TrackStats]:
    """Every track whose 30 days are over (most recent first, at most ``MAX_TRAIN``), in release order."""
    cutoff = now - timedelta(days=HORIZON_DAYS)
    with platform.read() as s:
        items = list(s.scalars(select(ContentItem).where(ContentItem.kind == "track", ContentItem.status == "ready",
                                                         ContentItem.publish_at <= cutoff)
                               .order_by(ContentItem.publish_at.desc()).limit(MAX_TRAIN)))
        out = [track_stats(s, item, now, window_hours)[0] for item in items]
    return sorted(out, key=lambda t: t.released_at)


def fit(platform, window_hours: int = WINDOW_HOURS) -> dict:
    """Fit, backtest and store a model; returns its ``meta``."""
    now = platform.clock.now()
    history = load_history(platform, now, window_hours)
    rows = [(t, features(t.early, baseline_of(history, t.artist_id, t.released_at + timedelta(hours=window_hours))))
            for t in history]
    ratio_sum = sum(t.early.counted for t in history)
    meta: dict = {"features": list(FEATURES), "platform_ratio": (sum(t.plays_30d for t in history) / ratio_sum)
                  if ratio_sum else None, "trained_on": len(history)}
    method = "ratio"
    if len(rows) >= MIN_TRAIN:
        w = _fit([x for _, x in rows], [math.log1p(t.plays_30d) for t, _ in rows])
        resid = [math.log1p(t.plays_30d) - float(np.dot(w, x)) for t, x in rows]
        meta.update(coef=[float(c) for c in w], residual_sd=float(np.std(resid)))
        method = "model"
    meta.update(backtest(history, rows, window_hours))
    with platform.session() as s:
        s.add(PredictionModel(id=uuid.uuid4(), fitted_at=now, window_hours=window_hours, n_tracks=len(history),
                              method=method, meta=meta))
    platform.invalidate(CACHE_KEY)
    return {"method": method, **meta}


def backtest(history: list[TrackStats], rows: list, window_hours: int) -> dict:
    """Time-ordered backtest: each track predicted from what was known when its early window
    closed (a model fitted on tracks finished by then), beside the artist's average."""
    model_pairs, base_pairs, evaluated = [], [], 0
    for i in range(max(0, len(rows) - MAX_BACKTEST), len(rows)):
        t, x = rows[i]
        at = t.released_at + timedelta(hours=window_hours)
        base = baseline_of(history, t.artist_id, at)
        if not base.tracks:
            continue  # no "artist's average" to compare with
        train = [(u, ux) for u, ux in rows[:i] if u.released_at + timedelta(days=HORIZON_DAYS) <= at]
        if len(train) < MIN_TRAIN:
            continue
        w = _fit([ux for _, ux in train], [math.log1p(u.plays_30d) for u, _ in train])
        model_pairs.append((max(float(np.expm1(np.dot(w, x))), t.early.counted), t.plays_30d))
        base_pairs.append((base.plays_30d, t.plays_30d))
        evaluated += 1
    return {"backtest": {"tracks": evaluated, "mape": _mape(model_pairs), "baseline_mape": _mape(base_pairs),
                         "baseline": "the artist's average track (30-day plays)"}}


def current_model(platform) -> PredictionModel | None:
    cached = platform.cache.get(CACHE_KEY)
    if cached is not None:
        return cached
    with platform.read() as s:
        row = s.scalars(select(PredictionModel).order_by(PredictionModel.fitted_at.desc()).limit(1)).first()
        if row is not None:
            s.expunge(row)
    if row is None or row.fitted_at < platform.clock.now() - MAX_AGE:
        return None
    platform.cache.set(CACHE_KEY, row)
    return row


def model_or_fit(platform) -> PredictionModel:
    model = current_model(platform)
    if model is None:
        fit(platform)
        with platform.read() as s:
            model = s.scalars(select(PredictionModel).order_by(PredictionModel.fitted_at.desc()).limit(1)).first()
            s.expunge(model)
        platform.cache.set(CACHE_KEY, model)
    return model


# ---------------------------------------------------------------- one track

@dataclass
class Estimate:
    status: str
    message: str
    predicted: int | None = None
    low: int | None = None
    high: int | None = None
    method: str | None = None
    extra: dict = field(default_factory=dict)


def artist_baseline(platform, s, item: ContentItem, now: datetime, window_hours: int) -> Baseline:
    cutoff = min(now, released(item) + timedelta(hours=window_hours)) - timedelta(days=HORIZON_DAYS)
    others = list(s.scalars(select(ContentItem).where(
        ContentItem.artist_id == item.artist_id, ContentItem.kind == "track", ContentItem.status == "ready",
        ContentItem.id != item.id, ContentItem.publish_at <= cutoff)
        .order_by(ContentItem.publish_at.desc()).limit(50)))
    hist = [track_stats(s, o, now, window_hours)[0] for o in others]
    return baseline_of(hist, item.artist_id, cutoff + timedelta(days=HORIZON_DAYS))


def estimate(model: PredictionModel, early: Early, observed: float, base: Baseline) -> Estimate:
    """The 30-day estimate from (possibly partial) early counts."""
    window = model.window_hours
    if early.started <= 0:
        return Estimate("no_listening", "nobody has listened to this track yet: the estimate starts with its first plays")
    scaled = early.scaled(window / observed) if 0 < observed < window else early
    meta = model.meta or {}
    coef = meta.get("coef")
    if model.method == "model" and coef:
        mu = float(np.dot(np.asarray(coef), np.asarray(features(scaled, base))))
        sd = float(meta.get("residual_sd") or 0.0)
        pred = max(float(np.expm1(mu)), early.counted)
        low, high = max(float(np.expm1(mu - sd)), early.counted), float(np.expm1(mu + sd))
        method = "model"
    else:
        if base.tracks and base.early_plays > 0:
            ratio, method = base.plays_30d / base.early_plays, "ratio"
        elif meta.get("platform_ratio"):
            ratio, method = float(meta["platform_ratio"]), "ratio"
        else:
            ratio, method = DEFAULT_RATIO, "default-ratio"
        pred = max(scaled.counted * ratio, early.counted)
        low, high = max(pred * 0.5, early.counted), pred * 2.0
    status = "estimated" if observed >= window else "partial"
    msg = (f"estimated from the first {window} hours of listening" if status == "estimated"
           else f"estimated from the first {observed:.1f} of {window} hours (extrapolated; it firms up as the window fills)")
    return Estimate(status, msg, round(pred), round(low), round(high), method)


# ---------------------------------------------------------------- route

router = APIRouter()


class EarlyOut(BaseModel):
    sessions: int
    plays: int
    completions: int
    likes: int
    completion_rate: float | None
    skip_rate: float | None
    like_rate: float | None


class BacktestOut(BaseModel):
    tracks: int
    mape: float | None
    baseline_mape: float | None
    baseline: str


class PredictionOut(BaseModel):
    content_id: uuid.UUID
    artist_id: uuid.UUID
    title: str
    released_at: datetime
    status: Literal["not_released", "no_listening", "partial", "estimated"]
    message: str
    window_hours: int
    observed_hours: float
    early: EarlyOut
    artist_baseline: dict
    predicted_plays_30d: int | None
    low: int | None
    high: int | None
    baseline_plays_30d: float | None
    method: Literal["model", "ratio", "default-ratio"] | None
    actual_plays_30d: int | None
    model_fitted_at: datetime
    model_trained_on: int
    backtest: BacktestOut


@router.get("/tracks/{content_id}/prediction", response_model=PredictionOut,
            responses={404: {"description": "no such track"},
                       403: {"description": "another artist's track (`ai-not-your-track`)"}})
def track_prediction(content_id: uuid.UUID, actor=Depends(scope("ai:read")), platform=Depends(get_platform)):
    """An early estimate of a track's 30-day plays from its first hours of listening (the
    track's artist or an admin), with the artist's baseline and the model's backtest."""
    now = platform.clock.now()
    with platform.read() as s:
        item = s.get(ContentItem, content_id)
        if item is None or item.kind != "track" or item.status == "deleted":
            raise NotFound("track")
        if not platform.access.manages(actor, item.artist_id):
            if platform.access.visible(actor, resource_of(item)):
                raise Problem(403, "ai-not-your-track", "only the track's artist (or an admin) reads its prediction")
            raise NotFound("track")
        title, artist_id, rel = item.title, item.artist_id, released(item)
    model = model_or_fit(platform)
    window = model.window_hours
    with platform.read() as s:
        item = s.get(ContentItem, content_id)
        stats, observed = track_stats(s, item, now, window)
        base = artist_baseline(platform, s, item, now, window)
    if now < rel:
        est = Estimate("not_released", "the track is not released yet: the estimate starts with its first plays")
    else:
        est = estimate(model, stats.early, observed, base)
    e = stats.early
    bt = (model.meta or {}).get("backtest") or {}
    return PredictionOut(
        content_id=content_id, artist_id=artist_id, title=title, released_at=rel, status=est.status,
        message=est.message, window_hours=window, observed_hours=round(observed, 2),
        early=EarlyOut(sessions=int(e.started), plays=int(e.counted), completions=int(e.completed), likes=int(e.likes),
                       completion_rate=round(e.completion, 3) if e.started else None,
                       skip_rate=round(e.skip, 3) if e.started else None,
                       like_rate=round(e.like_rate, 3) if e.counted else None),
        artist_baseline=base.as_dict(), predicted_plays_30d=est.predicted, low=est.low, high=est.high,
        baseline_plays_30d=round(base.plays_30d, 1) if base.tracks else None, method=est.method,
        actual_plays_30d=stats.plays_30d, model_fitted_at=model.fitted_at, model_trained_on=model.n_tracks,
        backtest=BacktestOut(tracks=bt.get("tracks", 0), mape=bt.get("mape"), baseline_mape=bt.get("baseline_mape"),
                             baseline=bt.get("baseline", "the artist's average track (30-day plays)")))


def _fit_job(ctx, **_):
    meta = fit(ctx.platform)
    return {"method": meta["method"], "trained_on": meta["trained_on"], "backtest": meta.get("backtest")}


JOBS = [JobSpec("prediction_fit", _fit_job, max_retries=1, every_seconds=86400)]
