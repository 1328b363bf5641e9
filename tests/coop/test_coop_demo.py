"""The co-op's demo: Nova Lane and Glass Harbor run "Night Shift Collective" with a fixed 60/40
split and a bundle on sale (everything through proposals and votes); the demo superfan holds the
bundle and the ledger shows the split payment; seeding twice changes nothing; a fresh fan buys
the bundle through the sandbox checkout over HTTP and both members are paid by sandbox transfers;
the ledger balances throughout."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from musicconnect.testing import make_user
from musicconnect_coop import ledger
from musicconnect_coop.bundle_models import Bundle, BundleMember, Payout
from musicconnect_coop.demo import NAME, PARTNER
from musicconnect_coop.ledger_models import LedgerEntry
from musicconnect_coop.models import Coop, Member, Proposal, RuleVersion, Vote
from musicconnect_coop.promo_models import PromoNomination, PromoSurface


@pytest.fixture
def mc_plugins():
    return ["coop", "billing", "fanclub", "streaming"]


@pytest.fixture
def demo(mc_make_platform):
    from starlette.testclient import TestClient

    from musicconnect.app import create_app
    from musicconnect.seed import seed_demo

    p = mc_make_platform(plugin_config={"billing": {"sandbox": True}})
    with TestClient(create_app(p, state_poll_interval=0.2)) as client:
        ctx = seed_demo(p)
        p.jobs.wait_idle(timeout=120)
        yield p, client, ctx


def _counts(p):
    with p.read() as s:
        return {m.__name__: s.scalar(select(func.count()).select_from(m))
                for m in (Coop, Member, Proposal, Vote, RuleVersion, Bundle, BundleMember, LedgerEntry, Payout,
                          PromoSurface, PromoNomination)}


def test_coop_demo_two_artists_a_bundle_the_superfan_holds_and_a_fresh_fan_buys(demo):
    p, client, ctx = demo
    with p.read() as s:
        coop = s.scalar(select(Coop).where(Coop.name == NAME))
        partner = next(a for a in ctx.scene if a.name == PARTNER)
        nova, glass = str(ctx.artist_profile.id), str(partner.artist_id)
        assert {str(m.artist_id): m.status for m in s.scalars(select(Member).where(Member.coop_id == coop.id))} == {
            nova: "active", glass: "active"}
        proposals = {x.kind: x for x in s.scalars(select(Proposal).where(Proposal.coop_id == coop.id))}
        assert {k: x.status for k, x in proposals.items()} == {"change_split": "passed", "create_bundle": "passed"}
        assert all(s.scalar(select(func.count()).select_from(Vote).where(Vote.proposal_id == x.id)) == 2
                   for x in proposals.values())
        assert set(s.scalars(select(PromoSurface.artist_id))) == {ctx.artist_profile.id, partner.artist_id}
        nominated = set(s.scalars(select(PromoNomination.artist_id)))
    assert nominated == {ctx.artist_profile.id, partner.artist_id}  # their latest public releases
    page = client.get(f"/api/v1/coop/coops/{coop.slug}").json()
    assert {m["artist_id"] for m in page["members"]} == {nova, glass}
    [bundle] = page["bundle_tiers"]
    assert bundle["price_amount"] == 900 and {i["artist_id"] for i in bundle["includes"]} == {nova, glass}

    # the demo superfan holds the bundle: the members' tiers come with it
    ents = [e for e in p.entitlements.for_user(ctx.superfan.id, partner.artist_id) if e.source == "coop"]
    assert ents and ents[0].is_effective(p.clock.now())
    with p.read() as s:
        lines = {(e.kind, str(e.artist_id) if e.artist_id else None): e.amount
                 for e in s.scalars(select(LedgerEntry).where(LedgerEntry.coop_id == coop.id))}
        assert ledger.check_balanced(s, coop.id) == []
        balances = ledger.balances(s, coop.id)
    # 900 - the 10 % platform fee = 810, split 60/40
    assert lines == {("fee", None): 90, ("share", nova): 486, ("share", glass): 324}
    assert balances == {nova: {"usd": 486}, glass: {"usd": 324}}

    # seeding twice is harmless
    before = _counts(p)
    from musicconnect.seed import seed_demo

    seed_demo(p)
    p.jobs.wait_idle(timeout=60)
    assert _counts(p) == before

    # a fresh fan buys it through the sandbox checkout: split, recorded, transferred to both
    fan = make_user(p, "fan")
    r = client.post("/api/v1/billing/checkout", json={"tier_id": bundle["id"]}, headers=fan.headers)
    assert r.status_code == 201, r.text
    r = client.post(r.json()["url"] + "/pay", headers={"Accept": "application/json"})
    assert r.status_code == 200, r.text
    p.jobs.wait_idle(timeout=60)
    with p.read() as s:
        paid = {(x.kind, str(x.artist_id)): x.amount for x in s.scalars(select(Payout).where(Payout.coop_id == coop.id))}
        assert ledger.check_balanced(s, coop.id) == []
        balances = ledger.balances(s, coop.id)
    assert paid == {("transfer", nova): 486, ("transfer", glass): 324}
    assert balances == {nova: {"usd": 486}, glass: {"usd": 324}}  # the demo's history stays owed
    assert [e for e in p.entitlements.for_user(fan.id, ctx.artist_profile.id) if e.source == "coop"]
