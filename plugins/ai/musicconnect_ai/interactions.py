"""Implicit feedback: how much each fan engages with each track and each artist (owner: reco).

Learnt from domain events (:func:`on_event`), never from what a client says about itself:

* per (fan, track), table ``ai_interactions``: ``play.counted`` +1, ``play.completed`` +1, a
  reaction on the track (``fan.reacted``) +2, a share (``analytics.shared``) +2, and whatever
  :data:`TRACK_EVENT_WEIGHTS` lists (the discovery feed adds its likes and skips there or calls
  :func:`record_track`); every track weight also counts towards the fan's artist affinity;
* per (fan, artist), table ``ai_affinity``: follows (``fan.followed`` / ``fan.unfollowed``) and
  supports (``entitlement.granted`` / ``entitlement.revoked``) beside the summed weight.

Writes are additive upserts (``INSERT .. ON CONFLICT DO UPDATE SET weight = weight +
excluded.weight``), so concurrent processes lose nothing; :func:`rebuild` recomputes both tables
from ``domain_events`` (after a change of weights, or if an event was delivered twice).

Public helpers for the other AI modules: :func:`weights` (the fan x track matrix as scipy CSR),
:func:`fans_of_artist`, :func:`followed_artists`, :func:`fan_tracks`.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from scipy import sparse
from sqlalchemy import Float, ForeignKey, Index, Integer, Uuid, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, mapped_column

from musicconnect import Base
from musicconnect.models import ContentItem, DomainEvent, User

#: weight per (fan, track) of each event type whose subject is a track
TRACK_EVENT_WEIGHTS: dict[str, float] = {
    "play.counted": 1.0,
    "play.completed": 1.0,
    "fan.reacted": 2.0,
    "analytics.shared": 2.0,
    # the discovery feed's events (feed engineer): a like is strong, a skip mildly negative
    "ai.feed_liked": 3.0,
    "ai.feed_skipped": -0.5,
    "ai.feed_completed": 1.0,     # the preview listened through, like a completed play
}
#: (weight, follows, supports) per (fan, artist) of each event type about an artist
ARTIST_EVENT_WEIGHTS: dict[str, tuple[float, int, int]] = {
    "fan.followed": (3.0, 1, 0),
    "fan.unfollowed": (-3.0, -1, 0),
    "entitlement.granted": (5.0, 0, 1),
    "entitlement.revoked": (-5.0, 0, -1),
}
TRACK_KIND = "track"


class Interaction(Base):
    __tablename__ = "ai_interactions"
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    content_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("content_items.id", ondelete="CASCADE"), primary_key=True)
    artist_id: Mapped[uuid.UUID] = mapped_column(Uuid())
    weight: Mapped[float] = mapped_column(Float)
    events: Mapped[int] = mapped_column(Integer)
    last_at: Mapped[datetime] = mapped_column()
    __table_args__ = (Index("ix_ai_interactions_content", "content_id"),
                      Index("ix_ai_interactions_artist", "artist_id", "user_id"))


class Affinity(Base):
    __tablename__ = "ai_affinity"
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    artist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("artists.id", ondelete="CASCADE"), primary_key=True)
    weight: Mapped[float] = mapped_column(Float)
    follows: Mapped[int] = mapped_column(Integer)
    supports: Mapped[int] = mapped_column(Integer)
    last_at: Mapped[datetime] = mapped_column()
    __table_args__ = (Index("ix_ai_affinity_artist", "artist_id", "user_id"),)


# ---------------------------------------------------------------- writing

def _insert(session, table):
    return pg_insert(table) if session.get_bind().dialect.name == "postgresql" else sqlite_insert(table)


def upsert_tracks(session, rows: dict[tuple[uuid.UUID, uuid.UUID], tuple[uuid.UUID, float, int, datetime]]) -> None:
    """Add ``{(fan, track): (artist, weight, events, at)}`` to ``ai_interactions`` atomically, in
    key order (so two writers never deadlock)."""
    if not rows:
        return
    t = Interaction.__table__
    ins = _insert(session, t)
    stmt = ins.on_conflict_do_update(index_elements=["user_id", "content_id"], set_={
        "weight": t.c.weight + ins.excluded.weight, "events": t.c.events + ins.excluded.events,
        "last_at": ins.excluded.last_at})
    data = [{"user_id": u, "content_id": c, "artist_id": a, "weight": w, "events": n, "last_at": at}
            for (u, c), (a, w, n, at) in sorted(rows.items(), key=lambda kv: (str(kv[0][0]), str(kv[0][1])))]
    for i in range(0, len(data), 5000):
        session.execute(stmt, data[i:i + 5000])


def upsert_artists(session, rows: dict[tuple[uuid.UUID, uuid.UUID], tuple[float, int, int, datetime]]) -> None:
    """Add ``{(fan, artist): (weight, follows, supports, at)}`` to ``ai_affinity`` atomically."""
    if not rows:
        return
    t = Affinity.__table__
    ins = _insert(session, t)
    stmt = ins.on_conflict_do_update(index_elements=["user_id", "artist_id"], set_={
        "weight": t.c.weight + ins.excluded.weight, "follows": t.c.follows + ins.excluded.follows,
        "supports": t.c.supports + ins.excluded.supports, "last_at": ins.excluded.last_at})
    data = [{"user_id": u, "artist_id": a, "weight": w, "follows": f, "supports": sp, "last_at": at}
            for (u, a), (w, f, sp, at) in sorted(rows.items(), key=lambda kv: (str(kv[0][0]), str(kv[0][1])))]
    for i in range(0, len(data), 5000):
        session.execute(stmt, data[i:i + 5000])


def record_track(session, user_id: uuid.UUID, content_id: uuid.UUID, artist_id: uuid.UUID, weight: float,
                 at: datetime) -> None:
    """Add ``weight`` to a fan's engagement with a track (and its artist), in ``session``."""
    upsert_tracks(session, {(user_id, content_id): (artist_id, float(weight), 1, at)})
    upsert_artists(session, {(user_id, artist_id): (float(weight), 0, 0, at)})


class _Folder:
    """Turns events into the rows they add (shared by :func:`on_event` and :func:`rebuild`)."""

    def __init__(self):
        self.tracks: dict = {}
        self.artists: dict = {}

    def track(self, user_id, content_id, artist_id, weight, at):
        a, w, n, _ = self.tracks.get((user_id, content_id), (artist_id, 0.0, 0, at))
        self.tracks[(user_id, content_id)] = (artist_id, w + weight, n + 1, at)
        self.artist(user_id, artist_id, weight, 0, 0, at)

    def artist(self, user_id, artist_id, weight, follows, supports, at):
        w, f, sp, _ = self.artists.get((user_id, artist_id), (0.0, 0, 0, at))
        self.artists[(user_id, artist_id)] = (w + weight, f + follows, sp + supports, at)

    def write(self, session):
        upsert_tracks(session, self.tracks)
        upsert_artists(session, self.artists)


def _as_uuid(value) -> uuid.UUID | None:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (TypeError, ValueError):
        return None


def _fold(event, folder: _Folder, track_artist, user_exists) -> None:
    """Fold one event (an :class:`musicconnect.Event` or a ``DomainEvent`` row) into ``folder``.
    ``track_artist(id)`` gives a track's artist or None (not a track); ``user_exists(id)``."""
    if event.type in TRACK_EVENT_WEIGHTS:
        if event.actor_id is None or event.subject_type != "content":
            return
        cid = _as_uuid(event.subject_id)
        artist = track_artist(cid) if cid else None
        if artist is None or not user_exists(event.actor_id):
            return
        folder.track(event.actor_id, cid, artist, TRACK_EVENT_WEIGHTS[event.type], event.occurred_at)
    elif event.type in ARTIST_EVENT_WEIGHTS:
        weight, follows, supports = ARTIST_EVENT_WEIGHTS[event.type]
        user = _as_uuid((event.data or {}).get("user_id")) if event.type.startswith("entitlement.") else event.actor_id
        if user is None or event.artist_id is None or not user_exists(user):
            return
        folder.artist(user, event.artist_id, weight, follows, supports, event.occurred_at)


def on_event(platform, event) -> None:
    if event.type not in TRACK_EVENT_WEIGHTS and event.type not in ARTIST_EVENT_WEIGHTS:
        return
    folder = _Folder()
    with platform.session() as s:
        def track_artist(cid):
            item = s.get(ContentItem, cid)
            return item.artist_id if item is not None and item.kind == TRACK_KIND else None

        _fold(event, folder, track_artist, lambda uid: s.get(User, uid) is not None)
        folder.write(s)


def rebuild(platform, *, batch: int = 20_000) -> dict:
    """Recompute ``ai_interactions`` and ``ai_affinity`` from ``domain_events`` (one transaction)."""
    types = list(TRACK_EVENT_WEIGHTS) + list(ARTIST_EVENT_WEIGHTS)
    folder = _Folder()
    n = 0
    with platform.session() as s:
        tracks = dict(s.execute(select(ContentItem.id, ContentItem.artist_id).where(ContentItem.kind == TRACK_KIND)).all())
        users = set(s.scalars(select(User.id)))
        q = (select(DomainEvent).where(DomainEvent.type.in_(types))
             .order_by(DomainEvent.occurred_at, DomainEvent.id).execution_options(yield_per=batch))
        for ev in s.scalars(q):
            n += 1
            _fold(ev, folder, tracks.get, users.__contains__)
        s.execute(delete(Interaction))
        s.execute(delete(Affinity))
        folder.write(s)
    return {"events": n, "pairs": len(folder.tracks), "affinities": len(folder.artists)}


# ---------------------------------------------------------------- reading

@dataclass
class Matrix:
    """The fan x track engagement matrix: row i is ``fans[i]``, column j is ``tracks[j]``
    (by ``track_artists[j]``); ``matrix`` holds positive weights only (scipy CSR, float32)."""
    fans: list[uuid.UUID]
    tracks: list[uuid.UUID]
    track_artists: list[uuid.UUID]
    matrix: sparse.csr_matrix


def from_rows(rows) -> Matrix:
    """A :class:`Matrix` from ``(fan, track, artist, weight)`` rows (non-positive weights dropped)."""
    fan_ix: dict = {}
    track_ix: dict = {}
    artists: list = []
    r, c, v = [], [], []
    for fan, track, artist, w in rows:
        if w <= 0:
            continue
        i = fan_ix.setdefault(fan, len(fan_ix))
        j = track_ix.get(track)
        if j is None:
            j = track_ix[track] = len(track_ix)
            artists.append(artist)
        r.append(i)
        c.append(j)
        v.append(w)
    m = sparse.csr_matrix((np.asarray(v, dtype=np.float32), (np.asarray(r, dtype=np.int32), np.asarray(c, dtype=np.int32))),
                          shape=(len(fan_ix), len(track_ix)))
    m.sum_duplicates()
    return Matrix(list(fan_ix), list(track_ix), artists, m)


def weights(platform) -> Matrix:
    """Every fan's positive engagement with every track, as a :class:`Matrix`."""
    with platform.read() as s:
        rows = s.execute(select(Interaction.user_id, Interaction.content_id, Interaction.artist_id, Interaction.weight)
                         .where(Interaction.weight > 0)).all()
    return from_rows(rows)


def fans_of_artist(platform, artist_id: uuid.UUID, *, min_weight: float = 0.0) -> dict[uuid.UUID, float]:
    """The fans engaged with an artist (plays, reactions, follows, supports): ``{fan: weight}``."""
    with platform.read() as s:
        return dict(s.execute(select(Affinity.user_id, Affinity.weight)
                              .where(Affinity.artist_id == artist_id, Affinity.weight > min_weight)).all())


def followed_artists(platform, user_id: uuid.UUID) -> dict[uuid.UUID, float]:
    """The artists a fan engages with, strongest first: ``{artist: weight}`` (follows and supports
    count through their weight)."""
    with platform.read() as s:
        rows = s.execute(select(Affinity.artist_id, Affinity.weight)
                         .where(Affinity.user_id == user_id, (Affinity.weight > 0) | (Affinity.follows > 0))
                         .order_by(Affinity.weight.desc())).all()
    return dict(rows)


def fan_tracks(platform, user_id: uuid.UUID) -> dict[uuid.UUID, float]:
    """A fan's tracks with their weight (any sign)."""
    with platform.read() as s:
        return dict(s.execute(select(Interaction.content_id, Interaction.weight)
                              .where(Interaction.user_id == user_id)).all())
