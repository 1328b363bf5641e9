"""Tables of co-op bundles and payouts (G-SELL; migration ``coop_0004``).

* ``coop_bundles``: a bundle is a core ``Tier`` of the co-op's account (``tier_id``) with a
  status: ``pending`` until every active member has picked (the tier is inactive, nobody can buy
  it), ``active`` (sellable), ``retired`` (taken off sale by a ``change_bundle`` or dissolution).
* ``coop_bundle_members``: what each member includes (their own tier ``included_tier_id``;
  NULL = "none", chosen explicitly).
* ``coop_payouts``: every transfer to a member and every reversal of one, per payment
  (``payment_ref``) and member; ``idem_key`` (the provider's idempotency key) is unique, so a
  retried job records a transfer once. A move is written ``pending`` (key + amount) in its own
  transaction before the provider is called, then ``done`` with the provider's id and amount, or
  ``failed`` when the provider refused it (coop_0005).
"""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from musicconnect import Base, uuid_pk


class Bundle(Base):
    __tablename__ = "coop_bundles"
    tier_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tiers.id", ondelete="CASCADE"), primary_key=True)
    coop_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("coop_coops.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | active | retired
    created_at: Mapped[datetime] = mapped_column()
    __table_args__ = (CheckConstraint("status in ('pending','active','retired')", name="status"),)


class BundleMember(Base):
    __tablename__ = "coop_bundle_members"
    bundle_tier_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("coop_bundles.tier_id", ondelete="CASCADE"),
                                                      primary_key=True)
    artist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("artists.id", ondelete="CASCADE"), primary_key=True,
                                                 index=True)
    included_tier_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tiers.id", ondelete="SET NULL"),
                                                               nullable=True)
    chosen_at: Mapped[datetime] = mapped_column()


class Payout(Base):
    __tablename__ = "coop_payouts"
    id: Mapped[uuid.UUID] = uuid_pk()
    coop_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("coop_coops.id", ondelete="CASCADE"))
    payment_ref: Mapped[str] = mapped_column(String(255))
    artist_id: Mapped[uuid.UUID] = mapped_column()  # no foreign key: a member who left keeps their lines
    kind: Mapped[str] = mapped_column(String(16))  # transfer | reversal
    provider: Mapped[str] = mapped_column(String(64))
    # pending: committed (key + amount) before the provider is asked; done: the provider's id and
    # amount recorded; failed: the provider refused (409), nothing moved; unclaimable: owed to a
    # member whose data was erased, no longer paid out (counts as settled) (coop_0005)
    status: Mapped[str] = mapped_column(String(12), default="done", server_default="done")
    provider_ref: Mapped[str | None] = mapped_column(String(255), nullable=True)  # tr_... / trr_... (NULL: pending)
    transfer_ref: Mapped[str | None] = mapped_column(String(255), nullable=True)  # a reversal's transfer
    amount: Mapped[int] = mapped_column(BigInteger)  # positive
    currency: Mapped[str] = mapped_column(String(3))
    idem_key: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column()
    __table_args__ = (CheckConstraint("kind in ('transfer','reversal')", name="kind"),
                      CheckConstraint("status in ('pending','done','failed','unclaimable')", name="status"),
                      CheckConstraint("amount > 0", name="amount"),
                      Index("ix_coop_payouts_payment", "coop_id", "payment_ref", "artist_id"))
