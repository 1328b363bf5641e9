"""The core's tables: identity, artists and tiers, content, entitlements, domain events,
plugin state and jobs. Plugins add their own tables on :class:`musicconnect.db.Base`."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text,
                        UniqueConstraint, Uuid)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .db import Base, JSONType, uuid_pk
from .clock import utcnow

ROLES = ("fan", "artist", "admin")


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class User(TimestampMixin, Base):
    __tablename__ = "users"
    id: Mapped[uuid.UUID] = uuid_pk()
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(16), default="fan")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    artist: Mapped["Artist | None"] = relationship(back_populates="user", uselist=False, lazy="joined")
    __table_args__ = (CheckConstraint("role in ('fan','artist','admin')", name="role"),)


class Artist(TimestampMixin, Base):
    __tablename__ = "artists"
    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    bio: Mapped[str] = mapped_column(Text, default="")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    user: Mapped[User] = relationship(back_populates="artist")


class Tier(TimestampMixin, Base):
    """A membership level of one artist. ``rank`` orders tiers (0 = free); money in minor units."""

    __tablename__ = "tiers"
    id: Mapped[uuid.UUID] = uuid_pk()
    artist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("artists.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    rank: Mapped[int] = mapped_column(Integer)
    price_amount: Mapped[int] = mapped_column(Integer, default=0)
    yearly_amount: Mapped[int | None] = mapped_column(Integer, nullable=True)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    perks: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    __table_args__ = (UniqueConstraint("artist_id", "key", name="artist_key"),
                      CheckConstraint("price_amount >= 0", name="price_nonnegative"))


CONTENT_STATUSES = ("draft", "processing", "ready", "failed", "taken_down")
VISIBILITIES = ("public", "tier")


class ContentItem(TimestampMixin, Base):
    """Anything an artist publishes. ``kind`` names the plugin's content kind (``track``, ``post``...).

    Visible when ``status == 'ready'`` and ``publish_at <= now`` (or earlier for early-access
    members); ``visibility == 'tier'`` needs ``required_tier_id`` (members of that rank or above).
    """

    __tablename__ = "content_items"
    id: Mapped[uuid.UUID] = uuid_pk()
    artist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("artists.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="draft")
    status_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    visibility: Mapped[str] = mapped_column(String(16), default="public")
    required_tier_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("tiers.id", ondelete="RESTRICT"), nullable=True)
    publish_at: Mapped[datetime] = mapped_column(default=utcnow)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    __table_args__ = (
        Index("ix_content_artist_publish", "artist_id", "publish_at"),
        CheckConstraint("status in ('draft','processing','ready','failed','taken_down')", name="status"),
        CheckConstraint("visibility in ('public','tier')", name="visibility"),
        CheckConstraint("visibility = 'public' or required_tier_id is not null", name="tier_needs_tier"),
    )


ENTITLEMENT_STATUSES = ("active", "past_due", "cancelled", "ended")


class Entitlement(TimestampMixin, Base):
    """What a user holds for an artist. Effective while status is active / past_due / cancelled
    (cancelled = ends at period end) and ``starts_at <= now < expires_at`` (no expiry = open-ended)."""

    __tablename__ = "entitlements"
    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    artist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("artists.id", ondelete="CASCADE"))
    tier_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tiers.id", ondelete="RESTRICT"))
    source: Mapped[str] = mapped_column(String(64))
    source_ref: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="active")
    starts_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    __table_args__ = (
        UniqueConstraint("source", "source_ref", name="source_ref"),
        Index("ix_entitlements_user_artist", "user_id", "artist_id"),
        CheckConstraint("status in ('active','past_due','cancelled','ended')", name="status"),
    )


class DomainEvent(Base):
    """Who did what, when: written in the same transaction as the change it describes."""

    __tablename__ = "domain_events"
    id: Mapped[uuid.UUID] = uuid_pk()
    type: Mapped[str] = mapped_column(String(100))
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid(), nullable=True)
    artist_id: Mapped[uuid.UUID | None] = mapped_column(Uuid(), nullable=True)
    subject_type: Mapped[str | None] = mapped_column(String(64), nullable=True)
    subject_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    __table_args__ = (Index("ix_events_artist_type_time", "artist_id", "type", "occurred_at"),
                      Index("ix_events_type_time", "type", "occurred_at"))


class PluginState(Base):
    """The operator's choice per plugin (absent row = enabled) and its stored configuration."""

    __tablename__ = "plugin_state"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class RefreshToken(Base):
    __tablename__ = "refresh_tokens"
    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    family_id: Mapped[uuid.UUID] = mapped_column(Uuid(), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)


class ApiToken(Base):
    """A scoped personal access token for third-party clients; only its hash is stored."""

    __tablename__ = "api_tokens"
    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    scopes: Mapped[list[str]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)


JOB_STATES = ("queued", "running", "succeeded", "failed")


class Job(Base):
    """A unit of background work with visible progress (transcodes, imports, syncs)."""

    __tablename__ = "jobs"
    id: Mapped[uuid.UUID] = uuid_pk()
    actor: Mapped[str] = mapped_column(String(120))
    owner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    state: Mapped[str] = mapped_column(String(16), default="queued")
    progress: Mapped[float] = mapped_column(default=0.0)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    subject_type: Mapped[str | None] = mapped_column(String(64), nullable=True)
    subject_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    args: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    __table_args__ = (Index("ix_jobs_subject", "subject_type", "subject_id"),
                      Index("ix_jobs_state", "state"))


from .flag_models import FeatureFlag  # noqa: E402,F401  (a core table: migration branch "flags")
