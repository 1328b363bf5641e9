"""Artists, their tiers, the fans they comp, and their metrics."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy import func, or_, select

from ..accounts import normalise_email, validate_tier_fields
from ..asyncutil import resolve_sync
from ..contracts import Actor, Metric, MetricWindow
from ..errors import Conflict, Invalid, NotFound, Problem
from ..models import Artist, Entitlement, Tier, User
from ..platform import Platform
from .deps import ensure_artist_owner, get_platform, public, require_scope
from .schemas import (MAX_OFFSET, ArtistOut, ArtistPatch, CompIn, EntitlementOut, MetricsOut, TierIn, TierOut,
                      TierPatch, artist_dict, entitlement_dict, tier_dict)

EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc)  # metric windows end inside this range
LATEST = datetime(9000, 1, 1, tzinfo=timezone.utc)

router = APIRouter(prefix="/artists", tags=["artists"])


def get_artist(s, ref: str) -> Artist:
    try:
        artist = s.get(Artist, uuid.UUID(ref))
    except ValueError:
        artist = s.scalar(select(Artist).where(Artist.slug == ref))
    if artist is None:
        raise NotFound("artist")
    return artist


@router.get("", response_model=list[ArtistOut], dependencies=[Depends(public)])
def list_artists(q: str | None = Query(default=None, max_length=100), limit: int = Query(50, ge=1, le=200),
                 offset: int = Query(0, ge=0, le=MAX_OFFSET), platform: Platform = Depends(get_platform)):
    with platform.session() as s:
        stmt = select(Artist).order_by(Artist.name).limit(limit).offset(offset)
        if q:
            like = f"%{q.lower()}%"
            stmt = stmt.where(or_(func.lower(Artist.name).like(like), Artist.slug.like(like)))
        return [artist_dict(a) for a in s.scalars(stmt)]


@router.get("/{artist_ref}", response_model=ArtistOut, responses={404: {"description": "no such artist"}},
            dependencies=[Depends(public)])
def read_artist(artist_ref: str, platform: Platform = Depends(get_platform)):
    """An artist by id or slug."""
    with platform.session() as s:
        return artist_dict(get_artist(s, artist_ref))


@router.patch("/{artist_id}", response_model=ArtistOut)
def patch_artist(artist_id: uuid.UUID, body: ArtistPatch, actor: Actor = Depends(require_scope("artist:write")),
                 platform: Platform = Depends(get_platform)):
    with platform.session() as s:
        artist = get_artist(s, str(artist_id))
        ensure_artist_owner(actor, artist.id)
        if body.timezone is not None:
            try:
                ZoneInfo(body.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise Invalid(f"unknown time zone {body.timezone!r}; use an IANA name like Europe/Berlin") from None
        changes = body.model_dump(exclude_unset=True, exclude_none=True)
        for k, v in changes.items():
            setattr(artist, k, v.strip() if isinstance(v, str) else v)
        if changes:
            platform.emit(s, "artist.updated", actor_id=actor.user_id, artist_id=artist.id,
                          subject=("artist", artist.id), data={"fields": sorted(changes)})
        out = artist_dict(artist)
        user_id = artist.user_id
    platform.forget_user(user_id)
    return out


# ---------------------------------------------------------------- tiers

@router.get("/{artist_id}/tiers", response_model=list[TierOut], dependencies=[Depends(public)])
def list_tiers(artist_id: uuid.UUID, include_retired: bool = False, platform: Platform = Depends(get_platform)):
    """The artist's tiers by rank (retired ones only with include_retired)."""
    with platform.session() as s:
        get_artist(s, str(artist_id))
        stmt = select(Tier).where(Tier.artist_id == artist_id).order_by(Tier.rank)
        if not include_retired:
            stmt = stmt.where(Tier.is_active.is_(True))
        return [tier_dict(t) for t in s.scalars(stmt)]


def _check_rank_free(s, artist_id, rank, exclude=None) -> None:
    stmt = select(Tier.id).where(Tier.artist_id == artist_id, Tier.rank == rank, Tier.is_active.is_(True))
    if exclude is not None:
        stmt = stmt.where(Tier.id != exclude)
    if s.scalar(stmt) is not None:
        raise Conflict("tier-rank-taken", f"another active tier already has rank {rank}")


def _tier_changed(platform: Platform, s, tier: Tier, actor: Actor, type_: str, fields=()) -> None:
    platform.emit(s, type_, actor_id=actor.user_id, artist_id=tier.artist_id, subject=("tier", tier.id),
                  data={"key": tier.key, "fields": sorted(fields), "price_amount": tier.price_amount,
                        "currency": tier.currency})
    platform.invalidate(("tiers", tier.artist_id))


@router.post("/{artist_id}/tiers", response_model=TierOut, status_code=201)
def create_tier(artist_id: uuid.UUID, body: TierIn, actor: Actor = Depends(require_scope("artist:write")),
                platform: Platform = Depends(get_platform)):
    with platform.session() as s:
        artist = get_artist(s, str(artist_id))
        ensure_artist_owner(actor, artist.id)
        currency = body.currency.upper()
        validate_tier_fields(platform, key=body.key, rank=body.rank, price_amount=body.price_amount,
                             currency=currency, yearly_amount=body.yearly_amount, perks=body.perks)
        if s.scalar(select(Tier.id).where(Tier.artist_id == artist.id, Tier.key == body.key)) is not None:
            raise Conflict("tier-key-taken", f"this artist already has a tier with key {body.key!r}")
        _check_rank_free(s, artist.id, body.rank)
        now = platform.clock.now()
        tier = Tier(id=uuid.uuid4(), artist_id=artist.id, **{**body.model_dump(), "currency": currency},
                    created_at=now, updated_at=now)
        s.add(tier)
        s.flush()
        _tier_changed(platform, s, tier, actor, "tier.created")
        return tier_dict(tier)


def _get_tier(s, artist_id: uuid.UUID, tier_id: uuid.UUID) -> Tier:
    tier = s.get(Tier, tier_id)
    if tier is None or tier.artist_id != artist_id:
        raise NotFound("tier")
    return tier


@router.patch("/{artist_id}/tiers/{tier_id}", response_model=TierOut)
def patch_tier(artist_id: uuid.UUID, tier_id: uuid.UUID, body: TierPatch,
               actor: Actor = Depends(require_scope("artist:write")), platform: Platform = Depends(get_platform)):
    """Edit a tier: name, description, price (existing subscribers keep theirs until they change tier), perks."""
    with platform.session() as s:
        ensure_artist_owner(actor, artist_id)
        tier = _get_tier(s, artist_id, tier_id)
        # an explicit null clears yearly_amount; for every other field null means "unchanged"
        changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None or k == "yearly_amount"}
        if "currency" in changes:
            changes["currency"] = changes["currency"].upper()
        merged = {f: changes.get(f, getattr(tier, f)) for f in ("rank", "price_amount", "currency", "yearly_amount", "perks")}
        validate_tier_fields(platform, key=tier.key, **merged, previous_perks=tuple(tier.perks or {}))
        if merged["rank"] != tier.rank:
            _check_rank_free(s, artist_id, merged["rank"], exclude=tier.id)
        fields = [f for f, v in changes.items() if getattr(tier, f) != v]
        for f in fields:
            setattr(tier, f, changes[f])
        if fields:
            tier.updated_at = platform.clock.now()
            s.flush()
            _tier_changed(platform, s, tier, actor, "tier.updated", fields)
        return tier_dict(tier)


@router.delete("/{artist_id}/tiers/{tier_id}", status_code=204)
def retire_tier(artist_id: uuid.UUID, tier_id: uuid.UUID, actor: Actor = Depends(require_scope("artist:write")),
                platform: Platform = Depends(get_platform)):
    """Retire a tier: nobody can join it any more; current members keep it until their period ends."""
    with platform.session() as s:
        ensure_artist_owner(actor, artist_id)
        tier = _get_tier(s, artist_id, tier_id)
        if tier.rank == 0:
            raise Conflict("free-tier-required", "the free tier cannot be retired")
        if tier.is_active:
            tier.is_active = False
            tier.updated_at = platform.clock.now()
            _tier_changed(platform, s, tier, actor, "tier.retired", ["is_active"])
    return Response(status_code=204)


# ---------------------------------------------------------------- members and comps

@router.get("/{artist_id}/entitlements", response_model=list[EntitlementOut])
def list_members(artist_id: uuid.UUID, effective_only: bool = True, limit: int = Query(100, ge=1, le=500),
                 offset: int = Query(0, ge=0, le=MAX_OFFSET), actor: Actor = Depends(require_scope("analytics:read")),
                 platform: Platform = Depends(get_platform)):
    """The artist's members: who holds which tier, from which source."""
    ensure_artist_owner(actor, artist_id)
    now = platform.clock.now()
    with platform.session() as s:
        stmt = (select(Entitlement, Tier).join(Tier, Tier.id == Entitlement.tier_id)
                .where(Entitlement.artist_id == artist_id).order_by(Entitlement.created_at).limit(limit).offset(offset))
        if effective_only:
            stmt = stmt.where(Entitlement.status.in_(("active", "past_due", "cancelled")), Entitlement.starts_at <= now,
                              or_(Entitlement.expires_at.is_(None), Entitlement.expires_at > now))
        return [entitlement_dict(e, t, now) for e, t in s.execute(stmt)]


@router.post("/{artist_id}/comps", response_model=EntitlementOut, status_code=201)
def comp(artist_id: uuid.UUID, body: CompIn, actor: Actor = Depends(require_scope("artist:write")),
         platform: Platform = Depends(get_platform)):
    """Give a fan a tier for free ("comp"), open-ended or until ``expires_at``. Comping the same fan
    again changes their comp."""
    ensure_artist_owner(actor, artist_id)
    now = platform.clock.now()
    if body.expires_at is not None:
        if body.expires_at.tzinfo is None:
            raise Invalid("expires_at needs a time zone (e.g. 2027-01-01T00:00:00Z)")
        if body.expires_at <= now:
            raise Invalid("expires_at must be in the future")
    # comps look accounts up by email: bounded per artist, and every check that does not need the
    # account comes first, so a refusal never tells whether an email has an account
    state = platform.ratelimiter.hit(platform.settings.comp_limit, "comp", str(artist_id))
    if not state.allowed:
        raise Problem(429, "rate-limited", "too many comps; try again later",
                      headers={"Retry-After": str(state.retry_after)}, retry_after=state.retry_after)
    with platform.session() as s:
        get_artist(s, str(artist_id))
        tier = _get_tier(s, artist_id, body.tier_id)
        if not tier.is_active:
            raise Conflict("tier-retired", "this tier is retired")
        fan = s.scalar(select(User).where(User.email == normalise_email(body.email)))
        if fan is None:
            raise NotFound("user with that email")
        ent = platform.entitlements.grant(s, user_id=fan.id, artist_id=artist_id, tier_id=tier.id, source="comp",
                                          source_ref=f"comp:{artist_id}:{fan.id}", status="active",
                                          expires_at=body.expires_at, actor_id=actor.user_id)
        return entitlement_dict(ent, tier, now)


@router.delete("/{artist_id}/entitlements/{entitlement_id}", status_code=204)
def revoke(artist_id: uuid.UUID, entitlement_id: uuid.UUID, actor: Actor = Depends(require_scope("artist:write")),
           platform: Platform = Depends(get_platform)):
    """End a comp at once (paid entitlements end through their payment provider; admins may end any)."""
    ensure_artist_owner(actor, artist_id)
    with platform.session() as s:
        ent = platform.entitlements.get(s, entitlement_id)
        if ent.artist_id != artist_id:
            raise NotFound("entitlement")
        if ent.source != "comp" and not actor.is_admin:
            raise Problem(409, "managed-by-provider", f"this entitlement is managed by {ent.source}; cancel it there")
        platform.entitlements.revoke(s, ent, actor_id=actor.user_id)
    return Response(status_code=204)


# ---------------------------------------------------------------- metrics

def _metric_index(platform: Platform) -> dict[str, tuple[str, Metric]]:
    out: dict[str, tuple[str, Metric]] = {}
    for plugin, m in platform.plugins.collect("register_metrics", platform=platform):
        if isinstance(m, Metric):
            out.setdefault(m.id, (plugin, m))
    return out


@router.get("/{artist_id}/metrics", response_model=MetricsOut)
def metrics(artist_id: uuid.UUID, metric: list[str] | None = Query(default=None, max_length=50,
                                                               description="only these ids (at most 50)"),
            days: int = Query(30, ge=1, le=3650), end: datetime | None = None,
            actor: Actor = Depends(require_scope("analytics:read")), platform: Platform = Depends(get_platform)):
    """Every metric the enabled plugins contribute, computed for this artist over the window
    ``[end - days, end]``. A metric that fails shows its error instead of failing the page."""
    ensure_artist_owner(actor, artist_id)
    with platform.session() as s:
        get_artist(s, str(artist_id))
    if end is not None and end.tzinfo is None:
        raise Invalid("end needs a time zone")
    if end is not None and not (EARLIEST <= end <= LATEST):
        raise Invalid(f"end must lie between {EARLIEST.date()} and {LATEST.date()}")
    stop = end or platform.clock.now()
    window = MetricWindow(start=stop - timedelta(days=days), end=stop)
    index = _metric_index(platform)
    wanted = list(dict.fromkeys(metric)) if metric else sorted(index)  # each metric once
    unknown = [m for m in wanted if m not in index]
    if unknown:
        raise Problem(404, "unknown-metric", f"no enabled plugin offers {', '.join(unknown)}", available=sorted(index))
    out = []
    for mid in wanted:
        plugin, m = index[mid]
        row = {"id": m.id, "title": m.title, "description": m.description, "unit": m.unit, "plugin": plugin}
        try:
            row["value"] = resolve_sync(m.compute(platform, artist_id, window))
        except Exception as exc:
            import logging

            logging.getLogger("musicconnect.metrics").exception("metric %s of %s failed", mid, plugin)
            row["error"] = f"{type(exc).__name__}: could not compute"
        out.append(row)
    return {"artist_id": artist_id, "start": window.start, "end": window.end, "metrics": out}
