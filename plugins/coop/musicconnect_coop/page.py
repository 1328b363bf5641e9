"""The public co-op page: who is in it, what they released, their upcoming listening parties
(from the live plugin's ``live.party_scheduled`` domain events: the plugin is never imported)
and the co-op's bundle tiers.

The page is read far more than it changes, so it is cached per slug and dropped (in every
process) when what it shows changes: the co-op's members or bundles (:func:`forget`, called by
``bundles.changed``), a member's releases, profile or parties (their domain events, below),
and when the clock reaches the next scheduled release or the first listed party's start."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func, select

from musicconnect import Problem, on_commit
from musicconnect.models import Artist, ContentItem, DomainEvent, Tier

from .bundle_models import Bundle, BundleMember
from .models import Coop, Member

RELEASES = 20
PARTIES = 20


def _when(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        return None


_PAGE = ("coop", "page")
_ARTISTS = ("coop", "page_artists")
#: domain events of a member (or of the co-op's own account) that change what the page shows:
#: releases, parties, names, and tiers (a bundle lists each member's included tier by name)
_MEMBER_EVENTS = ("content.", "live.party_", "artist.updated", "tier.")


def cached_page(platform, slug: str) -> dict[str, Any]:
    """:func:`public_page`, from the cache while nothing it shows has changed."""
    key = (*_PAGE, slug)
    hit = platform.cache.get(key)
    if hit is not None and (hit[1] is None or platform.clock.now() < hit[1]):
        return hit[0]
    generation = platform.cache.generation()  # an invalidation during the read: not cached
    with platform.read() as s:
        page = public_page(platform, s, slug)
        until = _changes_at(platform, s, page)
    platform.cache.set(key, (page, until), generation=generation)
    return page


def _changes_at(platform, session, page: dict[str, Any]) -> datetime | None:
    """When the clock alone changes the page: the next release of a member comes out, or the
    first listed party starts (it leaves the list)."""
    ids = [uuid.UUID(m["artist_id"]) for m in page["members"]]
    times = [datetime.fromisoformat(page["parties"][0]["starts_at"])] if page["parties"] else []
    if ids:
        nxt = session.scalar(select(func.min(ContentItem.publish_at)).where(
            ContentItem.artist_id.in_(ids), ContentItem.status == "ready", ContentItem.visibility == "public",
            ContentItem.publish_at > platform.clock.now()))
        if nxt is not None:
            times.append(nxt if nxt.tzinfo else nxt.replace(tzinfo=timezone.utc))
    return min(times) if times else None


def forget(platform, session, coop) -> None:
    """``coop``'s page changed (members, bundles, status): dropped here now and in every process
    once ``session`` commits."""
    keys = [(*_PAGE, coop.slug), _ARTISTS]
    for k in keys:
        platform.cache.invalidate(k)
    on_commit(session, lambda: platform.invalidate(*keys))


def _index(platform) -> tuple[dict[uuid.UUID, tuple[dict[str, Any], ...]], dict[uuid.UUID, str]]:
    """Every artist's co-ops (active or leaving memberships) and each co-op account's slug,
    cached like the pages."""
    hit = platform.cache.get(_ARTISTS)
    if hit is None:
        members: dict[uuid.UUID, list[dict[str, Any]]] = {}
        generation = platform.cache.generation()
        with platform.read() as s:
            for m, c in s.execute(select(Member, Coop).join(Coop, Coop.id == Member.coop_id)
                                  .where(Member.status.in_(("active", "leaving")))
                                  .order_by(Member.joined_at, Coop.slug)):
                members.setdefault(m.artist_id, []).append({"id": str(c.id), "slug": c.slug, "name": c.name,
                                                            "status": c.status, "role": m.role})
            accounts = dict(s.execute(select(Coop.artist_id, Coop.slug)).all())
        hit = ({a: tuple(v) for a, v in members.items()}, accounts)
        platform.cache.set(_ARTISTS, hit, generation=generation)
    return hit


def coops_of(platform, artist_id: uuid.UUID) -> list[dict[str, Any]]:
    """The co-ops ``artist_id`` is a member of (for their artist page)."""
    return list(_index(platform)[0].get(artist_id, ()))


def on_event(platform, event) -> None:
    """A member released, edited or took down something, renamed themselves, changed a tier or
    (un)scheduled a party: the pages of their co-ops are dropped in every process."""
    if event.artist_id is None or not event.type.startswith(_MEMBER_EVENTS):
        return
    members, accounts = _index(platform)
    slugs = [c["slug"] for c in members.get(event.artist_id, ())]
    if event.artist_id in accounts:  # the co-op's own account (its bundle tiers)
        slugs.append(accounts[event.artist_id])
    if slugs:
        platform.invalidate(*[(*_PAGE, slug) for slug in slugs])


def public_page(platform, session, slug: str) -> dict[str, Any]:
    coop = session.scalar(select(Coop).where(Coop.slug == slug))
    if coop is None:
        raise Problem(404, "coop-not-found", "no such co-op")
    now = platform.clock.now()
    rows = session.execute(select(Member, Artist).join(Artist, Artist.id == Member.artist_id)
                           .where(Member.coop_id == coop.id, Member.status.in_(("active", "leaving")))
                           .order_by(Member.joined_at, Artist.name)).all()
    ids = [m.artist_id for m, _ in rows]
    names = {a.id: a.name for _, a in rows}
    releases = [] if not ids else [
        {"id": str(c.id), "artist_id": str(c.artist_id), "artist_name": names.get(c.artist_id), "kind": c.kind,
         "title": c.title, "published_at": c.publish_at.isoformat()}
        for c in session.scalars(select(ContentItem).where(
            ContentItem.artist_id.in_(ids), ContentItem.status == "ready", ContentItem.visibility == "public",
            ContentItem.publish_at <= now).order_by(ContentItem.publish_at.desc(), ContentItem.id).limit(RELEASES))]
    parties: list[dict[str, Any]] = []
    if ids:
        scheduled = list(session.scalars(select(DomainEvent).where(
            DomainEvent.type == "live.party_scheduled", DomainEvent.artist_id.in_(ids))))
        over = set(session.scalars(select(DomainEvent.subject_id).where(
            DomainEvent.type.in_(("live.party_started", "live.party_ended")), DomainEvent.artist_id.in_(ids))))
        for ev in scheduled:
            starts = _when((ev.data or {}).get("starts_at", ""))
            if starts is None or starts <= now or ev.subject_id in over or (ev.data or {}).get("visibility") != "public":
                continue
            parties.append({"id": ev.subject_id, "artist_id": str(ev.artist_id), "artist_name": names.get(ev.artist_id),
                            "title": (ev.data or {}).get("title"), "starts_at": starts.isoformat()})
        parties.sort(key=lambda p: (p["starts_at"], p["id"]))
    tiers = [{"id": str(t.id), "key": t.key, "name": t.name, "description": t.description, "rank": t.rank,
              "price_amount": t.price_amount, "currency": t.currency}
             for t in session.scalars(select(Tier).where(Tier.artist_id == coop.artist_id, Tier.is_active.is_(True),
                                                         Tier.rank > 0).order_by(Tier.rank))]
    inside = includes(session, [t["id"] for t in tiers])
    tiers = [{**t, "includes": inside.get(t["id"], [])} for t in tiers]
    return {"id": str(coop.id), "slug": coop.slug, "name": coop.name, "description": coop.description,
            "status": coop.status, "artist_id": str(coop.artist_id),
            "members": [{"artist_id": str(m.artist_id), "name": a.name, "role": m.role} for m, a in rows],
            "releases": releases, "parties": parties[:PARTIES], "bundle_tiers": tiers}


def includes(session, tier_ids) -> dict[str, list[dict[str, Any]]]:
    """What each bundle tier includes (member, member's tier)."""
    ids = [uuid.UUID(str(t)) for t in tier_ids]
    out: dict[str, list[dict[str, Any]]] = {str(t): [] for t in ids}
    if not ids:
        return out
    rows = session.execute(select(BundleMember.bundle_tier_id, Artist.id, Artist.name, Tier.name)
                           .join(Artist, Artist.id == BundleMember.artist_id)
                           .join(Tier, Tier.id == BundleMember.included_tier_id)
                           .join(Bundle, Bundle.tier_id == BundleMember.bundle_tier_id)
                           .join(Member, (Member.coop_id == Bundle.coop_id) & (Member.artist_id == BundleMember.artist_id))
                           .where(BundleMember.bundle_tier_id.in_(ids), Member.status.in_(("active", "leaving")))
                           .order_by(Artist.name)).all()
    for tid, aid, aname, tname in rows:
        out[str(tid)].append({"artist_id": str(aid), "artist_name": aname, "tier_name": tname})
    return out
