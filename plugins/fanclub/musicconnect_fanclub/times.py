"""Times the fan club takes from clients.

A release time (``publish_at``) needs a zone and a year from 1900 to 2999 as written (the form's
schema says so with a pattern): ``9999-12-31T23:59:59-14:00`` is past year 9999 in UTC and
``0001-01-01T00:00:00+14:00`` before year 1, and both were 500s. A paging cursor (the feed's
``before``) is never refused for its year: one past every representable time means no bound,
one before means nothing is older."""
from __future__ import annotations

from datetime import datetime, timezone

from musicconnect import Problem

FIRST_YEAR, LAST_YEAR = 1900, 2999
#: for the OpenAPI document: a date-time whose year is FIRST_YEAR..LAST_YEAR
YEAR_PATTERN = r"^(19|2[0-9])[0-9]{2}-"
#: what every database and Python's datetime hold in UTC (the core's columns take years 1..9998)
_LOW = datetime(2, 1, 1, tzinfo=timezone.utc)
_HIGH = datetime(9998, 1, 1, tzinfo=timezone.utc)


def _zoned(value: datetime, field: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise Problem(422, "validation", f"{field} needs a time zone (for example 2026-06-01T12:00:00Z)")
    return value


def release_time(value: datetime, field: str) -> datetime:
    """``value`` in UTC; ``422 validation`` without a zone or outside years 1900..2999."""
    _zoned(value, field)
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise Problem(422, "validation", f"{field} must lie between {FIRST_YEAR}-01-01 and {LAST_YEAR}-12-31")
    return value.astimezone(timezone.utc)  # within years 1899..3000: always representable


def cursor(value: datetime | None, field: str) -> tuple[datetime | None, bool]:
    """A paging bound in UTC, clamped: ``(bound, empty)``; ``bound`` None means no bound, ``empty``
    True means nothing can lie before it."""
    if value is None:
        return None, False
    _zoned(value, field)
    try:
        utc = value.astimezone(timezone.utc)
    except (OverflowError, ValueError):
        return (None, False) if value.year > 2000 else (None, True)
    if utc >= _HIGH:
        return None, False
    if utc <= _LOW:
        return None, True
    return utc, False


def parse_time(value: str | None, field: str) -> datetime | None:
    """A release time from a form field (``None`` when empty)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise Problem(422, "validation", f"{field} must be an ISO 8601 date-time") from None
    return release_time(parsed, field)
