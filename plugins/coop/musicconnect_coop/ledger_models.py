"""Tables of the co-op ledger (G-MONEY; migration ``coop_0002``).

* ``coop_ledger_payments``: one row per payment a co-op received (``payment_ref`` =
  ``provider:external_id``): what was paid, the platform fee, how much of it was refunded or
  disputed so far (``reversed``, moved by one conditional UPDATE that never lets it pass
  ``amount``), and the split used (for the record).
* ``coop_ledger_entries``: the append-only ledger. Signed amounts: ``share`` and ``fee`` are
  positive, ``clawback`` and ``transfer`` negative, ``transfer_reversal`` positive; ``artist_id``
  NULL is the platform (its fee, and the part of a refund that returns it). Every entry has a
  unique ``idem_key``: recording the same fact twice adds nothing.
"""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from musicconnect import Base, uuid_pk
from musicconnect.db import JSONType

ENTRY_KINDS = ("share", "clawback", "transfer", "transfer_reversal", "fee")


class LedgerPayment(Base):
    __tablename__ = "coop_ledger_payments"
    id: Mapped[uuid.UUID] = uuid_pk()
    coop_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("coop_coops.id", ondelete="CASCADE"), index=True)
    payment_ref: Mapped[str] = mapped_column(String(255))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)
    fee: Mapped[int] = mapped_column(BigInteger)
    reversed: Mapped[int] = mapped_column(BigInteger, default=0)
    fan_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    split: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # rule + weights used
    occurred_at: Mapped[datetime] = mapped_column()
    __table_args__ = (UniqueConstraint("coop_id", "payment_ref"),
                      CheckConstraint("amount >= 0 and fee >= 0 and fee <= amount", name="amounts"),
                      CheckConstraint("reversed >= 0 and reversed <= amount", name="reversed"))


class LedgerEntry(Base):
    __tablename__ = "coop_ledger_entries"
    id: Mapped[uuid.UUID] = uuid_pk()
    coop_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("coop_coops.id", ondelete="CASCADE"))
    payment_ref: Mapped[str | None] = mapped_column(String(255), nullable=True)
    kind: Mapped[str] = mapped_column(String(20))
    # no foreign key: a member who left (or whose account is gone) keeps their lines in the ledger
    artist_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    occurred_at: Mapped[datetime] = mapped_column()
    ref: Mapped[str | None] = mapped_column(String(255), nullable=True)  # refund/dispute/transfer id
    idem_key: Mapped[str] = mapped_column(String(255), unique=True)
    __table_args__ = (
        CheckConstraint("kind in ('share','clawback','transfer','transfer_reversal','fee')", name="kind"),
        CheckConstraint("(kind in ('share','fee','transfer_reversal') and amount >= 0)"
                        " or (kind in ('clawback','transfer') and amount <= 0)", name="sign"),
        Index("ix_coop_ledger_entries_coop_artist", "coop_id", "artist_id"),
        Index("ix_coop_ledger_entries_coop_payment", "coop_id", "payment_ref"),
    )
