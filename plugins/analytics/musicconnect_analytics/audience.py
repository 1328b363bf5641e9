"""Audience metrics, read from the rollups (:mod:`.rollups`), never from raw events.

* **Active audience**: the distinct signed-in fans with at least one intentional play (a play that
  counted: 30 s or more, the streaming plugin's ``play.counted``) in the 28 days ending at the end
  of the period (Spotify for Artists' definition; anonymous listeners cannot be told apart and
  are left out).
* **Listener segments** of that active audience, by the number of distinct days they played the
  artist in those 28 days (Spotify does not publish its thresholds; these are ours):
  **super** = 10 days or more (several times a week), **moderate** = 3 to 9 days (about weekly),
  **light** = 1 or 2 days.
* **Followers** and **members over time**: a running total per day (follows minus unfollows;
  entitlements granted minus ended), with the day's additions and removals.
* **Cohort retention**: fans grouped by the month of their first payment to the artist (first
  support); for each month since, the share of the cohort that paid again in that month.

Public: :func:`active_audience`, :func:`segments`, :func:`running` (and the ``METRICS``).
"""
from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import BigInteger, case, cast, func, literal, literal_column, select
from sqlalchemy.dialects.postgresql import BIT

from . import rollups
from .rollups import Rollup, define, days_of

ACTIVE_DAYS = 28
SUPER_DAYS = 10
MODERATE_DAYS = 3


def _last28(window) -> tuple[date, date]:
    end = days_of(window)[1]
    return end - timedelta(days=ACTIVE_DAYS - 1), end


def _window_bits(end: date):
    """Per fan (``analytics_fans``): the bitmap of the days they played in the 28 days ending at
    ``end``, and the condition that picks the fans who may have any."""
    e = rollups.day_number(end)
    f = rollups.FanState
    mask = literal((1 << ACTIVE_DAYS) - 1, BigInteger)
    d = f.last_play - e  # >= 0: the latest play is after the window's end
    bits = case((d >= 0, f.play_days.op(">>")(d).op("&")(mask)),
                else_=f.play_days.op("&")(literal(1, BigInteger).op("<<")(ACTIVE_DAYS + d) - 1))
    return bits, [f.last_play >= e - (ACTIVE_DAYS - 1)]


def _from_fans(s, artist_id, end: date) -> bool:
    """Whether ``analytics_fans`` answers for a window ending at ``end``: the bitmaps reach back
    ``PLAY_BITS`` days from each fan's latest play (older windows read the per-day rollups)."""
    newest = s.scalar(select(func.max(rollups.FanState.last_play)).where(rollups.FanState.artist_id == artist_id))
    return newest is None or newest - rollups.day_number(end) <= rollups.PLAY_BITS - ACTIVE_DAYS


def active_audience(platform, artist_id, end: date) -> int:
    if end < rollups.today(platform):  # a past figure: computed once and kept
        return rollups.keep_past(platform, artist_id, ("active", end), lambda: _active_audience(platform, artist_id, end))
    return _active_audience(platform, artist_id, end)


def _active_audience(platform, artist_id, end: date) -> int:
    rollups.flush(platform)
    with platform.read() as s:
        if _from_fans(s, artist_id, end):
            bits, cond = _window_bits(end)
            return int(s.scalar(select(func.count()).where(
                rollups.FanState.artist_id == artist_id, *cond, bits != 0)) or 0)
        return int(s.scalar(select(func.count(func.distinct(Rollup.dimension))).where(
            Rollup.artist_id == artist_id, Rollup.metric == "fan_plays", Rollup.dimension != "",
            Rollup.day >= end - timedelta(days=ACTIVE_DAYS - 1), Rollup.day <= end, Rollup.value > 0)) or 0)


def _popcount(s, w):
    """The number of bits set in ``w`` (< 2**28): ``bit_count`` on PostgreSQL 14+, else 28 shifts."""
    dialect = s.get_bind().dialect
    if dialect.name == "postgresql" and (dialect.server_version_info or (0,)) >= (14,):
        return func.bit_count(cast(w, BIT(64)))
    one = literal_column("1")
    return sum((w.op(">>")(literal_column(str(i))).op("&")(one) for i in range(1, ACTIVE_DAYS)), w.op("&")(one))


def segments(platform, artist_id, end: date) -> dict[str, int]:
    if end < rollups.today(platform):  # a past figure: computed once and kept
        return dict(rollups.keep_past(platform, artist_id, ("segments", end),
                                      lambda: _segments_at(platform, artist_id, end)))
    return _segments_at(platform, artist_id, end)


def _segments_at(platform, artist_id, end: date) -> dict[str, int]:
    rollups.flush(platform)
    with platform.read() as s:
        if _from_fans(s, artist_id, end):
            bits, cond = _window_bits(end)
            w = select(bits.label("w")).where(rollups.FanState.artist_id == artist_id, *cond).subquery()
            per_fan = select(_popcount(s, w.c.w).label("days")).subquery()
        else:
            per_fan = (select(func.count().label("days")).where(
                Rollup.artist_id == artist_id, Rollup.metric == "fan_plays", Rollup.dimension != "",
                Rollup.day >= end - timedelta(days=ACTIVE_DAYS - 1), Rollup.day <= end, Rollup.value > 0)
                .group_by(Rollup.dimension).subquery())
        days = per_fan.c.days
        sup, mod, light = s.execute(select(
            func.coalesce(func.sum(case((days >= SUPER_DAYS, 1), else_=0)), 0),
            func.coalesce(func.sum(case(((days >= MODERATE_DAYS) & (days < SUPER_DAYS), 1), else_=0)), 0),
            func.coalesce(func.sum(case(((days > 0) & (days < MODERATE_DAYS), 1), else_=0)), 0))).one()
    return {"super": int(sup), "moderate": int(mod), "light": int(light)}


def running(platform, artist_id, start: date, end: date, plus: str, minus: str | None, name: str,
            extra: dict[str, str] | None = None) -> list[dict]:
    """A running total per day: ``plus`` adds (``minus`` removes) every day since the beginning;
    ``extra`` adds the day's value of other metrics (``{field: metric}``). Two queries."""
    signs = {plus: 1, **({minus: -1} if minus else {})}
    extra = extra or {}
    base = sum(v * signs[m] for m, v in rollups.befores(platform, artist_id, signs, start).items())
    got = rollups.series_many(platform, artist_id, {*signs, *extra.values()}, start, end)
    out, day, value = [], start, base
    while day <= end:
        value += sum(got[m].get(day, 0) * sign for m, sign in signs.items())
        row = {"day": day.isoformat(), name: value}
        row.update({field: got[m].get(day, 0) for field, m in extra.items()})
        out.append(row)
        day += timedelta(days=1)
    return out


def _active(platform, artist_id, window):
    return active_audience(platform, artist_id, days_of(window)[1])


def _segments(platform, artist_id, window):
    return segments(platform, artist_id, days_of(window)[1])


def _followers(platform, artist_id, window):
    return running(platform, artist_id, *days_of(window), "follows", "unfollows", "followers",
                   {"follows": "follows", "unfollows": "unfollows"})


def _members(platform, artist_id, window):
    return running(platform, artist_id, *days_of(window), "members", None, "members",
                   {"joined": "new_members", "left": "ended_members"})


def _month_index(d: date) -> int:
    return d.year * 12 + d.month - 1


def cohorts(platform, artist_id, start: date, end: date) -> dict:
    """Cohorts by first-support month from ``start``'s month to ``end``'s month: read from the
    ``cohort`` counters (day = first-support month, dimension = a month paid in), which every
    payment and refund keeps up to date (:mod:`.rollups`): a few rows per cohort, never one per fan."""
    rollups.flush(platform)
    with platform.read() as s:
        found = s.execute(select(Rollup.day, Rollup.dimension, Rollup.value).where(
            Rollup.artist_id == artist_id, Rollup.metric == "cohort", Rollup.day >= start.replace(day=1),
            Rollup.day <= end, Rollup.value != 0)).all()
    rows = [(first, date.fromisoformat(month), n) for first, month, n in found if date.fromisoformat(month) <= end]
    first_month, last_month = _month_index(start), _month_index(end)
    groups: dict[int, dict[int, int]] = {}
    for first, day, n in rows:
        first, day = rollups.as_date(first), rollups.as_date(day)
        groups.setdefault(_month_index(first), {})[_month_index(day)] = int(n)
    table = []
    for first in sorted(groups):
        counts = groups[first]
        fans = counts.get(first, 0)
        retained = [counts.get(first + k, 0) for k in range(last_month - first + 1)]
        table.append({"cohort": f"{first // 12:04d}-{first % 12 + 1:02d}", "fans": fans, "retained": retained,
                      "retention": [round(n / fans, 4) if fans else 0.0 for n in retained]})
    return {"months_since_first_support": list(range(last_month - first_month + 1)), "cohorts": table}


def _cohorts(platform, artist_id, window):
    return cohorts(platform, artist_id, *days_of(window))


METRICS = [
    define("analytics_active_audience", "Active audience",
           "Distinct signed-in fans with at least one intentional play (30 s or more) in the 28 days ending at the "
           "end of the period.", _active, unit="fans"),
    define("analytics_listener_segments", "Listener segments",
           "The active audience by how many days of those 28 days they played the artist: super (10 days or more), "
           "moderate (3 to 9 days), light (1 or 2 days).", _segments, unit="fans", dimension="segment"),
    define("analytics_followers", "Followers over time",
           "Per day: followers at the end of the day (follows minus unfollows since the beginning), the day's "
           "follows and unfollows.", _followers, unit="fans", dimension="day"),
    define("analytics_members", "Members over time",
           "Per day: members at the end of the day (memberships granted minus ended, any tier or source), the "
           "day's new and ended memberships.", _members, unit="fans", dimension="day"),
    define("analytics_cohort_retention", "Cohort retention",
           "Fans grouped by the month of their first payment to the artist (cohorts starting in the period); for "
           "each month since (0 = the first), how many of the cohort paid in that month and the share.",
           _cohorts, unit="share of the cohort", dimension="cohort x month"),
]
