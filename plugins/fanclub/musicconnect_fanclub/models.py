"""Fan club tables (fanclub_*)."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from musicconnect import Base, uuid_pk


class Follow(Base):
    __tablename__ = "fanclub_follows"
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    artist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("artists.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column()


class Message(Base):
    """A direct message in the conversation of one fan with one artist."""

    __tablename__ = "fanclub_messages"
    id: Mapped[uuid.UUID] = uuid_pk()
    artist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("artists.id", ondelete="CASCADE"))
    fan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    sender: Mapped[str] = mapped_column(String(8))  # fan | artist
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column()
    __table_args__ = (Index("ix_fanclub_messages_conv", "artist_id", "fan_id", "created_at"),)


class BackstagePost(Base):
    """Backstage: members-only posts of an artist's space, and replies (``parent_id``) as a thread."""

    __tablename__ = "fanclub_backstage"
    id: Mapped[uuid.UUID] = uuid_pk()
    artist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("artists.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("fanclub_backstage.id", ondelete="CASCADE"),
                                                        nullable=True)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column()


class Comment(Base):
    __tablename__ = "fanclub_comments"
    id: Mapped[uuid.UUID] = uuid_pk()
    content_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("content_items.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column()


class Reaction(Base):
    __tablename__ = "fanclub_reactions"
    content_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("content_items.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    created_at: Mapped[datetime] = mapped_column()


class WrappedShare(Base):
    """A public link to chosen parts of a fan's monthly report."""

    __tablename__ = "fanclub_wrapped_shares"
    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    month: Mapped[str] = mapped_column(String(7))
    sections: Mapped[str] = mapped_column(String(200))  # comma-separated
    show_name: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)


class DmCounter(Base):
    """Messages one fan has sent one artist in one quota period (the artist's calendar month,
    ``period_start`` as a UTC instant). The quota is taken with one conditional UPDATE
    (``used < limit``) whose row count says yes or no: atomic on SQLite and PostgreSQL alike."""

    __tablename__ = "fanclub_dm_counters"
    fan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    artist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("artists.id", ondelete="CASCADE"), primary_key=True)
    period_start: Mapped[datetime] = mapped_column(primary_key=True)
    used: Mapped[int] = mapped_column(default=0)


class Privacy(Base):
    """A fan's choice of how the fan club shows them to others: ``anonymous`` fans appear as
    "A fan" (no name, no id) in the backstage, comments and the top-fans metric. No row: shown by
    their display name."""

    __tablename__ = "fanclub_privacy"
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    anonymous: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column()


class Notice(Base):
    """One row per notification-worthy fact the fan club's jobs emitted (``early:<item>:<tier>``,
    ``wrapped:<user>:<YYYY-MM>``): the primary key refuses a second emission, whoever races."""

    __tablename__ = "fanclub_notices"
    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    created_at: Mapped[datetime] = mapped_column()
