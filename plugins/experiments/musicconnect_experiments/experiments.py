"""Experiments on the variants of a feature flag.

An experiment names a flag (``platform.flags``), its variants with allocation weights, the
control, an optional coverage (the share of users in it) and metrics. Starting it puts a rule at
the top of the flag (``{"name": "experiment:<key>", "split": weights, "experiment": key}``);
stopping it removes the rule. Every evaluation that resolves through that rule is an exposure:
the flags service calls our listener, which keeps the first exposure per user per experiment
(an in-process set skips repeats; a unique key and ``ON CONFLICT DO NOTHING`` make it exactly
once across threads and processes), written by a background thread so that evaluation never
waits on the database.

Metrics are domain events (``docs/architecture.md``): ``binomial`` (did the user have at least
one such event after their first exposure), ``count`` (how many), ``sum`` (of a numeric field of
the event's data). ``user_field`` says whose event it is: ``actor_id`` (default) or a key of the
event's data (``user_id`` for entitlement events). Guardrail metrics carry a threshold.
"""
from __future__ import annotations

import logging
import queue
import re
import threading
import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any, Literal

import numpy as np
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Float, ForeignKey, Index, Interval, String, Text, and_, case, cast, func, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from musicconnect import Actor, Base, Conflict, Invalid, Problem, UTCDateTime, uuid_pk
from musicconnect.db import JSONType
from musicconnect.models import DomainEvent, User
from musicconnect.web import get_platform, scope

from . import stats

log = logging.getLogger("musicconnect.experiments")
KEY_RE = re.compile(r"[a-z][a-z0-9_.-]{0,99}")
STATUSES = ("draft", "running", "stopped")
FIELD_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
DEFAULT_CAP_PERCENTILE = {"count": 0.99}
FLUSH_TIMEOUT = 2.0  # seconds results wait for queued exposures


class Experiment(Base):
    __tablename__ = "experiments_experiments"
    id: Mapped[uuid.UUID] = uuid_pk()
    key: Mapped[str] = mapped_column(String(100), unique=True)
    flag_key: Mapped[str] = mapped_column(String(100))
    environment: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="draft")
    control: Mapped[str] = mapped_column(String(64))
    weights: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    coverage: Mapped[float] = mapped_column(Float, default=100.0)
    metrics: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ExposureRow(Base):
    """The first exposure of one user to one experiment (the primary key keeps it unique)."""

    __tablename__ = "experiments_exposures"
    experiment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("experiments_experiments.id", ondelete="CASCADE"),
                                                     primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    variant: Mapped[str] = mapped_column(String(64))
    exposed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    __table_args__ = (Index("ix_experiments_exposures_user", "user_id"),)


# ---------------------------------------------------------------------------- schemas

class MetricSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    event: str = Field(min_length=1, max_length=100, description="the domain event type, e.g. play.completed")
    kind: Literal["binomial", "count", "sum"] = "binomial"
    user_field: str = Field("actor_id", max_length=64, pattern=FIELD_PATTERN,
                            description="actor_id, or the data key holding the user id")
    value_field: str | None = Field(None, max_length=64, pattern=FIELD_PATTERN,
                                    description="sum: the numeric data field summed")
    window_hours: float | None = Field(None, gt=0, description="count events up to this long after exposure")
    guardrail: bool = Field(False, description="a guardrail: flag harm beyond the threshold")
    threshold: float = Field(0.0, ge=0, description="guardrail: the relative change tolerated (0.05 = 5 %)")
    higher_is_better: bool = True
    cap: float | None = Field(None, gt=0, description="count/sum: each user's value is capped at this (absolute)")
    cap_percentile: float | None = Field(
        None, ge=0.5, le=1, description="count/sum: cap each user's value at this percentile of the users with "
        "events (0.99 = the 99th); default 0.99 for count, none for sum; 1 turns it off")


class ExperimentIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"key": "checkout-copy-test", "flag_key": "checkout-copy", "control": "control",
         "weights": {"control": 50, "bold": 50},
         "metrics": [{"name": "subscribed", "event": "entitlement.granted", "user_field": "user_id"},
                     {"name": "plays", "event": "play.completed", "kind": "count", "guardrail": True,
                      "threshold": 0.05}]}]})

    key: str = Field(min_length=1, max_length=100)
    flag_key: str = Field(min_length=1, max_length=100)
    description: str = Field("", max_length=2000)
    control: str = Field(description="the control variant")
    weights: dict[str, float] = Field(description="variant -> allocation weight")
    coverage: float = Field(100.0, gt=0, le=100, description="share of users in the experiment (%)")
    metrics: list[MetricSpec] = Field(min_length=1)


class ExperimentOut(BaseModel):
    key: str
    flag_key: str
    environment: str
    description: str
    status: str
    control: str
    weights: dict[str, float]
    coverage: float
    metrics: list[dict[str, Any]]
    created_at: str
    started_at: str | None
    stopped_at: str | None


def serialize(e: Experiment) -> dict[str, Any]:
    return {"key": e.key, "flag_key": e.flag_key, "environment": e.environment, "description": e.description,
            "status": e.status, "control": e.control, "weights": e.weights, "coverage": e.coverage,
            "metrics": e.metrics, "created_at": e.created_at.isoformat(),
            "started_at": e.started_at.isoformat() if e.started_at else None,
            "stopped_at": e.stopped_at.isoformat() if e.stopped_at else None}


# ---------------------------------------------------------------------------- management

def get(session: Session, key: str, *, lock: bool = False) -> Experiment:
    q = select(Experiment).where(Experiment.key == key)
    if lock:
        q = q.with_for_update()
    e = session.scalars(q).first()
    if e is None:
        raise Problem(404, "experiment-not-found", f"no experiment {key!r}")
    return e


def create(platform, session: Session, spec: ExperimentIn) -> Experiment:
    if not KEY_RE.fullmatch(spec.key):
        raise Invalid("an experiment key is lower-case letters, digits, '_', '.', '-' (starting with a letter)")
    try:
        flag = platform.flags.get(session, spec.flag_key)
    except Problem:
        raise Invalid(f"no flag {spec.flag_key!r} in {platform.settings.env}: create it first") from None
    unknown = [v for v in [spec.control, *spec.weights] if v not in flag.variants]
    if unknown:
        raise Invalid(f"the flag has no variant(s) {', '.join(sorted(set(unknown)))}")
    if spec.control not in spec.weights or len(spec.weights) < 2:
        raise Invalid("weights name the control and at least one other variant")
    if any(w < 0 for w in spec.weights.values()) or sum(spec.weights.values()) <= 0:
        raise Invalid("weights are non-negative and not all zero")
    for m in spec.metrics:
        if m.kind == "sum" and not m.value_field:
            raise Invalid(f"metric {m.name}: a sum needs value_field")
    if session.scalars(select(Experiment.id).where(Experiment.key == spec.key)).first() is not None:
        raise Conflict("experiment-exists", f"experiment {spec.key!r} already exists")
    e = Experiment(key=spec.key, flag_key=spec.flag_key, environment=platform.settings.env,
                   description=spec.description, status="draft", control=spec.control, weights=dict(spec.weights),
                   coverage=spec.coverage, metrics=[m.model_dump() for m in spec.metrics],
                   created_at=platform.clock.now())
    session.add(e)
    session.flush()
    return e


def _rule_name(e: Experiment) -> str:
    return f"experiment:{e.key}"


def start(platform, session: Session, key: str, actor_id: uuid.UUID | None = None) -> Experiment:
    """Put the experiment's rule at the top of its flag; status ``running``."""
    e = get(session, key, lock=True)
    if e.status != "draft":
        raise Conflict("experiment-state", f"experiment {key!r} is {e.status}; only a draft starts")
    if e.environment != platform.settings.env:
        raise Conflict("experiment-state", f"experiment {key!r} belongs to {e.environment}")
    flag = platform.flags.get(session, e.flag_key, lock=True)
    others = [r for r in flag.rules if r.get("experiment") is None or r.get("name") == _rule_name(e)]
    if len(others) != len(flag.rules):
        raise Conflict("experiment-state", f"flag {e.flag_key!r} already runs another experiment")
    rule = {"name": _rule_name(e), "percentage": e.coverage, "split": dict(e.weights), "experiment": e.key,
            "seed": e.key}
    platform.flags.update(session, e.flag_key, actor_id=actor_id,
                          rules=[rule, *[r for r in flag.rules if r.get("name") != _rule_name(e)]])
    e.status, e.started_at = "running", platform.clock.now()
    return e


def stop(platform, session: Session, key: str, actor_id: uuid.UUID | None = None) -> Experiment:
    """Remove the experiment's rule from its flag; status ``stopped`` (results stay readable)."""
    e = get(session, key, lock=True)
    if e.status != "running":
        raise Conflict("experiment-state", f"experiment {key!r} is {e.status}; only a running one stops")
    try:
        flag = platform.flags.get(session, e.flag_key, lock=True)
        platform.flags.update(session, e.flag_key, actor_id=actor_id,
                              rules=[r for r in flag.rules if r.get("name") != _rule_name(e)])
    except Problem as exc:
        if exc.status != 404:
            raise
    e.status, e.stopped_at = "stopped", platform.clock.now()
    return e


# ---------------------------------------------------------------------------- exposures

class ExposureLog:
    """The flags service's exposure listener: first exposure per user per experiment, written by
    a background thread in batches (``flush()`` waits for what is queued)."""

    def __init__(self, platform):
        self.platform = platform
        self._seen: set[tuple[str, uuid.UUID]] = set()
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._ids: dict[str, uuid.UUID | None] = {}

    def __call__(self, exposure) -> None:
        key = (exposure.experiment, exposure.user_id)
        if key in self._seen or not self.platform.plugins.is_enabled("experiments"):
            return
        with self._lock:
            if key in self._seen:
                return
            self._seen.add(key)
            if len(self._seen) > 1_000_000:  # bounded: the database keeps it exactly once anyway
                self._seen.clear()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="mc-exposures", daemon=True)
                self._thread.start()
        self._queue.put(exposure)

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait (at most ``timeout`` seconds) until every queued exposure is written; True if it was."""
        done = threading.Event()
        self._queue.put(done)
        if self._thread is None or not self._thread.is_alive():
            with self._lock:
                self._thread = threading.Thread(target=self._run, name="mc-exposures", daemon=True)
                self._thread.start()
        return done.wait(timeout)

    def close(self) -> None:
        self.flush(5)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            batch, waiters = [], []
            while True:
                (waiters if isinstance(item, threading.Event) else batch).append(item)
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if len(batch) >= 500:
                    self._queue.put(item)
                    break
            if batch:
                try:
                    self.write(batch)
                except Exception:
                    log.exception("could not log %d exposures", len(batch))
                    for ex in batch:  # let a later evaluation try again
                        self._seen.discard((ex.experiment, ex.user_id))
            for w in waiters:
                w.set()

    def write(self, batch) -> int:
        """Insert the exposures not logged yet (atomic: a unique key and ON CONFLICT DO NOTHING).
        Exposures of users deleted since are skipped, not the whole batch: only existing users are
        inserted, and a user deleted between that check and the insert (a foreign-key error) makes
        the batch run again, re-checked."""
        for attempt in range(3):
            try:
                return self._write(batch)
            except IntegrityError:
                if attempt == 2:
                    raise
                log.info("a user of an exposure batch was deleted meanwhile; writing the batch again")
        return 0

    def _write(self, batch) -> int:
        with self.platform.session() as s:
            ids = {e.key: e.id for e in s.scalars(select(Experiment).where(
                Experiment.key.in_({x.experiment for x in batch}), Experiment.status == "running"))}
            wanted = {x.user_id for x in batch if x.experiment in ids}
            if not wanted:
                return 0
            existing = set(s.scalars(select(User.id).where(User.id.in_(wanted))))
            rows = {}
            for x in batch:
                if x.experiment in ids and x.user_id in existing:
                    rows.setdefault((ids[x.experiment], x.user_id),
                                    {"experiment_id": ids[x.experiment], "user_id": x.user_id,
                                     "variant": x.variant, "exposed_at": x.at})
            if not rows:
                return 0
            if s.bind.dialect.name == "postgresql":
                from sqlalchemy.dialects.postgresql import insert
            else:
                from sqlalchemy.dialects.sqlite import insert
            stmt = insert(ExposureRow).values(list(rows.values())).on_conflict_do_nothing()
            return len(s.execute(stmt.returning(ExposureRow.user_id)).all())  # rowcount is -1 on psycopg


def exposure_log(platform) -> ExposureLog:
    """This platform's exposure log (made and registered with the flags service once)."""
    log_ = platform.__dict__.get("_experiments_exposure_log")
    if log_ is None:
        log_ = platform.__dict__.setdefault("_experiments_exposure_log", ExposureLog(platform))
        platform.flags.add_exposure_listener(log_)
    return log_


def on_shutdown(platform) -> None:
    log_ = platform.__dict__.get("_experiments_exposure_log")
    if log_ is not None:
        log_.close()
        platform.flags.remove_exposure_listener(log_)


# ---------------------------------------------------------------------------- results

def _event_user_matches(dialect: str, field: str):
    """SQL: the event belongs to the exposed user (``actor_id`` or a data key holding the id)."""
    if field == "actor_id":
        return DomainEvent.actor_id == ExposureRow.user_id
    raw = func.lower(DomainEvent.data[field].as_string())
    if dialect == "postgresql":
        return raw == cast(ExposureRow.user_id, String)
    # SQLite keeps a UUID as 32 hex digits; the event's data as the dashed text
    return func.replace(raw, "-", "") == cast(ExposureRow.user_id, String)


def _numeric(dialect: str, value_field: str):
    """SQL: the numeric value of data[value_field], 0 when it is missing or not a number."""
    if dialect == "postgresql":
        is_number = func.jsonb_typeof(DomainEvent.data[value_field]) == "number"
    else:
        is_number = func.json_type(DomainEvent.data, f'$."{value_field}"').in_(["integer", "real"])
    return case((is_number, DomainEvent.data[value_field].as_float()), else_=0.0)


def _metric_values(session: Session, e: Experiment, m: dict) -> list[tuple[str, float]]:
    """(variant, value) of every exposed user with at least one event of the metric after their
    first exposure (users without events: absent). The database filters to the experiment's
    exposed users, the time range (exposure .. window / stop) and aggregates per user: one row per
    user reaches Python."""
    dialect = session.bind.dialect.name
    on = [DomainEvent.type == m["event"], _event_user_matches(dialect, m.get("user_field") or "actor_id"),
          DomainEvent.occurred_at >= ExposureRow.exposed_at]
    if e.started_at is not None:
        on.append(DomainEvent.occurred_at >= e.started_at)
    if e.stopped_at is not None:
        on.append(DomainEvent.occurred_at <= e.stopped_at)
    if m.get("window_hours"):
        hours = float(m["window_hours"])
        if dialect == "postgresql":
            on.append(DomainEvent.occurred_at <= ExposureRow.exposed_at + literal(timedelta(hours=hours), Interval()))
        else:
            on.append(func.julianday(DomainEvent.occurred_at) <= func.julianday(ExposureRow.exposed_at) + hours / 24)
    if m["kind"] == "sum":
        agg = func.sum(_numeric(dialect, m.get("value_field") or ""))
    else:
        agg = func.count()
    q = (select(ExposureRow.variant, agg).select_from(ExposureRow).join(DomainEvent, and_(*on))
         .where(ExposureRow.experiment_id == e.id).group_by(ExposureRow.user_id, ExposureRow.variant))
    out = []
    for variant, value in session.execute(q).yield_per(5000):
        out.append((variant, 1.0 if m["kind"] == "binomial" else float(value or 0)))
    return out


def metric_cap(m: dict, values: list[float]) -> float | None:
    """The per-user cap of a count/sum metric: ``cap`` (absolute) and/or the ``cap_percentile``
    (default 0.99 for count) of the non-zero per-user values, whichever is lower; None: uncapped."""
    if m["kind"] == "binomial":
        return None
    caps = [float(m["cap"])] if m.get("cap") else []
    pct = m.get("cap_percentile")
    pct = DEFAULT_CAP_PERCENTILE.get(m["kind"]) if pct is None else pct
    nonzero = [v for v in values if v > 0]
    if pct is not None and pct < 1 and nonzero:
        caps.append(float(np.quantile(nonzero, pct)))
    return min(caps) if caps else None


def analyse(e: Experiment, users: dict[str, int], values: dict[str, dict[str, list[float]]],
            alpha: float = 0.05, caps: dict[str, float | None] | None = None) -> dict[str, Any]:
    """The results document from users per variant and per-metric values of the users with events
    (every other exposed user counts as 0), already capped (``caps``: the cap per metric)."""
    variants = list(e.weights)
    srm = stats.srm_p_value([users.get(v, 0) for v in variants], [float(e.weights[v]) for v in variants])
    out: dict[str, Any] = {
        "experiment": e.key, "flag_key": e.flag_key, "status": e.status, "control": e.control, "alpha": alpha,
        "variants": [{"variant": v, "users": users.get(v, 0), "weight": e.weights[v]} for v in variants],
        "srm": {"p_value": srm, "mismatch": srm is not None and srm < stats.SRM_THRESHOLD,
                "threshold": stats.SRM_THRESHOLD},
        "metrics": []}
    for m in e.metrics:
        per = {}
        for v in variants:
            vals = values.get(m["name"], {}).get(v, [])
            n = users.get(v, 0)
            per[v] = stats.Moments(n, float(sum(vals)), float(sum(x * x for x in vals)))
        rows = []
        for v in variants:
            mo = per[v]
            ci = stats.mean_ci(mo, alpha)
            row: dict[str, Any] = {"variant": v, "users": mo.n, "mean": mo.mean, "variance": mo.variance,
                                   "ci": list(ci) if ci else None}
            if v != e.control:
                lift = stats.relative_lift(per[e.control], mo, alpha)
                row.update(lift.as_dict())
                if m.get("guardrail"):
                    row["guardrail"] = stats.guardrail_status(lift, higher_is_better=m.get("higher_is_better", True),
                                                              threshold=m.get("threshold", 0.0))
            rows.append(row)
        metric = {"name": m["name"], "event": m["event"], "kind": m["kind"], "guardrail": bool(m.get("guardrail")),
                  "cap": (caps or {}).get(m["name"]), "variants": rows}
        if m.get("guardrail"):
            states = [r["guardrail"] for r in rows if "guardrail" in r]
            metric["status"] = "harm" if "harm" in states else "warning" if "warning" in states else "ok"
        out["metrics"].append(metric)
    out["guardrails"] = ("harm" if any(x.get("status") == "harm" for x in out["metrics"]) else
                         "warning" if any(x.get("status") == "warning" for x in out["metrics"]) else "ok")
    return out


def results(platform, key: str, alpha: float = 0.05) -> dict[str, Any]:
    """Per variant: users, mean, CI, lift vs control with CI, p-value; SRM; guardrail status.
    Waits at most ``FLUSH_TIMEOUT`` for this process's queued exposures."""
    log_ = platform.__dict__.get("_experiments_exposure_log")
    if log_ is not None and not log_.flush(FLUSH_TIMEOUT):
        log.warning("experiment %s: results computed before every queued exposure was written", key)
    with platform.read() as s:
        e = get(s, key)
        users: dict[str, int] = {v: n for v, n in s.execute(
            select(ExposureRow.variant, func.count()).where(ExposureRow.experiment_id == e.id)
            .group_by(ExposureRow.variant))}
        values: dict[str, dict[str, list[float]]] = {}
        caps: dict[str, float | None] = {}
        for m in e.metrics:
            per_user = _metric_values(s, e, m)
            cap = caps[m["name"]] = metric_cap(m, [v for _, v in per_user])
            by_variant: dict[str, list[float]] = defaultdict(list)
            for variant, v in per_user:
                by_variant[variant].append(v if cap is None else min(v, cap))
            values[m["name"]] = by_variant
        return analyse(e, users, values, alpha, caps)


# ---------------------------------------------------------------------------- privacy

def export_user(session: Session, user) -> list[dict[str, Any]]:
    rows = session.execute(select(Experiment.key, ExposureRow.variant, ExposureRow.exposed_at)
                           .join(Experiment, Experiment.id == ExposureRow.experiment_id)
                           .where(ExposureRow.user_id == user.id)).all()
    return [{"experiment": k, "variant": v, "exposed_at": at.isoformat()} for k, v, at in rows]


def erase_user(session: Session, user) -> int:
    rows = list(session.scalars(select(ExposureRow).where(ExposureRow.user_id == user.id)))
    for r in rows:
        session.delete(r)
    return len(rows)


# ---------------------------------------------------------------------------- HTTP

router = APIRouter()
NOT_FOUND = {404: {"description": "experiment-not-found"}}


class ResultsOut(BaseModel):
    experiment: str
    flag_key: str
    status: str
    control: str
    alpha: float
    variants: list[dict[str, Any]]
    srm: dict[str, Any]
    metrics: list[dict[str, Any]]
    guardrails: str = Field(description="ok / warning / harm: the worst guardrail metric")


@router.get("", response_model=list[ExperimentOut])
def list_experiments(_: Actor = Depends(scope("admin")), platform=Depends(get_platform)):
    """Every experiment (admins)."""
    with platform.read() as s:
        return [serialize(e) for e in s.scalars(select(Experiment).order_by(Experiment.created_at))]


@router.post("", response_model=ExperimentOut, status_code=201)
def create_experiment(body: ExperimentIn, _: Actor = Depends(scope("admin")), platform=Depends(get_platform)):
    """Define an experiment on a flag's variants (a draft: ``start`` runs it). Admins."""
    with platform.session() as s:
        return serialize(create(platform, s, body))


@router.get("/{key}", response_model=ExperimentOut, responses=NOT_FOUND)
def read_experiment(key: str, _: Actor = Depends(scope("admin")), platform=Depends(get_platform)):
    """One experiment (admins)."""
    with platform.read() as s:
        return serialize(get(s, key))


@router.post("/{key}/start", response_model=ExperimentOut, responses=NOT_FOUND)
def start_experiment(key: str, actor: Actor = Depends(scope("admin")), platform=Depends(get_platform)):
    """Start: the flag serves the variants by weight and exposures are logged (admins)."""
    with platform.session() as s:
        return serialize(start(platform, s, key, actor.user_id))


@router.post("/{key}/stop", response_model=ExperimentOut, responses=NOT_FOUND)
def stop_experiment(key: str, actor: Actor = Depends(scope("admin")), platform=Depends(get_platform)):
    """Stop: the flag's rule goes, results stay (admins)."""
    with platform.session() as s:
        return serialize(stop(platform, s, key, actor.user_id))


@router.get("/{key}/results", response_model=ResultsOut, responses=NOT_FOUND)
def experiment_results(key: str, alpha: float = Query(0.05, gt=0, lt=0.5), _: Actor = Depends(scope("admin")),
                       platform=Depends(get_platform)):
    """Per variant and metric: users, mean and CI, lift vs the control with its CI, p-value;
    sample-ratio mismatch; guardrail status (admins)."""
    return results(platform, key, alpha)

