"""Tables of the coop plugin's governance: co-ops, members, proposals, votes and the versions of
a co-op's rules and split rule (G-DOMAIN). The ledger's tables are in ``ledger_models``."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from musicconnect import Base, uuid_pk
from musicconnect.db import JSONType


class Coop(Base):
    """A co-op. ``artist_id`` is the co-op's own artist account (a service user the plugin
    creates): the seller of its bundle tiers. ``rules`` is the current version of
    ``{"quorum", "notice_days", "vote_days"}`` (every version in ``coop_rule_versions``)."""

    __tablename__ = "coop_coops"
    id: Mapped[uuid.UUID] = uuid_pk()
    artist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("artists.id", ondelete="CASCADE"), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | dissolving | dissolved
    rules: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column()
    dissolve_effective_at: Mapped[datetime | None] = mapped_column(nullable=True)
    dissolved_at: Mapped[datetime | None] = mapped_column(nullable=True)
    __table_args__ = (CheckConstraint("status in ('active','dissolving','dissolved')", name="status"),
                      Index("ix_coop_coops_status_dissolve", "status", "dissolve_effective_at"))


class Member(Base):
    """An artist's place in a co-op, from the invitation on (one row per co-op and artist: a
    re-invitation after ``left``/``declined`` reuses it)."""

    __tablename__ = "coop_members"
    coop_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("coop_coops.id", ondelete="CASCADE"), primary_key=True)
    artist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("artists.id", ondelete="CASCADE"), primary_key=True,
                                                 index=True)
    role: Mapped[str] = mapped_column(String(16), default="member")  # admin | member
    status: Mapped[str] = mapped_column(String(16), default="invited")  # invited|active|leaving|left|declined
    invited_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("artists.id", ondelete="SET NULL"),
                                                         nullable=True)
    invited_at: Mapped[datetime | None] = mapped_column(nullable=True)
    joined_at: Mapped[datetime | None] = mapped_column(nullable=True)
    leave_requested_at: Mapped[datetime | None] = mapped_column(nullable=True)
    leave_effective_at: Mapped[datetime | None] = mapped_column(nullable=True)
    left_at: Mapped[datetime | None] = mapped_column(nullable=True)
    __table_args__ = (CheckConstraint("role in ('admin','member')", name="role"),
                      CheckConstraint("status in ('invited','active','leaving','left','declined')", name="status"),
                      Index("ix_coop_members_status_leave", "status", "leave_effective_at"))


class Proposal(Base):
    """A decision put to the vote. ``electorate`` = how many members could vote when it opened
    (active or leaving); ``quorum`` the rule then. ``yes_count``/``no_count`` move with each vote
    under the row's lock, and the decision is one conditional UPDATE (``status='open'``)."""

    __tablename__ = "coop_proposals"
    id: Mapped[uuid.UUID] = uuid_pk()
    coop_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("coop_coops.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | passed | rejected | expired
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("artists.id", ondelete="SET NULL"),
                                                         nullable=True)
    created_at: Mapped[datetime] = mapped_column()
    closes_at: Mapped[datetime] = mapped_column()
    decided_at: Mapped[datetime | None] = mapped_column(nullable=True)
    electorate: Mapped[int] = mapped_column(Integer)
    quorum: Mapped[str] = mapped_column(String(16))
    yes_count: Mapped[int] = mapped_column(Integer, default=0)
    no_count: Mapped[int] = mapped_column(Integer, default=0)
    __table_args__ = (
        CheckConstraint("kind in ('add_member','remove_member','change_rules','change_split','dissolve',"
                        "'create_bundle','change_bundle')",
                        name="kind"),
        CheckConstraint("status in ('open','passed','rejected','expired')", name="status"),
        Index("ix_coop_proposals_status_closes", "status", "closes_at"),
    )


class Vote(Base):
    __tablename__ = "coop_votes"
    proposal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("coop_proposals.id", ondelete="CASCADE"),
                                                   primary_key=True)
    artist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("artists.id", ondelete="CASCADE"), primary_key=True,
                                                 index=True)
    choice: Mapped[str] = mapped_column(String(3))  # yes | no
    at: Mapped[datetime] = mapped_column()
    __table_args__ = (CheckConstraint("choice in ('yes','no')", name="choice"),)


class RuleVersion(Base):
    """Every version of a co-op's rules (``kind="rules"``) and split rule (``kind="split"``):
    version 1 at the founding, then one per passed proposal. A split version applies to invoices
    paid at or after ``effective_at`` (``governance.split_rule_at``)."""

    __tablename__ = "coop_rule_versions"
    id: Mapped[uuid.UUID] = uuid_pk()
    coop_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("coop_coops.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))  # rules | split
    version: Mapped[int] = mapped_column(Integer)
    body: Mapped[dict[str, Any]] = mapped_column(JSONType)
    proposal_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("coop_proposals.id", ondelete="SET NULL"),
                                                          nullable=True)
    effective_at: Mapped[datetime] = mapped_column()
    __table_args__ = (UniqueConstraint("coop_id", "kind", "version", name="version"),
                      CheckConstraint("kind in ('rules','split')", name="kind"),
                      Index("ix_coop_rule_versions_at", "coop_id", "kind", "effective_at"))
