"""Billing tables (billing_*). Money is integer minor units plus an ISO currency code."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from musicconnect import Base, uuid_pk
from musicconnect.db import JSONType


class Customer(Base):
    """A fan's customer record at a provider: one per user and provider, shared by every artist."""

    __tablename__ = "billing_customers"
    id: Mapped[uuid.UUID] = uuid_pk()
    provider: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column()
    __table_args__ = (UniqueConstraint("provider", "user_id", name="uq_billing_customers_provider_user"),
                      UniqueConstraint("provider", "external_id", name="uq_billing_customers_provider_external"))


class Account(Base):
    """An artist's connected (payout) account and the platform fee that applies to them."""

    __tablename__ = "billing_accounts"
    artist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("artists.id", ondelete="CASCADE"), primary_key=True)
    provider: Mapped[str] = mapped_column(String(32), default="stripe")
    external_id: Mapped[str | None] = mapped_column(String(255), nullable=True, unique=True)
    charges_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    payouts_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    details_submitted: Mapped[bool] = mapped_column(Boolean, default=False)
    requirements: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    fee_percent: Mapped[Any | None] = mapped_column(Numeric(5, 2), nullable=True)  # overrides the default
    updated_at: Mapped[datetime] = mapped_column()


class Price(Base):
    """A provider price for one tier, interval and amount. A price change adds a row and archives
    the old one; subscribers stay on the price they bought."""

    __tablename__ = "billing_prices"
    id: Mapped[uuid.UUID] = uuid_pk()
    provider: Mapped[str] = mapped_column(String(32))
    tier_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tiers.id", ondelete="CASCADE"), index=True)
    interval: Mapped[str] = mapped_column(String(8))  # month | year
    amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    product_id: Mapped[str] = mapped_column(String(255))
    external_id: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column()
    archived_at: Mapped[datetime | None] = mapped_column(nullable=True)
    __table_args__ = (UniqueConstraint("provider", "external_id", name="uq_billing_prices_provider_external"),)


class Subscription(Base):
    """What we know of one provider subscription, and what it entitles the fan to.

    ``tier_id`` is the tier paid for; ``entitled_tier_id`` the tier the fan holds, which stays
    higher after a downgrade until ``entitled_until`` (the end of the period paid at that tier)."""

    __tablename__ = "billing_subscriptions"
    id: Mapped[uuid.UUID] = uuid_pk()
    provider: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(255))
    customer_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True,
                                                      index=True)
    artist_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("artists.id", ondelete="CASCADE"), nullable=True,
                                                        index=True)
    tier_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tiers.id", ondelete="SET NULL"), nullable=True)
    entitled_tier_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tiers.id", ondelete="SET NULL"),
                                                               nullable=True)
    entitled_until: Mapped[datetime | None] = mapped_column(nullable=True)
    price_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    amount: Mapped[int] = mapped_column(Integer, default=0)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    interval: Mapped[str] = mapped_column(String(8), default="month")
    status: Mapped[str] = mapped_column(String(24), default="incomplete")  # the provider's status
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, default=False)
    current_period_end: Mapped[datetime | None] = mapped_column(nullable=True)
    past_due_since: Mapped[datetime | None] = mapped_column(nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # "<user hex>:<artist hex>" while this row is the fan's one live membership of the artist (unique:
    # the database refuses a second); None once it ended, and never on a duplicate
    live_key: Mapped[str | None] = mapped_column(String(80), nullable=True)
    # a subscription that went live while another already held the membership: never entitles,
    # cancelled and refunded at the provider (duplicate_closed_at: when that was done)
    duplicate_of: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    duplicate_closed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    sync_ticket: Mapped[int] = mapped_column(Integer, default=0)  # claimed before each fetch from the provider
    applied_ticket: Mapped[int] = mapped_column(Integer, default=0)  # the newest fetch applied
    created_at: Mapped[datetime] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()
    __table_args__ = (UniqueConstraint("provider", "external_id", name="uq_billing_subscriptions_provider_external"),
                      Index("uq_billing_subscriptions_live_key", "live_key", unique=True))


class WebhookEvent(Base):
    """The webhook ledger: every event a provider sent, keyed by its id; processed by a job."""

    __tablename__ = "billing_events"
    id: Mapped[uuid.UUID] = uuid_pk()
    provider: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(80))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created: Mapped[int] = mapped_column(Integer, default=0)  # the provider's timestamp (seconds)
    status: Mapped[str] = mapped_column(String(16), default="received")  # received|processed|ignored|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    received_at: Mapped[datetime] = mapped_column()
    processed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    next_attempt_at: Mapped[datetime | None] = mapped_column(nullable=True)
    __table_args__ = (UniqueConstraint("provider", "event_id", name="uq_billing_events_provider_event"),
                      Index("ix_billing_events_status", "status", "next_attempt_at"))


class Revenue(Base):
    """The revenue ledger: one row per payment, refund or dispute (refunds and disputes negative)."""

    __tablename__ = "billing_revenue"
    id: Mapped[uuid.UUID] = uuid_pk()
    provider: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))  # payment | refund | dispute | dispute_won
    external_id: Mapped[str] = mapped_column(String(255))  # invoice / refund / dispute id
    charge_ref: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    subscription_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    artist_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("artists.id", ondelete="SET NULL"), nullable=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    tier_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tiers.id", ondelete="SET NULL"), nullable=True)
    gross: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    provider_fee: Mapped[int | None] = mapped_column(Integer, nullable=True)
    platform_fee: Mapped[int] = mapped_column(Integer, default=0)
    artist_net: Mapped[int] = mapped_column(Integer)
    occurred_at: Mapped[datetime] = mapped_column()
    __table_args__ = (UniqueConstraint("provider", "kind", "external_id", name="uq_billing_revenue_provider_kind_external"),
                      Index("ix_billing_revenue_artist", "artist_id", "occurred_at"))


class SandboxObject(Base):
    """The sandbox provider's own state (its "remote"): Stripe-shaped objects kept locally."""

    __tablename__ = "billing_sandbox_objects"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()
