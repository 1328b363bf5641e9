"""Analytics' part of a person's data export and erasure (docs/privacy.md).

A fan: the per-fan rows are theirs (their name choice in top fans, their per-artist play state
and day bitmap, their per-fan counters in the rollups such as ``fan_plays`` and
``fan_paid_month``, their subscriptions' last-seen value, their churn-risk scores, the share links
they made and their clicks on others' links); they are exported, then deleted (clicks on other
fans' links are anonymised: the artist's share counts stay). Cached model fits that name them are
dropped (they are refitted). The artist x day rollups with no fan in them (plays, follows,
revenue, cohort cells by month) are aggregates that name nobody: they stay.

An artist who leaves: every row of their artist goes, their aggregates included.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import String, cast, delete, or_, select, update

from musicconnect.contracts import ErasureReport, ExportPart, Retained
from musicconnect.db import on_commit
from musicconnect.models import Artist, ContentItem

from . import rollups
from .fans import Visibility
from .model_store import ChurnScore, ModelFit, ShareClick, ShareLink
from .rollups import FanState, Meta, Rollup, SubscriptionState

ERASED_VISITOR = "a:erased"

NOTES = """\
visibility: whether you chose to appear by name in artists' top fans. activity: the per-artist
daily counters that name you (e.g. fan_plays: your counted plays that day; fan_paid_month: what
you paid in a month), from which artists see their top fans and cohorts. listening: per artist,
the last day you played and how many of the last days you played. subscriptions: your
memberships' monthly value as analytics last saw it. churn_scores: each artist's estimate of the
risk that you cancel, and why. share_links / share_clicks: links you shared and shared links you
opened. Aggregates per artist and day that name nobody are not yours and are not included."""


def _iso(v):
    return v.isoformat() if v is not None else None


def _artist_names(session, ids) -> dict:
    ids = set(ids)
    return dict(session.execute(select(Artist.id, Artist.name).where(Artist.id.in_(ids))).all()) if ids else {}


def export_user_data(platform, session, user):
    uid, fan = user.id, str(user.id)
    records: dict[str, list[dict[str, Any]]] = {}
    vis = session.get(Visibility, uid)
    if vis is not None:
        records["visibility"] = [{"show_name": vis.show_name, "updated_at": _iso(vis.updated_at)}]
    counters = session.execute(select(Rollup.artist_id, Rollup.metric, Rollup.day, Rollup.value).where(
        Rollup.dimension == fan).order_by(Rollup.artist_id, Rollup.metric, Rollup.day)).all()
    states = list(session.scalars(select(FanState).where(FanState.user_id == uid)))
    subs = list(session.scalars(select(SubscriptionState).where(SubscriptionState.user_id == uid)))
    churn = list(session.scalars(select(ChurnScore).where(ChurnScore.user_id == uid)))
    links = list(session.scalars(select(ShareLink).where(ShareLink.user_id == uid).order_by(ShareLink.created_at)))
    clicks = list(session.scalars(select(ShareClick).where(
        or_(ShareClick.user_id == uid, ShareClick.visitor == f"u:{uid}")).order_by(ShareClick.clicked_at)))
    names = _artist_names(session, [c[0] for c in counters] + [s.artist_id for s in states + subs + churn]
                          + [x.artist_id for x in links + clicks])
    if counters:
        records["activity"] = [{"artist": names.get(a), "artist_id": str(a), "metric": m, "day": _iso(d), "value": v}
                               for a, m, d, v in counters]
    if states:
        records["listening"] = [{"artist": names.get(s.artist_id), "artist_id": str(s.artist_id),
                                 "last_play_day": _iso(rollups.EPOCH + _days(s.last_play)),
                                 "days_played_recently": bin(s.play_days & rollups.PLAY_MASK).count("1")}
                                for s in states]
    if subs:
        records["subscriptions"] = [{"artist": names.get(s.artist_id), "tier": s.tier, "monthly_value": s.mrr,
                                     "ever_active": s.ever_active, "updated_at": _iso(s.updated_at)} for s in subs]
    if churn:
        records["churn_scores"] = [{"artist": names.get(c.artist_id), "score": round(c.score, 4),
                                    "reasons": c.reasons, "tier": c.tier_key, "scored_at": _iso(c.scored_at)}
                                   for c in churn]
    if links:
        titles = dict(session.execute(select(ContentItem.id, ContentItem.title).where(
            ContentItem.id.in_({x.content_id for x in links}))).all())
        records["share_links"] = [{"code": x.code, "artist": names.get(x.artist_id), "content": titles.get(x.content_id),
                                   "created_at": _iso(x.created_at)} for x in links]
    if clicks:
        records["share_clicks"] = [{"artist": names.get(c.artist_id), "content_id": str(c.content_id),
                                    "clicked_at": _iso(c.clicked_at)} for c in clicks]
    if not records:
        return None
    return ExportPart(records, notes=NOTES)


def _days(n: int):
    from datetime import timedelta

    return timedelta(days=int(n))


def _drop_buffered(platform, uid, artist_id) -> None:
    """Increments of this fan (or artist) still buffered in this process never reach the tables."""
    buf = rollups._buffers.get(platform)
    if buf is None:
        return
    fan = str(uid)
    with buf.lock:
        buf.data = {k: v for k, v in buf.data.items() if k[3] != fan and k[0] != artist_id}
        buf.fans = {k: v for k, v in buf.fans.items() if k[1] != uid and k[0] != artist_id}


def erase_user_data(platform, session, user):
    uid, fan = user.id, str(user.id)
    opts = {"synchronize_session": False}
    erased: dict[str, int] = defaultdict(int)
    artist_id = session.scalar(select(Artist.id).where(Artist.user_id == uid))
    _drop_buffered(platform, uid, artist_id)

    def run(kind: str, stmt) -> None:
        erased[kind] += session.execute(stmt.execution_options(**opts)).rowcount or 0

    if artist_id is not None:  # an artist who leaves: their aggregates go too
        run("rollups", delete(Rollup).where(Rollup.artist_id == artist_id))
        run("fan_states", delete(FanState).where(FanState.artist_id == artist_id))
        run("subscriptions", delete(SubscriptionState).where(SubscriptionState.artist_id == artist_id))
        run("churn_scores", delete(ChurnScore).where(ChurnScore.artist_id == artist_id))
        run("share_clicks", delete(ShareClick).where(ShareClick.artist_id == artist_id))
        run("share_links", delete(ShareLink).where(ShareLink.artist_id == artist_id))
        run("model_fits", delete(ModelFit).where(ModelFit.artist_id == artist_id))
        run("meta", delete(Meta).where(Meta.key.contains(str(artist_id))))
    run("visibility", delete(Visibility).where(Visibility.user_id == uid))
    run("fan_counters", delete(Rollup).where(Rollup.dimension == fan))
    run("fan_states", delete(FanState).where(FanState.user_id == uid))
    run("subscriptions", delete(SubscriptionState).where(SubscriptionState.user_id == uid))
    run("churn_scores", delete(ChurnScore).where(ChurnScore.user_id == uid))
    run("share_clicks", delete(ShareClick).where(ShareClick.link_id.in_(
        select(ShareLink.id).where(ShareLink.user_id == uid))))
    run("share_links", delete(ShareLink).where(ShareLink.user_id == uid))
    run("share_clicks_anonymised", update(ShareClick).where(
        or_(ShareClick.user_id == uid, ShareClick.visitor == f"u:{uid}")).values(user_id=None, visitor=ERASED_VISITOR))
    run("model_fits", delete(ModelFit).where(cast(ModelFit.result, String).contains(fan)))
    # per-fan figures kept in memory (top fans) are recomputed
    on_commit(session, lambda: rollups._kept.pop(platform, None))
    erased = {k: v for k, v in erased.items() if v}
    if not erased:
        return None
    kept = () if artist_id is not None else (Retained(
        "artists' daily totals (plays, follows, revenue, cohorts by month)",
        "aggregates per artist and day that name nobody; your own counters in them were deleted"),)
    return ErasureReport(erased, kept)
