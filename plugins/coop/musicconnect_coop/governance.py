"""Co-ops, members, invitations, proposals and votes (docs/coop.md, "Co-ops, members and decisions").

Every state change is a conditional UPDATE on the state it leaves (``status='open'``,
``status='invited'``...), so two workers, two clicks or two last votes change it once. A vote first
moves the proposal's counters under the row's lock (an UPDATE), then records the ballot (unique
per proposal and artist), then decides when the outcome is certain; the decision's effect runs in
the same transaction only for the UPDATE that moved the proposal out of ``open``."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from musicconnect import Problem, emit
from musicconnect.models import Artist, Tier

from . import page
from .accounts import create_account, slugify
from .models import Coop, Member, Proposal, RuleVersion, Vote

QUORUMS = ("majority", "two_thirds", "unanimous")
KINDS = ("add_member", "remove_member", "change_rules", "change_split", "dissolve", "create_bundle",
         "change_bundle")
DEFAULT_RULES = {"quorum": "majority", "notice_days": 30, "vote_days": 7}
#: the split rule of a new co-op: by each fan's listening, no minimum (adapts to any membership)
DEFAULT_SPLIT = {"kind": "fan_centric", "min_share_bp": 0}
VOTING = ("active", "leaving")  # members who vote (and share)


# ---------------------------------------------------------------- rules and quorum

def validate_rules(rules: Any) -> dict[str, Any]:
    if not isinstance(rules, dict) or set(rules) != {"quorum", "notice_days", "vote_days"}:
        raise Problem(422, "coop-invalid-rules", "rules are {\"quorum\", \"notice_days\", \"vote_days\"}")
    if rules["quorum"] not in QUORUMS:
        raise Problem(422, "coop-invalid-rules", f"quorum is one of {', '.join(QUORUMS)}")
    for key, lo, hi in (("notice_days", 0, 90), ("vote_days", 1, 30)):
        v = rules[key]
        if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
            raise Problem(422, "coop-invalid-rules", f"{key} is a whole number of days from {lo} to {hi}")
    return {"quorum": rules["quorum"], "notice_days": rules["notice_days"], "vote_days": rules["vote_days"]}


def needed(quorum: str, electorate: int) -> int:
    """Yes votes a proposal needs: more than half, at least two thirds, or everyone."""
    if quorum == "majority":
        return electorate // 2 + 1
    if quorum == "two_thirds":
        return -(-2 * electorate // 3)
    return electorate


def outcome(quorum: str, electorate: int, yes: int, no: int) -> str | None:
    """``passed`` once enough yes, ``rejected`` once it can no longer pass, else ``None``."""
    need = max(needed(quorum, electorate), 1)
    if yes >= need:
        return "passed"
    if electorate - no < need:
        return "rejected"
    return None


def validate_split(session, coop_id: uuid.UUID, rule: Any) -> dict[str, Any]:
    from .splits import SplitRuleError, validate_rule

    members = [str(a) for a in voting_ids(session, coop_id)]
    try:
        return validate_rule(rule, members)
    except SplitRuleError as exc:
        raise Problem(422, "coop-invalid-split", str(exc)) from None


# ---------------------------------------------------------------- reads

def voting_ids(session, coop_id: uuid.UUID) -> list[uuid.UUID]:
    return list(session.scalars(select(Member.artist_id).where(Member.coop_id == coop_id,
                                                               Member.status.in_(VOTING))))


def get_coop(session, coop_id: uuid.UUID) -> Coop:
    coop = session.get(Coop, coop_id, populate_existing=True)
    if coop is None:
        raise Problem(404, "coop-not-found", "no such co-op")
    return coop


def get_member(session, coop_id: uuid.UUID, artist_id: uuid.UUID | None) -> Member | None:
    if artist_id is None:
        return None
    return session.get(Member, (coop_id, artist_id), populate_existing=True)


def artist_of(actor) -> uuid.UUID:
    if actor is None or actor.artist_id is None:
        raise Problem(403, "coop-artist-only", "only artists found, join and run co-ops")
    return actor.artist_id


def require_member(session, coop: Coop, actor, statuses=VOTING) -> Member:
    member = get_member(session, coop.id, artist_of(actor))
    if member is None or member.status not in statuses:
        raise Problem(403, "coop-not-member", "you are not a member of this co-op")
    return member


def require_active_coop(coop: Coop) -> None:
    if coop.status != "active":
        raise Problem(409, "coop-not-active", f"the co-op is {coop.status}")


def split_rule_at(session, coop_id: uuid.UUID, at: datetime) -> dict[str, Any] | None:
    """The split rule in force at ``at`` (an invoice's payment time): the latest version that had
    passed by then (the founding version applies to anything before it, too)."""
    q = select(RuleVersion.body).where(RuleVersion.coop_id == coop_id, RuleVersion.kind == "split")
    body = session.scalar(q.where(RuleVersion.effective_at <= at).order_by(RuleVersion.version.desc()).limit(1))
    if body is None:
        body = session.scalar(q.order_by(RuleVersion.version).limit(1))
    return dict(body) if body is not None else None


def versions(session, coop_id: uuid.UUID, kind: str) -> list[RuleVersion]:
    return list(session.scalars(select(RuleVersion).where(RuleVersion.coop_id == coop_id, RuleVersion.kind == kind)
                                .order_by(RuleVersion.version)))


def _add_version(platform, session, coop_id, kind: str, body: dict, proposal_id=None) -> None:
    # the co-op's row lock orders concurrent versions (two invitees accepting at once, a leave and
    # a decision): the second reads the first's number (PostgreSQL; SQLite writes one at a time)
    session.execute(select(Coop.id).where(Coop.id == coop_id).with_for_update())
    last = session.scalar(select(func.max(RuleVersion.version)).where(RuleVersion.coop_id == coop_id,
                                                                      RuleVersion.kind == kind)) or 0
    session.add(RuleVersion(id=uuid.uuid4(), coop_id=coop_id, kind=kind, version=last + 1, body=body,
                            proposal_id=proposal_id, effective_at=platform.clock.now()))
    session.flush()


def _run(session, stmt) -> int:
    return int(session.execute(stmt.execution_options(synchronize_session=False)).rowcount or 0)


# ---------------------------------------------------------------- founding, invitations, leaving

def create_coop(platform, session, actor, *, name: str, description: str = "",
                rules: dict[str, Any] | None = None) -> Coop:
    founder = artist_of(actor)
    rules = validate_rules(rules) if rules is not None else dict(DEFAULT_RULES)
    name = name.strip()
    if not name:
        raise Problem(422, "coop-invalid", "a co-op needs a name")
    if session.scalar(select(Coop.id).where(Coop.artist_id == founder)) is not None:
        raise Problem(403, "coop-artist-only", "a co-op's own account cannot found a co-op")
    base = slugify(name)
    slug, n = base, 1
    while session.scalar(select(Coop.id).where(Coop.slug == slug)) is not None:
        n += 1
        slug = f"{base}-{n}"
    account = create_account(platform, session, name)
    now = platform.clock.now()
    coop = Coop(id=uuid.uuid4(), artist_id=account.id, name=name, slug=slug, description=description,
                status="active", rules=rules, created_at=now)
    session.add(coop)
    session.flush()
    session.add(Member(coop_id=coop.id, artist_id=founder, role="admin", status="active", invited_by=None,
                       invited_at=now, joined_at=now))
    session.flush()
    _add_version(platform, session, coop.id, "rules", rules)
    _add_version(platform, session, coop.id, "split", dict(DEFAULT_SPLIT))
    emit(platform, session, "coop.created", actor_id=actor.user_id, artist_id=founder, subject=("coop", coop.id),
         data={"name": name, "slug": slug, "coop_artist_id": str(account.id)})
    emit(platform, session, "coop.member_joined", actor_id=actor.user_id, artist_id=founder,
         subject=("coop", coop.id), data={"role": "admin", "founder": True})
    return coop


def only_founder(session, coop: Coop) -> bool:
    """True while nobody but the founder has ever been invited or joined."""
    return session.scalar(select(func.count()).select_from(Member).where(
        Member.coop_id == coop.id, Member.status.notin_(("declined",)))) == 1


def _check_invitee(session, coop: Coop, artist_id: uuid.UUID) -> None:
    if session.get(Artist, artist_id) is None:
        raise Problem(404, "coop-artist-not-found", "no such artist")
    if session.scalar(select(Coop.id).where(Coop.artist_id == artist_id)) is not None:
        raise Problem(422, "coop-invalid-proposal", "a co-op's own account cannot be a member")
    member = get_member(session, coop.id, artist_id)
    if member is not None and member.status in ("invited", "active", "leaving"):
        raise Problem(409, "coop-already-member", f"that artist is already {member.status}")


def send_invitation(platform, session, coop: Coop, artist_id: uuid.UUID, by: uuid.UUID | None) -> Member:
    """The invitation itself (after an ``add_member`` proposal passed, or from the founder alone)."""
    _check_invitee(session, coop, artist_id)
    now = platform.clock.now()
    if get_member(session, coop.id, artist_id) is not None:  # left or declined before: invited again
        changed = _run(session, update(Member).where(
            Member.coop_id == coop.id, Member.artist_id == artist_id, Member.status.in_(("left", "declined")))
            .values(status="invited", role="member", invited_by=by, invited_at=now, joined_at=None,
                    leave_requested_at=None, leave_effective_at=None, left_at=None))
        if not changed:
            raise Problem(409, "coop-already-member", "that artist was invited meanwhile")
    else:
        try:
            with session.begin_nested():
                session.add(Member(coop_id=coop.id, artist_id=artist_id, role="member", status="invited",
                                   invited_by=by, invited_at=now))
                session.flush()
        except IntegrityError:
            raise Problem(409, "coop-already-member", "that artist was invited meanwhile") from None
    return get_member(session, coop.id, artist_id)


def invite(platform, session, actor, coop: Coop, artist_id: uuid.UUID,
           split: dict[str, Any] | None = None) -> tuple[str, Member | Proposal]:
    """``("invitation", member)`` while the founder is alone (and the split in force is not
    fixed), else ``("proposal", add_member)``; under a fixed split the proposal carries ``split``,
    the fixed split with the invitee."""
    me = require_member(session, coop, actor)
    require_active_coop(coop)
    if me.role != "admin":
        raise Problem(403, "coop-not-admin", "only a co-op's admins invite")
    if only_founder(session, coop) and fixed_in_force(platform, session, coop.id) is None:
        if split is not None:
            raise Problem(422, "coop-invalid-proposal", "a split goes with an invitation only under a fixed split")
        return "invitation", send_invitation(platform, session, coop, artist_id, me.artist_id)
    payload: dict[str, Any] = {"artist_id": str(artist_id)}
    if split is not None:
        payload["split"] = split
    return "proposal", propose(platform, session, actor, coop, "add_member", payload)


def fixed_in_force(platform, session, coop_id: uuid.UUID) -> dict[str, int] | None:
    """The shares of the split rule in force now when it is ``fixed``, else ``None``."""
    rule = split_rule_at(session, coop_id, platform.clock.now())
    if rule is None or rule.get("kind") != "fixed":
        return None
    return {str(k): int(v) for k, v in rule["shares"].items()}


def _scaled(shares: dict[str, int], members: list[str]) -> dict[str, int]:
    """``shares`` of these members scaled to 10000 basis points (largest remainder; equal
    weights when none of them had a share)."""
    from .splits import largest_remainder

    weights = {m: shares.get(m, 0) for m in members}
    if not any(weights.values()):
        weights = {m: 1 for m in members}
    return largest_remainder(10000, weights)


def _split_on_join(platform, session, coop: Coop, artist_id: uuid.UUID, invited_at: datetime | None) -> None:
    """The fixed split carried by the ``add_member`` proposal that sent this invitation takes
    effect (a new split version) when the invitee accepts, if the split in force is still fixed.
    A member who left meanwhile drops out (the others scaled); if someone else joined meanwhile
    the carried split no longer fits and the split in force stays."""
    if fixed_in_force(platform, session, coop.id) is None:
        return
    target = str(artist_id)
    for p in session.scalars(select(Proposal).where(Proposal.coop_id == coop.id, Proposal.kind == "add_member",
                                                    Proposal.status == "passed")
                             .order_by(Proposal.decided_at.desc(), Proposal.id)):
        payload = p.payload or {}
        if payload.get("artist_id") != target or (invited_at is not None and p.decided_at is not None
                                                  and p.decided_at > invited_at):
            continue
        carried = payload.get("split")
        if not isinstance(carried, dict) or carried.get("kind") != "fixed":
            return
        shares = {str(k): int(v) for k, v in carried["shares"].items()}
        members = sorted(str(a) for a in voting_ids(session, coop.id))
        if not set(members) <= set(shares):
            return
        body = {"kind": "fixed", "shares": shares if set(members) == set(shares) else _scaled(shares, members)}
        _add_version(platform, session, coop.id, "split", body, p.id)
        return


def _split_on_leave(platform, session, coop_id: uuid.UUID) -> None:
    """Under a fixed split, the members who stay share what the leaver had, in proportion to
    their shares (a new split version, effective now)."""
    shares = fixed_in_force(platform, session, coop_id)
    members = sorted(str(a) for a in voting_ids(session, coop_id))
    if shares is None or not members or set(shares) == set(members):
        return
    _add_version(platform, session, coop_id, "split", {"kind": "fixed", "shares": _scaled(shares, members)})


def respond(platform, session, actor, coop: Coop, accept: bool) -> Member:
    aid = artist_of(actor)
    now = platform.clock.now()
    values = {"status": "active", "joined_at": now} if accept else {"status": "declined"}
    changed = _run(session, update(Member).where(Member.coop_id == coop.id, Member.artist_id == aid,
                                                 Member.status == "invited").values(**values))
    if not changed:
        raise Problem(409, "coop-no-invitation", "you have no open invitation to this co-op")
    if accept and get_coop(session, coop.id).status != "active":
        raise Problem(409, "coop-not-active", f"the co-op is {coop.status}")
    if accept:
        _split_on_join(platform, session, coop, aid, get_member(session, coop.id, aid).invited_at)
        emit(platform, session, "coop.member_joined", actor_id=actor.user_id, artist_id=aid,
             subject=("coop", coop.id), data={"role": "member"})
    return get_member(session, coop.id, aid)


def _start_leaving(platform, session, coop: Coop, artist_id: uuid.UUID) -> bool:
    now = platform.clock.now()
    changed = _run(session, update(Member).where(Member.coop_id == coop.id, Member.artist_id == artist_id,
                                                 Member.status == "active").values(
        status="leaving", leave_requested_at=now,
        leave_effective_at=now + timedelta(days=int(coop.rules["notice_days"]))))
    if changed and int(coop.rules["notice_days"]) == 0:
        finish_leave(platform, session, coop.id, artist_id)
    return bool(changed)


def leave(platform, session, actor, coop: Coop) -> Member:
    aid = artist_of(actor)
    if not _start_leaving(platform, session, coop, aid):
        raise Problem(409, "coop-not-active-member", "only an active member gives notice")
    return get_member(session, coop.id, aid)


def finish_leave(platform, session, coop_id: uuid.UUID, artist_id: uuid.UUID) -> bool:
    """``leaving`` -> ``left`` (once); the co-op keeps an admin (the longest-standing member)."""
    now = platform.clock.now()
    if not _run(session, update(Member).where(Member.coop_id == coop_id, Member.artist_id == artist_id,
                                              Member.status == "leaving").values(status="left", left_at=now)):
        return False
    admins = session.scalar(select(func.count()).select_from(Member).where(
        Member.coop_id == coop_id, Member.status == "active", Member.role == "admin"))
    if not admins:
        heir = session.scalar(select(Member.artist_id).where(Member.coop_id == coop_id, Member.status == "active")
                              .order_by(Member.joined_at, Member.artist_id).limit(1))
        if heir is not None:  # still active when the update runs (they may be leaving right now)
            _run(session, update(Member).where(Member.coop_id == coop_id, Member.artist_id == heir,
                                               Member.status == "active").values(role="admin"))
    if get_coop(session, coop_id).status == "active":
        _split_on_leave(platform, session, coop_id)
    emit(platform, session, "coop.member_left", artist_id=artist_id, subject=("coop", coop_id), data={})
    dissolve_if_empty(platform, session, coop_id)
    return True


def dissolve_if_empty(platform, session, coop_id: uuid.UUID) -> bool:
    """The last member is gone (left or erased): nobody could share a bundle's payment, so the
    co-op dissolves at once — bundle tiers off, renewals cancelled — rather than charge fans
    for a bundle whose payments would all be refused."""
    # the co-op's row first: the last two members finishing at once each count the other as
    # still in unless they take turns (the second counts after the first committed). FOR NO
    # KEY UPDATE (key_share=True): both may already hold a key-share lock on the row (a split
    # version referencing it), which FOR UPDATE would wait on — a deadlock
    session.execute(select(Coop.id).where(Coop.id == coop_id).with_for_update(key_share=True))
    if session.scalar(select(func.count()).select_from(Member).where(Member.coop_id == coop_id,
                                                                       Member.status.in_(VOTING))):
        return False
    _run(session, update(Coop).where(Coop.id == coop_id, Coop.status == "active").values(
        status="dissolving", dissolve_effective_at=platform.clock.now()))
    return finish_dissolve(platform, session, coop_id)


# ---------------------------------------------------------------- proposals and votes

def _validate_payload(platform, session, coop: Coop, kind: str, payload: Any) -> dict[str, Any]:
    if kind not in KINDS:
        raise Problem(422, "coop-invalid-proposal", f"kind is one of {', '.join(KINDS)}")
    if not isinstance(payload, dict):
        raise Problem(422, "coop-invalid-proposal", "payload is an object")
    if kind in ("add_member", "remove_member"):
        fixed = kind == "add_member" and fixed_in_force(platform, session, coop.id) is not None
        if set(payload) != ({"artist_id", "split"} if fixed else {"artist_id"}):
            raise Problem(422, "coop-invalid-proposal", f"a {kind} payload is {{\"artist_id\"}}" + (
                " with \"split\": the co-op's split is fixed, so the proposal carries the new fixed split "
                "(every member and the invitee, summing to 10000)" if fixed else ""))
        try:
            target = uuid.UUID(str(payload["artist_id"]))
        except ValueError:
            raise Problem(422, "coop-invalid-proposal", "artist_id is an artist's id") from None
        if kind == "add_member":
            _check_invitee(session, coop, target)
            if fixed:
                from .splits import SplitRuleError, validate_rule

                split = payload["split"]
                if not isinstance(split, dict) or split.get("kind") != "fixed":
                    raise Problem(422, "coop-invalid-split", "the split of an add_member is a fixed split")
                try:
                    split = validate_rule(split, [str(a) for a in voting_ids(session, coop.id)] + [str(target)])
                except SplitRuleError as exc:
                    raise Problem(422, "coop-invalid-split", str(exc)) from None
                return {"artist_id": str(target), "split": split}
        else:
            member = get_member(session, coop.id, target)
            if member is None or member.status != "active":
                raise Problem(422, "coop-invalid-proposal", "only an active member can be removed")
        return {"artist_id": str(target)}
    if kind == "change_rules":
        if set(payload) != {"rules"}:
            raise Problem(422, "coop-invalid-proposal", "a change_rules payload is {\"rules\"}")
        return {"rules": validate_rules(payload["rules"])}
    if kind in ("create_bundle", "change_bundle"):
        from .bundles import validate_bundle_payload

        return validate_bundle_payload(session, coop, kind, payload)
    if kind == "change_split":
        if set(payload) != {"split"}:
            raise Problem(422, "coop-invalid-proposal", "a change_split payload is {\"split\"}")
        return {"split": validate_split(session, coop.id, payload["split"])}
    if payload:
        raise Problem(422, "coop-invalid-proposal", "a dissolve payload is empty")
    return {}


def propose(platform, session, actor, coop: Coop, kind: str, payload: Any) -> Proposal:
    me = require_member(session, coop, actor, statuses=("active",))
    require_active_coop(coop)
    if kind == "add_member" and me.role != "admin":
        raise Problem(403, "coop-not-admin", "only a co-op's admins invite (and propose new members)")
    payload = _validate_payload(platform, session, coop, kind, payload)
    now = platform.clock.now()
    electorate = len(voting_ids(session, coop.id))
    proposal = Proposal(id=uuid.uuid4(), coop_id=coop.id, kind=kind, payload=payload, status="open",
                        created_by=me.artist_id, created_at=now,
                        closes_at=now + timedelta(days=int(coop.rules["vote_days"])), electorate=electorate,
                        quorum=coop.rules["quorum"], yes_count=0, no_count=0)
    session.add(proposal)
    session.flush()
    emit(platform, session, "coop.proposal_opened", actor_id=actor.user_id, artist_id=me.artist_id,
         subject=("coop_proposal", proposal.id), data={"coop_id": str(coop.id), "kind": kind})
    return proposal


def get_proposal(session, coop: Coop, proposal_id: uuid.UUID) -> Proposal:
    proposal = session.get(Proposal, proposal_id, populate_existing=True)
    if proposal is None or proposal.coop_id != coop.id:
        raise Problem(404, "coop-proposal-not-found", "no such proposal in this co-op")
    return proposal


def vote(platform, session, actor, coop: Coop, proposal_id: uuid.UUID, choice: str) -> Proposal:
    proposal = get_proposal(session, coop, proposal_id)
    aid = artist_of(actor)
    member = get_member(session, coop.id, aid)
    if (member is None or member.status not in VOTING or member.joined_at is None
            or member.joined_at > proposal.created_at):
        raise Problem(403, "coop-not-eligible", "only the members of the co-op when the proposal opened vote")
    now = platform.clock.now()
    yes, no = (1, 0) if choice == "yes" else (0, 1)
    # the counters first: the row's lock orders concurrent voters (PostgreSQL), so the last vote
    # sees every earlier one
    moved = _run(session, update(Proposal).where(Proposal.id == proposal.id, Proposal.status == "open",
                                                 Proposal.closes_at > now)
                 .values(yes_count=Proposal.yes_count + yes, no_count=Proposal.no_count + no))
    if not moved:
        raise Problem(409, "coop-proposal-closed", "the vote on this proposal is over")
    try:
        with session.begin_nested():
            session.add(Vote(proposal_id=proposal.id, artist_id=aid, choice=choice, at=now))
            session.flush()
    except IntegrityError:
        raise Problem(409, "coop-already-voted", "you already voted on this proposal") from None
    proposal = get_proposal(session, coop, proposal.id)
    result = outcome(proposal.quorum, proposal.electorate, proposal.yes_count, proposal.no_count)
    if result is not None:
        decide(platform, session, proposal.id, result)
    return get_proposal(session, coop, proposal.id)


def decide(platform, session, proposal_id: uuid.UUID, status: str) -> bool:
    """Move the proposal out of ``open`` (once) and apply a passed proposal's effect."""
    now = platform.clock.now()
    if not _run(session, update(Proposal).where(Proposal.id == proposal_id, Proposal.status == "open")
                .values(status=status, decided_at=now)):
        return False
    proposal = session.get(Proposal, proposal_id, populate_existing=True)
    coop = get_coop(session, proposal.coop_id)
    effect = _apply(platform, session, coop, proposal) if status == "passed" else None
    emit(platform, session, "coop.proposal_decided", artist_id=proposal.created_by,
         subject=("coop_proposal", proposal.id),
         data={"coop_id": str(coop.id), "kind": proposal.kind, "status": status, "yes": proposal.yes_count,
               "no": proposal.no_count, "electorate": proposal.electorate, "effect": effect})
    return True


def _apply(platform, session, coop: Coop, proposal: Proposal) -> str:
    kind, payload = proposal.kind, proposal.payload
    page.forget(platform, session, coop)  # whatever passed may show on the public page (status, bundles)
    if kind == "add_member":
        try:
            with session.begin_nested():
                send_invitation(platform, session, coop, uuid.UUID(payload["artist_id"]), proposal.created_by)
        except Problem as exc:  # joined or vanished meanwhile: the decision stands, nothing to send
            return f"no invitation: {exc.slug}"
        return "invited"
    if kind == "remove_member":
        return "leaving" if _start_leaving(platform, session, coop, uuid.UUID(payload["artist_id"])) else "not active"
    if kind == "change_rules":
        _run(session, update(Coop).where(Coop.id == coop.id).values(rules=payload["rules"]))
        _add_version(platform, session, coop.id, "rules", payload["rules"], proposal.id)
        return "rules changed"
    if kind in ("create_bundle", "change_bundle"):
        from .bundles import apply_bundle

        return apply_bundle(platform, session, coop, proposal)
    if kind == "change_split":
        _add_version(platform, session, coop.id, "split", payload["split"], proposal.id)
        return "split changed"
    now = platform.clock.now()
    if not _run(session, update(Coop).where(Coop.id == coop.id, Coop.status == "active").values(
            status="dissolving", dissolve_effective_at=now + timedelta(days=int(coop.rules["notice_days"])))):
        return "not active"
    if int(coop.rules["notice_days"]) == 0:
        finish_dissolve(platform, session, coop.id)
    return "dissolving"


def finish_dissolve(platform, session, coop_id: uuid.UUID) -> bool:
    """``dissolving`` -> ``dissolved`` (once): bundle tiers off, open proposals expired,
    invitations declined, members left. The ledger stays as it is."""
    now = platform.clock.now()
    if not _run(session, update(Coop).where(Coop.id == coop_id, Coop.status == "dissolving")
                .values(status="dissolved", dissolved_at=now)):
        return False
    coop = get_coop(session, coop_id)
    tiers = _run(session, update(Tier).where(Tier.artist_id == coop.artist_id, Tier.is_active.is_(True))
                 .values(is_active=False))
    _run(session, update(Proposal).where(Proposal.coop_id == coop_id, Proposal.status == "open")
         .values(status="expired", decided_at=now))
    _run(session, update(Member).where(Member.coop_id == coop_id, Member.status == "invited")
         .values(status="declined"))
    _run(session, update(Member).where(Member.coop_id == coop_id, Member.status.in_(VOTING))
         .values(status="left", left_at=now))
    emit(platform, session, "coop.dissolved", artist_id=coop.artist_id, subject=("coop", coop_id),
         data={"tiers_deactivated": tiers})
    # bundle subscriptions stop renewing (payouts.cancel_renewals, at period end)
    platform.jobs.enqueue("coop.cancel_renewals", session=session, coop_id=str(coop_id))
    return True


# ---------------------------------------------------------------- the periodic job

def sweep(platform) -> int:
    """Close proposals past their deadline, end notice periods, finish dissolutions; each change
    in its own transaction and conditional, so overlapping runs change each thing once."""
    changed = 0
    now = platform.clock.now()
    with platform.read() as s:
        due = list(s.execute(select(Proposal.id, Proposal.yes_count, Proposal.no_count)
                             .where(Proposal.status == "open", Proposal.closes_at <= now)))
        leaving = list(s.execute(select(Member.coop_id, Member.artist_id)
                                 .where(Member.status == "leaving", Member.leave_effective_at <= now)))
        dissolving = list(s.scalars(select(Coop.id).where(Coop.status == "dissolving",
                                                          Coop.dissolve_effective_at <= now)))
    for pid, yes, no in due:
        with platform.session() as s:
            changed += decide(platform, s, pid, "expired" if yes + no == 0 else "rejected")
    for coop_id, artist_id in leaving:
        with platform.session() as s:
            changed += finish_leave(platform, s, coop_id, artist_id)
    for coop_id in dissolving:
        with platform.session() as s:
            changed += finish_dissolve(platform, s, coop_id)
    return changed
