"""The streaming plugin's tables (all named streaming_*)."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from musicconnect import Base, uuid_pk
from musicconnect.db import JSONType


class Track(Base):
    """Streaming state of a ``track`` content item: which version plays, which is being made."""

    __tablename__ = "streaming_tracks"
    content_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("content_items.id", ondelete="CASCADE"), primary_key=True)
    artist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("artists.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer, default=0)  # the playing version; 0 = none yet
    pending_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    preview_start: Mapped[float | None] = mapped_column(Float, nullable=True)  # requested; None = loudest
    quarantined: Mapped[bool] = mapped_column(Boolean, default=False)  # files moved away on take-down
    created_at: Mapped[datetime] = mapped_column()


class TrackVersion(Base):
    """One uploaded audio file and everything made from it (under ``tracks/<id>/v<n>/``)."""

    __tablename__ = "streaming_versions"
    content_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("content_items.id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[str] = mapped_column(String(16), default="processing")  # processing|ready|failed|superseded
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    original_key: Mapped[str] = mapped_column(String(500))
    original_filename: Mapped[str] = mapped_column(String(300))
    size_bytes: Mapped[int] = mapped_column(Integer)
    probe: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    duration: Mapped[float] = mapped_column(Float)
    loudness_lufs: Mapped[float | None] = mapped_column(Float, nullable=True)
    true_peak_db: Mapped[float | None] = mapped_column(Float, nullable=True)
    preview_start: Mapped[float | None] = mapped_column(Float, nullable=True)
    renditions: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    artwork: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    aes_key: Mapped[bytes] = mapped_column(LargeBinary(16))
    aes_iv: Mapped[str] = mapped_column(String(34))
    job_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column()
    ready_at: Mapped[datetime | None] = mapped_column(nullable=True)


class Play(Base):
    """One listening session; counted once it passes 30 s (de-duplicated per listener and track)."""

    __tablename__ = "streaming_plays"
    id: Mapped[uuid.UUID] = uuid_pk()
    content_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("content_items.id", ondelete="CASCADE"))
    artist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("artists.id", ondelete="CASCADE"))
    listener: Mapped[str] = mapped_column(String(80))
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    started_at: Mapped[datetime] = mapped_column()
    last_report_at: Mapped[datetime] = mapped_column()
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    duration: Mapped[float] = mapped_column(Float)
    counted_at: Mapped[datetime | None] = mapped_column(nullable=True)
    #: set when a screen (platform.screen_activity) flagged the play: kept, never counted or completed
    flagged_at: Mapped[datetime | None] = mapped_column(nullable=True)
    completed: Mapped[bool] = mapped_column(Boolean, default=False)
    __table_args__ = (Index("ix_streaming_plays_artist_counted", "artist_id", "counted_at"),
                      Index("ix_streaming_plays_dedupe", "listener", "content_id", "counted_at"))


class Download(Base):
    __tablename__ = "streaming_downloads"
    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    content_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("content_items.id", ondelete="CASCADE"))
    artist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("artists.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column()
    __table_args__ = (Index("ix_streaming_downloads_user_time", "user_id", "created_at"),)


class DownloadCount(Base):
    """Downloads a user took in a calendar month (UTC). The quota is one conditional UPDATE of
    this row (``used < limit``), so concurrent requests can never take more than the quota."""

    __tablename__ = "streaming_download_counts"
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)  # "YYYY-MM"
    used: Mapped[int] = mapped_column(Integer, default=0)


class OrphanSuspect(Base):
    """A storage prefix that had no live database row when the sweep last looked. It is deleted
    once it has stayed orphaned for the grace period (an upload in flight never is)."""

    __tablename__ = "streaming_orphan_suspects"
    prefix: Mapped[str] = mapped_column(String(300), primary_key=True)
    first_seen: Mapped[datetime] = mapped_column()
