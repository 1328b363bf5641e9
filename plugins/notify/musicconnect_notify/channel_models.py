"""Tables of the delivery channels (web push, email): the deployment's VAPID key, fans' push
subscriptions (one per device) and the email suppression list."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from musicconnect import Base, uuid_pk


class VapidKey(Base):
    """The deployment's VAPID key pair (RFC 8292): one row, created on first use, never replaced
    (a new key would orphan every browser subscription, which is bound to the public key)."""

    __tablename__ = "notify_vapid_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # always 1
    private_pem: Mapped[str] = mapped_column(Text)
    public_key: Mapped[str] = mapped_column(String(100))  # base64url, uncompressed P-256 point
    created_at: Mapped[datetime] = mapped_column()


class PushSubscription(Base):
    """A browser's push subscription (PushSubscription.toJSON()) for one fan on one device."""

    __tablename__ = "notify_push_subscriptions"
    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    endpoint: Mapped[str] = mapped_column(Text)
    endpoint_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of the endpoint
    p256dh: Mapped[str] = mapped_column(String(120))
    auth: Mapped[str] = mapped_column(String(60))
    user_agent: Mapped[str | None] = mapped_column(String(300), nullable=True)
    created_at: Mapped[datetime] = mapped_column()
    last_success_at: Mapped[datetime | None] = mapped_column(nullable=True)


class EmailSuppression(Base):
    """An address the platform no longer mails: a hard bounce (permanent rejection) or an operator's
    entry. Kept by normalised address so that it outlives an account."""

    __tablename__ = "notify_email_suppressions"
    email: Mapped[str] = mapped_column(String(320), primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(32))  # "bounce" | "operator"
    created_at: Mapped[datetime] = mapped_column()


class PushSent(Base):
    """Which device already got which delivery, so that a retried delivery (some devices were
    unreachable) never pushes twice to a device that got it."""

    __tablename__ = "notify_push_sent"
    delivery_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    subscription_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
