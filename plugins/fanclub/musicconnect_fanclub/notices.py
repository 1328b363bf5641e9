"""Periodic jobs that turn moments in time into domain events (a notifications plugin reads
them): an early-access window opening for a tier (``fanclub.early_access_opened``) and a fan's
Wrapped of the past month being ready (``fanclub.wrapped_ready``). Each is emitted once: a row
in ``fanclub_notices`` keyed by what it is about is stored in the same transaction as the event,
and the primary key refuses a second one (a rerun, or another process racing)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from musicconnect.models import ContentItem, DomainEvent, Tier, User

from .models import Notice


class _Gone(Exception):
    pass


def _once(platform, key: str, type_: str, *, person=None, **kwargs) -> bool:
    """Emit ``type_`` unless the notice ``key`` was already stored; returns whether it emitted.
    ``person``: the user it is about; nothing is emitted once they are erased (their row is
    read, share-locked, after the insert: an erasure in flight either waits for this or wins)."""
    try:
        with platform.session() as s:
            if s.get(Notice, key) is not None:
                return False
            s.add(Notice(key=key, created_at=platform.clock.now()))
            s.flush()  # a concurrent twin fails here (or at commit): nothing is emitted then
            if person is not None and s.execute(select(User.id).where(User.id == person)
                                                .with_for_update(read=True)).first() is None:
                raise _Gone
            platform.emit(s, type_, **kwargs)
    except (IntegrityError, _Gone):
        return False
    return True


def _hours(tier) -> float | None:
    h = (tier.perks or {}).get("early_access")
    return h if isinstance(h, (int, float)) and not isinstance(h, bool) and h > 0 else None


def early_access_opened(ctx):
    """Items whose early-access window is open now for a tier (``publish_at - hours <= now <
    publish_at``; tier content only for tiers of its rank or above): one event per item and tier."""
    platform = ctx.platform
    now = platform.clock.now()
    with platform.session() as s:
        tiers = [t for t in s.scalars(select(Tier).where(Tier.is_active.is_(True), Tier.rank > 0)) if _hours(t)]
        if not tiers:
            return {"emitted": 0}
        longest = max(_hours(t) for t in tiers)
        items = s.scalars(select(ContentItem).where(
            ContentItem.status == "ready", ContentItem.publish_at > now,
            ContentItem.publish_at <= now + timedelta(hours=longest),
            ContentItem.artist_id.in_({t.artist_id for t in tiers}))).all()
        ranks = {t.id: t.rank for t in s.scalars(select(Tier).where(
            Tier.id.in_({i.required_tier_id for i in items if i.required_tier_id})))} if items else {}
        due = [(i.id, i.artist_id, i.publish_at, t.id, t.rank) for i in items for t in tiers
               if t.artist_id == i.artist_id and i.publish_at - timedelta(hours=_hours(t)) <= now
               and (i.required_tier_id is None or ranks.get(i.required_tier_id, 1 << 30) <= t.rank)]
    emitted = 0
    for item_id, artist_id, publish_at, tier_id, rank in due:
        emitted += _once(platform, f"early:{item_id}:{tier_id}", "fanclub.early_access_opened",
                         artist_id=artist_id, subject=("content", item_id),
                         data={"tier_id": str(tier_id), "tier_rank": rank, "publish_at": publish_at.isoformat()})
    return {"emitted": emitted}


def wrapped_ready(ctx):
    """From the first of a month: each fan with counted plays in the month before hears that
    their Wrapped of it is ready (once per fan and month)."""
    platform = ctx.platform
    now = platform.clock.now()
    end = datetime(now.year, now.month, 1, tzinfo=timezone.utc)
    start = datetime(end.year - (end.month == 1), 12 if end.month == 1 else end.month - 1, 1, tzinfo=timezone.utc)
    month = start.strftime("%Y-%m")
    with platform.session() as s:
        fans = s.scalars(select(DomainEvent.actor_id).where(
            DomainEvent.type == "play.counted", DomainEvent.actor_id.is_not(None),
            DomainEvent.occurred_at >= start, DomainEvent.occurred_at < end).distinct()).all()
    emitted = 0
    for fan_id in fans:
        emitted += _once(platform, f"wrapped:{fan_id}:{month}", "fanclub.wrapped_ready", person=fan_id,
                         subject=("user", fan_id), data={"month": month})
    return {"month": month, "emitted": emitted}
