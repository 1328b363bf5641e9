"""Artist matching: artists ranked by the overlap of their engaged fans (collaboration ideas, and
the input of co-op mode later).

A fan is *engaged* with an artist when, within ``matching_window_days`` (180), they had a counted
or completed play, followed, liked or completed a card in the discovery feed, or hold a current
entitlement (a membership) of that artist. For two artists A and B with engaged audiences
``|A|``, ``|B|``, ``shared = |A ∩ B|`` and ``N`` engaged fans on the platform:

* Jaccard = ``shared / (|A| + |B| - shared)``;
* lift = ``shared / (|A| · |B| / N)``: how many times more fans they share than two audiences of
  those sizes would by chance (1 = no affinity).

A scheduled job (``ai.match_artists``, every 6 hours; also run by ``musicconnect`` jobs tooling)
computes every pair at once with one sparse product (fans × artists), keeps the top
``matching_top`` per artist with at least ``matching_min_shared`` shared fans, and stores them
with each artist's audience size; ``GET /api/v1/ai/artists/{artist_id}/matches`` reads that table
(the artist themself or an admin), never the fans.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import numpy as np
from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field
from scipy import sparse
from sqlalchemy import Float, ForeignKey, Integer, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from musicconnect import Actor, Base, Forbidden, JobSpec, NotFound, PluginSettings
from musicconnect.db import JSONType
from musicconnect.models import Artist, DomainEvent, Entitlement
from musicconnect.web import get_platform, scope

#: domain events that make a fan engaged with the event's artist
ENGAGED_EVENTS = ("play.counted", "play.completed", "fan.followed", "ai.feed_liked", "ai.feed_completed",
                  "ai.feed_followed")


class MatchingSettings(PluginSettings):
    """Settings of artist matching."""

    matching_window_days: int = Field(180, ge=1, le=3650, description="engagement older than this is ignored")
    matching_min_shared: int = Field(2, ge=1, description="fewer shared engaged fans is no match")
    matching_top: int = Field(20, ge=1, le=200, description="matches kept per artist")


SETTINGS = [MatchingSettings]


def setting(platform, name: str):
    try:
        conf = platform.plugin_settings("ai")
    except Exception:
        conf = None
    value = getattr(conf, name, None) if conf is not None else None
    return MatchingSettings.model_fields[name].default if value is None else value


class ArtistStats(Base):
    """Per artist: the size of its engaged audience at the last matching run (the feed reads it to
    tell small artists; an artist without a row is new)."""

    __tablename__ = "ai_artist_stats"
    artist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("artists.id", ondelete="CASCADE"), primary_key=True)
    engaged_fans: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[datetime] = mapped_column()


class ArtistMatch(Base):
    __tablename__ = "ai_artist_matches"
    artist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("artists.id", ondelete="CASCADE"), primary_key=True)
    other_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("artists.id", ondelete="CASCADE"), primary_key=True)
    rank: Mapped[int] = mapped_column(Integer)
    shared: Mapped[int] = mapped_column(Integer)
    jaccard: Mapped[float] = mapped_column(Float)
    lift: Mapped[float] = mapped_column(Float)
    reasons: Mapped[list] = mapped_column(JSONType, default=list)
    computed_at: Mapped[datetime] = mapped_column()


def overlap(pairs, min_shared: int = 1, top: int = 20) -> tuple[dict, dict]:
    """From ``(artist_id, fan_id)`` pairs: each artist's audience size and, per artist, the
    matches ``[(other, shared, jaccard, lift)]`` ranked by Jaccard (then shared, then lift)."""
    artists: dict = {}
    fans: dict = {}
    rows, cols = [], []
    for artist, fan in set(pairs):
        rows.append(fans.setdefault(fan, len(fans)))
        cols.append(artists.setdefault(artist, len(artists)))
    if not artists:
        return {}, {}
    m = sparse.csr_matrix((np.ones(len(rows), dtype=np.int64), (rows, cols)), shape=(len(fans), len(artists)))
    size = np.asarray(m.sum(axis=0)).ravel()
    co = (m.T @ m).tocoo()
    n = float(len(fans))
    ids = list(artists)
    found: dict = {a: [] for a in ids}
    for i, j, shared in zip(co.row, co.col, co.data):
        if i == j or shared < min_shared:
            continue
        a, b = int(size[i]), int(size[j])
        jac = shared / (a + b - shared)
        lift = shared * n / (a * b)
        found[ids[i]].append((ids[j], int(shared), float(jac), float(lift)))
    for a in found:
        found[a].sort(key=lambda x: (-x[2], -x[1], -x[3], str(x[0])))
        del found[a][top:]
    return {ids[k]: int(size[k]) for k in range(len(ids))}, found


def reasons(name_a: str, name_b: str, shared: int, size_a: int, size_b: int, lift: float) -> list[str]:
    out = [f"{shared} engaged fans listen to both {name_a} and {name_b}",
           f"{shared / size_a:.0%} of {name_a}'s engaged fans, {shared / size_b:.0%} of {name_b}'s"]
    if lift > 1.0:
        out.append(f"{lift:.1f}× the overlap two audiences of these sizes would share by chance")
    else:
        out.append("no more overlap than chance: a reach into a new audience")
    return out


def engaged_pairs(platform, s, now) -> set:
    since = now - timedelta(days=setting(platform, "matching_window_days"))
    owners = dict(s.execute(select(Artist.user_id, Artist.id)).all())
    pairs = set()
    q = (select(DomainEvent.artist_id, DomainEvent.actor_id)
         .where(DomainEvent.type.in_(ENGAGED_EVENTS), DomainEvent.occurred_at >= since,
                DomainEvent.actor_id.is_not(None), DomainEvent.artist_id.is_not(None)).distinct())
    for artist_id, fan in s.execute(q):
        pairs.add((artist_id, fan))
    q = (select(Entitlement.artist_id, Entitlement.user_id)
         .where(Entitlement.status == "active", (Entitlement.expires_at.is_(None)) | (Entitlement.expires_at > now))
         .distinct())
    for artist_id, fan in s.execute(q):
        pairs.add((artist_id, fan))
    # an artist's own account is not a fan of itself
    return {(a, f) for a, f in pairs if owners.get(f) != a}


def compute(platform) -> dict:
    """Recompute every artist's audience size and matches (the scheduled job)."""
    now = platform.clock.now()
    with platform.session() as s:
        pairs = engaged_pairs(platform, s, now)
        sizes, found = overlap(pairs, setting(platform, "matching_min_shared"), setting(platform, "matching_top"))
        names = dict(s.execute(select(Artist.id, Artist.name)).all())
        s.execute(delete(ArtistMatch))
        s.execute(delete(ArtistStats))
        for artist_id, size in sizes.items():
            if artist_id not in names:
                continue
            s.add(ArtistStats(artist_id=artist_id, engaged_fans=size, computed_at=now))
        stored = 0
        for artist_id, matches in found.items():
            if artist_id not in names:
                continue
            for rank, (other, shared, jac, lift) in enumerate(m for m in matches if m[0] in names):
                s.add(ArtistMatch(artist_id=artist_id, other_id=other, rank=rank, shared=shared, jaccard=jac,
                                  lift=lift, computed_at=now,
                                  reasons=reasons(names[artist_id], names[other], shared, sizes[artist_id],
                                                  sizes[other], lift)))
                stored += 1
    return {"artists": len(sizes), "fans": len({f for _, f in pairs}), "matches": stored}


def _job(ctx, **_):
    return compute(ctx.platform)


JOBS = [JobSpec("match_artists", _job, every_seconds=6 * 3600, max_retries=1)]

router = APIRouter()


class MatchOut(BaseModel):
    artist_id: uuid.UUID
    name: str
    shared_fans: int = Field(description="engaged fans of both artists")
    their_fans: int = Field(description="the other artist's engaged fans")
    jaccard: float = Field(description="shared / (yours + theirs - shared)")
    lift: float = Field(description="shared fans over the number expected by chance")
    reasons: list[str]


class MatchesOut(BaseModel):
    artist_id: uuid.UUID
    engaged_fans: int | None = Field(description="your engaged fans at the last computation")
    computed_at: datetime | None
    matches: list[MatchOut]


@router.get("/artists/{artist_id}/matches", response_model=MatchesOut,
            responses={404: {"description": "no such artist"}})
def artist_matches(artist_id: uuid.UUID = Path(...), actor: Actor = Depends(scope("ai:read")),
                   platform=Depends(get_platform)):
    """Artists whose engaged fans overlap yours most (Jaccard), with the size of the shared
    audience, the lift over chance and the reasons: ideas for collaborations. Computed by a
    scheduled job (every 6 hours); the artist themself or an admin."""
    with platform.session() as s:
        if s.get(Artist, artist_id) is None:
            raise NotFound("artist")
        if not platform.access.manages(actor, artist_id):
            raise Forbidden("only the artist themself or an admin sees an artist's matches")
        mine = s.get(ArtistStats, artist_id)
        rows = s.execute(select(ArtistMatch, Artist.name, ArtistStats.engaged_fans)
                         .join(Artist, Artist.id == ArtistMatch.other_id)
                         .join(ArtistStats, ArtistStats.artist_id == ArtistMatch.other_id, isouter=True)
                         .where(ArtistMatch.artist_id == artist_id).order_by(ArtistMatch.rank)).all()
        return {"artist_id": artist_id, "engaged_fans": mine.engaged_fans if mine else None,
                "computed_at": mine.computed_at if mine else (rows[0][0].computed_at if rows else None),
                "matches": [{"artist_id": m.other_id, "name": name, "shared_fans": m.shared,
                             "their_fans": fans or 0, "jaccard": m.jaccard, "lift": m.lift, "reasons": m.reasons}
                            for m, name, fans in rows]}
