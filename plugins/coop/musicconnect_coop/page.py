"""The public co-op page: who is in it, what they released, their upcoming listening parties
(from the live plugin's ``live.party_scheduled`` domain events: the plugin is never imported)
and the co-op's bundle tiers."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from musicconnect import Problem
from musicconnect.models import Artist, ContentItem, DomainEvent, Tier

from .models import Coop, Member

RELEASES = 20
PARTIES = 20


def _when(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        return None


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
    from .bundles import includes  # what each bundle includes (G-SELL)

    inside = includes(session, [t["id"] for t in tiers])
    tiers = [{**t, "includes": inside.get(t["id"], [])} for t in tiers]
    return {"id": str(coop.id), "slug": coop.slug, "name": coop.name, "description": coop.description,
            "status": coop.status, "artist_id": str(coop.artist_id),
            "members": [{"artist_id": str(m.artist_id), "name": a.name, "role": m.role} for m, a in rows],
            "releases": releases, "parties": parties[:PARTIES], "bundle_tiers": tiers}
