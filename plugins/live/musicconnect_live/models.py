"""Tables of the live plugin: parties (with their playback state), RSVPs, attendance, chat."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from musicconnect import Base, uuid_pk
from musicconnect.db import JSONType


class Party(Base):
    """A listening party. The playback state is ``(index, position at state_at, playing)``: any
    process computes the current position from it and the clock (``sync.position_at``)."""

    __tablename__ = "live_parties"
    id: Mapped[uuid.UUID] = uuid_pk()
    artist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("artists.id", ondelete="CASCADE"), index=True)
    host_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    starts_at: Mapped[datetime] = mapped_column()
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    visibility: Mapped[str] = mapped_column(String(16), default="public")  # public | followers | tier
    min_tier_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tiers.id", ondelete="SET NULL"), nullable=True)
    #: [{"track_id": str, "duration": seconds}] snapshotted at creation
    playlist: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    status: Mapped[str] = mapped_column(String(16), default="scheduled")  # scheduled | live | ended
    starting_notified: Mapped[bool] = mapped_column(Boolean, default=False)
    track_index: Mapped[int] = mapped_column(Integer, default=0)
    position: Mapped[float] = mapped_column(default=0.0)  # seconds into the track at state_at
    state_at: Mapped[datetime | None] = mapped_column(nullable=True)
    playing: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(nullable=True)
    recap: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    created_at: Mapped[datetime] = mapped_column()
    __table_args__ = (Index("ix_live_parties_status_start", "status", "starts_at"),)


class Rsvp(Base):
    __tablename__ = "live_rsvps"
    party_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("live_parties.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column()


class Attendance(Base):
    """One listener's stay in a party (a socket from join to leave): the recap's listeners."""

    __tablename__ = "live_attendance"
    id: Mapped[uuid.UUID] = uuid_pk()
    party_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("live_parties.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=True)
    joined_at: Mapped[datetime] = mapped_column()
    left_at: Mapped[datetime | None] = mapped_column(nullable=True)


class Room(Base):
    """Chat settings of a room (``party:<id>`` or ``artist:<id>``); absent = defaults."""

    __tablename__ = "live_rooms"
    room: Mapped[str] = mapped_column(String(64), primary_key=True)
    artist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("artists.id", ondelete="CASCADE"), index=True)
    slow_mode_seconds: Mapped[int] = mapped_column(Integer, default=0)
    min_tier_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tiers.id", ondelete="SET NULL"), nullable=True)


class ChatMessage(Base):
    """A chat message; ids grow, so ``before`` / ``last_seen_id`` page and resume."""

    __tablename__ = "live_messages"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    room: Mapped[str] = mapped_column(String(64))
    artist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("artists.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column()
    __table_args__ = (Index("ix_live_messages_room_id", "room", "id"),)


class Reaction(Base):
    __tablename__ = "live_reactions"
    message_id: Mapped[int] = mapped_column(ForeignKey("live_messages.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    emoji: Mapped[str] = mapped_column(String(16), primary_key=True)


class Moderator(Base):
    __tablename__ = "live_moderators"
    artist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("artists.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column()


class Sanction(Base):
    """A mute (``until`` set) or ban (``until`` null = for good) of a user in an artist's rooms."""

    __tablename__ = "live_sanctions"
    artist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("artists.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)  # mute | ban
    until: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column()


class ChatLimit(Base):
    """Per user and room: the flood window and the last message (slow mode). Taken with one
    conditional UPDATE, so the limits hold across threads and processes."""

    __tablename__ = "live_chat_limits"
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    room: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[datetime] = mapped_column()
    window_count: Mapped[int] = mapped_column(Integer, default=0)
    last_at: Mapped[datetime] = mapped_column()


class ModAction(Base):
    """Everything a moderator (or the artist) does, for the artist to read."""

    __tablename__ = "live_modlog"
    id: Mapped[uuid.UUID] = uuid_pk()
    artist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("artists.id", ondelete="CASCADE"))
    moderator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(32))
    target_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"),
                                                             nullable=True)
    room: Mapped[str | None] = mapped_column(String(64), nullable=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column()
    __table_args__ = (Index("ix_live_modlog_artist_time", "artist_id", "created_at"),)
