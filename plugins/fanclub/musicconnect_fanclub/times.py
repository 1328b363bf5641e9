"""Times the fan club takes from clients: with a zone, and within a range every database and
Python's ``datetime`` can hold in UTC (``9999-12-31T23:59:59-14:00`` is past year 9999 in UTC,
``0001-01-01T00:00:00+14:00`` before year 1: both were 500s)."""
from __future__ import annotations

from datetime import datetime, timezone

from musicconnect import Problem

EARLIEST = datetime(1900, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(3000, 1, 1, tzinfo=timezone.utc)  # exclusive
RANGE = "between 1900-01-01 and 2999-12-31 (UTC)"


def in_range(value: datetime, field: str) -> datetime:
    """``value`` in UTC; ``422 validation`` without a zone or outside :data:`RANGE`."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise Problem(422, "validation", f"{field} needs a time zone (for example 2026-06-01T12:00:00Z)")
    try:
        utc = value.astimezone(timezone.utc)
    except (OverflowError, ValueError):
        raise Problem(422, "validation", f"{field} must be {RANGE}") from None
    if not EARLIEST <= utc < LATEST:
        raise Problem(422, "validation", f"{field} must be {RANGE}")
    return utc


def parse_time(value: str | None, field: str) -> datetime | None:
    """An ISO 8601 date-time from a form field (``None`` when empty)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise Problem(422, "validation", f"{field} must be an ISO 8601 date-time") from None
    return in_range(parsed, field)
