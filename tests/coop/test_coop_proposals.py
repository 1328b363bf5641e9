"""Proposals and votes through the HTTP API: quorum rules, early decisions, deadlines (mc_clock +
the sweep job), effects applied once (concurrent last votes), dissolving with notice; and the
quorum arithmetic as a property."""
from __future__ import annotations

import uuid

from hypothesis import given, strategies as st
from sqlalchemy import select

from helpers import problem
from musicconnect.testing import concurrently


def _three(e, rules=None):
    coop = e.found(rules=rules or {"quorum": "majority", "notice_days": 7, "vote_days": 3})
    a, b = e.artist("Ana"), e.artist("Bo")
    e.join(coop, a)
    # the third member comes in through an add_member proposal: majority of 2 = both
    r = e.client.post(f"/api/v1/coop/coops/{coop['id']}/invitations", json={"artist_id": str(b.artist_id)},
                      headers=e.founder.headers)
    assert r.status_code == 202
    p = r.json()["proposal"]
    assert e.vote(coop, p, e.founder).json()["status"] == "open"
    assert e.vote(coop, p, a).json()["status"] == "passed"
    assert e.members(coop)[str(b.artist_id)]["status"] == "invited"
    assert e.client.post(f"/api/v1/coop/coops/{coop['id']}/invitation/accept", headers=b.headers).status_code == 200
    return coop, a, b


def test_coop_add_member_proposal_then_invitation(coop_env):
    e = coop_env
    coop, a, b = _three(e)
    assert {m["status"] for m in e.members(coop).values()} == {"active"}
    got = e.client.get(f"/api/v1/coop/coops/{coop['id']}/proposals", headers=b.headers).json()["proposals"]
    assert got[0]["kind"] == "add_member" and got[0]["yes"] == 2 and got[0]["needed"] == 2


def test_coop_votes_failure_paths(coop_env):
    e = coop_env
    coop, a, b = _three(e)
    outsider = e.artist("Out")
    p = e.propose(coop, a, "change_rules", {"rules": {"quorum": "unanimous", "notice_days": 1, "vote_days": 2}})
    assert p["electorate"] == 3 and p["needed"] == 2
    problem(e.vote(coop, p, outsider), 403, "coop-not-eligible")
    problem(e.vote(coop, p, e.users.fan), 403, "coop-artist-only")
    r = e.vote(coop, p, a)
    assert r.status_code == 200 and r.json()["yes"] == 1 and r.json()["my_vote"] == "yes"
    problem(e.vote(coop, p, a, "no"), 409, "coop-already-voted")
    # the refused second ballot changed no counter
    got = e.client.get(f"/api/v1/coop/coops/{coop['id']}/proposals/{p['id']}", headers=a.headers).json()
    assert (got["yes"], got["no"]) == (1, 0) and [v["choice"] for v in got["votes"]] == ["yes"]
    problem(e.client.post(f"/api/v1/coop/coops/{coop['id']}/proposals", json={"kind": "dissolve", "payload": {}},
                          headers=outsider.headers), 403, "coop-not-member")
    problem(e.client.get(f"/api/v1/coop/coops/{coop['id']}/proposals/{p['id']}", headers=outsider.headers), 403,
            "coop-not-member")
    problem(e.client.get(f"/api/v1/coop/coops/{coop['id']}/proposals/{uuid.uuid4()}", headers=a.headers), 404,
            "coop-proposal-not-found")
    # a proposal of another co-op is not reached through this one
    other = e.found("Other", by=outsider)
    q = e.propose(other, outsider, "dissolve")
    problem(e.client.post(f"/api/v1/coop/coops/{coop['id']}/proposals/{q['id']}/votes", json={"choice": "yes"},
                          headers=a.headers), 404, "coop-proposal-not-found")
    # a member who joins after the proposal opened does not vote on it
    assert e.vote(coop, p, b).json()["status"] == "passed"
    problem(e.vote(coop, p, e.founder), 409, "coop-proposal-closed")


def test_coop_invalid_proposals(coop_env):
    e = coop_env
    coop, a, b = _three(e)
    url = f"/api/v1/coop/coops/{coop['id']}/proposals"
    for kind, payload, slug in (
            ("change_rules", {"rules": {"quorum": "most", "notice_days": 1, "vote_days": 1}}, "coop-invalid-rules"),
            ("change_rules", {"rules": {"quorum": "majority", "notice_days": 1, "vote_days": 0}}, "coop-invalid-rules"),
            ("change_rules", {}, "coop-invalid-proposal"),
            ("add_member", {"artist_id": str(a.artist_id)}, "coop-already-member"),
            ("add_member", {"artist_id": "x"}, "coop-invalid-proposal"),
            ("remove_member", {"artist_id": str(uuid.uuid4())}, "coop-invalid-proposal"),
            ("dissolve", {"now": True}, "coop-invalid-proposal"),
            ("change_split", {"split": {"kind": "fixed", "shares": {str(a.artist_id): 10000}}}, "coop-invalid-split"),
            ("change_split", {"split": {"kind": "fixed", "shares": {
                str(a.artist_id): 5000, str(b.artist_id): 2000, str(e.founder.artist_id): 2000}}}, "coop-invalid-split")):
        by = e.founder if kind == "add_member" else a  # only admins propose new members
        r = e.client.post(url, json={"kind": kind, "payload": payload}, headers=by.headers)
        status = 409 if slug == "coop-already-member" else 422
        problem(r, status, slug)
    assert e.client.post(url, json={"kind": "merge", "payload": {}}, headers=a.headers).status_code == 422


def test_coop_rejected_early_and_expired_at_the_deadline(coop_env):
    e = coop_env
    coop, a, b = _three(e)
    p = e.propose(coop, a, "dissolve")
    assert e.vote(coop, p, e.founder, "no").json()["status"] == "open"
    r = e.vote(coop, p, b, "no").json()
    assert r["status"] == "rejected" and r["decided_at"]  # 1 yes can no longer reach 2 of 3
    q = e.propose(coop, a, "change_rules", {"rules": {"quorum": "two_thirds", "notice_days": 0, "vote_days": 1}})
    s = e.propose(coop, a, "change_rules", {"rules": {"quorum": "two_thirds", "notice_days": 0, "vote_days": 1}})
    assert e.vote(coop, s, a).json()["status"] == "open"
    e.advance(days=2, hours=23, minutes=59)
    assert e.sweep() == 0
    e.advance(minutes=1)
    assert e.sweep() == 2 and e.sweep() == 0
    got = {x["id"]: x for x in e.client.get(f"/api/v1/coop/coops/{coop['id']}/proposals",
                                             headers=a.headers).json()["proposals"]}
    assert got[q["id"]]["status"] == "expired" and got[s["id"]]["status"] == "rejected"
    problem(e.vote(coop, q, b), 409, "coop-proposal-closed")
    rules = e.client.get(f"/api/v1/coop/coops/{coop['id']}/rules", headers=a.headers).json()["rules"]
    assert len(rules) == 1  # nothing passed


def test_coop_change_rules_and_split_keep_versions(coop_env):
    e = coop_env
    coop, a, b = _three(e)
    new = {"quorum": "unanimous", "notice_days": 2, "vote_days": 5}
    p = e.propose(coop, a, "change_rules", {"rules": new})
    e.vote(coop, p, a)
    assert e.vote(coop, p, b).json()["status"] == "passed"
    got = e.client.get(f"/api/v1/coop/coops/{coop['id']}/members", headers=a.headers).json()["coop"]
    assert got["rules"] == new
    # unanimity now: a change of split needs all three
    split = {"kind": "fixed", "shares": {str(e.founder.artist_id): 5000, str(a.artist_id): 3000,
                                         str(b.artist_id): 2000}}
    q = e.propose(coop, a, "change_split", {"split": split})
    assert q["quorum"] == "unanimous" and q["needed"] == 3 and q["closes_at"].startswith("2026-06-06")
    e.vote(coop, q, a)
    e.vote(coop, q, b)
    e.advance(hours=1)
    assert e.vote(coop, q, e.founder).json()["status"] == "passed"
    versions = e.client.get(f"/api/v1/coop/coops/{coop['id']}/rules", headers=b.headers).json()
    assert [v["version"] for v in versions["rules"]] == [1, 2] and versions["rules"][1]["proposal_id"] == p["id"]
    assert [v["body"]["kind"] for v in versions["split"]] == ["fan_centric", "fixed"]
    from datetime import timedelta

    from musicconnect_coop.governance import split_rule_at

    with e.platform.read() as s:
        now = e.clock.now()
        assert split_rule_at(s, uuid.UUID(coop["id"]), now)["kind"] == "fixed"
        assert split_rule_at(s, uuid.UUID(coop["id"]), now - timedelta(minutes=1))["kind"] == "fan_centric"


def test_coop_remove_member_takes_notice(coop_env):
    e = coop_env
    coop, a, b = _three(e, rules={"quorum": "majority", "notice_days": 4, "vote_days": 3})
    p = e.propose(coop, a, "remove_member", {"artist_id": str(b.artist_id)})
    e.vote(coop, p, a)
    assert e.vote(coop, p, e.founder).json()["status"] == "passed"
    m = e.members(coop)[str(b.artist_id)]
    assert m["status"] == "leaving" and m["leave_effective_at"].startswith("2026-06-05")
    e.advance(days=4)
    assert e.sweep() == 1
    assert e.members(coop)[str(b.artist_id)]["status"] == "left"


def test_coop_concurrent_last_votes_decide_once(coop_env):
    from musicconnect.models import DomainEvent

    e = coop_env
    coop, a, b = _three(e)
    p = e.propose(coop, a, "dissolve")
    voters = [e.founder, a, b]
    codes = concurrently(3, lambda i: e.vote(coop, p, voters[i]).status_code)
    assert all(c in (200, 409) for c in codes), codes
    got = e.client.get(f"/api/v1/coop/coops/{coop['id']}/proposals/{p['id']}", headers=a.headers).json()
    assert got["status"] == "passed"
    assert got["yes"] == len(got["votes"]) == codes.count(200) >= 2
    with e.platform.read() as s:
        decided = s.scalars(select(DomainEvent).where(DomainEvent.type == "coop.proposal_decided",
                                                      DomainEvent.subject_id == p["id"])).all()
        assert len(decided) == 1
    page = e.client.get(f"/api/v1/coop/coops/{coop['slug']}").json()
    assert page["status"] == "dissolving"


def test_coop_dissolve_after_notice(coop_env):
    from musicconnect.models import DomainEvent, Tier

    e = coop_env
    coop, a, b = _three(e, rules={"quorum": "two_thirds", "notice_days": 30, "vote_days": 3})
    with e.platform.session() as s:
        s.add(Tier(id=uuid.uuid4(), artist_id=uuid.UUID(coop["artist_id"]), key="bundle", name="Bundle", rank=1,
                   price_amount=2000, currency="USD", perks={}))
    pending = e.propose(coop, a, "change_rules", {"rules": {"quorum": "majority", "notice_days": 1, "vote_days": 30}})
    p = e.propose(coop, a, "dissolve")
    e.vote(coop, p, a)
    assert e.vote(coop, p, b).json()["status"] == "passed"
    page = e.client.get(f"/api/v1/coop/coops/{coop['slug']}").json()
    assert page["status"] == "dissolving" and page["bundle_tiers"]
    # dissolving: no new proposals, no new members
    problem(e.client.post(f"/api/v1/coop/coops/{coop['id']}/proposals", json={"kind": "dissolve", "payload": {}},
                          headers=a.headers), 409, "coop-not-active")
    e.advance(days=29)
    assert e.sweep() == 1  # the pending proposal's vote closed (nobody voted: expired)
    assert e.client.get(f"/api/v1/coop/coops/{coop['slug']}").json()["status"] == "dissolving"
    e.advance(days=1)
    assert e.sweep() == 1
    page = e.client.get(f"/api/v1/coop/coops/{coop['slug']}").json()
    assert page["status"] == "dissolved" and page["bundle_tiers"] == [] and page["members"] == []
    with e.platform.read() as s:
        assert s.scalar(select(Tier.is_active).where(Tier.artist_id == uuid.UUID(coop["artist_id"]))) is False
        assert len(s.scalars(select(DomainEvent).where(DomainEvent.type == "coop.dissolved")).all()) == 1
    got = e.client.get(f"/api/v1/coop/coops/{coop['id']}/proposals/{pending['id']}", headers=a.headers).json()
    assert got["status"] == "expired"
    assert {m["status"] for m in e.members(coop, by=a).values()} == {"left"}
    assert e.sweep() == 0


@given(quorum=st.sampled_from(["majority", "two_thirds", "unanimous"]), electorate=st.integers(1, 40),
       ballots=st.lists(st.booleans(), max_size=40))
def test_coop_quorum_decides_once_and_never_both(quorum, electorate, ballots):
    from musicconnect_coop.governance import needed, outcome

    need = needed(quorum, electorate)
    assert 1 <= need <= electorate
    if quorum == "majority":
        assert 2 * need > electorate and 2 * (need - 1) <= electorate
    elif quorum == "two_thirds":
        assert 3 * need >= 2 * electorate and 3 * (need - 1) < 2 * electorate
    yes = no = 0
    decided = None
    for ballot in ballots[:electorate]:
        yes, no = yes + ballot, no + (not ballot)
        result = outcome(quorum, electorate, yes, no)
        if decided is not None:
            assert result == decided  # once certain, it stays
        decided = result or decided
        if result == "passed":
            assert yes >= need
        if result == "rejected":
            assert electorate - no < need
    if len(ballots) >= electorate:  # everyone voted: always decided
        assert decided is not None
