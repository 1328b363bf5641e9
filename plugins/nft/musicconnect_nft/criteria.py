"""Collections and criteria: what an artist configures, and how the plugin decides who earned a
token. Every fact comes from the platform's own records (entitlements, counted plays, domain
events), never from the fan — the lesson of farmed POAP badges.

Kinds (``params``):

* ``tier_months`` — ``{"tier_rank": 2, "months": 3}`` (or ``"tier_key": "superfan"``): has held a
  tier of that rank or higher,
  currently effective, for at least ``months`` × 30 days (from the entitlement's ``starts_at``).
* ``top_fan_month`` — ``{"top": 10, "month": "2026-05"}``: among the ``top`` listeners of the
  artist in that calendar month by counted plays (``play.counted`` events, which the moderation
  screen already filtered); without ``month``: a rolling rule — every month that is over, one
  token per month (the token's ``period``), evaluated by the hourly job.
* ``attended_party`` — ``{"party_id": "<uuid>"}`` (or none: any party of the artist): listeners
  recorded by a ``live.party_attended`` domain event (the live plugin emits it when the party
  ends, for who stayed 5 minutes), or answered by the ``attended:<party_id>`` audience
  (``platform.audience_members``).
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
from typing import Any, Literal

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from musicconnect import JobSpec, NotFound, Problem, emit
from musicconnect.models import DomainEvent, Entitlement, Tier
from musicconnect.web import ensure_artist_owner, get_platform, scope

from .models import CRITERION_KINDS, Collection, Criterion

log = logging.getLogger("musicconnect.nft.criteria")

EFFECTIVE = ("active", "past_due", "cancelled")
#: a listener who stayed (the live plugin decides: 5 minutes, at the party's end); a mere join is farmable
ATTENDANCE_EVENTS = ("live.party_attended",)
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
        out = {"months": _int(params, "months", 0, 600)}
        if "tier_key" in params and "tier_rank" not in params:
            key = params["tier_key"]
            if not isinstance(key, str) or not 1 <= len(key) <= 64:
                raise _invalid("tier_key must be a tier's key, e.g. superfan")
            out["tier_key"] = key
        else:
            out["tier_rank"] = _int(params, "tier_rank", 1, 100)
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
    unknown = set(params) - set(out) - {"month", "party_id", "tier_key", "tier_rank"}
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
        rank = p.get("tier_rank")
        if rank is None:  # named by key: that tier's rank (a tier the artist deleted matches nobody)
            rank = session.scalar(select(Tier.rank).where(Tier.artist_id == artist_id, Tier.key == p.get("tier_key")))
            if rank is None:
                return []
        q = (select(Entitlement.user_id, func.min(Entitlement.starts_at), func.max(Tier.rank))
             .join(Tier, Tier.id == Entitlement.tier_id)
             .where(Entitlement.artist_id == artist_id, Tier.rank >= rank,
                    Entitlement.status.in_(EFFECTIVE), Entitlement.starts_at <= cutoff,
                    (Entitlement.expires_at.is_(None)) | (Entitlement.expires_at > now))
             .group_by(Entitlement.user_id))
        if user_ids is not None:
            q = q.where(Entitlement.user_id.in_(user_ids))
        for user_id, since, held in session.execute(q):
            out.append((user_id, {"kind": "tier_months", "tier_rank": int(held), "since": since.isoformat(),
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


def current_criteria(session: Session, artist_id: uuid.UUID | None = None,
                     kinds: list[str] | None = None) -> list[uuid.UUID]:
    q = (select(Criterion.id).join(Collection, Collection.id == Criterion.collection_id)
         .where(Criterion.current.is_(True), Collection.active.is_(True)))
    if artist_id is not None:
        q = q.where(Collection.artist_id == artist_id)
    if kinds:
        q = q.where(Criterion.kind.in_(kinds))
    return list(session.scalars(q))


def evaluate_all(platform, artist_id: uuid.UUID | None = None, user_ids: list[uuid.UUID] | None = None,
                 kinds: list[str] | None = None) -> int:
    with platform.session() as s:
        ids = current_criteria(s, artist_id, kinds)
    return sum(evaluate(platform, cid, user_ids=user_ids) for cid in ids)


#: domain events after which the fan concerned is evaluated at once
TRIGGERS = ("entitlement.granted", "entitlement.updated")


def on_event(platform, event) -> None:
    if event.type == "live.party_ended" and event.artist_id is not None:
        # its listeners' live.party_attended events were written with it: one job evaluates the
        # artist's attendance rules for all of them (not one inline evaluation per listener)
        platform.jobs.enqueue("nft.evaluate", artist_id=str(event.artist_id), kinds=["attended_party"])
        return
    if event.type not in TRIGGERS or event.artist_id is None:
        return
    user_id = event.actor_id
    if event.type.startswith("entitlement.") and (event.data or {}).get("user_id"):
        user_id = uuid.UUID(event.data["user_id"])
    if user_id is None:
        return
    evaluate_all(platform, event.artist_id, [user_id])


def _evaluate_job(ctx, artist_id: str | None = None, kinds: list[str] | None = None):
    kinds = [k for k in (kinds or []) if k in CRITERION_KINDS] or None
    return {"queued": evaluate_all(ctx.platform, uuid.UUID(artist_id) if artist_id else None, kinds=kinds)}


JOBS = [JobSpec("evaluate", _evaluate_job, max_retries=2, every_seconds=3600)]


# ---------------------------------------------------------------- routes (artists configure; admins revoke)
#
# | route | scope | what |
# |---|---|---|
# | GET  /artists/{artist_id}/collections | nft:read (optional) | the artist's collections and current criteria (the artist also sees versions) |
# | POST /artists/{artist_id}/collections | nft:write (the artist) | a new collection |
# | POST /collections/{collection_id}/criteria | nft:write (the artist) | a new criterion (version 1) |
# | PUT  /criteria/{key} | nft:write (the artist) | edit: a new version, nothing minted is taken back |
# | DELETE /criteria/{key} | nft:write (the artist) | retire: no more mints under it |
# | POST /collections/{collection_id}/evaluate | nft:write (the artist) | evaluate now (a job) |
# | GET  /collections/{collection_id}/tokens | nft:write (the artist) | issued tokens: status, tx hash, revert reason |
# | POST /admin/tokens/{token_id}/revoke | admin | burn a token for fraud |

router = APIRouter()

KIND = Literal["tier_months", "top_fan_month", "attended_party", "first_supporters"]


class PerksIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    backstage_days: int | None = Field(default=None, ge=1, le=366, description="days of backstage access from the token's date")
    backstage_tier: str | None = Field(default=None, min_length=1, max_length=64, description="the tier key holders are let in as")
    discount_percent: int | None = Field(default=None, ge=1, le=100, description="a discount code for holders")


class CollectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"slug": "superfans", "name": "Superfans 2026", "description": "For the ones who stayed.",
         "perks": {"backstage_days": 30, "discount_percent": 10}}]})
    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    name: str = Field(min_length=1, max_length=120)
    description: str = Field(default="", max_length=2000)
    perks: PerksIn = Field(default_factory=PerksIn)


class CriterionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"kind": "tier_months", "params": {"tier_key": "superfan", "months": 3}, "title": "Superfan for 3 months"},
        {"kind": "first_supporters", "params": {"limit": 100}, "title": "One of the first 100"},
        {"kind": "top_fan_month", "params": {"top": 10}, "title": "Top-10 fan of the month"}]})
    kind: KIND
    params: dict[str, int | str] = Field(default_factory=dict, max_length=8)
    title: str = Field(default="", max_length=160)


class CriterionEdit(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"params": {"tier_key": "superfan", "months": 6}, "title": "Superfan for 6 months"}]})
    params: dict[str, int | str] = Field(max_length=8)
    title: str | None = Field(default=None, max_length=160)


class CriterionOut(BaseModel):
    id: uuid.UUID
    key: uuid.UUID
    version: int
    current: bool
    kind: str
    params: dict[str, Any]
    title: str
    created_at: datetime


class CollectionOut(BaseModel):
    id: uuid.UUID
    artist_id: uuid.UUID
    slug: str
    name: str
    description: str
    chain_collection: int = Field(description="the collection's number in the contract (collectionOf)")
    perks: dict[str, Any]
    criteria: list[CriterionOut]


class TokenRow(BaseModel):
    token_id: str
    status: str
    criterion_key: uuid.UUID
    criterion_version: int
    owner_address: str
    tx_hash: str | None
    block_number: int | None
    revert_reason: str | None
    last_error: str
    burn_reason: str | None
    created_at: datetime


class Accepted(BaseModel):
    job_id: uuid.UUID | None = None
    status: str


def _criterion_out(c: Criterion) -> CriterionOut:
    return CriterionOut(id=c.id, key=c.key, version=c.version, current=c.current, kind=c.kind, params=c.params or {},
                        title=c.title, created_at=c.created_at)


def _collection_out(s: Session, coll: Collection, *, all_versions: bool) -> CollectionOut:
    q = select(Criterion).where(Criterion.collection_id == coll.id)
    if not all_versions:
        q = q.where(Criterion.current.is_(True))
    rows = s.scalars(q.order_by(Criterion.created_at, Criterion.version))
    return CollectionOut(id=coll.id, artist_id=coll.artist_id, slug=coll.slug, name=coll.name,
                         description=coll.description, chain_collection=coll.chain_id, perks=coll.perks or {},
                         criteria=[_criterion_out(c) for c in rows])


def _owned_collection(s: Session, actor, collection_id: uuid.UUID) -> Collection:
    coll = s.get(Collection, collection_id)
    if coll is None:
        raise NotFound("collection")
    ensure_artist_owner(actor, coll.artist_id)
    return coll


@router.get("/artists/{artist_id}/collections", response_model=list[CollectionOut])
def list_collections(artist_id: uuid.UUID, actor=Depends(scope("nft:read", optional=True)),
                     platform=Depends(get_platform)):
    """The artist's collections with their criteria (the artist and admins also see retired
    collections and every version of each criterion)."""
    manager = actor is not None and (actor.is_admin or actor.artist_id == artist_id)
    with platform.read() as s:
        q = select(Collection).where(Collection.artist_id == artist_id)
        if not manager:
            q = q.where(Collection.active.is_(True))
        return [_collection_out(s, c, all_versions=manager) for c in s.scalars(q.order_by(Collection.created_at))]


@router.post("/artists/{artist_id}/collections", response_model=CollectionOut, status_code=201,
             responses={409: {"description": "nft-collection-exists"}})
def post_collection(artist_id: uuid.UUID, body: CollectionIn, actor=Depends(scope("nft:write")),
                    platform=Depends(get_platform)):
    ensure_artist_owner(actor, artist_id)
    with platform.session() as s:
        coll = create_collection(platform, s, artist_id, slug=body.slug, name=body.name, description=body.description,
                                 perks=body.perks.model_dump(exclude_none=True))
        return _collection_out(s, coll, all_versions=True)


@router.post("/collections/{collection_id}/criteria", response_model=CriterionOut, status_code=201)
def post_criterion(collection_id: uuid.UUID, body: CriterionIn, actor=Depends(scope("nft:write")),
                   platform=Depends(get_platform)):
    """A criterion (version 1); fans who meet it get a token at the next evaluation."""
    with platform.session() as s:
        coll = _owned_collection(s, actor, collection_id)
        crit = add_criterion(platform, s, coll, kind=body.kind, params=dict(body.params), title=body.title,
                             actor_id=actor.user_id)
        platform.jobs.enqueue("nft.evaluate", session=s, owner_id=actor.user_id, artist_id=str(coll.artist_id))
        return _criterion_out(crit)


def _current(s: Session, actor, key: uuid.UUID) -> Criterion:
    crit = s.scalar(select(Criterion).where(Criterion.key == key, Criterion.current.is_(True)))
    if crit is None:
        raise NotFound("criterion")
    _owned_collection(s, actor, crit.collection_id)
    return crit


@router.put("/criteria/{key}", response_model=CriterionOut)
def put_criterion(key: uuid.UUID, body: CriterionEdit, actor=Depends(scope("nft:write")),
                  platform=Depends(get_platform)):
    """Edit a criterion: a new version; tokens minted under earlier versions stay."""
    with platform.session() as s:
        crit = _current(s, actor, key)
        new = edit_criterion(platform, s, crit.key, params=dict(body.params), title=body.title, actor_id=actor.user_id)
        coll = s.get(Collection, new.collection_id)
        platform.jobs.enqueue("nft.evaluate", session=s, owner_id=actor.user_id, artist_id=str(coll.artist_id))
        return _criterion_out(new)


@router.delete("/criteria/{key}", status_code=204)
def delete_criterion(key: uuid.UUID, actor=Depends(scope("nft:write")), platform=Depends(get_platform)):
    """Retire a criterion: no more tokens under it; nothing minted is taken back."""
    with platform.session() as s:
        crit = _current(s, actor, key)
        retire_criterion(platform, s, crit.key)


@router.post("/collections/{collection_id}/evaluate", response_model=Accepted, status_code=202)
def post_evaluate(collection_id: uuid.UUID, actor=Depends(scope("nft:write")), platform=Depends(get_platform)):
    """Evaluate the artist's criteria now (in a job) instead of at the next hourly run."""
    with platform.session() as s:
        coll = _owned_collection(s, actor, collection_id)
        job = platform.jobs.enqueue("nft.evaluate", session=s, owner_id=actor.user_id, artist_id=str(coll.artist_id))
    return Accepted(job_id=job, status="queued")


@router.get("/collections/{collection_id}/tokens", response_model=list[TokenRow])
def collection_tokens(collection_id: uuid.UUID, status: Literal["queued", "sent", "confirmed", "failed", "burned"] | None = None,
                      actor=Depends(scope("nft:write")), platform=Depends(get_platform)):
    """Tokens issued in the collection (the artist's view: no fan names), newest first, at most 500."""
    from .models import Token

    with platform.read() as s:
        _owned_collection(s, actor, collection_id)
        q = select(Token).where(Token.collection_id == collection_id)
        if status is not None:
            q = q.where(Token.status == status)
        rows = s.scalars(q.order_by(Token.created_at.desc()).limit(500))
        return [TokenRow(token_id=t.token_id, status=t.status, criterion_key=t.criterion_key,
                         criterion_version=t.criterion_version, owner_address=t.owner_address, tx_hash=t.tx_hash,
                         block_number=t.block_number, revert_reason=t.revert_reason, last_error=t.last_error,
                         burn_reason=t.burn_reason, created_at=t.created_at) for t in rows]


class RevokeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"note": "farmed plays (case 123)"}]})
    note: str = Field(default="", max_length=500)


@router.post("/admin/tokens/{token_id}/revoke", response_model=Accepted, status_code=202)
def revoke_token(body: RevokeIn, token_id: str = Path(pattern=r"^[0-9]{1,78}$"), actor=Depends(scope("admin")),
                 platform=Depends(get_platform)):
    """Burn a token for fraud (admins): the platform burns it as minter; the row keeps the reason."""
    from .minting import request_burn
    from .models import Token

    with platform.session() as s:
        tok = s.scalar(select(Token).where(Token.token_id == token_id))
        if tok is None:
            raise NotFound("token")
        request_burn(platform, s, tok, "fraud")
        emit(platform, s, "nft.revoked", actor_id=actor.user_id, artist_id=tok.artist_id,
             subject=("nft_token", tok.id), data={"token_id": token_id, "note": body.note})
        return Accepted(status=tok.status)
