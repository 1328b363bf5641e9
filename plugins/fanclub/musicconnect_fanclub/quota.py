"""Direct-message quota: per calendar month in the artist's time zone."""
from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo


def month_bounds(now: datetime, tz_name: str) -> tuple[datetime, datetime]:
    """Start of this month and of the next, in the artist's zone, as UTC instants."""
    try:
        tz = ZoneInfo(tz_name or "UTC")
    except Exception:
        tz = ZoneInfo("UTC")
    local = now.astimezone(tz)
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    nxt = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return start.astimezone(timezone.utc), nxt.astimezone(timezone.utc)
