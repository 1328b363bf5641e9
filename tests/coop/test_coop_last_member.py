"""A co-op whose last member is gone (left after notice, or erased) dissolves at once: nobody
could share a bundle's payment, so its bundle tiers go off sale and renewals are cancelled."""
from __future__ import annotations

import uuid

from sqlalchemy import select

from musicconnect.models import DomainEvent, Job, Tier, User

API = "/api/v1/coop"


def _with_bundle_tier(e, coop):
    with e.platform.session() as s:
        s.add(Tier(id=uuid.uuid4(), artist_id=uuid.UUID(coop["artist_id"]), key="bundle", name="Bundle", rank=1,
                   price_amount=2000, currency="USD", perks={}))


def _two_on_sale(e, notice_days):
    """The founder and Bea, with a bundle tier on the co-op's account."""
    coop = e.found(rules={"quorum": "majority", "notice_days": notice_days, "vote_days": 7})
    b = e.artist("Bea")
    e.join(coop, b)
    _with_bundle_tier(e, coop)
    return coop, b


def _dissolved(e, coop):
    page = e.client.get(f"{API}/coops/{coop['slug']}").json()
    with e.platform.read() as s:
        tiers = s.scalars(select(Tier).where(Tier.artist_id == uuid.UUID(coop["artist_id"]))).all()
        events = s.scalars(select(DomainEvent.type).where(DomainEvent.subject_id == coop["id"])).all()
        jobs = s.scalars(select(Job.actor)).all()
    return (page["status"], page["members"], [t.is_active for t in tiers], events.count("coop.dissolved"),
            "coop.cancel_renewals" in jobs)


def test_the_last_member_leaving_dissolves_the_coop(coop_env):
    e = coop_env
    coop, b = _two_on_sale(e, notice_days=10)
    assert e.client.post(f"{API}/coops/{coop['id']}/leave", headers=e.founder.headers).status_code == 200
    assert e.client.post(f"{API}/coops/{coop['id']}/leave", headers=b.headers).status_code == 200
    e.advance(days=10)
    assert e.sweep() >= 2
    status, members, active, dissolved, cancel = _dissolved(e, coop)
    assert (status, members, active, dissolved, cancel) == ("dissolved", [], [False], 1, True)
    assert e.sweep() == 0  # once


def test_one_member_of_two_leaving_keeps_the_coop(coop_env):
    e = coop_env
    coop, b = _two_on_sale(e, notice_days=0)
    assert e.client.post(f"{API}/coops/{coop['id']}/leave", headers=b.headers).status_code == 200
    status, members, active, dissolved, _ = _dissolved(e, coop)
    assert (status, len(members), active, dissolved) == ("active", 1, [True], 0)


def test_erasing_the_last_member_dissolves_the_coop(coop_env):
    e = coop_env
    coop = e.found()
    _with_bundle_tier(e, coop)
    with e.platform.session() as s:
        reports = dict(e.platform.erase_user_data(s, s.get(User, e.founder.id)))
    assert reports["coop"].erased["coops_dissolved"] == 1
    status, members, active, dissolved, cancel = _dissolved(e, coop)
    assert (status, members, active, dissolved, cancel) == ("dissolved", [], [False], 1, True)


def test_the_last_two_members_leaving_at_once_still_dissolve_it(coop_env):
    from musicconnect.testing import concurrently

    e = coop_env
    for _ in range(3):  # a race: a few rounds
        coop = e.found(name=f"Race {uuid.uuid4().hex[:6]}", rules={"quorum": "majority", "notice_days": 0,
                                                                     "vote_days": 7})
        b = e.artist("Bea")
        e.join(coop, b)
        codes = concurrently(2, lambda i: e.client.post(f"{API}/coops/{coop['id']}/leave",
                                                        headers=(e.founder, b)[i].headers).status_code)
        assert codes == [200, 200], codes
        assert e.client.get(f"{API}/coops/{coop['slug']}").json()["status"] == "dissolved"
