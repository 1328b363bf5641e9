"""Tables of live sessions ("the artist is live"): a per-artist stream key (hash only) and one
row per broadcast. Parties and chat keep their own tables elsewhere in this plugin."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from musicconnect import Base, UTCDateTime, uuid_pk


class LiveStreamKey(Base):
    """The artist's RTMP stream key: only its SHA-256 is stored; the key is shown once."""

    __tablename__ = "live_stream_keys"
    artist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("artists.id", ondelete="CASCADE"), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    hint: Mapped[str] = mapped_column(String(8))          # the key's last characters, to tell keys apart
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LiveStreamSession(Base):
    """One broadcast: waiting for the encoder, live, then ended or failed (with its reason)."""

    __tablename__ = "live_stream_sessions"
    id: Mapped[uuid.UUID] = uuid_pk()
    artist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("artists.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="waiting", index=True)
    problem: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    access: Mapped[str] = mapped_column(String(16), default="perk")     # public | tier | perk
    required_tier_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tiers.id", ondelete="SET NULL"),
                                                               nullable=True)
    port: Mapped[int] = mapped_column(Integer)
    aes_key: Mapped[bytes] = mapped_column(LargeBinary(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    recording_key: Mapped[str | None] = mapped_column(String(300), nullable=True)
    track_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
