"""Co-op bundles (docs/coop.md, "Bundles and payouts"): one price for a tier of every member.

A bundle is a core ``Tier`` of the co-op's own artist account, so it is bought through the
normal checkout of that account. Creating one or changing its price or sale changes money: it
is a proposal (``create_bundle`` / ``change_bundle``). Each member then picks which of their own
tiers the bundle includes (or "none", explicitly); the tier goes on sale once every active
member has picked. A fan holding the bundle gets each included tier through
``extra_entitlements`` (cached by the core per ``("ent", fan, member)``: invalidated when the
fan's entitlements to the co-op account change and when a bundle or its members change). A
member who leaves is no longer included: access to their content through the bundle ends then.
"""
from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from musicconnect import EntitlementInfo, Problem, emit, on_commit
from musicconnect.models import Entitlement, Tier

from . import page
from .bundle_models import Bundle, BundleMember
from .models import Coop, Member

SOURCE = "coop"
SHARING = ("active", "leaving")  # members whose chosen tier a bundle includes
_NS = uuid.UUID("0f3a8c44-5b1e-4f7a-9d2c-6e1b7a9c3d21")
_ARTISTS_KEY = ("coop", "bundle_artists")
MAX_PRICE = 100_000_00


def _bad(detail: str) -> Problem:
    return Problem(422, "coop-invalid-bundle", detail)


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _money_fields(payload: dict[str, Any], out: dict[str, Any]) -> None:
    if "price_amount" in payload:
        v = payload["price_amount"]
        if not _int(v) or not 0 < v <= MAX_PRICE:
            raise _bad(f"price_amount is a whole number of minor units from 1 to {MAX_PRICE}")
        out["price_amount"] = v
    if "yearly_amount" in payload:
        v = payload["yearly_amount"]
        if v is not None and (not _int(v) or not 0 < v <= 12 * MAX_PRICE):
            raise _bad("yearly_amount is null or a whole number of minor units above 0")
        out["yearly_amount"] = v
    for key, limit in (("name", 120), ("description", 2000)):
        if key in payload:
            v = payload[key]
            if not isinstance(v, str) or len(v.strip()) > limit or (key == "name" and not v.strip()):
                raise _bad(f"{key} is a text of at most {limit} characters")
            out[key] = v.strip()


def get_bundle(session, coop: Coop, tier_id: Any) -> tuple[Bundle, Tier]:
    try:
        tid = uuid.UUID(str(tier_id))
    except ValueError:
        raise Problem(404, "coop-bundle-not-found", "no such bundle in this co-op") from None
    bundle = session.get(Bundle, tid, populate_existing=True)
    if bundle is None or bundle.coop_id != coop.id:
        raise Problem(404, "coop-bundle-not-found", "no such bundle in this co-op")
    return bundle, session.get(Tier, tid, populate_existing=True)


def validate_bundle_payload(session, coop: Coop, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The payload of a ``create_bundle`` (name, price_amount, currency, description?,
    yearly_amount?) or ``change_bundle`` (tier_id and any of price_amount, yearly_amount, name,
    description, on_sale) proposal, validated server-side."""
    out: dict[str, Any] = {}
    if kind == "create_bundle":
        allowed, required = {"name", "description", "price_amount", "yearly_amount", "currency"}, {"name",
                                                                                                  "price_amount"}
    else:
        allowed, required = ({"tier_id", "name", "description", "price_amount", "yearly_amount", "on_sale", "pick"},
                             {"tier_id"})
    if not set(payload) <= allowed or not required <= set(payload):
        raise _bad(f"a {kind} payload has {', '.join(sorted(required))} and may have "
                   f"{', '.join(sorted(allowed - required))}")
    _money_fields(payload, out)
    if kind == "create_bundle":
        currency = payload.get("currency", "USD")
        if not isinstance(currency, str) or not re.fullmatch(r"[A-Za-z]{3}", currency):
            raise _bad("currency is an ISO 4217 code such as USD")
        out["currency"] = currency.upper()
        out.setdefault("description", "")
        return out
    bundle, _tier = get_bundle(session, coop, payload["tier_id"])
    out["tier_id"] = str(bundle.tier_id)
    if "on_sale" in payload:
        if not isinstance(payload["on_sale"], bool):
            raise _bad("on_sale is true or false")
        out["on_sale"] = payload["on_sale"]
    if "pick" in payload:
        out["pick"] = _validate_pick(session, coop, payload["pick"])
    if len(out) == 1:
        raise _bad("a change_bundle changes something")
    return out


def _validate_pick(session, coop: Coop, pick_: Any) -> dict[str, Any]:
    """A change_bundle's ``pick``: ``{"artist_id": <member>, "tier_id": <their tier> | null}``
    (how a member drops to none or a cheaper tier once the bundle is on sale)."""
    if not isinstance(pick_, dict) or set(pick_) != {"artist_id", "tier_id"}:
        raise _bad('pick is {"artist_id": ..., "tier_id": ... or null}')
    try:
        artist_id = uuid.UUID(str(pick_["artist_id"]))
        tier_id = uuid.UUID(str(pick_["tier_id"])) if pick_["tier_id"] is not None else None
    except ValueError:
        raise _bad("pick.artist_id and pick.tier_id are ids") from None
    member = session.get(Member, (coop.id, artist_id))
    if member is None or member.status not in SHARING:
        raise _bad("pick.artist_id is a member of this co-op")
    if tier_id is not None:
        own = session.get(Tier, tier_id)
        if own is None or own.artist_id != artist_id or not own.is_active or own.rank <= 0:
            raise _bad("pick.tier_id is one of that member's active paid tiers, or null")
    return {"artist_id": str(artist_id), "tier_id": str(tier_id) if tier_id else None}


def _set_pick(session, tier_id: uuid.UUID, artist_id: uuid.UUID, included: uuid.UUID | None, now) -> None:
    try:
        with session.begin_nested():
            session.add(BundleMember(bundle_tier_id=tier_id, artist_id=artist_id, included_tier_id=included,
                                     chosen_at=now))
            session.flush()
    except IntegrityError:
        _run(session, update(BundleMember).where(BundleMember.bundle_tier_id == tier_id,
                                                 BundleMember.artist_id == artist_id)
             .values(included_tier_id=included, chosen_at=now))


def _run(session, stmt) -> int:
    return int(session.execute(stmt.execution_options(synchronize_session=False)).rowcount or 0)


def apply_bundle(platform, session, coop: Coop, proposal) -> str:
    """A passed ``create_bundle`` / ``change_bundle``: the tier is created (off sale until every
    member picked) or changed."""
    payload = dict(proposal.payload)
    now = platform.clock.now()
    if proposal.kind == "create_bundle":
        top = session.scalar(select(func.max(Tier.rank)).where(Tier.artist_id == coop.artist_id)) or 0
        tier = Tier(id=uuid.uuid4(), artist_id=coop.artist_id, key=f"bundle-{proposal.id.hex[:12]}",
                    name=payload["name"], description=payload.get("description", ""), rank=top + 1,
                    price_amount=payload["price_amount"], yearly_amount=payload.get("yearly_amount"),
                    currency=payload["currency"], perks={}, is_active=False, created_at=now, updated_at=now)
        session.add(tier)
        session.flush()
        session.add(Bundle(tier_id=tier.id, coop_id=coop.id, status="pending", created_at=now))
        session.flush()
        changed(platform, session, coop, tier.id, "created")
        return f"bundle {tier.id} created"
    tid = uuid.UUID(payload["tier_id"])
    bundle = session.get(Bundle, tid, populate_existing=True)
    if bundle is None:
        return "bundle gone"
    values = {k: payload[k] for k in ("name", "description", "price_amount", "yearly_amount") if k in payload}
    if payload.get("pick"):
        pk = payload["pick"]
        _set_pick(session, tid, uuid.UUID(pk["artist_id"]),
                  uuid.UUID(pk["tier_id"]) if pk["tier_id"] else None, now)
    if values:
        _run(session, update(Tier).where(Tier.id == tid).values(**values, updated_at=now))
    if payload.get("on_sale") is False:
        _run(session, update(Bundle).where(Bundle.tier_id == tid).values(status="retired"))
        _run(session, update(Tier).where(Tier.id == tid).values(is_active=False))
    elif payload.get("on_sale") is True:
        _run(session, update(Bundle).where(Bundle.tier_id == tid, Bundle.status == "retired")
             .values(status="pending"))
        activate_if_complete(platform, session, coop, tid)
    changed(platform, session, coop, tid, "changed")
    return f"bundle {tid} changed"


def missing_picks(session, coop: Coop, tier_id: uuid.UUID) -> list[uuid.UUID]:
    picked = select(BundleMember.artist_id).where(BundleMember.bundle_tier_id == tier_id)
    return list(session.scalars(select(Member.artist_id).where(
        Member.coop_id == coop.id, Member.status == "active", Member.artist_id.notin_(picked))))


def activate_if_complete(platform, session, coop: Coop, tier_id: uuid.UUID) -> bool:
    """``pending`` -> ``active`` (once) when every active member has picked; the tier goes on sale."""
    if coop.status != "active" or missing_picks(session, coop, tier_id):
        return False
    if not _run(session, update(Bundle).where(Bundle.tier_id == tier_id, Bundle.status == "pending")
                .values(status="active")):
        return False
    _run(session, update(Tier).where(Tier.id == tier_id).values(is_active=True, updated_at=platform.clock.now()))
    emit(platform, session, "coop.bundle_on_sale", artist_id=coop.artist_id, subject=("tier", tier_id),
         data={"coop_id": str(coop.id)})
    return True


def pick(platform, session, coop: Coop, artist_id: uuid.UUID, bundle_tier_id: Any,
         included_tier_id: uuid.UUID | None) -> BundleMember:
    """A member includes one of their own paid tiers in the bundle (or none)."""
    member = session.get(Member, (coop.id, artist_id), populate_existing=True)
    if member is None or member.status not in SHARING:
        raise Problem(403, "coop-not-member", "you are not a member of this co-op")
    bundle, _tier = get_bundle(session, coop, bundle_tier_id)
    if bundle.status == "retired":
        raise Problem(409, "coop-bundle-retired", "this bundle is off sale")
    if included_tier_id is not None:
        own = session.get(Tier, included_tier_id)
        if own is None or own.artist_id != artist_id or not own.is_active or own.rank <= 0:
            raise Problem(422, "coop-invalid-pick", "pick one of your own active paid tiers, or none")
    if bundle.status == "active":
        # on sale, fans paid for what is included: a member may only move up (an equal or
        # higher-priced tier of their own); dropping to none or a cheaper tier is a change_bundle
        current = session.scalar(select(BundleMember.included_tier_id).where(
            BundleMember.bundle_tier_id == bundle.tier_id, BundleMember.artist_id == artist_id))
        old = session.get(Tier, current) if current is not None else None
        if included_tier_id is None or old is not None and own.price_amount < old.price_amount:
            raise Problem(409, "coop-pick-needs-proposal",
                          "the bundle is on sale: dropping your pick to none or a cheaper tier goes through a "
                          "change_bundle proposal with a pick")
    now = platform.clock.now()
    _set_pick(session, bundle.tier_id, artist_id, included_tier_id, now)
    activate_if_complete(platform, session, coop, bundle.tier_id)
    changed(platform, session, coop, bundle.tier_id, "picked")
    return session.get(BundleMember, (bundle.tier_id, artist_id), populate_existing=True)


def bundles_of(session, coop: Coop) -> list[dict[str, Any]]:
    rows = session.execute(select(Bundle, Tier).join(Tier, Tier.id == Bundle.tier_id)
                           .where(Bundle.coop_id == coop.id).order_by(Tier.rank)).all()
    out = []
    for b, t in rows:
        picks = session.execute(select(BundleMember, Tier).outerjoin(Tier, Tier.id == BundleMember.included_tier_id)
                                .where(BundleMember.bundle_tier_id == b.tier_id)
                                .order_by(BundleMember.artist_id)).all()
        out.append({"tier_id": str(t.id), "status": b.status, "name": t.name, "description": t.description,
                    "price_amount": t.price_amount, "yearly_amount": t.yearly_amount, "currency": t.currency,
                    "on_sale": bool(t.is_active), "missing": [str(a) for a in missing_picks(session, coop, b.tier_id)],
                    "members": [{"artist_id": str(p.artist_id),
                                 "tier": ({"id": str(it.id), "name": it.name, "rank": it.rank} if it else None)}
                                for p, it in picks]})
    return out


# ---------------------------------------------------------------- entitlements

def _bundle_artists(platform) -> frozenset:
    hit = platform.cache.get(_ARTISTS_KEY)
    if hit is None:
        with platform.read() as s:
            hit = frozenset(s.scalars(select(BundleMember.artist_id).where(
                BundleMember.included_tier_id.is_not(None)).distinct()))
        platform.cache.set(_ARTISTS_KEY, hit)
    return hit


def extra_entitlements(platform, user_id, artist_id):
    """The tier a member includes in a co-op bundle, for a fan holding that bundle: same status
    and validity as the fan's entitlement to the bundle; only while the member is in the co-op."""
    if user_id is None or artist_id is None or artist_id not in _bundle_artists(platform):
        return []
    with platform.read() as s:
        rows = s.execute(
            select(BundleMember.bundle_tier_id, BundleMember.included_tier_id, Tier.rank, Coop.artist_id)
            .join(Bundle, Bundle.tier_id == BundleMember.bundle_tier_id)
            .join(Coop, Coop.id == Bundle.coop_id)
            .join(Member, (Member.coop_id == Coop.id) & (Member.artist_id == BundleMember.artist_id))
            .join(Tier, Tier.id == BundleMember.included_tier_id)
            .where(BundleMember.artist_id == artist_id, Member.status.in_(SHARING),
                   Coop.status != "dissolved", Tier.is_active.is_(True))).all()
    out = []
    for bundle_tier, included, rank, coop_artist in rows:
        for e in platform.entitlements.for_user(user_id, coop_artist):
            if e.tier_id != bundle_tier:
                continue
            out.append(EntitlementInfo(
                id=uuid.uuid5(_NS, f"{e.id}:{artist_id}"), user_id=user_id, artist_id=artist_id, tier_id=included,
                tier_rank=rank, source=SOURCE, source_ref=str(bundle_tier), status=e.status, starts_at=e.starts_at,
                expires_at=e.expires_at))
    return out


def _member_artists(session, coop_id: uuid.UUID) -> list[uuid.UUID]:
    return list(session.scalars(select(BundleMember.artist_id).join(Bundle, Bundle.tier_id == BundleMember.bundle_tier_id)
                                .where(Bundle.coop_id == coop_id).distinct()))


def changed(platform, session, coop: Coop, tier_id: uuid.UUID | None, what: str) -> None:
    """A bundle or the co-op's membership changed: every holder's cached entitlements to the
    members (and the tier list of the co-op account) are dropped after commit."""
    members = set(_member_artists(session, coop.id)) | set(session.scalars(
        select(Member.artist_id).where(Member.coop_id == coop.id)))
    fans = list(session.scalars(select(Entitlement.user_id).where(Entitlement.artist_id == coop.artist_id).distinct()))
    keys = [("ent", f, m) for f in fans for m in members] + [_ARTISTS_KEY, ("tiers", coop.artist_id)]
    for k in keys:
        platform.cache.invalidate(k)
    on_commit(session, lambda: platform.invalidate(*keys))
    page.forget(platform, session, coop)


def on_entitlement_changed(platform, entitlement, change):
    """A fan's entitlement to a co-op account changed: their cached entitlements to its members too."""
    with platform.read() as s:
        coop_id = s.scalar(select(Coop.id).where(Coop.artist_id == entitlement.artist_id))
        if coop_id is None:
            return
        members = _member_artists(s, coop_id)
    keys = [("ent", entitlement.user_id, m) for m in members]
    if keys:
        platform.invalidate(*keys)


def on_event(platform, event):
    if event.type not in ("coop.member_left", "coop.member_joined", "coop.dissolved"):
        return
    with platform.session() as s:
        coop = s.get(Coop, uuid.UUID(str(event.subject_id)))
        if coop is None:
            return
        if event.type == "coop.dissolved":
            _run(s, update(Bundle).where(Bundle.coop_id == coop.id).values(status="retired"))
        changed(platform, s, coop, None, event.type)
