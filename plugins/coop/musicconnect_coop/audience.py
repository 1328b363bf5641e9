"""The shared audience of a co-op's members (docs/coop.md, "Cross-promotion and shared fans").

A member artist's fans at a moment = the users following them then (the last of their
``fan.followed`` / ``fan.unfollowed`` events up to that moment is a follow) plus the users holding
a paid entitlement then (a core entitlement of a tier with a price, started and not expired, not
ended). No plugin publishes a fan-matching API (the AI plugin's matching is internal; the
``audience_members`` hook answers only the present), so the co-op counts by itself, from those
public tables. A member sees, for every pair of members, how many fans they have in common now and
at the end of each of the last 12 months; every count under 5 (now and each month) is shown as
``"<5"``, and accounts younger than 7 days at the moment counted are not counted. Names are listed
only for fans who opted in for this co-op (``PUT /me/sharing``), and only for the pairs the
member is in: never another artist's fan list."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from itertools import combinations
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict
from sqlalchemy import delete, select

from musicconnect.models import Artist, DomainEvent, Entitlement, Tier, User
from musicconnect.web import get_platform, scope

from . import governance as g
from .promo_models import FanSharing

router = APIRouter()

K = 5
MONTHS = 12
#: an account counts among a member's fans only once it is this old at the moment counted (sock
#: puppets made to difference the counts have to wait, and are seen in every count at once)
MIN_ACCOUNT_AGE = timedelta(days=7)


def shown(n: int) -> int | str:
    return "<5" if n < K else n


def month_ends(now: datetime, months: int = MONTHS) -> list[tuple[str, datetime]]:
    """(``YYYY-MM``, the moment the month's count is taken) for the last ``months`` months, oldest
    first: the start of the next month, and ``now`` for the current one."""
    out = []
    y, m = now.year, now.month
    for _ in range(months):
        ny, nm = (y + 1, 1) if m == 12 else (y, m + 1)
        end = now.replace(year=ny, month=nm, day=1, hour=0, minute=0, second=0, microsecond=0)
        out.append((f"{y:04d}-{m:02d}", min(end, now)))
        y, m = (y - 1, 12) if m == 1 else (y, m - 1)
    return out[::-1]


class Audience:
    """The follow events and paid entitlements of some artists, asked "who at time t"."""

    def __init__(self, session, artists: list[uuid.UUID]):
        self.follows = list(session.execute(
            select(DomainEvent.artist_id, DomainEvent.actor_id, DomainEvent.type, DomainEvent.occurred_at)
            .where(DomainEvent.type.in_(("fan.followed", "fan.unfollowed")), DomainEvent.artist_id.in_(artists),
                   DomainEvent.actor_id.is_not(None))
            .order_by(DomainEvent.occurred_at, DomainEvent.id)).all())
        self.paid = list(session.execute(
            select(Entitlement.artist_id, Entitlement.user_id, Entitlement.status, Entitlement.starts_at,
                   Entitlement.expires_at, Entitlement.updated_at)
            .join(Tier, Tier.id == Entitlement.tier_id)
            .where(Entitlement.artist_id.in_(artists), Tier.price_amount > 0)).all())
        users = {u for _, u, _, _ in self.follows} | {u for _, u, *_ in self.paid}
        self.joined = dict(session.execute(select(User.id, User.created_at).where(User.id.in_(users))).all()) \
            if users else {}

    def _old_enough(self, user: uuid.UUID, t: datetime) -> bool:
        joined = self.joined.get(user)
        return joined is not None and joined <= t - MIN_ACCOUNT_AGE

    def at(self, t: datetime) -> dict[uuid.UUID, set[uuid.UUID]]:
        state: dict[tuple[uuid.UUID, uuid.UUID], bool] = {}
        for artist, user, kind, when in self.follows:
            if when > t:
                break
            state[(artist, user)] = kind == "fan.followed"
        fans: dict[uuid.UUID, set[uuid.UUID]] = {}
        for (artist, user), on in state.items():
            if on and self._old_enough(user, t):
                fans.setdefault(artist, set()).add(user)
        for artist, user, status, starts, expires, updated in self.paid:
            if starts > t or (expires is not None and expires <= t) or (status == "ended" and updated <= t) \
                    or not self._old_enough(user, t):
                continue
            fans.setdefault(artist, set()).add(user)
        return fans


def audience(platform, session, coop_id: uuid.UUID, actor) -> dict[str, Any]:
    coop = g.get_coop(session, coop_id)
    me = g.require_member(session, coop, actor).artist_id
    members = sorted(g.voting_ids(session, coop.id), key=str)
    names = dict(session.execute(select(Artist.id, Artist.name).where(Artist.id.in_(members))).all()) if members else {}
    now = platform.clock.now()
    data = Audience(session, members)
    current = data.at(now)
    history = [(label, data.at(t)) for label, t in month_ends(now)]
    opted = set(session.scalars(select(FanSharing.user_id).where(FanSharing.coop_id == coop.id)))
    pairs = []
    for a, b in combinations(members, 2):
        common = current.get(a, set()) & current.get(b, set())
        pair: dict[str, Any] = {
            "artists": [{"artist_id": str(x), "name": names.get(x)} for x in (a, b)],
            "fans_in_common": shown(len(common)),
            "over_time": [{"month": label, "fans_in_common": shown(len(f.get(a, set()) & f.get(b, set())))}
                          for label, f in history]}
        if me in (a, b):
            listed = sorted(common & opted, key=str)
            pair["shared_fans"] = [{"user_id": str(u), "display_name": n} for u, n in session.execute(
                select(User.id, User.display_name).where(User.id.in_(listed)).order_by(User.display_name, User.id))
            ] if listed else []
        pairs.append(pair)
    return {"coop_id": str(coop.id), "k_anonymity": K, "pairs": pairs}


class SharingIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"coop_id": str(uuid.UUID(int=1)), "share": True}]})
    coop_id: uuid.UUID
    share: bool


@router.get("/coops/{coop_id}/audience")
def audience_route(coop_id: uuid.UUID, actor=Depends(scope("coop:read")), platform=Depends(get_platform)):
    """Fans in common for every pair of members, now and per month over the last 12 months
    (counts under 5 shown as "<5"), with the opted-in shared fans of your own pairs (members only)."""
    with platform.read() as s:
        return audience(platform, s, coop_id, actor)


@router.put("/me/sharing")
def set_sharing(body: SharingIn, actor=Depends(scope("coop:write")), platform=Depends(get_platform)):
    """As a fan: let a co-op's members see you among the fans they share (default: off)."""
    with platform.session() as s:
        coop = g.get_coop(s, body.coop_id)
        if body.share:
            if s.get(FanSharing, (actor.user_id, coop.id)) is None:
                from .promo import _insert_once

                _insert_once(s, FanSharing(user_id=actor.user_id, coop_id=coop.id, created_at=platform.clock.now()))
        else:
            s.execute(delete(FanSharing).where(FanSharing.user_id == actor.user_id, FanSharing.coop_id == coop.id)
                      .execution_options(synchronize_session=False))
        return {"coop_id": str(coop.id), "share": body.share}
