"""Tables of cross-promotion between co-op members and of fans' audience sharing (G-PROMO,
docs/coop.md "Cross-promotion and shared fans")."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from musicconnect import Base, uuid_pk

SURFACES = ("feed", "artist_page")


class PromoSurface(Base):
    """A member artist's surface (fan club feed, artist page) opted in to show other members'
    promotions."""

    __tablename__ = "coop_promo_surfaces"
    artist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("artists.id", ondelete="CASCADE"), primary_key=True)
    surface: Mapped[str] = mapped_column(String(16), primary_key=True)
    created_at: Mapped[datetime] = mapped_column()
    __table_args__ = (CheckConstraint("surface in ('feed','artist_page')", name="surface"),)


class PromoNomination(Base):
    """What a member wants promoted: one of their own releases (``kind="release"``, a content item
    id) or upcoming parties (``kind="party"``, the subject id of their ``live.party_scheduled``)."""

    __tablename__ = "coop_promo_nominations"
    id: Mapped[uuid.UUID] = uuid_pk()
    artist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("artists.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    ref: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column()
    __table_args__ = (UniqueConstraint("artist_id", "kind", "ref", name="ref"),
                      CheckConstraint("kind in ('release','party')", name="kind"))


class PromoCounter(Base):
    """Counted impressions served per (host, surface, promoted member): the fair rotation's state,
    moved by ``served = served + 1`` in the impression's transaction."""

    __tablename__ = "coop_promo_counters"
    host_artist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("artists.id", ondelete="CASCADE"), primary_key=True)
    surface: Mapped[str] = mapped_column(String(16), primary_key=True)
    promoted_artist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("artists.id", ondelete="CASCADE"),
                                                          primary_key=True)
    served: Mapped[int] = mapped_column(Integer, default=0)


class PromoImpression(Base):
    """One counted impression of a slot. ``dedupe`` = slot + viewer (user id, else a hash of the
    address) + 30-minute window, unique: a second view in the window is not counted.
    ``viewer_id`` is NULL for anonymous viewers (they count impressions only)."""

    __tablename__ = "coop_promo_impressions"
    id: Mapped[uuid.UUID] = uuid_pk()
    coop_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("coop_coops.id", ondelete="CASCADE"), index=True)
    host_artist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("artists.id", ondelete="CASCADE"))
    surface: Mapped[str] = mapped_column(String(16))
    promoted_artist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("artists.id", ondelete="CASCADE"))
    item_kind: Mapped[str] = mapped_column(String(8))
    item_ref: Mapped[str] = mapped_column(String(64))
    viewer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    dedupe: Mapped[str | None] = mapped_column(String(200), nullable=True, unique=True)
    shown_at: Mapped[datetime] = mapped_column()
    clicked_at: Mapped[datetime | None] = mapped_column(nullable=True)
    __table_args__ = (Index("ix_coop_promo_impr_viewer", "viewer_id", "promoted_artist_id", "shown_at"),)


class PromoAttribution(Base):
    """A follow or a paid support of the promoted artist by a fan, attributed to the impression
    they last clicked (``via="click"``) or, without a click, last saw (``via="view"``) in the 7
    days before. One per domain event (``event_id`` unique)."""

    __tablename__ = "coop_promo_attributions"
    id: Mapped[uuid.UUID] = uuid_pk()
    impression_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("coop_promo_impressions.id", ondelete="CASCADE"),
                                                     index=True)
    event_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    kind: Mapped[str] = mapped_column(String(8))  # follow | support
    via: Mapped[str] = mapped_column(String(8))  # click | view
    fan_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    occurred_at: Mapped[datetime] = mapped_column()
    __table_args__ = (CheckConstraint("kind in ('follow','support')", name="kind"),
                      CheckConstraint("via in ('click','view')", name="via"))


class FanSharing(Base):
    """A fan's opt-in to appear by name in a co-op's shared-fans list (default: absent = off)."""

    __tablename__ = "coop_fan_sharing"
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    coop_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("coop_coops.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column()


__all__ = ["SURFACES", "FanSharing", "PromoAttribution", "PromoCounter", "PromoImpression", "PromoNomination",
           "PromoSurface"]
