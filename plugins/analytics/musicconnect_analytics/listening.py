"""Listening per day, read from the rollups (:mod:`.rollups`): the artist's counted plays (the
streaming plugin's ``play.counted``: 30 s or more, one per listener and track per 30 minutes),
completed plays and downloads of each UTC day of the period, every day listed (0 when quiet), so
that a dashboard draws the series as it is."""
from __future__ import annotations

from datetime import timedelta

from . import rollups
from .rollups import define, days_of


def _plays(platform, artist_id, window):
    first, last = days_of(window)
    found = rollups.series_many(platform, artist_id, ("plays", "completions", "downloads"), first, last)
    out = []
    day = first
    while day <= last:
        out.append({"day": day.isoformat(), "plays": found["plays"].get(day, 0),
                    "completions": found["completions"].get(day, 0), "downloads": found["downloads"].get(day, 0)})
        day += timedelta(days=1)
    return out


METRICS = [
    define("analytics_plays", "Plays per day",
           "Per day: counted plays (30 seconds or more, one per listener and track per 30 minutes), plays "
           "listened to the end, and offline downloads.", _plays, unit="plays", dimension="day"),
]
