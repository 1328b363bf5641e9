"""Collections and criteria: what an artist configures, and how the plugin decides who earned a
token. Every fact comes from the platform's own records (entitlements, counted plays, domain
events), never from the fan — the lesson of farmed POAP badges.

Kinds (``params``):

* ``tier_months`` — ``{"tier_rank": 2, "months": 3}``: has held a tier of that rank or higher,
  currently effective, for at least ``months`` × 30 days (from the entitlement's ``starts_at``).
* ``top_fan_month`` — ``{"top": 10, "month": "2026-05"}``: among the ``top`` listeners of the
  artist in that calendar month by counted plays (``play.counted`` events, which the moderation
  screen already filtered); without ``month``: the previous month, evaluated by the daily job.
* ``attended_party`` — ``{"party_id": "<uuid>"}`` (or none: any party of the artist): listeners
  recorded by a ``live.party_attended`` / ``live.party_joined`` domain event, or answered by the
  ``attended:<party_id>`` audience (``platform.audience_members``).
* ``first_supporters`` — ``{"limit": 100, "min_rank": 1}``: the first ``limit`` fans who ever
  held a tier of that rank or higher (ordered by the entitlement's ``starts_at``).

**Versions.** Editing a criterion writes a new row (same ``key``, ``version + 1``) and retires
the old one: tokens already minted keep the version they were minted under and are never burned
because the rule changed; a fan holds at most one token per criterion ``key``.

Evaluation runs on domain events for the fan concerned (``on_event``: entitlement changes,
attendance) and for everyone in the hourly ``nft.evaluate`` job.
"""
from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from musicconnect import JobSpec, NotFound, Problem, emit
from musicconnect.models import DomainEvent, Entitlement, Tier

from .models import CRITERION_KINDS, Collection, Criterion

log = logging.getLogger("musicconnect.nft.criteria")

EFFECTIVE = ("active", "past_due", "cancelled")
ATTENDANCE_EVENTS = ("live.party_attended", "live.party_joined")
MONTH = timedelta(days=30)


# ---------------------------------------------------------------- validation

def _invalid(detail: str) -> Problem:
    return Problem(422, "nft-invalid-criterion", detail)


def _int(params: dict, name: str, lo: int, hi: int, default: int | None = None) -> int:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise _invalid(f"{name} must be an integer from {lo} to {hi}")
    return value


def validate(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """The normalised parameters of a criterion, or 422 ``nft-invalid-criterion``."""
    if kind not in CRITERION_KINDS:
        raise _invalid(f"kind must be one of {', '.join(CRITERION_KINDS)}")
    params = dict(params or {})
    if kind == "tier_months":
        out = {"tier_rank": _int(params, "tier_rank", 1, 100), "months": _int(params, "months", 0, 600)}
    elif kind == "top_fan_month":
        out: dict[str, Any] = {"top": _int(params, "top", 1, 100, 10)}
        month = params.get("month")
        if month is not None:
            try:
                datetime.strptime(str(month), "%Y-%m")
            except ValueError:
                raise _invalid("month must look like 2026-05") from None
            out["month"] = str(month)
    elif kind == "attended_party":
        out = {}
        if params.get("party_id") is not None:
            try:
                out["party_id"] = str(uuid.UUID(str(params["party_id"])))
            except ValueError:
                raise _invalid("party_id must be a UUID") from None
    else:  # first_supporters
        out = {"limit": _int(params, "limit", 1, 100_000, 100), "min_rank": _int(params, "min_rank", 1, 100, 1)}
    unknown = set(params) - set(out) - {"month", "party_id"}
    if unknown:
        raise _invalid(f"unknown parameters: {', '.join(sorted(unknown))}")
    return out


# ---------------------------------------------------------------- configuration

def create_collection(platform, session: Session, artist_id: uuid.UUID, *, slug: str, name: str,
                      description: str = "", perks: dict[str, Any] | None = None) -> Collection:
    row_id = uuid.uuid4()
    collection = Collection(id=row_id, artist_id=artist_id, slug=slug, name=name, description=description,
                            chain_id=row_id.int >> 65, perks=dict(perks or {}), active=True,
                            created_at=platform.clock.now())
    try:
        with session.begin_nested():
            session.add(collection)
            session.flush()
    except IntegrityError:
        from musicconnect import Conflict

        raise Conflict("nft-collection-exists", f"this artist already has a collection {slug!r}") from None
    return collection


def add_criterion(platform, session: Session, collection: Collection, *, kind: str, params: dict[str, Any],
                  title: str = "", actor_id: uuid.UUID | None = None) -> Criterion:
    criterion = Criterion(collection_id=collection.id, key=uuid.uuid4(), version=1, kind=kind,
                          params=validate(kind, params), title=title or kind.replace("_", " "), current=True,
                          created_at=platform.clock.now(), created_by=actor_id)
    session.add(criterion)
    session.flush()
    return criterion


def edit_criterion(platform, session: Session, key: uuid.UUID, *, params: dict[str, Any], title: str | None = None,
                   actor_id: uuid.UUID | None = None) -> Criterion:
    """A new version of the criterion ``key``; the old version stays (tokens keep pointing at it)."""
    old = session.scalar(select(Criterion).where(Criterion.key == key, Criterion.current.is_(True))
                         .with_for_update())
    if old is None:
        raise NotFound("criterion")
    old.current = False
    session.flush()
    new = Criterion(collection_id=old.collection_id, key=old.key, version=old.version + 1, kind=old.kind,
                    params=validate(old.kind, params), title=title if title is not None else old.title,
                    current=True, created_at=platform.clock.now(), created_by=actor_id)
    session.add(new)
    session.flush()
    collection = session.get(Collection, old.collection_id)
    emit(platform, session, "nft.criterion_edited", actor_id=actor_id, artist_id=collection.artist_id,
         subject=("nft_criterion", new.id), data={"key": str(key), "version": new.version})
    return new


def retire_criterion(platform, session: Session, key: uuid.UUID) -> None:
    """Stop minting under ``key`` (tokens already minted stay)."""
    for row in session.scalars(select(Criterion).where(Criterion.key == key, Criterion.current.is_(True))):
        row.current = False


# ---------------------------------------------------------------- evaluation

def _month_bounds(month: str | None, now: datetime) -> tuple[datetime, datetime, str]:
    if month is None:
        first_this = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        start = (first_this - timedelta(days=1)).replace(day=1)
    else:
        start = datetime.strptime(month, "%Y-%m").replace(tzinfo=now.tzinfo)
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end, start.strftime("%Y-%m")


def qualifying(platform, session: Session, criterion: Criterion, *,
               user_ids: list[uuid.UUID] | None = None) -> list[tuple[uuid.UUID, dict[str, Any]]]:
    """``(user_id, evidence)`` of every fan (or of ``user_ids``) who meets ``criterion`` now."""
    collection = session.get(Collection, criterion.collection_id)
    artist_id = collection.artist_id
    now = platform.clock.now()
    p = criterion.params or {}
    out: list[tuple[uuid.UUID, dict[str, Any]]] = []
    if criterion.kind == "tier_months":
        cutoff = now - p["months"] * MONTH
        q = (select(Entitlement.user_id, func.min(Entitlement.starts_at), func.max(Tier.rank))
             .join(Tier, Tier.id == Entitlement.tier_id)
             .where(Entitlement.artist_id == artist_id, Tier.rank >= p["tier_rank"],
                    Entitlement.status.in_(EFFECTIVE), Entitlement.starts_at <= cutoff,
                    (Entitlement.expires_at.is_(None)) | (Entitlement.expires_at > now))
             .group_by(Entitlement.user_id))
        if user_ids is not None:
            q = q.where(Entitlement.user_id.in_(user_ids))
        for user_id, since, rank in session.execute(q):
            out.append((user_id, {"kind": "tier_months", "tier_rank": int(rank), "since": since.isoformat(),
                                  "months": p["months"]}))
    elif criterion.kind == "top_fan_month":
        start, end, label = _month_bounds(p.get("month"), now)
        if end > now:  # a month counts once it is over
            return []
        plays = func.count(DomainEvent.id)
        q = (select(DomainEvent.actor_id, plays)
             .where(DomainEvent.type == "play.counted", DomainEvent.artist_id == artist_id,
                    DomainEvent.actor_id.is_not(None), DomainEvent.occurred_at >= start, DomainEvent.occurred_at < end)
             .group_by(DomainEvent.actor_id).order_by(plays.desc(), DomainEvent.actor_id).limit(p["top"]))
        for rank, (user_id, count) in enumerate(session.execute(q), start=1):
            if user_ids is None or user_id in user_ids:
                out.append((user_id, {"kind": "top_fan_month", "month": label, "rank": rank, "plays": int(count)}))
    elif criterion.kind == "attended_party":
        q = select(DomainEvent.actor_id, DomainEvent.subject_id).where(
            DomainEvent.type.in_(ATTENDANCE_EVENTS), DomainEvent.artist_id == artist_id,
            DomainEvent.actor_id.is_not(None))
        if p.get("party_id"):
            q = q.where(DomainEvent.subject_id == p["party_id"])
        if user_ids is not None:
            q = q.where(DomainEvent.actor_id.in_(user_ids))
        seen: dict[uuid.UUID, str | None] = {}
        for user_id, party in session.execute(q):
            seen.setdefault(user_id, party)
        if p.get("party_id"):
            try:
                for user_id in platform.audience_members(artist_id, f"attended:{p['party_id']}") or ():
                    uid = user_id if isinstance(user_id, uuid.UUID) else uuid.UUID(str(user_id))
                    if user_ids is None or uid in user_ids:
                        seen.setdefault(uid, p["party_id"])
            except Exception:  # an audience nobody answers
                log.debug("nft: no attended:%s audience", p["party_id"])
        out = [(u, {"kind": "attended_party", "party_id": party}) for u, party in seen.items()]
    elif criterion.kind == "first_supporters":
        first = func.min(Entitlement.starts_at)
        q = (select(Entitlement.user_id, first).join(Tier, Tier.id == Entitlement.tier_id)
             .where(Entitlement.artist_id == artist_id, Tier.rank >= p["min_rank"])
             .group_by(Entitlement.user_id).order_by(first, Entitlement.user_id).limit(p["limit"]))
        for position, (user_id, since) in enumerate(session.execute(q), start=1):
            if user_ids is None or user_id in user_ids:
                out.append((user_id, {"kind": "first_supporters", "position": position, "since": since.isoformat()}))
    return out


def evaluate(platform, criterion_id: uuid.UUID, *, user_ids: list[uuid.UUID] | None = None) -> int:
    """Queue a token for every fan who now meets the criterion and has none for it; returns how many."""
    from .minting import queue_mint

    queued = 0
    with platform.session() as s:
        criterion = s.get(Criterion, criterion_id)
        if criterion is None or not criterion.current:
            return 0
        for user_id, evidence in qualifying(platform, s, criterion, user_ids=user_ids):
            if queue_mint(platform, s, user_id, criterion, evidence) is not None:
                queued += 1
    return queued


def current_criteria(session: Session, artist_id: uuid.UUID | None = None) -> list[uuid.UUID]:
    q = (select(Criterion.id).join(Collection, Collection.id == Criterion.collection_id)
         .where(Criterion.current.is_(True), Collection.active.is_(True)))
    if artist_id is not None:
        q = q.where(Collection.artist_id == artist_id)
    return list(session.scalars(q))


def evaluate_all(platform, artist_id: uuid.UUID | None = None, user_ids: list[uuid.UUID] | None = None) -> int:
    with platform.session() as s:
        ids = current_criteria(s, artist_id)
    return sum(evaluate(platform, cid, user_ids=user_ids) for cid in ids)


#: domain events after which the fan concerned is evaluated at once
TRIGGERS = ("entitlement.granted", "entitlement.updated", *ATTENDANCE_EVENTS)


def on_event(platform, event) -> None:
    if event.type not in TRIGGERS or event.artist_id is None:
        return
    user_id = event.actor_id
    if event.type.startswith("entitlement.") and (event.data or {}).get("user_id"):
        user_id = uuid.UUID(event.data["user_id"])
    if user_id is None:
        return
    evaluate_all(platform, event.artist_id, [user_id])


def _evaluate_job(ctx, artist_id: str | None = None):
    return {"queued": evaluate_all(ctx.platform, uuid.UUID(artist_id) if artist_id else None)}


JOBS = [JobSpec("evaluate", _evaluate_job, max_retries=2, every_seconds=3600)]
