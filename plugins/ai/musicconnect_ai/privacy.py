"""The AI plugin's part of a person's data export and erasure (docs/privacy.md).

What the recommender knows about a fan: their interactions per track (a weight from plays,
completions, likes, skips), their affinity per artist, and the feed cards served to them with what
they did (completed, skipped, liked, followed); the fitted model holds their row of candidate
tracks and top artists. All of it is exported (the model row as the fan's recommendations) and
then deleted; in the fitted model files their row is blanked once the erasure commits (the next
fit has no trace of them). The per-track feed counters (completions, skips, likes) are aggregates
that name nobody: they stay.

An artist who leaves: their post drafts (and the images, in ``storage_keys``), their artist's
matches with other artists (both ways), audience stats, and everyone's interactions, affinity and
feed cards about them.
"""
from __future__ import annotations

import io
import logging
from typing import Any

import numpy as np
from sqlalchemy import delete, or_, select

from musicconnect.contracts import ErasureReport, ExportFile, ExportPart, Retained
from musicconnect.db import on_commit
from musicconnect.models import Artist, ContentItem

from . import recommend
from .feed import FeedImpression
from .interactions import Affinity, Interaction
from .matching import ArtistMatch, ArtistStats
from .posts import PostDraft

log = logging.getLogger("musicconnect.ai")

#: the arrays of a fitted model with one row per fan (``fans`` holds the ids)
FAN_ARRAYS = ("cand", "cand_scores", "fan_top", "fan_new", "fan_new_scores")

NOTES = """\
interactions: per track, how much you engaged with it as the recommender counts it (weight, number
of events, last time). affinity: per artist, the same for artists (follows, memberships).
feed: the cards the discovery feed showed you and what you did with each. recommendations: the
tracks the current model would suggest to you. post_drafts: social posts drafted for you as an
artist (images in post_drafts/)."""


def _iso(v):
    return v.isoformat() if v is not None else None


def _model_row(platform, uid) -> list[dict[str, Any]]:
    model = recommend.active(platform)
    if model is None or uid not in model.fans:
        return []
    i = model.fans[uid]
    return [{"track_id": str(model.tracks[int(j)]), "score": round(float(sc), 4)}
            for j, sc in zip(model.a["cand"][i], model.a["cand_scores"][i]) if sc > 0]


def export_user_data(platform, session, user):
    uid = user.id
    records: dict[str, list[dict[str, Any]]] = {}
    files: list[ExportFile] = []
    rows = session.execute(select(Interaction, ContentItem.title, Artist.name)
                           .join(ContentItem, ContentItem.id == Interaction.content_id)
                           .join(Artist, Artist.id == Interaction.artist_id, isouter=True)
                           .where(Interaction.user_id == uid).order_by(Interaction.weight.desc())).all()
    if rows:
        records["interactions"] = [{"track_id": str(i.content_id), "track": title, "artist": name,
                                    "weight": round(i.weight, 3), "events": i.events, "last_at": _iso(i.last_at)}
                                   for i, title, name in rows]
    aff = session.execute(select(Affinity, Artist.name).join(Artist, Artist.id == Affinity.artist_id)
                          .where(Affinity.user_id == uid).order_by(Affinity.weight.desc())).all()
    if aff:
        records["affinity"] = [{"artist": name, "artist_id": str(a.artist_id), "weight": round(a.weight, 3),
                                "follows": a.follows, "supports": a.supports, "last_at": _iso(a.last_at)}
                               for a, name in aff]
    feed = session.execute(select(FeedImpression, ContentItem.title).join(
        ContentItem, ContentItem.id == FeedImpression.content_id).where(FeedImpression.user_id == uid)
        .order_by(FeedImpression.served_at)).all()
    if feed:
        records["feed"] = [{"track_id": str(f.content_id), "track": title, "served_at": _iso(f.served_at),
                            "bucket": f.bucket, "position": f.position, "outcome": f.outcome,
                            "watch_seconds": round(f.watch_seconds, 1), "liked": f.liked, "followed": f.followed,
                            "subscribe_clicked": f.subscribe_clicked} for f, title in feed]
    recs = _model_row(platform, uid)
    if recs:
        records["recommendations"] = recs
    drafts = list(session.scalars(select(PostDraft).where(PostDraft.user_id == uid).order_by(PostDraft.created_at)))
    if drafts:
        records["post_drafts"] = [{"id": str(d.id), "purpose": d.purpose, "created_at": _iso(d.created_at),
                                   "facts": d.facts, "posts": d.posts} for d in drafts]
        files += [ExportFile(f"post_drafts/{d.id}.png", storage_key=d.image_key, content_type="image/png")
                  for d in drafts if d.image_key and platform.storage.exists(d.image_key)]
    if not records:
        return None
    return ExportPart(records, tuple(files), NOTES)


def scrub_models(platform, uid) -> int:
    """Blank ``uid``'s row in every stored fitted model (their id zeroed, their candidates and
    top artists emptied); returns how many model files were rewritten."""
    rewritten = 0
    with platform.read() as s:
        keys = list(s.scalars(select(recommend.RecoModel.storage_key).where(recommend.RecoModel.storage_key.is_not(None))))
    for key in keys:
        try:
            with np.load(io.BytesIO(platform.storage.get_bytes(key))) as z:
                arrays = {k: z[k] for k in z.files}
        except FileNotFoundError:
            continue
        hit = np.nonzero(arrays["fans"] == uid.bytes)[0] if arrays["fans"].size else []
        if not len(hit):
            continue
        arrays["fans"][hit] = b"\0" * 16
        for name in FAN_ARRAYS:
            if name in arrays and arrays[name].shape[:1] == arrays["fans"].shape[:1]:
                arrays[name][hit] = 0
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        platform.storage.put_bytes(key, buf.getvalue(), "application/octet-stream")
        recommend._LOADED.pop(key, None)
        rewritten += 1
    return rewritten


def erase_user_data(platform, session, user):
    uid = user.id
    opts = {"synchronize_session": False}
    erased: dict[str, int] = {}

    def run(kind: str, stmt) -> None:
        n = session.execute(stmt.execution_options(**opts)).rowcount or 0
        erased[kind] = erased.get(kind, 0) + n

    keys: list[str] = []
    artist_id = session.scalar(select(Artist.id).where(Artist.user_id == uid))
    if artist_id is not None:
        keys += [k for k in session.scalars(select(PostDraft.image_key).where(
            PostDraft.artist_id == artist_id, PostDraft.image_key.is_not(None)))]
        run("post_drafts", delete(PostDraft).where(PostDraft.artist_id == artist_id))
        run("artist_matches", delete(ArtistMatch).where(
            or_(ArtistMatch.artist_id == artist_id, ArtistMatch.other_id == artist_id)))
        run("artist_stats", delete(ArtistStats).where(ArtistStats.artist_id == artist_id))
        run("interactions_with_them", delete(Interaction).where(Interaction.artist_id == artist_id))
        run("affinity_with_them", delete(Affinity).where(Affinity.artist_id == artist_id))
        run("feed_cards_of_them", delete(FeedImpression).where(FeedImpression.artist_id == artist_id))
    keys += [k for k in session.scalars(select(PostDraft.image_key).where(
        PostDraft.user_id == uid, PostDraft.image_key.is_not(None))) if k not in keys]
    run("post_drafts", delete(PostDraft).where(PostDraft.user_id == uid))
    run("interactions", delete(Interaction).where(Interaction.user_id == uid))
    run("affinity", delete(Affinity).where(Affinity.user_id == uid))
    run("feed_cards", delete(FeedImpression).where(FeedImpression.user_id == uid))

    def scrub() -> None:
        try:
            scrub_models(platform, uid)
        except Exception:
            log.exception("ai: could not blank an erased fan in the fitted models (the next fit drops them)")
        platform.invalidate(recommend._CACHE_KEY)

    on_commit(session, scrub)
    erased = {k: v for k, v in erased.items() if v}
    kept = (Retained("per-track feed counters (completions, skips, likes)",
                     "aggregates per track that name nobody"),)
    return ErasureReport(erased, kept, tuple(keys))
