"""Top fans by listening and by support, with names, respecting the fans' choice.

The core has no privacy setting of its own (the fan club keeps one in its own tables, which
another plugin may not read), so the analytics plugin asks fans to **opt in**: a fan appears
by their display name in artists' top-fan lists only after ``PUT /api/v1/analytics/me/visibility
{"show_name": true}``; everyone else appears as "A fan", with no id. The figures (plays, amount)
are shown either way.

Public: :func:`top_fans` (and the ``METRICS`` and the ``router`` of ``/me/visibility``).
"""
from __future__ import annotations

import heapq
import uuid
from datetime import datetime, timedelta

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Boolean, ForeignKey, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, mapped_column

from musicconnect import Base
from musicconnect.models import User
from musicconnect.web import get_platform, scope

from . import rollups
from .rollups import Rollup, define, days_of

ANONYMOUS = "A fan"
LIMIT = 10


class Visibility(Base):
    """A fan's choice to appear by name in artists' top fans (absent row: "A fan")."""

    __tablename__ = "analytics_visibility"
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    show_name: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column()


def _sums(s, artist_id, metric: str, start, end) -> dict[str, int]:
    return {d: int(v) for d, v in s.execute(select(Rollup.dimension, func.sum(Rollup.value)).where(
        Rollup.artist_id == artist_id, Rollup.metric == metric, Rollup.dimension != "",
        Rollup.day >= start, Rollup.day <= end).group_by(Rollup.dimension))}


def _leaders(s, artist_id, metric: str, start, end, limit: int) -> tuple[dict[str, int], list[str]]:
    sums = _sums(s, artist_id, metric, start, end)
    return sums, [dim for _, dim in heapq.nsmallest(limit, ((-v, dim) for dim, v in sums.items()))]


def top_fans(platform, artist_id, metric: str, start, end, limit: int = LIMIT) -> list[dict]:
    """The fans with the largest sum of ``metric`` (``fan_plays``, ``fan_paid``) over the days:
    the days before today from a kept per-fan map, today's rows read now."""
    today = rollups.today(platform)
    rollups.flush(platform)
    with platform.read() as s:
        past_end = min(end, today - timedelta(days=1))
        # per-fan sums of past days and their leaders: computed once, kept until an event dated a
        # past day arrives; the final top is among those leaders and today's fans (whose sums only
        # grow by today's rows), so no request walks every fan
        past, leaders = rollups.keep_past(platform, artist_id, ("top", metric, start, past_end, limit),
                                          lambda: _leaders(s, artist_id, metric, start, past_end, limit)) \
            if start <= past_end else ({}, [])
        now = _sums(s, artist_id, metric, max(start, today), end) if end >= today else {}
        totals = {dim: past.get(dim, 0) + v for dim, v in now.items()}
        # (a refund today can push a leader down: then every fan is a candidate)
        for dim in past if any(v < 0 for v in now.values()) else leaders:
            totals.setdefault(dim, past[dim])
        ranked = heapq.nsmallest(limit, ((-v, dim) for dim, v in totals.items() if v > 0))
        ranked = [(dim, -neg) for neg, dim in ranked]
        ids = []
        for dim, _ in ranked:
            try:
                ids.append(uuid.UUID(dim))
            except ValueError:
                continue
        people = {u: (name, bool(shown)) for u, name, shown in s.execute(
            select(User.id, User.display_name, Visibility.show_name).outerjoin(Visibility, Visibility.user_id == User.id)
            .where(User.id.in_(ids)))} if ids else {}
    out = []
    for rank, (dim, v) in enumerate(ranked, 1):
        try:
            name, shown = people.get(uuid.UUID(dim), (None, False))
        except ValueError:
            name, shown = None, False
        out.append({"rank": rank, "name": name if shown and name else ANONYMOUS,
                    "user_id": dim if shown and name else None, "value": int(v)})
    return out


def _by_listening(platform, artist_id, window):
    return top_fans(platform, artist_id, "fan_plays", *days_of(window))


def _by_support(platform, artist_id, window):
    return top_fans(platform, artist_id, "fan_paid", *days_of(window))


METRICS = [
    define("analytics_top_fans_listening", "Top fans by listening",
           f"The {LIMIT} fans with the most intentional plays (30 s or more) over the period; a fan appears by name "
           f'only if they opted in (PUT /api/v1/analytics/me/visibility), otherwise as "{ANONYMOUS}".',
           _by_listening, unit="plays", dimension="fan"),
    define("analytics_top_fans_support", "Top fans by support",
           f"The {LIMIT} fans who paid the artist the most over the period (refunds deducted); names as for "
           "listening.", _by_support, unit="minor currency units", dimension="fan"),
]


# ---------------------------------------------------------------- the fan's choice

router = APIRouter(tags=["analytics"])


class VisibilityIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"show_name": True}]})
    show_name: bool = Field(description="appear by your display name in the top fans of the artists you support "
                                        '(otherwise as "A fan", without your id)')


class VisibilityOut(BaseModel):
    show_name: bool


@router.get("/me/visibility", response_model=VisibilityOut)
def my_visibility(actor=Depends(scope("profile:read")), platform=Depends(get_platform)):
    """Whether artists see your name in their top fans (off until you opt in)."""
    with platform.read() as s:
        return {"show_name": bool(s.scalar(select(Visibility.show_name).where(Visibility.user_id == actor.user_id)))}


@router.put("/me/visibility", response_model=VisibilityOut)
def set_visibility(body: VisibilityIn, actor=Depends(scope("profile:write")), platform=Depends(get_platform)):
    """Opt in (or out) of appearing by name in artists' top fans."""
    now = platform.clock.now()
    with platform.session() as s:
        table = Visibility.__table__
        ins = (pg_insert(table) if s.get_bind().dialect.name == "postgresql" else sqlite_insert(table)).values(
            user_id=actor.user_id, show_name=body.show_name, updated_at=now)
        s.execute(ins.on_conflict_do_update(index_elements=["user_id"],
                                            set_={"show_name": ins.excluded.show_name, "updated_at": now}))
    return {"show_name": body.show_name}
