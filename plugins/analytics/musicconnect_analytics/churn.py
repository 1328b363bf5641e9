"""Churn risk per member, with its reasons, a ranked list and an alert (owner: models).

**The model** is a logistic regression (numpy, Newton's method with a small L2 penalty) on four
transparent features of a paying member at a time T, all from the artist's domain events:

* ``listening_drop``: log(1 + plays in the 28 days before T-28d) − log(1 + plays in the 28 days
  before T) (``play.started``; > 0 when the member listens less than before);
* ``failed_payments``: ``payment.failed`` in the 45 days before T (capped at 3);
* ``no_engagement``: 1 when the member neither commented nor reacted (``fan.commented`` /
  ``fan.reacted``) in the 60 days before T;
* ``tenure``: log(1 + months since the subscription started) (new members leave more).

It is trained on the artist's own history: snapshots at 30, 60, 90 and 120 days ago, each member
then holding a paid tier labelled 1 when that subscription ended within the next 30 days.
The snapshot 30 days ago is first held out to measure the AUC (``validation_auc``), then the
model is refitted on all snapshots and scores every current member: the probability of ending
within 30 days. With too little history (fewer than 10 cancellations or 10 stays) fixed prior
weights are used instead (``model: "prior"``), stated in the output.

**Reasons** are the features that push a member's score up (coefficient × standardised value
> 0), in words: "listening dropped 80 % …", "1 failed payment …", "no comments or reactions …",
"new member …".

**Alert**: a *valued* member (holding a paid tier for at least 60 days) whose score reaches
:data:`ALERT_THRESHOLD` raises one ``analytics.churn_risk`` domain event (notify delivers it to
the artist: :data:`NOTIFICATION_KINDS`); it is raised again only after the score fell below
:data:`REARM_BELOW` (one alert per crossing).

Fitted by the scheduled job ``analytics.fit_churn`` (:data:`JOBS`, hourly); scores are kept in
``analytics_churn_scores``, the fit summary in ``analytics_model_fits``. The metric
``analytics_churn_risk`` and ``GET /api/v1/analytics/artists/{artist_id}/churn-risk`` read them.

Public: :func:`fit_churn`, :func:`auc`.
"""
from __future__ import annotations

import logging
import math
import uuid
from datetime import datetime, timedelta

import numpy as np
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlalchemy import and_, case, delete, func, insert, select

from musicconnect import JobSpec, NotificationKind, Problem, emit
from musicconnect.models import Artist, DomainEvent, Entitlement, Tier, User
from musicconnect.web import get_platform, scope

from .rollups import define
from .model_store import ChurnScore, artist_ids, load_fit, save_fit

log = logging.getLogger("musicconnect.analytics.churn")

FEATURES = ("listening_drop", "failed_payments", "no_engagement", "tenure")
#: prior weights (per standardised feature) and intercept, used when history is too short
PRIOR = (np.array([1.0, 1.0, 0.7, -0.3]), -2.5)
HORIZON = timedelta(days=30)
SNAPSHOTS = 4
ALERT_THRESHOLD = 0.5
REARM_BELOW = 0.4
VALUED_MIN_DAYS = 60
MIN_CLASS = 10
DEFINITION = ("Probability that a paying member's subscription ends within 30 days, from a logistic regression "
              "on listening drop, failed payments, engagement with posts and tenure, trained on this artist's "
              "own cancellations; reasons = the features raising the score.")


# ---------------------------------------------------------------- data
def _subs(session, artist_id):
    """Paid subscriptions: (user id, tier key, price, start, end or None)."""
    rows = session.execute(select(Entitlement.user_id, Tier.key, Tier.price_amount, Entitlement.starts_at,
                                  Entitlement.expires_at, Entitlement.status)
                           .join(Tier, Tier.id == Entitlement.tier_id)
                           .where(Entitlement.artist_id == artist_id, Entitlement.source != "comp",
                                  Tier.price_amount > 0))
    out = []
    for user_id, key, price, starts, expires, status in rows:
        # active / past_due with an expiry renew at it; ended and cancelled ones end there
        end = expires if status in ("ended", "cancelled") and expires is not None else None
        out.append((user_id, key, price, starts, end))
    return out


def _activity(session, artist_id, at: datetime) -> dict:
    """Per user: plays in the last 28 days, in the 28 before, failed payments (45 days),
    engagements (60 days), all before ``at``."""
    d28, d56, d45, d60 = (at - timedelta(days=n) for n in (28, 56, 45, 60))
    play, t, o = DomainEvent.type == "play.started", DomainEvent.type, DomainEvent.occurred_at

    def n(cond):
        return func.sum(case((cond, 1), else_=0))

    q = (select(DomainEvent.actor_id, n(and_(play, o >= d28)), n(and_(play, o < d28)),
                n(and_(t == "payment.failed", o >= d45)), n(t.in_(("fan.commented", "fan.reacted"))))
         .where(DomainEvent.artist_id == artist_id, DomainEvent.actor_id.is_not(None), o >= min(d56, d60), o < at,
                t.in_(("play.started", "payment.failed", "fan.commented", "fan.reacted")))
         .group_by(DomainEvent.actor_id))
    return {row[0]: tuple(int(x or 0) for x in row[1:]) for row in session.execute(q)}


def _features(activity: dict, user_id, started: datetime, at: datetime) -> list[float]:
    recent, prev, failed, engaged = activity.get(user_id, (0, 0, 0, 0))
    months = max((at - started).total_seconds() / 86400 / 30, 0.0)
    return [math.log1p(prev) - math.log1p(recent), float(min(failed, 3)), 1.0 if engaged == 0 else 0.0,
            math.log1p(months)]


def _snapshot(session, artist_id, subs, at: datetime, labelled: bool):
    act = _activity(session, artist_id, at)
    users, xs, ys = [], [], []
    for user_id, key, price, starts, end in subs:
        if starts > at or (end is not None and end <= at):
            continue
        users.append((user_id, key, starts))
        xs.append(_features(act, user_id, starts, at))
        if labelled:
            ys.append(1.0 if end is not None and end <= at + HORIZON else 0.0)
    return users, np.array(xs, float).reshape(-1, len(FEATURES)), np.array(ys, float)


# ---------------------------------------------------------------- model
def _logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, iters: int = 50):
    """Weights and intercept of an L2-penalised logistic regression (Newton's method)."""
    xb = np.hstack([np.ones((len(x), 1)), x])
    w = np.zeros(xb.shape[1])
    penalty = np.eye(xb.shape[1]) * l2
    penalty[0, 0] = 0.0
    for _ in range(iters):
        p = 1 / (1 + np.exp(-np.clip(xb @ w, -30, 30)))
        grad = xb.T @ (p - y) + penalty @ w
        hess = xb.T @ (xb * (p * (1 - p))[:, None]) + penalty + np.eye(len(w)) * 1e-9
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w[1:], w[0]


def auc(scores, labels) -> float | None:
    """Area under the ROC curve (the Mann–Whitney statistic, ties counted half); ``None``
    without both classes."""
    s, y = np.asarray(scores, float), np.asarray(labels, bool)
    pos, neg = s[y], s[~y]
    if len(pos) == 0 or len(neg) == 0:
        return None
    order = np.argsort(np.concatenate([pos, neg]), kind="mergesort")
    ranks = np.empty(len(order))
    allv = np.concatenate([pos, neg])[order]
    # average ranks over ties
    i = 0
    while i < len(allv):
        j = i
        while j + 1 < len(allv) and allv[j + 1] == allv[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def _reasons(raw: list[float], contrib: np.ndarray, activity: tuple) -> list[str]:
    recent, prev, failed, _engaged = activity
    out = []
    for j in np.argsort(-contrib):
        if contrib[j] <= 0:
            break
        name = FEATURES[j]
        if name == "listening_drop" and raw[0] > 0 and prev > 0:
            out.append(f"listening dropped {round(100 * (prev - recent) / prev)} % (plays: {prev} in the 28 days "
                       f"before, {recent} in the last 28)")
        elif name == "failed_payments" and failed > 0:
            out.append(f"{failed} failed payment{'s' if failed != 1 else ''} in the last 45 days")
        elif name == "no_engagement" and raw[2] > 0:
            out.append("no comments or reactions on posts in the last 60 days")
        elif name == "tenure" and math.expm1(raw[3]) < 3:
            out.append(f"new member ({math.expm1(raw[3]):.1f} months)")
    return out


def fit_churn(platform, artist_id: uuid.UUID) -> dict:
    """Train on the artist's history, score every current paying member, raise alerts; cache."""
    now = platform.clock.now()
    with platform.session() as s:
        subs = _subs(s, artist_id)
        snaps = [_snapshot(s, artist_id, subs, now - HORIZON * k, True) for k in range(1, SNAPSHOTS + 1)]
        x_all = np.vstack([x for _, x, _ in snaps]) if snaps else np.zeros((0, len(FEATURES)))
        y_all = np.concatenate([y for _, _, y in snaps]) if snaps else np.zeros(0)
        mu, sd = (x_all.mean(0), x_all.std(0)) if len(x_all) else (np.zeros(len(FEATURES)), np.ones(len(FEATURES)))
        sd = np.where(sd > 1e-9, sd, 1.0)
        positives, negatives = int(y_all.sum()), int(len(y_all) - y_all.sum())
        validation = None
        if positives >= MIN_CLASS and negatives >= MIN_CLASS:
            model = "logistic"
            _, x_hold, y_hold = snaps[0]
            x_train = np.vstack([x for _, x, _ in snaps[1:]])
            y_train = np.concatenate([y for _, _, y in snaps[1:]])
            if 0 < y_train.sum() < len(y_train) and 0 < y_hold.sum() < len(y_hold):
                w, b = _logistic((x_train - mu) / sd, y_train)
                validation = auc(((x_hold - mu) / sd) @ w + b, y_hold)
            w, b = _logistic((x_all - mu) / sd, y_all)
        else:
            model, (w, b) = "prior", PRIOR
        users, x_now, _ = _snapshot(s, artist_id, subs, now, False)
        act = _activity(s, artist_id, now)
        z = (x_now - mu) / sd
        scores = 1 / (1 + np.exp(-(z @ w + b))) if len(users) else np.zeros(0)
        before = {u: raised for u, raised in s.execute(select(ChurnScore.user_id, ChurnScore.raised)
                                                       .where(ChurnScore.artist_id == artist_id))}
        rows, alerts = [], []
        for i, (user_id, key, starts) in enumerate(users):
            score = float(scores[i])
            reasons = _reasons(list(x_now[i]), z[i] * w, act.get(user_id, (0, 0, 0, 0)))
            valued = (now - starts) >= timedelta(days=VALUED_MIN_DAYS)
            raised = before.get(user_id, False)
            if valued and score >= ALERT_THRESHOLD and not raised:
                raised = True
                alerts.append((user_id, key, score, reasons))
            elif raised and score < REARM_BELOW:
                raised = False
            rows.append({"artist_id": artist_id, "user_id": user_id, "score": round(score, 5), "reasons": reasons,
                         "tier_key": key, "valued": valued, "raised": raised, "scored_at": now})
        s.execute(delete(ChurnScore).where(ChurnScore.artist_id == artist_id))
        for i in range(0, len(rows), 5000):
            s.execute(insert(ChurnScore.__table__), rows[i:i + 5000])
        names = dict(s.execute(select(User.id, User.display_name).where(
            User.id.in_([a[0] for a in alerts]))).all()) if alerts else {}
        for user_id, key, score, reasons in alerts:
            emit(platform, s, "analytics.churn_risk", artist_id=artist_id, subject=("user", user_id),
                 data={"member_name": names.get(user_id, "A member"), "tier": key, "score": round(score, 3),
                       "risk_pct": round(100 * score), "reasons": reasons,
                       "reasons_text": "; ".join(reasons) or "several small signals"})
        result = {"definition": DEFINITION, "model": model, "features": list(FEATURES),
                  "weights": {f: round(float(v), 4) for f, v in zip(FEATURES, w)}, "intercept": round(float(b), 4),
                  "training": {"examples": int(len(y_all)), "cancellations": positives},
                  "validation_auc": None if validation is None else round(validation, 4),
                  "members": len(users), "at_risk": int((scores >= ALERT_THRESHOLD).sum()) if len(users) else 0,
                  "alert_threshold": ALERT_THRESHOLD, "alerts_raised": len(alerts)}
        save_fit(s, artist_id, "churn", now, result)
    return {**result, "fitted_at": now.isoformat()}


def fit_churn_job(ctx, artist_id: str | None = None) -> dict:
    platform = ctx.platform
    ids = [uuid.UUID(artist_id)] if artist_id else artist_ids(platform)
    for i, a in enumerate(ids):
        try:
            fit_churn(platform, a)
        except Exception:
            log.exception("churn fit failed for artist %s", a)
        ctx.progress((i + 1) / len(ids), f"{i + 1}/{len(ids)} artists")
    return {"artists": len(ids)}


# ---------------------------------------------------------------- reading
def ranked(platform, artist_id: uuid.UUID, limit: int = 50, min_score: float = 0.0) -> dict:
    """The cached ranking (highest risk first) and the fit summary."""
    found = load_fit(platform, artist_id, "churn")
    with platform.read() as s:
        rows = s.execute(select(ChurnScore, User.display_name).join(User, User.id == ChurnScore.user_id)
                         .where(ChurnScore.artist_id == artist_id, ChurnScore.score >= min_score)
                         .order_by(ChurnScore.score.desc(), ChurnScore.user_id).limit(limit)).all()
    members = [{"user_id": str(r.user_id), "name": name, "tier": r.tier_key, "score": r.score,
                "reasons": r.reasons, "valued": r.valued, "alerted": r.raised} for r, name in rows]
    if found is None:
        return {"definition": DEFINITION, "fitted_at": None, "members": [],
                "note": "not fitted yet: the scheduled job fits this model"}
    fitted_at, summary = found
    return {**summary, "fitted_at": fitted_at.isoformat(), "ranked": members}


def churn_metric(platform, artist_id, window):
    return ranked(platform, artist_id, limit=20)


class ChurnMember(BaseModel):
    user_id: str
    name: str
    tier: str
    score: float
    reasons: list[str]
    valued: bool
    alerted: bool


class ChurnRiskOut(BaseModel):
    artist_id: uuid.UUID
    fitted_at: str | None
    model: str | None = None
    validation_auc: float | None = None
    members: list[ChurnMember]


router = APIRouter()


def _own(actor, artist_id) -> None:
    """The artist themselves or an admin (the analytics API's rule and problem type)."""
    if not (actor.is_admin or actor.artist_id == artist_id):
        raise Problem(403, "analytics-not-your-artist", "only this artist (or an admin) can read these analytics")


@router.get("/artists/{artist_id}/churn-risk", response_model=ChurnRiskOut)
def churn_risk(artist_id: uuid.UUID, limit: int = Query(50, ge=1, le=500),
               min_score: float = Query(0.0, ge=0.0, le=1.0),
               actor=Depends(scope("analytics:read")), platform=Depends(get_platform)):
    """The artist's paying members ranked by churn risk (highest first), with reasons."""
    _own(actor, artist_id)
    out = ranked(platform, artist_id, limit=limit, min_score=min_score)
    return ChurnRiskOut(artist_id=artist_id, fitted_at=out.get("fitted_at"), model=out.get("model"),
                        validation_auc=out.get("validation_auc"), members=out.get("ranked", []))


def _artist_user(platform, event) -> list:
    with platform.read() as s:
        uid = s.scalar(select(Artist.user_id).where(Artist.id == event.artist_id))
    return [uid] if uid else []


METRICS = [define("analytics_churn_risk", "Churn risk",
                  "Paying members most likely to cancel within 30 days, with the reasons (listening drop, failed "
                  "payments, no engagement with posts, tenure); logistic regression refitted hourly.",
                  churn_metric, unit="probability", dimension="member")]
JOBS = [JobSpec("fit_churn", fit_churn_job, max_retries=1, every_seconds=3600)]
NOTIFICATION_KINDS = [
    NotificationKind("analytics.churn_risk", "Members at risk of cancelling (artists)", "analytics.churn_risk",
                     {"title": "{member_name} may cancel their membership",
                      "body": "Churn risk {risk_pct} %: {reasons_text}.",
                      "url": "/artists/{artist_id}/analytics"}, _artist_user, default_channels=("inbox", "email")),
]
