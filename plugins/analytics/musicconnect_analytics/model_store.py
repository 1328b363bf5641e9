"""Tables of the analytics models and the cache of their fits (owner: models).

* :class:`ModelFit`: one cached fit per ``(artist, model)`` (``ltv``, ``churn``, ``viral``,
  ``release_time``), written by the scheduled jobs of those modules; metrics read it, never fit.
* :class:`ShareLink` / :class:`ShareClick`: share links of tracks and the clicks on them
  (:mod:`.viral`).
* :class:`ChurnScore`: each member's churn-risk score, reasons and whether its alert is raised
  (one alert per crossing; :mod:`.churn`).

Public helpers: :func:`save_fit`, :func:`load_fit`, :func:`fit_value` (what a metric returns when
nothing is fitted yet), :func:`artists_with_events`."""
from __future__ import annotations

import math
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, String, Uuid, select
from sqlalchemy.orm import Mapped, mapped_column

from musicconnect import Base, uuid_pk
from musicconnect.db import JSONType
from musicconnect.models import Artist


class ModelFit(Base):
    __tablename__ = "analytics_model_fits"
    artist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("artists.id", ondelete="CASCADE"), primary_key=True)
    model: Mapped[str] = mapped_column(String(32), primary_key=True)
    fitted_at: Mapped[datetime] = mapped_column()
    result: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class ShareLink(Base):
    __tablename__ = "analytics_share_links"
    id: Mapped[uuid.UUID] = uuid_pk()
    code: Mapped[str] = mapped_column(String(16), unique=True)
    artist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("artists.id", ondelete="CASCADE"))
    content_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("content_items.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column()
    __table_args__ = (Index("ix_analytics_share_links_artist_time", "artist_id", "created_at"),
                      Index("ix_analytics_share_links_sharer", "user_id", "content_id"))


class ShareClick(Base):
    __tablename__ = "analytics_share_clicks"
    id: Mapped[uuid.UUID] = uuid_pk()
    link_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("analytics_share_links.id", ondelete="CASCADE"))
    artist_id: Mapped[uuid.UUID] = mapped_column(Uuid())
    content_id: Mapped[uuid.UUID] = mapped_column(Uuid())
    #: the visitor as the streaming plugin names listeners: ``u:<user id>`` or ``a:<hash>``
    visitor: Mapped[str] = mapped_column(String(80))
    user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid(), nullable=True)
    clicked_at: Mapped[datetime] = mapped_column()
    __table_args__ = (Index("ix_analytics_share_clicks_artist_time", "artist_id", "clicked_at"),
                      Index("ix_analytics_share_clicks_link_visitor", "link_id", "visitor"))


class ChurnScore(Base):
    """A member's latest churn-risk score, its reasons, and whether the alert is raised (one
    ``analytics.churn_risk`` per crossing of the threshold)."""

    __tablename__ = "analytics_churn_scores"
    artist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("artists.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    score: Mapped[float] = mapped_column(Float, default=0.0)
    reasons: Mapped[list] = mapped_column(JSONType, default=list)
    tier_key: Mapped[str] = mapped_column(String(64), default="")
    valued: Mapped[bool] = mapped_column(Boolean, default=False)
    raised: Mapped[bool] = mapped_column(Boolean, default=False)
    scored_at: Mapped[datetime] = mapped_column()
    __table_args__ = (Index("ix_analytics_churn_scores_rank", "artist_id", "score"),)


def _finite(value):
    """JSON without NaN or infinities (PostgreSQL's JSONB refuses them): ``None`` instead."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def save_fit(session, artist_id: uuid.UUID, model: str, fitted_at: datetime, result: dict) -> None:
    """Replace the cached fit of ``model`` for the artist (an upsert: two fits finishing at once
    both succeed, the later write wins)."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    values = {"artist_id": artist_id, "model": model, "fitted_at": fitted_at, "result": _finite(result)}
    stmt = insert(ModelFit.__table__).values(**values)
    session.execute(stmt.on_conflict_do_update(index_elements=["artist_id", "model"],
                                               set_={"fitted_at": stmt.excluded.fitted_at,
                                                     "result": stmt.excluded.result}))


def load_fit(platform, artist_id: uuid.UUID, model: str) -> tuple[datetime, dict] | None:
    with platform.read() as s:
        row = s.get(ModelFit, (artist_id, model))
        return (row.fitted_at, dict(row.result)) if row is not None else None


def fit_value(platform, artist_id: uuid.UUID, model: str, empty: dict) -> dict:
    """The metric value of a cached fit: its result with ``fitted_at``; ``empty`` plus
    ``"fitted_at": None`` and a note when no fit exists yet (never computed at request time)."""
    found = load_fit(platform, artist_id, model)
    if found is None:
        return {**empty, "fitted_at": None, "note": "not fitted yet: the scheduled job fits this model"}
    fitted_at, result = found
    return {**result, "fitted_at": fitted_at.isoformat()}


def artist_ids(platform) -> list[uuid.UUID]:
    with platform.read() as s:
        return list(s.scalars(select(Artist.id).order_by(Artist.created_at)))
