"""The notify plugin's tables (all prefixed ``notify_``)."""
from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from musicconnect import Base, uuid_pk


class Delivery(Base):
    """One notification of one kind about one object for one recipient on one channel. The unique
    key makes fan-out idempotent: a retried job inserts nothing new and so sends nothing twice.

    ``status``: ``pending`` (to send; not before ``not_before``), ``sending`` (claimed by a
    job), ``sent``, ``failed`` (``reason``), ``digest`` (waits for the fan's digest),
    ``digested`` (went out inside one)."""

    __tablename__ = "notify_deliveries"
    __table_args__ = (UniqueConstraint("kind", "object_key", "recipient_id", "channel"),
                      Index("ix_notify_deliveries_inbox", "recipient_id", "channel", "created_at"),
                      Index("ix_notify_deliveries_due", "status", "not_before"))
    id: Mapped[uuid.UUID] = uuid_pk()
    kind: Mapped[str] = mapped_column(String(100))
    object_key: Mapped[str] = mapped_column(String(200))
    recipient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(20))
    artist_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("artists.id", ondelete="CASCADE"), default=None)
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(String(500), default=None)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    not_before: Mapped[datetime | None] = mapped_column(default=None)
    attempts: Mapped[int] = mapped_column(default=0)
    reason: Mapped[str | None] = mapped_column(String(500), default=None)
    created_at: Mapped[datetime] = mapped_column()
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    read_at: Mapped[datetime | None] = mapped_column(default=None)


class Preference(Base):
    """A fan's notification preferences (no row: the defaults)."""

    __tablename__ = "notify_preferences"
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    #: ``{kind: {channel: bool}}``: overrides of the kinds' default channels
    channels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: ``{"artists": [artist id, ...]}``: artists whose notifications the fan does not want
    muted: Mapped[dict[str, Any]] = mapped_column(default=dict)
    quiet_start: Mapped[str | None] = mapped_column(String(5), default=None)  # "22:00" local
    quiet_end: Mapped[str | None] = mapped_column(String(5), default=None)  # "08:00" local
    email_opt_out: Mapped[bool] = mapped_column(default=False)
    digest: Mapped[str] = mapped_column(String(8), default="daily")  # off | daily | weekly
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")  # IANA name: quiet hours, digest hour
    updated_at: Mapped[datetime] = mapped_column()


class ArtistMessage(Base):
    """A message an artist sent to a segment of their fans."""

    __tablename__ = "notify_artist_messages"
    id: Mapped[uuid.UUID] = uuid_pk()
    artist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("artists.id", ondelete="CASCADE"), index=True)
    segment: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column()


class MessageQuota(Base):
    """Messages an artist sent on one (UTC) day: the rate limit's counter (a conditional UPDATE)."""

    __tablename__ = "notify_message_quota"
    artist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("artists.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    sent: Mapped[int] = mapped_column(default=0)

