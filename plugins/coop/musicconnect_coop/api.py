"""REST routes of the coop plugin's governance, under ``/api/v1/coop`` (docs/coop.md)."""
from __future__ import annotations

import uuid
from typing import Any, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from musicconnect.models import Artist
from musicconnect.web import get_platform, scope

from . import governance as g
from .models import Coop, Member, Proposal, Vote
from .page import cached_page, coops_of

router = APIRouter()


class RulesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    quorum: Literal["majority", "two_thirds", "unanimous"] = "majority"
    notice_days: int = Field(30, ge=0, le=90)
    vote_days: int = Field(7, ge=1, le=30)


class CoopIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "name": "Night Shift Collective", "description": "Three producers, one bundle",
        "rules": {"quorum": "majority", "notice_days": 30, "vote_days": 7}}]})
    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=5000)
    rules: RulesIn | None = None


class InviteIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"artist_id": str(uuid.UUID(int=1))}]})
    artist_id: uuid.UUID
    #: under a fixed split: the new fixed split, every member and the invitee (takes effect when they accept)
    split: dict[str, Any] | None = None


class ProposalIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"kind": "change_rules", "payload": {"rules": {"quorum": "two_thirds", "notice_days": 14, "vote_days": 5}}}]})
    kind: Literal["add_member", "remove_member", "change_rules", "change_split", "dissolve", "create_bundle",
                  "change_bundle"]
    payload: dict[str, Any] = Field(default_factory=dict)


class VoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"choice": "yes"}]})
    choice: Literal["yes", "no"]


def _iso(v):
    return v.isoformat() if v is not None else None


def coop_out(c: Coop) -> dict[str, Any]:
    return {"id": str(c.id), "slug": c.slug, "name": c.name, "description": c.description, "status": c.status,
            "artist_id": str(c.artist_id), "rules": c.rules, "created_at": _iso(c.created_at),
            "dissolve_effective_at": _iso(c.dissolve_effective_at), "dissolved_at": _iso(c.dissolved_at)}


def member_out(m: Member, name: str | None = None) -> dict[str, Any]:
    return {"artist_id": str(m.artist_id), "name": name, "role": m.role, "status": m.status,
            "invited_by": str(m.invited_by) if m.invited_by else None, "invited_at": _iso(m.invited_at),
            "joined_at": _iso(m.joined_at), "leave_requested_at": _iso(m.leave_requested_at),
            "leave_effective_at": _iso(m.leave_effective_at), "left_at": _iso(m.left_at)}


def proposal_out(p: Proposal, my_vote: str | None = None) -> dict[str, Any]:
    return {"id": str(p.id), "coop_id": str(p.coop_id), "kind": p.kind, "payload": p.payload, "status": p.status,
            "created_by": str(p.created_by) if p.created_by else None, "created_at": _iso(p.created_at),
            "closes_at": _iso(p.closes_at), "decided_at": _iso(p.decided_at), "electorate": p.electorate,
            "quorum": p.quorum, "needed": g.needed(p.quorum, p.electorate), "yes": p.yes_count, "no": p.no_count,
            "my_vote": my_vote}


def _my_vote(s, p: Proposal, actor) -> str | None:
    if actor is None or actor.artist_id is None:
        return None
    return s.scalar(select(Vote.choice).where(Vote.proposal_id == p.id, Vote.artist_id == actor.artist_id))


@router.post("/coops", status_code=201)
def create_coop(body: CoopIn, actor=Depends(scope("coop:write")), platform=Depends(get_platform)):
    """Found a co-op: you are its first admin; it gets its own artist account for bundle tiers."""
    with platform.session() as s:
        coop = g.create_coop(platform, s, actor, name=body.name, description=body.description,
                             rules=body.rules.model_dump() if body.rules else None)
        return coop_out(coop)


@router.get("/coops")
def my_coops(actor=Depends(scope("coop:read")), platform=Depends(get_platform)):
    """The co-ops you are in, were invited to or left (with your membership)."""
    with platform.read() as s:
        if actor.artist_id is None:
            return {"coops": []}
        rows = s.execute(select(Coop, Member).join(Member, Member.coop_id == Coop.id)
                         .where(Member.artist_id == actor.artist_id).order_by(Coop.created_at)).all()
        return {"coops": [{**coop_out(c), "membership": member_out(m)} for c, m in rows]}


@router.get("/coops/{slug}")
def coop_page(slug: str, actor=Depends(scope("coop:read", optional=True)), platform=Depends(get_platform)):
    """The public page of a co-op: active members, shared releases, upcoming parties, bundle tiers."""
    return cached_page(platform, slug)


@router.get("/artists/{artist_id}/coops")
def artist_coops(artist_id: uuid.UUID, actor=Depends(scope("coop:read", optional=True)),
                 platform=Depends(get_platform)):
    """The co-ops an artist is a member of (public, for their artist page): id, slug, name,
    status and the artist's role. Cached; an unknown artist has none."""
    return {"coops": coops_of(platform, artist_id)}


@router.get("/coops/{coop_id}/members")
def members(coop_id: uuid.UUID, actor=Depends(scope("coop:read")), platform=Depends(get_platform)):
    """Every membership (invited, active, leaving, left, declined): members of the co-op only."""
    with platform.read() as s:
        coop = g.get_coop(s, coop_id)
        g.require_member(s, coop, actor, statuses=("invited", "active", "leaving", "left"))
        rows = s.execute(select(Member, Artist.name).join(Artist, Artist.id == Member.artist_id)
                         .where(Member.coop_id == coop.id).order_by(Member.invited_at)).all()
        return {"coop": coop_out(coop), "members": [member_out(m, n) for m, n in rows]}


@router.post("/coops/{coop_id}/invitations", status_code=201)
def invite(coop_id: uuid.UUID, body: InviteIn, actor=Depends(scope("coop:write")), platform=Depends(get_platform)):
    """Invite an artist (admins). While the founder is alone the invitation is sent (201); after
    that adding a member changes the money, so an ``add_member`` proposal is opened (202)."""
    with platform.session() as s:
        coop = g.get_coop(s, coop_id)
        what, row = g.invite(platform, s, actor, coop, body.artist_id, body.split)
        if what == "invitation":
            return {"invitation": member_out(row)}
        return JSONResponse({"proposal": proposal_out(row)}, status_code=202)


@router.post("/coops/{coop_id}/invitation/{answer}")
def respond(coop_id: uuid.UUID, answer: Literal["accept", "decline"], actor=Depends(scope("coop:write")),
            platform=Depends(get_platform)):
    """Accept or decline your invitation."""
    with platform.session() as s:
        coop = g.get_coop(s, coop_id)
        return {"membership": member_out(g.respond(platform, s, actor, coop, answer == "accept"))}


@router.post("/coops/{coop_id}/leave")
def leave(coop_id: uuid.UUID, actor=Depends(scope("coop:write")), platform=Depends(get_platform)):
    """Give notice: you are ``leaving`` for the co-op's notice period, then ``left``."""
    with platform.session() as s:
        coop = g.get_coop(s, coop_id)
        return {"membership": member_out(g.leave(platform, s, actor, coop))}


@router.post("/coops/{coop_id}/proposals", status_code=201)
def propose(coop_id: uuid.UUID, body: ProposalIn, actor=Depends(scope("coop:write")),
            platform=Depends(get_platform)):
    """Put a decision to the vote (active members)."""
    with platform.session() as s:
        coop = g.get_coop(s, coop_id)
        return proposal_out(g.propose(platform, s, actor, coop, body.kind, body.payload))


@router.get("/coops/{coop_id}/proposals")
def proposals(coop_id: uuid.UUID, status: Literal["open", "passed", "rejected", "expired"] | None = None,
              actor=Depends(scope("coop:read")), platform=Depends(get_platform)):
    with platform.read() as s:
        coop = g.get_coop(s, coop_id)
        g.require_member(s, coop, actor, statuses=("invited", "active", "leaving", "left"))
        q = select(Proposal).where(Proposal.coop_id == coop.id)
        if status:
            q = q.where(Proposal.status == status)
        return {"proposals": [proposal_out(p, _my_vote(s, p, actor))
                              for p in s.scalars(q.order_by(Proposal.created_at.desc(), Proposal.id))]}


@router.get("/coops/{coop_id}/proposals/{proposal_id}")
def proposal(coop_id: uuid.UUID, proposal_id: uuid.UUID, actor=Depends(scope("coop:read")),
             platform=Depends(get_platform)):
    """A proposal with its recorded votes."""
    with platform.read() as s:
        coop = g.get_coop(s, coop_id)
        g.require_member(s, coop, actor, statuses=("invited", "active", "leaving", "left"))
        p = g.get_proposal(s, coop, proposal_id)
        votes = [{"artist_id": str(v.artist_id), "choice": v.choice, "at": _iso(v.at)}
                 for v in s.scalars(select(Vote).where(Vote.proposal_id == p.id).order_by(Vote.at, Vote.artist_id))]
        return {**proposal_out(p, _my_vote(s, p, actor)), "votes": votes}


@router.post("/coops/{coop_id}/proposals/{proposal_id}/votes")
def vote(coop_id: uuid.UUID, proposal_id: uuid.UUID, body: VoteIn, actor=Depends(scope("coop:write")),
         platform=Depends(get_platform)):
    """Vote yes or no, once; the proposal is decided as soon as the outcome is certain."""
    with platform.session() as s:
        coop = g.get_coop(s, coop_id)
        return proposal_out(g.vote(platform, s, actor, coop, proposal_id, body.choice), body.choice)


@router.get("/coops/{coop_id}/rules")
def rules(coop_id: uuid.UUID, actor=Depends(scope("coop:read")), platform=Depends(get_platform)):
    """Every version of the co-op's rules and split rule (a split applies to invoices paid after
    it passed)."""
    with platform.read() as s:
        coop = g.get_coop(s, coop_id)
        g.require_member(s, coop, actor, statuses=("invited", "active", "leaving", "left"))

        def out(kind):
            return [{"version": v.version, "body": v.body, "effective_at": _iso(v.effective_at),
                     "proposal_id": str(v.proposal_id) if v.proposal_id else None} for v in g.versions(s, coop.id, kind)]
        return {"rules": out("rules"), "split": out("split")}
