"""Entitlements: what a user holds for an artist. Plugins grant, change and revoke them through
this service (never by writing the table), so that events, hooks and caches stay right."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from .contracts import EntitlementInfo
from .db import on_commit, wrote
from .errors import Invalid, NotFound
from .events import emit
from .models import Entitlement, Tier

if TYPE_CHECKING:
    from .platform import Platform

_UNSET = object()


def _chunks(xs: list, n: int):
    for i in range(0, len(xs), n):
        yield xs[i:i + n]


_ENT_COLUMNS = (Entitlement.id, Entitlement.user_id, Entitlement.artist_id, Entitlement.tier_id, Entitlement.source,
                Entitlement.source_ref, Entitlement.status, Entitlement.starts_at, Entitlement.expires_at)


def info_of(e: Entitlement, rank: int) -> EntitlementInfo:
    return EntitlementInfo(id=e.id, user_id=e.user_id, artist_id=e.artist_id, tier_id=e.tier_id, tier_rank=rank,
                           source=e.source, source_ref=e.source_ref, status=e.status, starts_at=e.starts_at,
                           expires_at=e.expires_at)


class Entitlements:
    def __init__(self, platform: "Platform"):
        self.platform = platform

    # ---------------------------------------------------------------- reads (cached)
    def for_user(self, user_id: uuid.UUID, artist_id: uuid.UUID) -> tuple[EntitlementInfo, ...]:
        """Every entitlement row (effective or not) plus plugins' extra ones; cached, coherent."""
        key = ("ent", user_id, artist_id)
        cache = self.platform.cache
        hit = cache.get(key)
        if hit is not None:
            return hit
        gen = cache.generation()
        with self.platform.db.read() as s:
            rows = s.execute(select(Entitlement, Tier.rank).join(Tier, Tier.id == Entitlement.tier_id)
                             .where(Entitlement.user_id == user_id, Entitlement.artist_id == artist_id)).all()
            stored = tuple(info_of(e, rank) for e, rank in rows)
            cacheable = not wrote(s)
        extra = tuple(v for v in self.platform.plugins.merge(
            "extra_entitlements", platform=self.platform, user_id=user_id, artist_id=artist_id)
            if isinstance(v, EntitlementInfo))
        value = stored + extra
        if cacheable:
            cache.set(key, value, generation=gen)
        return value

    def for_user_many(self, user_id: uuid.UUID, artist_ids) -> dict[uuid.UUID, tuple[EntitlementInfo, ...]]:
        """:meth:`for_user` for many artists at once: cache hits as they are, every miss in one
        query (plus the ``extra_entitlements`` hook per missed artist). For lists of items."""
        cache = self.platform.cache
        out: dict[uuid.UUID, tuple[EntitlementInfo, ...]] = {}
        missing = []
        for artist_id in dict.fromkeys(artist_ids):
            hit = cache.get(("ent", user_id, artist_id))
            if hit is None:
                missing.append(artist_id)
            else:
                out[artist_id] = hit
        if not missing:
            return out
        gen = cache.generation()
        stored: dict[uuid.UUID, list[EntitlementInfo]] = {a: [] for a in missing}
        with self.platform.db.read() as s:
            for chunk in _chunks(missing, 500):
                for e in s.execute(select(*_ENT_COLUMNS, Tier.rank).join(Tier, Tier.id == Entitlement.tier_id)
                                   .where(Entitlement.user_id == user_id, Entitlement.artist_id.in_(chunk))):
                    stored[e.artist_id].append(info_of(e, e.rank))      # plain rows: a hot path
            cacheable = not wrote(s)
        for artist_id in missing:
            extra = tuple(v for v in self.platform.plugins.merge(
                "extra_entitlements", platform=self.platform, user_id=user_id, artist_id=artist_id)
                if isinstance(v, EntitlementInfo))
            value = tuple(stored[artist_id]) + extra
            if cacheable:
                cache.set(("ent", user_id, artist_id), value, generation=gen)
            out[artist_id] = value
        return out

    def for_user_all(self, session: Session, user_id: uuid.UUID) -> list[tuple[Entitlement, Tier]]:
        return list(session.execute(select(Entitlement, Tier).join(Tier, Tier.id == Entitlement.tier_id)
                                    .where(Entitlement.user_id == user_id)
                                    .order_by(Entitlement.created_at)).all())

    # ---------------------------------------------------------------- writes
    def grant(self, session: Session, *, user_id: uuid.UUID, artist_id: uuid.UUID, tier_id: uuid.UUID,
              source: str, source_ref: str, status: str = "active", starts_at: datetime | None = None,
              expires_at: datetime | None = None, actor_id: uuid.UUID | None = None) -> Entitlement:
        """Create (or, for an existing ``(source, source_ref)``, update) an entitlement."""
        tier = session.get(Tier, tier_id)
        if tier is None or tier.artist_id != artist_id:
            raise Invalid("the tier does not belong to this artist")
        existing = session.scalar(select(Entitlement).where(Entitlement.source == source,
                                                            Entitlement.source_ref == source_ref))
        if existing is not None:
            return self.update(session, existing, tier_id=tier_id, status=status, expires_at=expires_at,
                               actor_id=actor_id)
        now = self.platform.clock.now()
        ent = Entitlement(id=uuid.uuid4(), user_id=user_id, artist_id=artist_id, tier_id=tier_id, source=source,
                          source_ref=source_ref, status=status, starts_at=starts_at or now, expires_at=expires_at,
                          created_at=now, updated_at=now)
        _check_status(status)
        session.add(ent)
        session.flush()
        self._changed(session, ent, tier.rank, "granted", actor_id)
        return ent

    def update(self, session: Session, ent: Entitlement, *, tier_id: uuid.UUID | None = None,
               status: str | None = None, expires_at=_UNSET, actor_id: uuid.UUID | None = None) -> Entitlement:
        changes = {}
        if tier_id is not None and tier_id != ent.tier_id:
            tier = session.get(Tier, tier_id)
            if tier is None or tier.artist_id != ent.artist_id:
                raise Invalid("the tier does not belong to this artist")
            changes["tier_id"] = (str(ent.tier_id), str(tier_id))
            ent.tier_id = tier_id
        if status is not None and status != ent.status:
            _check_status(status)
            changes["status"] = (ent.status, status)
            ent.status = status
        if expires_at is not _UNSET and expires_at != ent.expires_at:
            changes["expires_at"] = (_iso(ent.expires_at), _iso(expires_at))
            ent.expires_at = expires_at
        if changes:
            ent.updated_at = self.platform.clock.now()
            session.flush()
            rank = session.get(Tier, ent.tier_id).rank
            self._changed(session, ent, rank, "revoked" if ent.status == "ended" else "updated", actor_id, changes)
        return ent

    def revoke(self, session: Session, ent: Entitlement, *, actor_id: uuid.UUID | None = None) -> Entitlement:
        """End an entitlement now (access is lost at once)."""
        return self.update(session, ent, status="ended", expires_at=min(ent.expires_at or self.platform.clock.now(),
                                                                          self.platform.clock.now()),
                           actor_id=actor_id)

    def get(self, session: Session, entitlement_id: uuid.UUID) -> Entitlement:
        ent = session.get(Entitlement, entitlement_id)
        if ent is None:
            raise NotFound("entitlement")
        return ent

    def _changed(self, session: Session, ent: Entitlement, rank: int, change: str, actor_id, changes=None) -> None:
        info = info_of(ent, rank)
        emit(self.platform, session, f"entitlement.{change}", actor_id=actor_id, artist_id=ent.artist_id,
             subject=("entitlement", ent.id),
             data={"user_id": str(ent.user_id), "tier_id": str(ent.tier_id), "source": ent.source,
                   "status": ent.status, "changes": changes or {}})
        platform = self.platform
        key, user_key = ("ent", ent.user_id, ent.artist_id), ("user", ent.user_id)  # the user's member flag too
        platform.cache.invalidate(key)  # this process, now; everyone after commit
        platform.cache.invalidate(user_key)
        on_commit(session, lambda: platform.invalidate(key, user_key))
        on_commit(session, lambda: platform.plugins.notify("on_entitlement_changed", platform=platform,
                                                           entitlement=info, change=change))


def _check_status(status: str) -> None:
    if status not in ("active", "past_due", "cancelled", "ended"):
        raise Invalid(f"unknown entitlement status {status!r}")


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt else None
