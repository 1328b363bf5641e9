"""Direct-message quota: per calendar month in the artist's time zone, taken atomically."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import Uuid, func, literal, select, update
from sqlalchemy.orm import Session

from musicconnect import UTCDateTime

from .models import DmCounter, Message


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


def _sent_since(fan_id: uuid.UUID, artist_id: uuid.UUID, start: datetime):
    return (Message.artist_id == artist_id, Message.fan_id == fan_id, Message.sender == "fan",
            Message.created_at >= start)


def used(s: Session, fan_id: uuid.UUID, artist_id: uuid.UUID, start: datetime) -> int:
    """Messages counted against this period (the counter; before its first message, the messages)."""
    n = s.scalar(select(DmCounter.used).where(DmCounter.fan_id == fan_id, DmCounter.artist_id == artist_id,
                                              DmCounter.period_start == start))
    if n is not None:
        return n
    return s.scalar(select(func.count()).select_from(Message).where(*_sent_since(fan_id, artist_id, start))) or 0


def take(s: Session, fan_id: uuid.UUID, artist_id: uuid.UUID, start: datetime, limit: int) -> int | None:
    """Take one message of the quota in this transaction: the number used afterwards, or ``None``
    when the quota is spent. Two statements, each atomic on SQLite and PostgreSQL: create the
    period's counter if missing (seeded with the messages already sent, so a counter created
    mid-month or after a time-zone change counts them), then a conditional increment whose
    row count decides; concurrent senders queue on the row (PostgreSQL) or the database write
    lock (SQLite) and re-check ``used < limit`` on the committed value."""
    if s.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    seed = select(literal(fan_id, Uuid()), literal(artist_id, Uuid()), literal(start, UTCDateTime()),
                  func.count()).select_from(Message).where(*_sent_since(fan_id, artist_id, start))
    s.execute(insert(DmCounter).from_select(["fan_id", "artist_id", "period_start", "used"], seed)
              .on_conflict_do_nothing())
    row = s.execute(update(DmCounter).where(DmCounter.fan_id == fan_id, DmCounter.artist_id == artist_id,
                                            DmCounter.period_start == start, DmCounter.used < limit)
                    .values(used=DmCounter.used + 1).returning(DmCounter.used)
                    .execution_options(synchronize_session=False)).first()
    return None if row is None else row[0]
