"""Co-ops through the HTTP API: founding (the co-op's own artist account), invitations, accept /
decline, leaving with notice (mc_clock + the sweep job), the public page, events, privacy."""
from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select

from helpers import problem


def _events(platform, type_):
    from musicconnect.models import DomainEvent

    with platform.read() as s:
        return list(s.scalars(select(DomainEvent).where(DomainEvent.type == type_)))


def test_coop_founding_makes_an_account_and_a_founder_admin(coop_env):
    from musicconnect.models import Artist, Tier, User

    e = coop_env
    coop = e.found("Night Shift", rules={"quorum": "two_thirds", "notice_days": 14, "vote_days": 3})
    assert coop["slug"] == "night-shift" and coop["status"] == "active"
    assert coop["rules"] == {"quorum": "two_thirds", "notice_days": 14, "vote_days": 3}
    with e.platform.read() as s:
        account = s.get(Artist, uuid.UUID(coop["artist_id"]))
        user = s.get(User, account.user_id)
        assert user.role == "artist" and user.email.endswith("@coop.invalid") and account.name == "Night Shift"
        assert not e.platform.passwords.verify(user.password_hash, "")
        assert s.scalars(select(Tier).where(Tier.artist_id == account.id)).all() == []
    # nobody logs in as the co-op
    r = e.client.post("/api/v1/auth/login", json={"email": user.email, "password": "a-long-passphrase"})
    assert r.status_code in (400, 401, 422), r.text
    members = e.members(coop)
    assert members[str(e.founder.artist_id)]["role"] == "admin"
    assert members[str(e.founder.artist_id)]["status"] == "active"
    again = e.found("Night Shift")
    assert again["slug"] == "night-shift-2" and again["artist_id"] != coop["artist_id"]
    assert len(_events(e.platform, "coop.created")) == 2
    rules = e.client.get(f"/api/v1/coop/coops/{coop['id']}/rules", headers=e.founder.headers).json()
    assert [v["version"] for v in rules["rules"]] == [1] and rules["split"][0]["body"]["kind"] == "fan_centric"


def test_coop_only_artists_found_and_rules_are_checked(coop_env):
    e = coop_env
    problem(e.client.post("/api/v1/coop/coops", json={"name": "Fans"}, headers=e.users.fan.headers), 403,
            "coop-artist-only")
    r = e.client.post("/api/v1/coop/coops", json={"name": "X", "rules": {"quorum": "most", "notice_days": 1,
                                                                        "vote_days": 1}}, headers=e.founder.headers)
    assert r.status_code == 422
    r = e.client.post("/api/v1/coop/coops", json={"name": "X", "rules": {"quorum": "majority", "notice_days": 91,
                                                                        "vote_days": 1}}, headers=e.founder.headers)
    assert r.status_code == 422
    assert e.client.post("/api/v1/coop/coops", json={"name": "X"}).status_code == 401


def test_coop_invitation_accept_decline_and_double_accept(coop_env):
    e = coop_env
    coop = e.found()
    a, b = e.artist("Ana"), e.artist("Bo")
    url = f"/api/v1/coop/coops/{coop['id']}"
    # while the founder is alone an invitation is sent at once
    r = e.client.post(f"{url}/invitations", json={"artist_id": str(a.artist_id)}, headers=e.founder.headers)
    assert r.status_code == 201 and r.json()["invitation"]["status"] == "invited"
    problem(e.client.post(f"{url}/invitations", json={"artist_id": str(a.artist_id)}, headers=e.founder.headers),
            409, "coop-already-member")
    # somebody else cannot accept it; the invitee accepts once
    problem(e.client.post(f"{url}/invitation/accept", headers=b.headers), 409, "coop-no-invitation")
    r = e.client.post(f"{url}/invitation/accept", headers=a.headers)
    assert r.status_code == 200 and r.json()["membership"]["status"] == "active"
    problem(e.client.post(f"{url}/invitation/accept", headers=a.headers), 409, "coop-no-invitation")
    problem(e.client.post(f"{url}/invitation/decline", headers=a.headers), 409, "coop-no-invitation")
    assert len(_events(e.platform, "coop.member_joined")) == 2
    # now a second member changes the money: inviting opens an add_member proposal instead
    r = e.client.post(f"{url}/invitations", json={"artist_id": str(b.artist_id)}, headers=e.founder.headers)
    assert r.status_code == 202, r.text
    assert r.json()["proposal"]["kind"] == "add_member" and r.json()["proposal"]["electorate"] == 2
    assert str(b.artist_id) not in e.members(coop)
    # a plain member is not an admin
    c = e.artist("Cy")
    problem(e.client.post(f"{url}/invitations", json={"artist_id": str(c.artist_id)}, headers=a.headers), 403,
            "coop-not-admin")
    # outsiders neither invite nor read the member list
    problem(e.client.post(f"{url}/invitations", json={"artist_id": str(c.artist_id)}, headers=c.headers), 403,
            "coop-not-member")
    problem(e.client.get(f"{url}/members", headers=c.headers), 403, "coop-not-member")


def test_coop_declined_invitation_and_unknown_artist(coop_env):
    e = coop_env
    coop = e.found()
    a = e.artist("Ana")
    url = f"/api/v1/coop/coops/{coop['id']}"
    problem(e.client.post(f"{url}/invitations", json={"artist_id": str(uuid.uuid4())}, headers=e.founder.headers),
            404, "coop-artist-not-found")
    problem(e.client.post(f"{url}/invitations", json={"artist_id": coop["artist_id"]}, headers=e.founder.headers),
            422, "coop-invalid-proposal")
    assert e.client.post(f"{url}/invitations", json={"artist_id": str(a.artist_id)},
                         headers=e.founder.headers).status_code == 201
    r = e.client.post(f"{url}/invitation/decline", headers=a.headers)
    assert r.status_code == 200 and r.json()["membership"]["status"] == "declined"
    # declined: the founder is alone again and may invite again
    assert e.client.post(f"{url}/invitations", json={"artist_id": str(a.artist_id)},
                         headers=e.founder.headers).status_code == 201
    problem(e.client.get("/api/v1/coop/coops/nope/members", headers=e.founder.headers), 422)
    problem(e.client.get(f"/api/v1/coop/coops/{uuid.uuid4()}/members", headers=e.founder.headers), 404,
            "coop-not-found")


def test_coop_leaving_takes_the_notice_period(coop_env):
    e = coop_env
    coop = e.found(rules={"quorum": "majority", "notice_days": 10, "vote_days": 3})
    a = e.artist("Ana")
    e.join(coop, a)
    url = f"/api/v1/coop/coops/{coop['id']}"
    r = e.client.post(f"{url}/leave", headers=a.headers)
    assert r.status_code == 200, r.text
    m = r.json()["membership"]
    assert m["status"] == "leaving" and m["leave_effective_at"].startswith("2026-06-11")
    problem(e.client.post(f"{url}/leave", headers=a.headers), 409, "coop-not-active-member")
    e.advance(days=9, hours=23)
    assert e.sweep() == 0 and e.members(coop)[str(a.artist_id)]["status"] == "leaving"
    # still on the public page during the notice
    assert str(a.artist_id) in {x["artist_id"] for x in e.client.get(f"/api/v1/coop/coops/{coop['slug']}").json()["members"]}
    e.advance(hours=1)
    assert e.sweep() == 1
    assert e.sweep() == 0  # once
    assert e.members(coop)[str(a.artist_id)]["status"] == "left"
    assert [ev.artist_id for ev in _events(e.platform, "coop.member_left")] == [a.artist_id]
    assert str(a.artist_id) not in {x["artist_id"] for x in e.client.get(f"/api/v1/coop/coops/{coop['slug']}").json()["members"]}


def test_coop_last_admin_leaving_hands_admin_on(coop_env):
    e = coop_env
    coop = e.found(rules={"quorum": "majority", "notice_days": 0, "vote_days": 3})
    a = e.artist("Ana")
    e.join(coop, a)
    r = e.client.post(f"/api/v1/coop/coops/{coop['id']}/leave", headers=e.founder.headers)
    assert r.json()["membership"]["status"] == "left"  # no notice: at once
    members = e.members(coop, by=a)
    assert members[str(a.artist_id)]["role"] == "admin"


def test_coop_public_page(coop_env):
    from musicconnect import emit
    from musicconnect.models import ContentItem, Tier

    e = coop_env
    coop = e.found("Night Shift")
    a, outsider = e.artist("Ana"), e.artist("Out")
    e.join(coop, a)
    now = e.clock.now()
    with e.platform.session() as s:
        for artist, title, vis, status in ((a, "Public song", "public", "ready"), (a, "Draft", "public", "draft"),
                                           (outsider, "Not in the co-op", "public", "ready"),
                                           (e.founder, "Future", "public", "ready")):
            s.add(ContentItem(id=uuid.uuid4(), artist_id=artist.artist_id, kind="track", title=title, status=status,
                              visibility=vis, publish_at=now + timedelta(days=3 if title == "Future" else -1), data={}))
        s.add(Tier(id=uuid.uuid4(), artist_id=uuid.UUID(coop["artist_id"]), key="bundle", name="Bundle", rank=1,
                   price_amount=1500, currency="USD", perks={}))
        for who, starts, title in ((a, now + timedelta(days=2), "Premiere"), (a, now - timedelta(days=1), "Past"),
                                   (outsider, now + timedelta(days=2), "Other")):
            emit(e.platform, s, "live.party_scheduled", artist_id=who.artist_id, subject=("party", uuid.uuid4()),
                 data={"title": title, "starts_at": starts.isoformat(), "visibility": "public"})
    page = e.client.get("/api/v1/coop/coops/night-shift")
    assert page.status_code == 200, page.text
    body = page.json()
    assert {m["name"] for m in body["members"]} == {"Test Artist", "Ana"}
    assert [r["title"] for r in body["releases"]] == ["Public song"]
    assert [p["title"] for p in body["parties"]] == ["Premiere"]
    assert [t["key"] for t in body["bundle_tiers"]] == ["bundle"] and body["bundle_tiers"][0]["price_amount"] == 1500
    problem(e.client.get("/api/v1/coop/coops/no-such-coop"), 404, "coop-not-found")
    mine = e.client.get("/api/v1/coop/coops", headers=a.headers).json()["coops"]
    assert [c["slug"] for c in mine] == ["night-shift"] and mine[0]["membership"]["status"] == "active"


def test_coop_privacy_export_and_erase(coop_env):
    from musicconnect.models import User

    e = coop_env
    coop = e.found(rules={"quorum": "unanimous", "notice_days": 5, "vote_days": 3})
    a = e.artist("Ana")
    e.join(coop, a)
    p = e.propose(coop, a, "change_split", {"split": {"kind": "fixed", "shares": {
        str(e.founder.artist_id): 4000, str(a.artist_id): 6000}}})
    assert e.vote(coop, p, a).status_code == 200
    assert e.vote(coop, p, e.founder).json()["status"] == "passed"
    with e.platform.session() as s:
        user = s.get(User, a.id)
        from musicconnect_coop.privacy import erase_user_data, export_user_data

        part = export_user_data(e.platform, s, user)
        assert part.records["coop_memberships"][0]["status"] == "active"
        assert part.records["coop_votes"][0]["choice"] == "yes"
        assert part.records["coop_proposals"][0]["kind"] == "change_split"
        report = erase_user_data(e.platform, s, user)
        assert report.erased["coop_memberships"] == 1 and report.erased["coop_votes"] == 1
    with e.platform.read() as s:
        from musicconnect_coop.models import Member, Proposal, RuleVersion, Vote

        text = str(a.artist_id)
        for model in (Member, Proposal, RuleVersion, Vote):
            for row in s.scalars(select(model)):
                assert text not in str({c.name: getattr(row, c.name) for c in model.__table__.columns}), model
        split = [v for v in s.scalars(select(RuleVersion).where(RuleVersion.kind == "split"))
                 if v.body["kind"] == "fixed"][0]
        assert sum(split.body["shares"].values()) == 10000


def test_coop_concurrent_accepts_join_once(coop_env):
    from musicconnect.testing import concurrently

    e = coop_env
    coop = e.found()
    a = e.artist("Ana")
    url = f"/api/v1/coop/coops/{coop['id']}"
    assert e.client.post(f"{url}/invitations", json={"artist_id": str(a.artist_id)},
                         headers=e.founder.headers).status_code == 201
    codes = concurrently(4, lambda i: e.client.post(f"{url}/invitation/{'accept' if i % 2 else 'decline'}",
                                                    headers=a.headers).status_code)
    assert sorted(codes) == [200, 409, 409, 409], codes
    status = e.members(coop)[str(a.artist_id)]["status"]
    assert status in ("active", "declined")
    assert len(_events(e.platform, "coop.member_joined")) == (2 if status == "active" else 1)


def test_coop_concurrent_sweeps_change_each_thing_once(coop_env):
    from musicconnect.testing import concurrently

    e = coop_env
    coop = e.found(rules={"quorum": "majority", "notice_days": 1, "vote_days": 1})
    a = e.artist("Ana")
    e.join(coop, a)
    assert e.client.post(f"/api/v1/coop/coops/{coop['id']}/leave", headers=a.headers).status_code == 200
    e.advance(days=1)
    assert sum(concurrently(3, lambda i: e.sweep())) == 1
    assert len(_events(e.platform, "coop.member_left")) == 1
