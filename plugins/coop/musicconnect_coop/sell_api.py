"""REST routes of co-op bundles and payouts, under ``/api/v1/coop`` (docs/coop.md, "Bundles and
payouts"). Fans buy a bundle through the normal checkout of the co-op account's tier."""
from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from musicconnect.web import get_platform, scope

from . import bundles as b
from . import governance as g
from . import ledger
from .api import proposal_out
from .ledger_models import LedgerEntry, LedgerPayment

router = APIRouter()
READERS = ("active", "leaving", "left")


class BundleIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"name": "Night Shift bundle", "price_amount": 1200, "currency": "USD"}]})
    name: str = Field(min_length=1, max_length=120)
    description: str = Field("", max_length=2000)
    price_amount: int = Field(gt=0, le=b.MAX_PRICE)
    yearly_amount: int | None = Field(None, gt=0)
    currency: str = Field("USD", pattern=r"^[A-Za-z]{3}$")


class PickChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    artist_id: uuid.UUID
    tier_id: uuid.UUID | None = Field(description="one of that member's paid tiers, or null for none")


class BundleChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"price_amount": 1500}]})
    name: str | None = Field(None, min_length=1, max_length=120)
    description: str | None = Field(None, max_length=2000)
    price_amount: int | None = Field(None, gt=0, le=b.MAX_PRICE)
    yearly_amount: int | None = Field(None, gt=0)
    on_sale: bool | None = None
    pick: PickChangeIn | None = Field(None, description="a member's pick changed by the vote (once the bundle is "
                                                        "on sale, dropping to none or a cheaper tier goes this way)")


class PickIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"tier_id": str(uuid.UUID(int=1))}]})
    tier_id: uuid.UUID | None = Field(description="one of your own paid tiers, or null for none")


@router.get("/coops/{coop_id}/bundles")
def list_bundles(coop_id: uuid.UUID, actor=Depends(scope("coop:read")), platform=Depends(get_platform)):
    """The co-op's bundles with each member's pick and who still has to pick (members)."""
    with platform.read() as s:
        coop = g.get_coop(s, coop_id)
        g.require_member(s, coop, actor, statuses=("invited",) + READERS)
        return {"bundles": b.bundles_of(s, coop)}


@router.post("/coops/{coop_id}/bundles", status_code=202)
def propose_bundle(coop_id: uuid.UUID, body: BundleIn, actor=Depends(scope("coop:write")),
                   platform=Depends(get_platform)):
    """Propose a new bundle (a ``create_bundle`` proposal: it changes money, the members vote)."""
    with platform.session() as s:
        coop = g.get_coop(s, coop_id)
        p = g.propose(platform, s, actor, coop, "create_bundle", body.model_dump(exclude_none=True))
        return {"proposal": proposal_out(p)}


@router.patch("/coops/{coop_id}/bundles/{tier_id}", status_code=202)
def propose_change(coop_id: uuid.UUID, tier_id: uuid.UUID, body: BundleChangeIn, actor=Depends(scope("coop:write")),
                   platform=Depends(get_platform)):
    """Propose a change of a bundle's price, name or sale (a ``change_bundle`` proposal)."""
    with platform.session() as s:
        coop = g.get_coop(s, coop_id)
        payload: dict[str, Any] = {"tier_id": str(tier_id), **body.model_dump(exclude_unset=True)}
        p = g.propose(platform, s, actor, coop, "change_bundle", payload)
        return {"proposal": proposal_out(p)}


@router.put("/coops/{coop_id}/bundles/{tier_id}/pick")
def pick(coop_id: uuid.UUID, tier_id: uuid.UUID, body: PickIn, actor=Depends(scope("coop:write")),
         platform=Depends(get_platform)):
    """Choose which of your own tiers the bundle includes (or none). The bundle goes on sale
    once every active member has chosen."""
    with platform.session() as s:
        coop = g.get_coop(s, coop_id)
        row = b.pick(platform, s, coop, g.artist_of(actor), tier_id, body.tier_id)
        return {"artist_id": str(row.artist_id), "tier_id": str(row.included_tier_id) if row.included_tier_id else None,
                "bundle": next(x for x in b.bundles_of(s, coop) if x["tier_id"] == str(tier_id))}


@router.get("/coops/{coop_id}/ledger")
def coop_ledger(coop_id: uuid.UUID, actor=Depends(scope("coop:read")), platform=Depends(get_platform)):
    """The co-op's totals and your own lines and balance (members, also after leaving): no fan
    is named, and other members' lines are not shown."""
    with platform.read() as s:
        coop = g.get_coop(s, coop_id)
        me = g.require_member(s, coop, actor, statuses=READERS).artist_id
        totals: dict[str, dict[str, int]] = {}
        for kind, cur, amt in s.execute(select(LedgerEntry.kind, LedgerEntry.currency, LedgerEntry.amount)
                                        .where(LedgerEntry.coop_id == coop.id)).all():
            totals.setdefault(cur, {}).setdefault(kind, 0)
            totals[cur][kind] += int(amt)
        payments = s.execute(select(LedgerPayment.currency, LedgerPayment.amount, LedgerPayment.fee,
                                    LedgerPayment.reversed).where(LedgerPayment.coop_id == coop.id)).all()
        for cur, amount, fee, rev in payments:
            t = totals.setdefault(cur, {})
            t["paid"] = t.get("paid", 0) + int(amount)
            t["reversed"] = t.get("reversed", 0) + int(rev)
        lines = [{"kind": e.kind, "payment_ref": e.payment_ref, "amount": e.amount, "currency": e.currency,
                  "occurred_at": e.occurred_at.isoformat(), "ref": e.ref}
                 for e in s.scalars(select(LedgerEntry).where(LedgerEntry.coop_id == coop.id, LedgerEntry.artist_id == me)
                                    .order_by(LedgerEntry.occurred_at, LedgerEntry.idem_key))]
        return {"coop_id": str(coop.id), "payments": len(payments), "totals": totals,
                "my_balance": ledger.balances(s, coop.id).get(str(me), {}), "my_lines": lines,
                "balanced": not ledger.check_balanced(s, coop.id)}


