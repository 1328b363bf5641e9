"""Viral potential of tracks: share links with attribution (owner: models).

**Share links.** A signed-in fan asks for a share link of a track they may see
(``POST /api/v1/analytics/tracks/{content_id}/share-links``, scope ``content:read``): a short
code, the same one each time for that fan and track, and an ``analytics.shared`` domain event
(the rollups count it as a share of the track). Anyone opens it
(``GET /api/v1/analytics/s/{code}``): the server records the click for the visitor it
identifies itself (``u:<user id>`` when signed in, otherwise ``a:<hash>`` of the ``client_id``
or the address, the way the streaming plugin names anonymous listeners; the sharer's own clicks
and repeats within 30 minutes are not recorded) and answers the track to open.

**Attribution** is decided by the server only (no count comes from a client): a visitor's play
of the shared track (``play.started``) and their follow of the artist (``fan.followed``) within
:data:`ATTRIBUTION` (7 days) after a click are attributed to the latest click before them; a
visitor who had never played the artist before that click is a *new listener*.

**Per track** over the last :data:`WINDOW_DAYS` days: ``shares`` (links created), ``sharers``,
``listeners`` (distinct signed-in listeners), ``share_rate`` = sharers / listeners, ``clicks``,
``attributed_plays``, ``attributed_follows``, ``new_listeners``, **k-factor** = new listeners
brought by shares / listeners (invitations per listener × their conversion: above 1 a track
spreads by itself), and the **growth curve**: cumulative counted plays on each of the first 28
days after release (the rollups' ``plays`` per track) beside the artist's baseline (the median
curve of the artist's other tracks) and their ratio. Tracks are ranked by k-factor, then by new
listeners, then attributed plays.

Fitted by the scheduled job ``analytics.fit_viral`` (hourly) and cached; the metric
``analytics_viral_potential`` and ``GET /api/v1/analytics/artists/{artist_id}/viral`` read the
cache. Public: :func:`fit_viral`, :func:`visitor_of`.
"""
from __future__ import annotations

import hashlib
import logging
import secrets
import statistics
import uuid
from collections import defaultdict
from datetime import timedelta

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from musicconnect import JobSpec, NotFound, Problem, emit, resource_of
from musicconnect.models import ContentItem, DomainEvent
from musicconnect.web import get_platform, scope

from .rollups import define
from .model_store import ShareClick, ShareLink, artist_ids, fit_value, save_fit

log = logging.getLogger("musicconnect.analytics.viral")

ATTRIBUTION = timedelta(days=7)
CLICK_DEDUPE = timedelta(minutes=30)
#: clicks recorded per hour from one address without an account (more still resolve, uncounted)
ANON_CLICKS_PER_HOUR = 30
WINDOW_DAYS = 90
CURVE_DAYS = 28
CHUNK = 500
DEFINITION = ("Per track over 90 days: share rate (sharers / listeners), clicks on share links, plays and follows "
              "by visitors within 7 days of a click (server-side attribution), k-factor = new listeners brought by "
              "shares / listeners, and the first-28-day play curve vs the artist's median track; ranked by k-factor.")


def visitor_of(actor, client_id: str | None, address: str) -> str:
    """How a visitor is named: like the streaming plugin's listeners (``u:`` / ``a:``)."""
    if actor is not None:
        return f"u:{actor.user_id}"
    return "a:" + hashlib.sha256((client_id or address).encode()).hexdigest()[:32]


# ---------------------------------------------------------------- routes
router = APIRouter()


def _own(actor, artist_id) -> None:
    """The artist themselves or an admin (the analytics API's rule and problem type)."""
    if not (actor.is_admin or actor.artist_id == artist_id):
        raise Problem(403, "analytics-not-your-artist", "only this artist (or an admin) can read these analytics")


class ShareLinkOut(BaseModel):
    code: str
    url: str
    content_id: uuid.UUID
    artist_id: uuid.UUID


class ResolvedOut(BaseModel):
    content_id: uuid.UUID
    artist_id: uuid.UUID
    title: str
    url: str


def _track(s, content_id) -> ContentItem:
    item = s.get(ContentItem, content_id)
    if item is None or item.kind != "track":
        raise NotFound("track")
    return item


@router.post("/tracks/{content_id}/share-links", response_model=ShareLinkOut, status_code=201)
def create_share_link(content_id: uuid.UUID, actor=Depends(scope("content:read")), platform=Depends(get_platform)):
    """A share link of a track for the caller (the same code every time for this track)."""
    with platform.session() as s:
        item = _track(s, content_id)
        platform.access.require(actor, "view", resource_of(item), not_found="track")
        link = s.scalar(select(ShareLink).where(ShareLink.user_id == actor.user_id,
                                                ShareLink.content_id == content_id))
        if link is None:
            link = ShareLink(id=uuid.uuid4(), code=secrets.token_urlsafe(6), artist_id=item.artist_id,
                             content_id=item.id, user_id=actor.user_id, created_at=platform.clock.now())
            s.add(link)
            s.flush()
            emit(platform, s, "analytics.shared", actor_id=actor.user_id, artist_id=item.artist_id,
                 subject=("content", item.id), data={"code": link.code, "channel": "link"})
        return ShareLinkOut(code=link.code, url=f"/api/v1/analytics/s/{link.code}", content_id=link.content_id,
                            artist_id=link.artist_id)


@router.get("/s/{code}", response_model=ResolvedOut, responses={404: {"description": "no such share link"}})
def open_share_link(request: Request, code: str = Path(min_length=4, max_length=16, pattern=r"^[A-Za-z0-9_-]+$"),
                    client_id: str | None = Query(None, min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$"),
                    actor=Depends(scope("content:read", optional=True)), platform=Depends(get_platform)):
    """Open a share link: the click is recorded for the visitor the server identifies."""
    now = platform.clock.now()
    with platform.session() as s:
        link = s.scalar(select(ShareLink).where(ShareLink.code == code))
        if link is None:
            raise NotFound("share link")
        item = _track(s, link.content_id)
        if item.status != "ready":  # taken down, failed, back to draft: the link leads nowhere
            raise NotFound("share link")
        if not platform.access.visible(actor, resource_of(item)):
            # not released yet (an early-access holder's or the artist's own link): its title and
            # id stay with those who may see it, the same 404 as a link that does not exist
            raise NotFound("share link")
        address = request.client.host if request.client else "unknown"
        visitor = visitor_of(actor, client_id, address)
        own = actor is not None and actor.user_id == link.user_id
        # an anonymous visitor names itself (client_id): clicks from one address are capped, so
        # a script cycling client ids cannot inflate a track's shares
        capped = actor is None and not platform.ratelimiter.hit(
            f"{ANON_CLICKS_PER_HOUR}/hour", "analytics-share-click", address).allowed
        recent = None if capped else s.scalar(select(ShareClick.id).where(ShareClick.link_id == link.id, ShareClick.visitor == visitor,
                                                      ShareClick.clicked_at > now - CLICK_DEDUPE).limit(1))
        if not own and not capped and recent is None:
            try:
                with s.begin_nested():
                    s.add(ShareClick(id=uuid.uuid4(), link_id=link.id, artist_id=link.artist_id,
                                     content_id=link.content_id, visitor=visitor,
                                     user_id=actor.user_id if actor is not None else None, clicked_at=now))
            except IntegrityError:  # the link was deleted meanwhile
                pass
        return ResolvedOut(content_id=item.id, artist_id=item.artist_id, title=item.title, url=f"/content/{item.id}")


class ViralTrack(BaseModel):
    content_id: str
    title: str
    rank: int
    k_factor: float
    share_rate: float
    shares: int
    sharers: int
    listeners: int
    clicks: int
    attributed_plays: int
    attributed_follows: int
    new_listeners: int
    growth_vs_baseline: float | None = None


class ViralOut(BaseModel):
    artist_id: uuid.UUID
    fitted_at: str | None
    tracks: list[ViralTrack]


@router.get("/artists/{artist_id}/viral", response_model=ViralOut)
def viral_tracks(artist_id: uuid.UUID, actor=Depends(scope("analytics:read")), platform=Depends(get_platform)):
    """The artist's tracks ranked by viral potential (the cached fit)."""
    _own(actor, artist_id)
    value = viral_metric(platform, artist_id, None)
    return ViralOut(artist_id=artist_id, fitted_at=value.get("fitted_at"),
                    tracks=[ViralTrack(**{k: t[k] for k in ViralTrack.model_fields if k in t})
                            for t in value.get("tracks", [])])


# ---------------------------------------------------------------- the fit
def _chunks(items, n=CHUNK):
    items = list(items)
    for i in range(0, len(items), n):
        yield items[i:i + n]


def _attribute(s, artist_id, clicks, now) -> dict[str, dict]:
    """Per link id: attributed plays, follows and new listeners (server-side, see the module)."""
    out: dict = defaultdict(lambda: {"plays": 0, "follows": 0, "new": 0})
    if not clicks:
        return out
    start = min(c.clicked_at for c in clicks)
    users = {c.user_id for c in clicks if c.user_id is not None}
    anons = {c.visitor for c in clicks if c.user_id is None}
    tracks = {str(c.content_id) for c in clicks}
    plays: dict[str, list] = defaultdict(list)  # visitor -> [(at, track)]
    follows: dict[str, list] = defaultdict(list)
    first_play: dict[str, object] = {}
    if users:
        # one pass over the artist's plays and follows since the first click (the index is on
        # artist, type, time: a filter on the visitors per chunk would scan the same range again
        # for every chunk), kept only for the visitors who clicked
        for type_, actor, subject, at in s.execute(
                select(DomainEvent.type, DomainEvent.actor_id, DomainEvent.subject_id, DomainEvent.occurred_at)
                .where(DomainEvent.artist_id == artist_id, DomainEvent.type.in_(("play.started", "fan.followed")),
                       DomainEvent.actor_id.is_not(None), DomainEvent.occurred_at >= start)
                .execution_options(yield_per=20_000)):
            if actor in users:
                (plays if type_ == "play.started" else follows)[f"u:{actor}"].append((at, subject))
        for actor, first in s.execute(select(DomainEvent.actor_id, func.min(DomainEvent.occurred_at))
                                      .where(DomainEvent.artist_id == artist_id, DomainEvent.type == "play.started",
                                             DomainEvent.actor_id.is_not(None)).group_by(DomainEvent.actor_id)
                                      .execution_options(yield_per=20_000)):
            if actor in users:
                first_play[f"u:{actor}"] = first
    if anons:
        for subject, at, data in s.execute(
                select(DomainEvent.subject_id, DomainEvent.occurred_at, DomainEvent.data)
                .where(DomainEvent.artist_id == artist_id, DomainEvent.type == "play.started",
                       DomainEvent.actor_id.is_(None), DomainEvent.subject_id.in_(tracks),
                       DomainEvent.occurred_at >= start)):
            who = (data or {}).get("listener")
            if who in anons:
                plays[who].append((at, subject))
                first_play[who] = min(first_play.get(who, at), at)
    by_visitor: dict[str, list] = defaultdict(list)
    for c in clicks:
        by_visitor[c.visitor].append(c)
    for visitor, cs in by_visitor.items():
        cs.sort(key=lambda c: c.clicked_at)

        def last_click(at, track=None):
            found = None
            for c in cs:
                if c.clicked_at <= at <= c.clicked_at + ATTRIBUTION and (track is None or str(c.content_id) == track):
                    found = c
            return found

        done_tracks = set()
        for at, track in sorted(plays.get(visitor, ())):
            c = last_click(at, track)
            if c is None or track in done_tracks:
                continue
            done_tracks.add(track)
            out[c.link_id]["plays"] += 1
            first = first_play.get(visitor)
            if first is not None and first >= c.clicked_at:
                out[c.link_id]["new"] += 1
        for at, _subject in sorted(follows.get(visitor, ()))[:1]:
            c = last_click(at)
            if c is not None:
                out[c.link_id]["follows"] += 1
    return out


def _curve(series: dict, released, days: int = CURVE_DAYS) -> list[int]:
    day0 = released.date()
    total, out = 0, []
    for i in range(days):
        total += series.get(day0 + timedelta(days=i), 0)
        out.append(total)
    return out


def fit_viral(platform, artist_id: uuid.UUID) -> dict:
    """Attribute, measure and rank the artist's tracks now; cache the result."""
    from . import rollups

    now = platform.clock.now()
    since = now - timedelta(days=WINDOW_DAYS)
    with platform.session() as s:
        tracks = {t.id: t for t in s.scalars(select(ContentItem).where(ContentItem.artist_id == artist_id,
                                                                       ContentItem.kind == "track"))}
        links = list(s.scalars(select(ShareLink).where(ShareLink.artist_id == artist_id,
                                                       ShareLink.created_at >= since)))
        clicks = list(s.scalars(select(ShareClick).where(ShareClick.artist_id == artist_id,
                                                         ShareClick.clicked_at >= since)))
        listeners = {uuid.UUID(sid): n for sid, n in s.execute(
            select(DomainEvent.subject_id, func.count(func.distinct(DomainEvent.actor_id)))
            .where(DomainEvent.artist_id == artist_id, DomainEvent.type == "play.started",
                   DomainEvent.occurred_at >= since, DomainEvent.actor_id.is_not(None))
            .group_by(DomainEvent.subject_id)) if sid and _is_uuid(sid)}
        attributed = _attribute(s, artist_id, clicks, now)
    link_track = {link.id: link.content_id for link in links}
    link_track.update({c.link_id: c.content_id for c in clicks})
    per: dict = defaultdict(lambda: {"shares": 0, "sharers": set(), "clicks": 0, "plays": 0, "follows": 0, "new": 0})
    for link in links:
        per[link.content_id]["shares"] += 1
        per[link.content_id]["sharers"].add(link.user_id)
    for c in clicks:
        per[c.content_id]["clicks"] += 1
    for link_id, a in attributed.items():
        p = per[link_track[link_id]]
        p["plays"] += a["plays"]
        p["follows"] += a["follows"]
        p["new"] += a["new"]
    curves = {}
    for tid, t in tracks.items():
        released = t.publish_at
        if released is None or released > now:
            continue
        series = rollups.series(platform, artist_id, "plays", released.date(),
                                released.date() + timedelta(days=CURVE_DAYS - 1), dimension=str(tid))
        curves[tid] = _curve(series, released)
    out = []
    for tid, t in tracks.items():
        p = per[tid]
        n_listeners = listeners.get(tid, 0)
        sharers = len(p["sharers"])
        others = [c for k, c in curves.items() if k != tid]
        baseline = [statistics.median(day) for day in zip(*others)] if others else None
        curve = curves.get(tid)
        growth = None
        if curve is not None and baseline is not None:
            age = min(CURVE_DAYS, max(1, (now - t.publish_at).days + 1))
            growth = round(curve[age - 1] / baseline[age - 1], 3) if baseline[age - 1] else None
        out.append({"content_id": str(tid), "title": t.title, "listeners": n_listeners, "shares": p["shares"],
                    "sharers": sharers, "share_rate": round(sharers / n_listeners, 4) if n_listeners else 0.0,
                    "clicks": p["clicks"], "attributed_plays": p["plays"], "attributed_follows": p["follows"],
                    "new_listeners": p["new"], "k_factor": round(p["new"] / n_listeners, 4) if n_listeners else 0.0,
                    "growth_curve": curve or [], "baseline_curve": baseline or [], "growth_vs_baseline": growth})
    out.sort(key=lambda r: (-r["k_factor"], -r["new_listeners"], -r["attributed_plays"], r["title"]))
    for i, r in enumerate(out, 1):
        r["rank"] = i
    result = {"definition": DEFINITION, "window_days": WINDOW_DAYS, "attribution_days": ATTRIBUTION.days,
              "tracks": out}
    with platform.session() as s:
        save_fit(s, artist_id, "viral", now, result)
    return {**result, "fitted_at": now.isoformat()}


def _is_uuid(v: str) -> bool:
    try:
        uuid.UUID(v)
        return True
    except ValueError:
        return False


def fit_viral_job(ctx, artist_id: str | None = None) -> dict:
    platform = ctx.platform
    ids = [uuid.UUID(artist_id)] if artist_id else artist_ids(platform)
    for i, a in enumerate(ids):
        try:
            fit_viral(platform, a)
        except Exception:
            log.exception("viral fit failed for artist %s", a)
        ctx.progress((i + 1) / len(ids), f"{i + 1}/{len(ids)} artists")
    return {"artists": len(ids)}


def viral_metric(platform, artist_id, window):
    return fit_value(platform, artist_id, "viral", {"definition": DEFINITION, "tracks": []})


METRICS = [define("analytics_viral_potential", "Viral potential of tracks",
                  "Tracks ranked by k-factor (new listeners brought by share links / listeners), with share rate, "
                  "clicks, attributed plays and follows and the growth curve vs the artist's baseline; refitted "
                  "hourly.", viral_metric, unit="ranking", dimension="track")]
JOBS = [JobSpec("fit_viral", fit_viral_job, max_retries=1, every_seconds=3600)]
