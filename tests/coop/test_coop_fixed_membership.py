"""Under a fixed split, money follows membership: an add_member proposal carries the new fixed
split (every member and the invitee, summing to 10000), which takes effect when the invitee
accepts (not before; a declined invitation changes nothing); a member who leaves or is removed
has their share spread over those who stay, in proportion (largest remainder), from the day
they leave. Everything through HTTP."""
from __future__ import annotations

from tests.helpers import problem


def _splits(e, coop, who):
    r = e.client.get(f"/api/v1/coop/coops/{coop['id']}/rules", headers=who.headers)
    assert r.status_code == 200, r.text
    return [v["body"] for v in r.json()["split"]]


def _invite(e, coop, artist, split=None, by=None):
    body = {"artist_id": str(artist.artist_id)}
    if split is not None:
        body["split"] = split
    return e.client.post(f"/api/v1/coop/coops/{coop['id']}/invitations", json=body,
                         headers=(by or e.founder).headers)


def _fixed(**shares):
    return {"kind": "fixed", "shares": {str(k): v for k, v in shares.items()}}


def _passed(e, coop, proposal, *voters):
    for v in voters:
        r = e.vote(coop, proposal, v)
        assert r.status_code == 200, r.text
    assert r.json()["status"] == "passed", r.json()


def test_coop_fixed_split_follows_joining_declining_and_leaving(coop_env):
    e = coop_env
    coop = e.found(rules={"quorum": "majority", "notice_days": 10, "vote_days": 7})
    a, b, c, d = e.founder, e.artist("Bea"), e.artist("Cai"), e.artist("Dov")
    e.join(coop, b)
    p = e.propose(coop, a, "change_split", {"split": {"kind": "fixed", "shares": {
        str(a.artist_id): 6000, str(b.artist_id): 4000}}})
    _passed(e, coop, p, a, b)
    two = {str(a.artist_id): 6000, str(b.artist_id): 4000}
    assert _splits(e, coop, a)[-1]["shares"] == two

    # under a fixed split, the invitation proposal must carry the new split, validated
    assert problem(_invite(e, coop, c), 422, "coop-invalid-proposal")
    assert problem(e.client.post(f"/api/v1/coop/coops/{coop['id']}/proposals", json={
        "kind": "add_member", "payload": {"artist_id": str(c.artist_id)}}, headers=a.headers),
        422, "coop-invalid-proposal")
    for bad in ({a.artist_id: 5000, b.artist_id: 3000, c.artist_id: 1000},    # 9000
                {a.artist_id: 6000, c.artist_id: 4000},                         # Bea missing
                {a.artist_id: 5000, b.artist_id: 3000, d.artist_id: 2000},      # not the invitee
                {a.artist_id: 5000, b.artist_id: 3000, c.artist_id: 1000, d.artist_id: 1000}):
        assert problem(_invite(e, coop, c, {"kind": "fixed", "shares": {str(k): v for k, v in bad.items()}}),
                       422, "coop-invalid-split")
    assert problem(_invite(e, coop, c, {"kind": "fan_centric", "min_share_bp": 0}), 422, "coop-invalid-split")
    three = {str(a.artist_id): 5000, str(b.artist_id): 3000, str(c.artist_id): 2000}
    r = _invite(e, coop, c, {"kind": "fixed", "shares": three})
    assert r.status_code == 202, r.text
    proposal = r.json()["proposal"]
    assert proposal["payload"]["split"]["shares"] == three
    _passed(e, coop, proposal, a, b)
    # passed: the invitation is out, but the split does not change before Cai accepts
    assert e.members(coop)[str(c.artist_id)]["status"] == "invited"
    assert _splits(e, coop, a)[-1]["shares"] == two
    r = e.client.post(f"/api/v1/coop/coops/{coop['id']}/invitation/accept", headers=c.headers)
    assert r.status_code == 200, r.text
    versions = _splits(e, coop, a)
    assert versions[-1] == {"kind": "fixed", "shares": three} and len(versions) == 3

    # Dov is invited with a split and declines: nothing changes
    four = {str(a.artist_id): 4000, str(b.artist_id): 3000, str(c.artist_id): 2000, str(d.artist_id): 1000}
    r = _invite(e, coop, d, {"kind": "fixed", "shares": four})
    assert r.status_code == 202, r.text
    _passed(e, coop, r.json()["proposal"], a, b)
    r = e.client.post(f"/api/v1/coop/coops/{coop['id']}/invitation/decline", headers=d.headers)
    assert r.status_code == 200, r.text
    assert _splits(e, coop, a) == versions

    # Bea gives notice: nothing changes until she has left, then Ada and Cai share her 3000 as 5:2
    r = e.client.post(f"/api/v1/coop/coops/{coop['id']}/leave", headers=b.headers)
    assert r.status_code == 200, r.text
    e.sweep()
    assert _splits(e, coop, a) == versions
    e.advance(days=11)
    assert e.sweep() >= 1
    after = _splits(e, coop, a)
    # 5000/7000 and 2000/7000 of 10000 = 7142.86 / 2857.14: the spare unit to the larger remainder
    assert after[-1] == {"kind": "fixed", "shares": {str(a.artist_id): 7143, str(c.artist_id): 2857}}
    assert len(after) == 4
    e.sweep()
    assert len(_splits(e, coop, a)) == 4  # once

    # Cai is removed by a proposal: Ada alone keeps 10000 after the notice
    p = e.propose(coop, a, "remove_member", {"artist_id": str(c.artist_id)})
    _passed(e, coop, p, a, c)  # a majority of two is both
    e.advance(days=11)
    e.sweep()
    assert _splits(e, coop, a)[-1] == {"kind": "fixed", "shares": {str(a.artist_id): 10000}}


def test_coop_founder_alone_under_a_fixed_split_invites_through_a_proposal(coop_env):
    e = coop_env
    coop = e.found()
    a, b = e.founder, e.artist("Bea")
    p = e.propose(coop, a, "change_split", {"split": _fixed(**{str(a.artist_id): 10000})})
    assert e.vote(coop, p, a).json()["status"] == "passed"
    r = _invite(e, coop, b, _fixed(**{str(a.artist_id): 7000, str(b.artist_id): 3000}))
    assert r.status_code == 202, r.text
    assert e.vote(coop, r.json()["proposal"], a).json()["status"] == "passed"
    assert e.client.post(f"/api/v1/coop/coops/{coop['id']}/invitation/accept", headers=b.headers).status_code == 200
    assert _splits(e, coop, a)[-1]["shares"] == {str(a.artist_id): 7000, str(b.artist_id): 3000}


def test_coop_split_goes_with_an_invitation_only_under_a_fixed_split(coop_env):
    e = coop_env
    coop = e.found()
    b = e.artist("Bea")
    assert problem(_invite(e, coop, b, _fixed(**{str(e.founder.artist_id): 5000, str(b.artist_id): 5000})),
                   422, "coop-invalid-proposal")
