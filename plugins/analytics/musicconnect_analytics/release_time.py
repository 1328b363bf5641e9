"""Best release time: when this artist's followers are active (owner: models).

**Data.** The artist's followers (``platform.audience_members(artist, "followers")``; when no
plugin answers, the fans whose latest ``fan.followed`` / ``fan.unfollowed`` is a follow) and their
``play.started`` events of the last :data:`HISTORY_WEEKS` weeks. Each play falls in a slot
*hour × weekday of the follower's own time zone*: the IANA zone the notify plugin keeps for the
user (``notify_preferences.timezone``, read by table name when that table exists), otherwise the
artist's time zone. The core's users table has no time zone.

**Model.** For follower f and slot s, p_f(s) = the share of the weeks in which f was active in
s. A release at local slot s (each follower gets it at that local time, as stores release at
local midnight) reaches f within 24 hours unless f is inactive in all of s … s+23:

* ``expected_reach_24h(s)`` = Σ_f [1 − Π_{k<24} (1 − p_f(s+k))] (hours treated as independent);
* ``score(s)`` ranks the slots: the same with the chance of noticing the release decaying with
  its age (half-life :data:`HALF_LIFE_HOURS` hours: w_k = 2^(−k/6)), so a slot where followers
  are active *at* release beats one where they only come by a day later;
* ``heatmap[weekday][hour]`` = Σ_f p_f(s), the followers expected to be active in that hour.

**Validation on held-out history.** The last :data:`HOLDOUT_WEEKS` weeks are held out, the model
is fitted on the weeks before, and its predictions are compared with what the held-out weeks
did: ``reach_mape`` (mean absolute percentage error of the expected 24-hour reach over the
168 slots), ``rank_correlation`` (Spearman, predicted vs held-out score) and whether the
predicted best slot is in the held-out top 3 (``best_in_top3``). The published fit then uses
every week.

Fitted by the scheduled job ``analytics.fit_release_time`` (every 6 hours) and cached; the
metric ``analytics_best_release_time`` reads the cache. Public: :func:`fit_release_time`,
:func:`time_zones`.
"""
from __future__ import annotations

import logging
import uuid
from datetime import timedelta

import numpy as np
import sqlalchemy as sa
from sqlalchemy import select

from musicconnect import JobSpec
from musicconnect.models import Artist, DomainEvent

from .rollups import define
from .model_store import artist_ids, fit_value, save_fit

log = logging.getLogger("musicconnect.analytics.release_time")

HISTORY_WEEKS = 12
HOLDOUT_WEEKS = 4
HALF_LIFE_HOURS = 6.0
SLOTS = 168
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
FAN_CHUNK = 5000
PARTITION = 50_000
DEFINITION = ("When this artist's followers are active (hour × weekday in each follower's time zone) and the "
              "expected number of followers reached within 24 hours of a release in each slot; slots ranked by "
              "reach weighted by freshness (half-life 6 h); validated on the last 4 weeks held out.")


def time_zones(session, user_ids, default: str) -> dict:
    """Each user's IANA time zone (the notify plugin's preference when that table exists)."""
    out = {u: default for u in user_ids}
    if "notify_preferences" not in set(sa.inspect(session.connection()).get_table_names()):
        return out
    prefs = sa.table("notify_preferences", sa.column("user_id", sa.Uuid()), sa.column("timezone", sa.String()))
    ids = list(user_ids)
    for i in range(0, len(ids), 500):
        for uid, tz in session.execute(select(prefs.c.user_id, prefs.c.timezone)
                                       .where(prefs.c.user_id.in_(ids[i:i + 500]))):
            if tz:
                out[uid] = tz
    return out


def _followers(platform, session, artist_id, declared: set | None = None) -> set:
    """The artist's followers: those a plugin declares (``declared``, resolved by the caller before
    it opened ``session``: the hooks read with their own connection), else from the events."""
    if declared:
        return declared
    latest: dict = {}
    for actor, type_ in session.execute(select(DomainEvent.actor_id, DomainEvent.type).where(
            DomainEvent.artist_id == artist_id, DomainEvent.type.in_(("fan.followed", "fan.unfollowed")),
            DomainEvent.actor_id.is_not(None)).order_by(DomainEvent.occurred_at)):
        latest[actor] = type_
    return {a for a, t in latest.items() if t == "fan.followed"}


def _slots(times, zone: str):
    """Local (slot, ...) of UTC datetimes in ``zone``: weekday × 24 + hour."""
    import pandas as pd

    try:
        local = pd.DatetimeIndex(pd.to_datetime(times, utc=True)).tz_convert(zone)
    except Exception:  # an unknown zone name: UTC
        local = pd.DatetimeIndex(pd.to_datetime(times, utc=True))
    return np.asarray(local.weekday * 24 + local.hour, dtype=np.int64)


def _activity(platform, session, artist_id, now, declared: set | None = None):
    """(fan index, week index, slot) of every follower's play, unique; streamed in partitions so
    that memory stays bounded on millions of plays."""
    artist_tz = session.scalar(select(Artist.timezone).where(Artist.id == artist_id)) or "UTC"
    followers = _followers(platform, session, artist_id, declared)
    since = now - timedelta(weeks=HISTORY_WEEKS)
    zones = time_zones(session, followers, artist_tz) if followers else {}
    index: dict = {}
    parts = []
    rows = session.execute(select(DomainEvent.actor_id, DomainEvent.occurred_at).where(
        DomainEvent.artist_id == artist_id, DomainEvent.type == "play.started", DomainEvent.actor_id.is_not(None),
        DomainEvent.occurred_at >= since, DomainEvent.occurred_at < now).execution_options(yield_per=PARTITION))
    for chunk in rows.partitions(PARTITION):
        by_zone: dict = {}
        for a, t in chunk:
            if a in followers:
                by_zone.setdefault(zones.get(a, artist_tz), []).append((index.setdefault(a, len(index)), t))
        for zone, items in by_zone.items():
            ts = [t for _, t in items]
            weeks = np.array([int((t - since).total_seconds() // (7 * 86400)) for t in ts], dtype=np.int64)
            parts.append(np.unique(np.stack([np.array([i for i, _ in items], dtype=np.int64),
                                             np.clip(weeks, 0, HISTORY_WEEKS - 1), _slots(ts, zone)], axis=1), axis=0))
    if not parts:
        return 0, len(followers), np.zeros((0, 3), dtype=np.int64)
    return len(index), len(followers), np.unique(np.concatenate(parts), axis=0)


def _probabilities(triples, n_fans, weeks: range) -> np.ndarray:
    """p_f(s): the share of ``weeks`` in which fan f was active in slot s."""
    sel = triples[(triples[:, 1] >= weeks.start) & (triples[:, 1] < weeks.stop)]
    p = np.zeros((n_fans, SLOTS), dtype=np.float32)
    np.add.at(p, (sel[:, 0], sel[:, 2]), 1.0)
    return p / max(1, len(weeks))


def _reach(p: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Σ_f [1 − Π_k (1 − w_k p_f(s+k))] per slot s (fans in chunks, to bound memory)."""
    total = np.zeros(SLOTS)
    for i in range(0, len(p), FAN_CHUNK):
        chunk = p[i:i + FAN_CHUNK].astype(np.float64)
        log_miss = np.zeros_like(chunk)
        for k, w in enumerate(weights):
            log_miss += np.roll(np.log1p(-np.clip(chunk * w, 0, 0.999999)), -k, axis=1)
        total += (1 - np.exp(log_miss)).sum(axis=0)
    return total


def _actual(triples, n_fans, week: int, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What one held-out week did: followers reached within 24 h of each slot, and the same
    weighted by freshness (the best weight among the hours they were active)."""
    sel = triples[triples[:, 1] == week]
    a = np.zeros((n_fans, SLOTS), dtype=bool)
    a[sel[:, 0], sel[:, 2]] = True
    a = a[a.any(axis=1)]
    reach, score = np.zeros(SLOTS), np.zeros(SLOTS)
    best = np.zeros((len(a), SLOTS))
    for k, w in enumerate(weights):
        best = np.maximum(best, np.roll(a, -k, axis=1) * w)
    reach += (best > 0).sum(axis=0)
    score += best.sum(axis=0)
    return reach, score


def _spearman(x, y) -> float | None:
    rx, ry = np.argsort(np.argsort(x)), np.argsort(np.argsort(y))
    if np.std(rx) == 0 or np.std(ry) == 0:
        return None
    return float(np.corrcoef(rx, ry)[0, 1])


def _weights(decay: bool) -> np.ndarray:
    k = np.arange(24, dtype=float)
    return 0.5 ** (k / HALF_LIFE_HOURS) if decay else np.ones(24)


def _slot(s: int) -> dict:
    return {"weekday": int(s // 24), "weekday_name": WEEKDAYS[s // 24], "hour": int(s % 24)}


def fit_release_time(platform, artist_id: uuid.UUID) -> dict:
    """Fit, validate and cache the artist's release-time model now."""
    now = platform.clock.now()
    declared = set(platform.audience_members(artist_id, "followers") or ())  # before the session: one connection at a time
    with platform.session() as s:
        n_fans, n_followers, triples = _activity(platform, s, artist_id, now, declared)
    decayed, flat = _weights(True), _weights(False)
    validation = None
    train = range(0, HISTORY_WEEKS - HOLDOUT_WEEKS)
    held = range(HISTORY_WEEKS - HOLDOUT_WEEKS, HISTORY_WEEKS)
    if n_fans and len(np.unique(triples[:, 1])) >= HOLDOUT_WEEKS + 2:
        p = _probabilities(triples, n_fans, train)
        pred_reach, pred_score = _reach(p, flat), _reach(p, decayed)
        actual = [_actual(triples, n_fans, w, decayed) for w in held]
        act_reach = np.mean([a for a, _ in actual], axis=0)
        act_score = np.mean([b for _, b in actual], axis=0)
        mape = float(np.mean(np.abs(pred_reach - act_reach) / np.maximum(act_reach, 1.0)))
        best = int(np.argmax(pred_score))
        top3 = set(np.argsort(-act_score)[:3].tolist())
        corr = _spearman(pred_score, act_score)
        validation = {"held_out_weeks": HOLDOUT_WEEKS, "trained_weeks": len(train), "reach_mape": round(mape, 4),
                      "rank_correlation": None if corr is None else round(corr, 4),
                      "predicted_best": _slot(best), "best_in_top3": best in top3,
                      "held_out_top3": [_slot(int(x)) for x in np.argsort(-act_score)[:3]]}
    if n_fans:
        p = _probabilities(triples, n_fans, range(0, HISTORY_WEEKS))
        reach, score = _reach(p, flat), _reach(p, decayed)
        active = p.sum(axis=0)
        order = np.argsort(-score, kind="stable")
        slots = [{**_slot(int(x)), "rank": i + 1, "score": round(float(score[x]), 2),
                  "expected_reach_24h": round(float(reach[x]), 1), "active_followers": round(float(active[x]), 2)}
                 for i, x in enumerate(order[:10])]
        heatmap = [[round(float(active[d * 24 + h]), 2) for h in range(24)] for d in range(7)]
    else:
        slots, heatmap = [], []
    result = {"definition": DEFINITION, "time_zone": "each follower's own", "history_weeks": HISTORY_WEEKS,
              "followers": n_followers, "active_followers": n_fans, "best_slots": slots, "heatmap": heatmap,
              "validation": validation}
    with platform.session() as s:
        save_fit(s, artist_id, "release_time", now, result)
    return {**result, "fitted_at": now.isoformat()}


def fit_release_time_job(ctx, artist_id: str | None = None) -> dict:
    platform = ctx.platform
    ids = [uuid.UUID(artist_id)] if artist_id else artist_ids(platform)
    for i, a in enumerate(ids):
        try:
            fit_release_time(platform, a)
        except Exception:
            log.exception("release-time fit failed for artist %s", a)
        ctx.progress((i + 1) / len(ids), f"{i + 1}/{len(ids)} artists")
    return {"artists": len(ids)}


def release_time_metric(platform, artist_id, window):
    return fit_value(platform, artist_id, "release_time",
                     {"definition": DEFINITION, "best_slots": [], "heatmap": [], "validation": None})


METRICS = [define("analytics_best_release_time", "Best release time",
                  "Hour × weekday (in each follower's time zone) when a release reaches the most followers within "
                  "24 hours, with the activity heatmap and a validation on held-out weeks; refitted every 6 hours.",
                  release_time_metric, unit="followers", dimension="slot")]
JOBS = [JobSpec("fit_release_time", fit_release_time_job, max_retries=1, every_seconds=6 * 3600)]
