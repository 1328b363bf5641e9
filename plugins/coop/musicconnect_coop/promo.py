"""Cross-promotion between co-op members (docs/coop.md, "Cross-promotion and shared fans").

A member opts their surfaces in (fan club ``feed``, ``artist_page``) and nominates their own
releases (published public content items) and upcoming parties (their ``live.party_scheduled``
domain events; the live plugin is never imported). A slot request for a host's surface picks one
other active member of a co-op the host is active in, by a deterministic fair rotation: the member
with the fewest counted impressions on that (host, surface) first, ties by artist id; within the
member, their nominations in turn (``served % len(items)``).

One slot request is one transaction whose first statement is an UPDATE of the host's surface row:
it serialises the picks of a slot (row lock on PostgreSQL, the write lock on SQLite), so the pick,
the impression and ``served = served + 1`` happen together, exactly once each. An impression is
counted once per (slot, viewer, 30-minute window): the viewer's user id, else a hash of the client
address; a repeat in the window gets the same impression back (``counted: false``). Anonymous
impressions also take one of ``ANON_PER_HOUR`` per address (the platform's rate limiter): over it
the slot is still shown, not counted. Every route is also under the core's per-caller API limits.

Attribution (:func:`on_event`): a ``fan.followed`` or ``entitlement.granted`` of a paid tier for
the promoted artist by a fan who clicked one of its slots in the 7 days before is attributed to the
last clicked impression (``via="click"``); without a click, to the last impression they saw
(``via="view"``). Anonymous impressions count impressions only.
"""
from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from musicconnect import Problem
from musicconnect.models import Artist, ContentItem, DomainEvent, Tier
from musicconnect.web import get_platform, scope

from . import governance as g
from .models import Coop, Member
from .page import _when
from .promo_models import SURFACES, PromoAttribution, PromoCounter, PromoImpression, PromoNomination, PromoSurface

router = APIRouter()

WINDOW = timedelta(minutes=30)
ATTRIBUTION = timedelta(days=7)
ANON_PER_HOUR = 120
MAX_NOMINATIONS = 50


# ---------------------------------------------------------------- items

def _iso(v):
    return v.isoformat() if v is not None else None


def item_of(session, now: datetime, artist_id: uuid.UUID, kind: str, ref: str) -> dict[str, Any] | None:
    """The nominated item as shown in a slot, or None when it is not (or no longer) promotable."""
    if kind == "release":
        try:
            cid = uuid.UUID(ref)
        except ValueError:
            return None
        c = session.get(ContentItem, cid)
        if (c is None or c.artist_id != artist_id or c.status != "ready" or c.visibility != "public"
                or c.publish_at > now):
            return None
        return {"kind": "release", "id": str(c.id), "title": c.title, "content_kind": c.kind,
                "published_at": _iso(c.publish_at)}
    ev = session.scalar(select(DomainEvent).where(DomainEvent.type == "live.party_scheduled",
                                                  DomainEvent.artist_id == artist_id, DomainEvent.subject_id == ref)
                        .order_by(DomainEvent.occurred_at.desc()).limit(1))
    if ev is None:
        return None
    data = ev.data or {}
    starts = _when(data.get("starts_at", ""))
    if starts is None or starts <= now or data.get("visibility") != "public":
        return None
    over = session.scalar(select(DomainEvent.id).where(DomainEvent.type.in_(("live.party_started", "live.party_ended")),
                                                       DomainEvent.artist_id == artist_id,
                                                       DomainEvent.subject_id == ref).limit(1))
    if over is not None:
        return None
    return {"kind": "party", "id": ref, "title": data.get("title"), "starts_at": starts.isoformat()}


# ---------------------------------------------------------------- the slot

def _coops_of(session, artist_id: uuid.UUID) -> list[uuid.UUID]:
    return list(session.scalars(select(Member.coop_id).join(Coop, Coop.id == Member.coop_id).where(
        Member.artist_id == artist_id, Member.status == "active", Coop.status == "active")))


def candidates(session, host: uuid.UUID) -> dict[uuid.UUID, uuid.UUID]:
    """promoted artist -> the co-op the impression is recorded under (the first shared, by id):
    the active members of the active co-ops the host is an active member of, never the host."""
    coops = _coops_of(session, host)
    out: dict[uuid.UUID, uuid.UUID] = {}
    if not coops:
        return out
    for coop_id, artist_id in session.execute(select(Member.coop_id, Member.artist_id).where(
            Member.coop_id.in_(coops), Member.status == "active", Member.artist_id != host)):
        if artist_id not in out or str(coop_id) < str(out[artist_id]):
            out[artist_id] = coop_id
    return out


def viewer_key(actor, address: str | None) -> str:
    if actor is not None:
        return f"u:{actor.user_id}"
    return "a:" + hashlib.sha256(b"mc-coop-promo\x00" + (address or "unknown").encode()).hexdigest()[:32]


def _insert_once(session, row) -> bool:
    try:
        with session.begin_nested():
            session.add(row)
        return True
    except IntegrityError:
        return False


def serve(platform, session, *, host: uuid.UUID, surface: str, actor, address: str | None) -> dict[str, Any] | None:
    """Pick and record one promotion for the host's surface (see the module doc)."""
    now = platform.clock.now()
    locked = session.execute(update(PromoSurface).where(PromoSurface.artist_id == host, PromoSurface.surface == surface)
                             .values(created_at=PromoSurface.created_at)
                             .execution_options(synchronize_session=False)).rowcount
    if not locked:
        return None  # the host has not opted this surface in
    key = viewer_key(actor, address)
    dedupe = f"{host}:{surface}:{key}:{int(now.timestamp()) // int(WINDOW.total_seconds())}"
    seen = session.scalar(select(PromoImpression).where(PromoImpression.dedupe == dedupe))
    if seen is not None:
        item = item_of(session, now, seen.promoted_artist_id, seen.item_kind, seen.item_ref)
        if item is not None:
            return _out(session, seen, item, counted=False)
    cands = candidates(session, host)
    if not cands:
        return None
    noms: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for n in session.scalars(select(PromoNomination).where(PromoNomination.artist_id.in_(list(cands)))
                             .order_by(PromoNomination.created_at, PromoNomination.id)):
        item = item_of(session, now, n.artist_id, n.kind, n.ref)
        if item is not None:
            noms.setdefault(n.artist_id, []).append(item)
    if not noms:
        return None
    served = dict(session.execute(select(PromoCounter.promoted_artist_id, PromoCounter.served).where(
        PromoCounter.host_artist_id == host, PromoCounter.surface == surface,
        PromoCounter.promoted_artist_id.in_(list(noms)))).all())
    promoted = min(noms, key=lambda a: (served.get(a, 0), str(a)))
    n_served = served.get(promoted, 0)
    items = noms[promoted]
    item = items[n_served % len(items)]
    # a viewer counts once per window: when the window's impression shows an item no longer
    # promotable, the new pick is shown but not counted (no second impression in the window)
    counted = seen is None and (actor is not None or platform.ratelimiter.hit(
        f"{ANON_PER_HOUR}/hour", "coop-promo-anon", key).allowed)
    imp = PromoImpression(id=uuid.uuid4(), coop_id=cands[promoted], host_artist_id=host, surface=surface,
                          promoted_artist_id=promoted, item_kind=item["kind"], item_ref=item["id"],
                          viewer_id=actor.user_id if actor is not None else None,
                          dedupe=dedupe, shown_at=now)
    if not counted:
        return _out(session, None, item, counted=False, promoted=promoted, coop_id=cands[promoted])
    if not _insert_once(session, imp):  # a concurrent request of the same viewer counted it
        seen = session.scalar(select(PromoImpression).where(PromoImpression.dedupe == dedupe))
        return _out(session, seen, item_of(session, now, seen.promoted_artist_id, seen.item_kind, seen.item_ref) or item,
                    counted=False)
    _insert_once(session, PromoCounter(host_artist_id=host, surface=surface, promoted_artist_id=promoted, served=0))
    session.execute(update(PromoCounter).where(PromoCounter.host_artist_id == host, PromoCounter.surface == surface,
                                               PromoCounter.promoted_artist_id == promoted)
                    .values(served=PromoCounter.served + 1).execution_options(synchronize_session=False))
    return _out(session, imp, item, counted=True)


def _out(session, imp: PromoImpression | None, item: dict[str, Any], *, counted: bool, promoted=None,
         coop_id=None) -> dict[str, Any]:
    promoted = imp.promoted_artist_id if imp is not None else promoted
    return {"impression_id": str(imp.id) if imp is not None else None,
            "coop_id": str(imp.coop_id if imp is not None else coop_id),
            "promoted_artist_id": str(promoted), "promoted_artist_name": session.scalar(
                select(Artist.name).where(Artist.id == promoted)),
            "item": item, "counted": counted}


def click(platform, session, impression_id: uuid.UUID, actor) -> tuple[PromoImpression, bool]:
    imp = session.get(PromoImpression, impression_id)
    if imp is None or (actor is not None and imp.viewer_id is not None and imp.viewer_id != actor.user_id):
        raise Problem(404, "coop-impression-not-found", "no such promotion impression")
    if imp.viewer_id is not None and actor is None:
        raise Problem(404, "coop-impression-not-found", "no such promotion impression")
    first = session.execute(update(PromoImpression).where(PromoImpression.id == imp.id,
                                                          PromoImpression.clicked_at.is_(None))
                            .values(clicked_at=platform.clock.now())
                            .execution_options(synchronize_session=False)).rowcount == 1
    session.refresh(imp)
    return imp, first


# ---------------------------------------------------------------- attribution

def _touch(session, fan_id: uuid.UUID, artist_id: uuid.UUID, at: datetime) -> tuple[PromoImpression, str] | None:
    base = select(PromoImpression).where(PromoImpression.viewer_id == fan_id,
                                         PromoImpression.promoted_artist_id == artist_id)
    clicked = session.scalar(base.where(PromoImpression.clicked_at.is_not(None),
                                        PromoImpression.clicked_at <= at, PromoImpression.clicked_at >= at - ATTRIBUTION)
                             .order_by(PromoImpression.clicked_at.desc(), PromoImpression.id.desc()).limit(1))
    if clicked is not None:
        return clicked, "click"
    seen = session.scalar(base.where(PromoImpression.shown_at <= at, PromoImpression.shown_at >= at - ATTRIBUTION)
                          .order_by(PromoImpression.shown_at.desc(), PromoImpression.id.desc()).limit(1))
    return (seen, "view") if seen is not None else None


def attribute(platform, event) -> bool:
    if event.type == "fan.followed":
        kind, fan = "follow", event.actor_id
    elif event.type == "entitlement.granted":
        kind = "support"
        try:
            fan = uuid.UUID((event.data or {}).get("user_id", ""))
            tier_id = uuid.UUID((event.data or {}).get("tier_id", ""))
        except (TypeError, ValueError):
            return False
    else:
        return False
    if fan is None or event.artist_id is None:
        return False
    with platform.session() as s:
        if kind == "support":
            price = s.scalar(select(Tier.price_amount).where(Tier.id == tier_id))
            if not price or price <= 0:
                return False  # a free membership is not a support
        touch = _touch(s, fan, event.artist_id, event.occurred_at)
        if touch is None:
            return False
        imp, via = touch
        return _insert_once(s, PromoAttribution(id=uuid.uuid4(), impression_id=imp.id, event_id=event.id, kind=kind,
                                                via=via, fan_id=fan, occurred_at=event.occurred_at))


def on_event(platform, event) -> None:
    if event.type in ("fan.followed", "entitlement.granted"):
        attribute(platform, event)


# ---------------------------------------------------------------- stats

def stats(session, coop_id: uuid.UUID) -> list[dict[str, Any]]:
    imp = PromoImpression
    rows = session.execute(select(imp.host_artist_id, imp.surface, imp.promoted_artist_id, func.count(imp.id),
                                  func.count(imp.clicked_at))
                           .where(imp.coop_id == coop_id)
                           .group_by(imp.host_artist_id, imp.surface, imp.promoted_artist_id)).all()
    out = {(h, s, p): {"host_artist_id": str(h), "surface": s, "promoted_artist_id": str(p), "impressions": n,
                       "clicks": c, "follows": {"click": 0, "view": 0}, "supports": {"click": 0, "view": 0}}
           for h, s, p, n, c in rows}
    att = PromoAttribution
    for h, s, p, kind, via, n in session.execute(
            select(imp.host_artist_id, imp.surface, imp.promoted_artist_id, att.kind, att.via, func.count(att.id))
            .join(imp, and_(imp.id == att.impression_id, imp.coop_id == coop_id))
            .group_by(imp.host_artist_id, imp.surface, imp.promoted_artist_id, att.kind, att.via)):
        out[(h, s, p)][f"{kind}s"][via] = n
    return sorted(out.values(), key=lambda r: (r["host_artist_id"], r["surface"], r["promoted_artist_id"]))


# ---------------------------------------------------------------- routes

class SurfacesIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"surfaces": ["feed", "artist_page"]}]})
    surfaces: list[Literal["feed", "artist_page"]] = Field(max_length=2)


class NominationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"kind": "release", "ref": str(uuid.UUID(int=1))}]})
    kind: Literal["release", "party"]
    ref: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")


def _settings_out(session, artist_id: uuid.UUID) -> dict[str, Any]:
    return {"surfaces": sorted(session.scalars(select(PromoSurface.surface).where(PromoSurface.artist_id == artist_id))),
            "nominations": [{"id": str(n.id), "kind": n.kind, "ref": n.ref, "created_at": _iso(n.created_at)}
                            for n in session.scalars(select(PromoNomination).where(PromoNomination.artist_id == artist_id)
                                                     .order_by(PromoNomination.created_at, PromoNomination.id))]}


@router.get("/me/promotions")
def my_promotions(actor=Depends(scope("coop:read")), platform=Depends(get_platform)):
    """Your surfaces opted in to show co-op promotions, and what you nominated."""
    aid = g.artist_of(actor)
    with platform.read() as s:
        return _settings_out(s, aid)


@router.put("/me/promotions/surfaces")
def set_surfaces(body: SurfacesIn, actor=Depends(scope("coop:write")), platform=Depends(get_platform)):
    """Opt your surfaces in (the list replaces the previous one; ``[]`` opts out)."""
    aid = g.artist_of(actor)
    with platform.session() as s:
        wanted = set(body.surfaces)
        s.execute(delete(PromoSurface).where(PromoSurface.artist_id == aid, PromoSurface.surface.not_in(wanted or {""}))
                  .execution_options(synchronize_session=False))
        for surface in sorted(wanted):
            _insert_once(s, PromoSurface(artist_id=aid, surface=surface, created_at=platform.clock.now()))
        return _settings_out(s, aid)


@router.post("/me/promotions/nominations", status_code=201)
def nominate(body: NominationIn, actor=Depends(scope("coop:write")), platform=Depends(get_platform)):
    """Nominate one of your own published public releases or upcoming public parties."""
    aid = g.artist_of(actor)
    with platform.session() as s:
        if item_of(s, platform.clock.now(), aid, body.kind, body.ref) is None:
            raise Problem(422, "coop-promotion-item-invalid",
                          "promote one of your own published public releases or upcoming public parties")
        n = s.scalar(select(func.count()).select_from(PromoNomination).where(PromoNomination.artist_id == aid)) or 0
        if n >= MAX_NOMINATIONS:
            raise Problem(409, "coop-promotion-limit", f"at most {MAX_NOMINATIONS} nominations")
        _insert_once(s, PromoNomination(id=uuid.uuid4(), artist_id=aid, kind=body.kind, ref=body.ref,
                                        created_at=platform.clock.now()))
        return _settings_out(s, aid)


@router.delete("/me/promotions/nominations/{nomination_id}")
def withdraw(nomination_id: uuid.UUID, actor=Depends(scope("coop:write")), platform=Depends(get_platform)):
    aid = g.artist_of(actor)
    with platform.session() as s:
        s.execute(delete(PromoNomination).where(PromoNomination.id == nomination_id, PromoNomination.artist_id == aid)
                  .execution_options(synchronize_session=False))
        return _settings_out(s, aid)


@router.get("/promotions/slot")
def slot(surface: Literal["feed", "artist_page"], host_artist_id: uuid.UUID, request: Request,
         actor=Depends(scope("coop:read", optional=True)), platform=Depends(get_platform)):
    """One promotion for a host artist's surface (fair rotation), its impression recorded;
    ``{"promotion": null}`` when the surface is not opted in or nothing is promotable."""
    assert surface in SURFACES
    address = request.client.host if request.client else None
    with platform.session() as s:
        return {"promotion": serve(platform, s, host=host_artist_id, surface=surface, actor=actor, address=address)}


@router.post("/promotions/{impression_id}/click")
def click_route(impression_id: uuid.UUID, actor=Depends(scope("coop:read", optional=True)),
                platform=Depends(get_platform)):
    """Record a click on a shown promotion (once per impression; repeats change nothing)."""
    with platform.session() as s:
        imp, first = click(platform, s, impression_id, actor)
        return {"impression_id": str(imp.id), "clicked_at": _iso(imp.clicked_at), "first": first}


@router.get("/coops/{coop_id}/promotions/stats")
def stats_route(coop_id: uuid.UUID, actor=Depends(scope("coop:read")), platform=Depends(get_platform)):
    """Impressions, clicks, follows and supports (by click or view-through) per host, surface and
    promoted member (members of the co-op only)."""
    with platform.read() as s:
        coop = g.get_coop(s, coop_id)
        g.require_member(s, coop, actor, statuses=("active", "leaving", "left"))
        return {"coop_id": str(coop.id), "slots": stats(s, coop.id)}
