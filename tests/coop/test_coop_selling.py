"""Co-ops sell and pay out, end to end through HTTP on the billing sandbox: two artists found a
co-op, agree a fixed split, propose and pass a bundle, each picks the tier it includes; a fan buys
it through the normal checkout; the fan gets each member's tier; the payment is split after the
platform fee, the ledger records it, each member is transferred their share; a refund claws back
and reverses the transfers; the ledger always balances."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

import musicconnect_billing.plugin as billing
import musicconnect_coop.plugin as coop_plugin
import musicconnect_fanclub.plugin as fanclub
from musicconnect import Actor
from musicconnect.testing import make_user
from musicconnect_billing import sandbox
from musicconnect_billing.models import SandboxObject
from musicconnect_coop import ledger
from musicconnect_coop.bundle_models import Payout
from musicconnect_coop.ledger_models import LedgerEntry
from tests.helpers import problem

API = "/api/v1/coop"


class Shop:
    def __init__(self, platform, client, a, b, fan, admin):
        self.platform, self.client, self.a, self.b, self.fan, self.admin = platform, client, a, b, fan, admin

    def wait(self):
        self.platform.jobs.wait_idle(timeout=60)

    def post(self, path, who, json=None, status=None):
        r = self.client.post(API + path, json=json or {}, headers=who.headers)
        if status is not None:
            assert r.status_code == status, r.text
        return r

    def passed(self, coop, proposal, *voters):
        for v in voters:
            r = self.post(f"/coops/{coop['id']}/proposals/{proposal['id']}/votes", v, {"choice": "yes"})
            assert r.status_code == 200, r.text
        assert r.json()["status"] == "passed", r.json()
        return r.json()

    def own_tier(self, user):
        return next(t for t in self.platform.access.tiers(user.artist_id) if t.rank > 0)

    def found_with_bundle(self, price=1000, shares=(7000, 3000)):
        coop = self.post("/coops", self.a, {"name": "Night Shift", "description": "two of us"}, 201).json()
        self.post(f"/coops/{coop['id']}/invitations", self.a, {"artist_id": str(self.b.artist_id)}, 201)
        self.post(f"/coops/{coop['id']}/invitation/accept", self.b, status=200)
        p = self.post(f"/coops/{coop['id']}/proposals", self.a, {"kind": "change_split", "payload": {"split": {
            "kind": "fixed", "shares": {str(self.a.artist_id): shares[0], str(self.b.artist_id): shares[1]}}}},
            201).json()
        self.passed(coop, p, self.a, self.b)
        p = self.post(f"/coops/{coop['id']}/bundles", self.a, {"name": "Both of us", "price_amount": price},
                      202).json()["proposal"]
        decided = self.passed(coop, p, self.a, self.b)
        assert decided["kind"] == "create_bundle"
        r = self.client.get(f"{API}/coops/{coop['id']}/bundles", headers=self.a.headers)
        [bundle] = r.json()["bundles"]
        assert bundle["status"] == "pending" and not bundle["on_sale"]
        assert sorted(bundle["missing"]) == sorted([str(self.a.artist_id), str(self.b.artist_id)])
        return coop, bundle

    def pick(self, coop, bundle, who, tier_id):
        return self.client.put(f"{API}/coops/{coop['id']}/bundles/{bundle['tier_id']}/pick",
                               json={"tier_id": str(tier_id) if tier_id else None}, headers=who.headers)

    def buy(self, tier_id):
        r = self.client.post("/api/v1/billing/checkout", json={"tier_id": str(tier_id)}, headers=self.fan.headers)
        assert r.status_code == 201, r.text
        r = self.client.post(r.json()["url"] + "/pay", headers={"Accept": "application/json"})
        assert r.status_code == 200, r.text
        self.wait()

    def balanced(self, coop_id):
        with self.platform.read() as s:
            assert ledger.check_balanced(s, uuid.UUID(coop_id)) == []


@pytest.fixture
def shop(mc_make_platform):
    from starlette.testclient import TestClient

    from musicconnect.app import create_app

    p = mc_make_platform(extra_plugins=[("coop", coop_plugin), ("billing", billing), ("fanclub", fanclub)],
                         entry_points=False, plugin_config={"billing": {"sandbox": True}})
    a, b = make_user(p, "artist", artist_name="Ada"), make_user(p, "artist", artist_name="Bo")
    fan, admin = make_user(p, "fan"), make_user(p, "admin")
    with TestClient(create_app(p, state_poll_interval=0.2)) as client:
        yield Shop(p, client, a, b, fan, admin)


def test_a_fan_buys_a_bundle_members_are_paid_and_a_refund_claws_back(shop):
    coop, bundle = shop.found_with_bundle()
    tid = bundle["tier_id"]
    # nobody buys a bundle before every member picked
    r = shop.client.post("/api/v1/billing/checkout", json={"tier_id": tid}, headers=shop.fan.headers)
    assert r.status_code in (404, 409, 422), r.text
    # a member picks only their own tiers
    assert problem(shop.pick(coop, bundle, shop.a, shop.own_tier(shop.b).id), 422, "coop-invalid-pick")
    assert problem(shop.pick(coop, bundle, shop.fan, None), 403)
    ta, tb = shop.own_tier(shop.a), shop.own_tier(shop.b)
    r = shop.pick(coop, bundle, shop.a, ta.id)
    assert r.status_code == 200 and r.json()["bundle"]["status"] == "pending", r.text
    r = shop.pick(coop, bundle, shop.b, tb.id)
    assert r.json()["bundle"]["status"] == "active" and r.json()["bundle"]["on_sale"], r.text
    page = shop.client.get(f"{API}/coops/{coop['slug']}").json()
    [shown] = page["bundle_tiers"]
    assert shown["id"] == tid and shown["price_amount"] == 1000
    assert {i["artist_name"] for i in shown["includes"]} == {"Ada", "Bo"}

    # before buying, the fan has nothing of Ada's tier
    assert not [e for e in shop.platform.entitlements.for_user(shop.fan.id, shop.a.artist_id) if e.source == "coop"]
    shop.buy(tid)
    for member, tier in ((shop.a, ta), (shop.b, tb)):
        [ent] = [e for e in shop.platform.entitlements.for_user(shop.fan.id, member.artist_id) if e.source == "coop"]
        assert ent.tier_id == tier.id and ent.is_effective(shop.platform.clock.now())
        # the core's access context (what every content route decides with) holds the member's tier
        fan_actor = Actor(user_id=shop.fan.id, role="fan", artist_id=None, scopes=frozenset())
        assert shop.platform.access.context(fan_actor, member.artist_id).best_rank() == tier.rank

    # the split: platform fee 10% first, then 70/30 of the 900 left; both transferred
    with shop.platform.read() as s:
        lines = {(e.kind, str(e.artist_id) if e.artist_id else None): e.amount
                 for e in s.scalars(select(LedgerEntry).where(LedgerEntry.coop_id == uuid.UUID(coop["id"])))}
        transfers = s.scalars(select(SandboxObject).where(SandboxObject.kind == "transfer")).all()
    a_id, b_id = str(shop.a.artist_id), str(shop.b.artist_id)
    assert lines[("fee", None)] == 100 and lines[("share", a_id)] == 630 and lines[("share", b_id)] == 270
    assert lines[("transfer", a_id)] == -630 and lines[("transfer", b_id)] == -270
    assert sorted(t.data["amount"] for t in transfers) == [270, 630]
    shop.balanced(coop["id"])
    mine = shop.client.get(f"{API}/coops/{coop['id']}/ledger", headers=shop.b.headers).json()
    assert mine["balanced"] and mine["my_balance"] == {"usd": 0}
    assert {ln["kind"] for ln in mine["my_lines"]} == {"share", "transfer"}
    assert all(ln["amount"] in (270, -270) for ln in mine["my_lines"])  # only Bo's own lines
    assert mine["totals"]["usd"]["paid"] == 1000 and "fan" not in str(mine).lower()
    assert problem(shop.client.get(f"{API}/coops/{coop['id']}/ledger", headers=shop.fan.headers), 403)

    # the payout job again: nothing moves twice
    from musicconnect_coop.payouts import payout
    with shop.platform.read() as s:
        [ref] = {e.payment_ref for e in s.scalars(select(LedgerEntry).where(LedgerEntry.kind == "share"))}
    assert payout(shop.platform, uuid.UUID(coop["id"]), ref) == {"transferred": 0, "reversed": 0, "owed": 0}

    # a partial refund of 400: clawed back over fee and shares, reversed from the transfers
    invoice_id = ref.split(":", 1)[1]
    with shop.platform.session() as s:
        inv = sandbox.get(s, invoice_id, "invoice")
        sandbox.emit(shop.platform, s, "charge.refunded", {
            "id": inv["charge"], "object": "charge", "amount": 1000, "currency": "usd", "amount_refunded": 400,
            "refunded": False, "invoice": invoice_id})
    shop.wait()
    with shop.platform.read() as s:
        claw = {str(e.artist_id) if e.artist_id else None: e.amount
                for e in s.scalars(select(LedgerEntry).where(LedgerEntry.kind == "clawback"))}
        rev = {str(p.artist_id): p.amount for p in s.scalars(select(Payout).where(Payout.kind == "reversal"))}
        bal = ledger.balances(s, uuid.UUID(coop["id"]))
    assert claw == {None: -40, a_id: -252, b_id: -108}
    assert rev == {a_id: 252, b_id: 108}
    assert bal == {a_id: {"usd": 0}, b_id: {"usd": 0}}
    shop.balanced(coop["id"])
    # the rest refunded: every share comes back exactly, every transfer is reversed in full
    with shop.platform.session() as s:
        sandbox.emit(shop.platform, s, "charge.refunded", {
            "id": inv["charge"], "object": "charge", "amount": 1000, "currency": "usd", "amount_refunded": 1000,
            "refunded": True, "invoice": invoice_id})
    shop.wait()
    with shop.platform.read() as s:
        transfers = {t.id: t.data for t in s.scalars(select(SandboxObject).where(SandboxObject.kind == "transfer"))}
        assert all(t["amount_reversed"] == t["amount"] for t in transfers.values())
        total = sum(e.amount for e in s.scalars(select(LedgerEntry).where(LedgerEntry.coop_id == uuid.UUID(coop["id"]))))
        assert total == 0
    shop.balanced(coop["id"])


def test_a_member_without_a_payout_account_stays_owed_and_leaving_ends_their_part(shop):
    coop, bundle = shop.found_with_bundle(price=1001, shares=(5000, 5000))
    ta = shop.own_tier(shop.a)
    assert shop.pick(coop, bundle, shop.a, ta.id).status_code == 200
    r = shop.pick(coop, bundle, shop.b, None)  # "none", explicitly
    assert r.json()["bundle"]["on_sale"] and r.json()["tier_id"] is None
    shop.buy(bundle["tier_id"])
    with shop.platform.read() as s:
        shares = {str(e.artist_id): e.amount for e in s.scalars(select(LedgerEntry).where(LedgerEntry.kind == "share"))}
    # 1001 - 100 fee = 901: 451 / 450 by the largest remainder, the tie to the smaller artist id
    assert sorted(shares.values()) == [450, 451]
    assert not [e for e in shop.platform.entitlements.for_user(shop.fan.id, shop.b.artist_id) if e.source == "coop"]
    assert [e for e in shop.platform.entitlements.for_user(shop.fan.id, shop.a.artist_id) if e.source == "coop"]
    shop.balanced(coop["id"])
    # Ada gives notice and leaves (notice period 30 days): access to her tier through the bundle ends then
    from musicconnect_coop import governance as g
    with shop.platform.session() as s:
        c = g.get_coop(s, uuid.UUID(coop["id"]))
        g._start_leaving(shop.platform, s, c, shop.a.artist_id)
        g.finish_leave(shop.platform, s, c.id, shop.a.artist_id)
    shop.wait()
    assert not [e for e in shop.platform.entitlements.for_user(shop.fan.id, shop.a.artist_id) if e.source == "coop"]
    # she keeps what she earned: still in the ledger and paid
    r = shop.client.get(f"{API}/coops/{coop['id']}/ledger", headers=shop.a.headers)
    assert r.status_code == 200 and any(ln["kind"] == "share" for ln in r.json()["my_lines"])


def test_bundle_proposals_are_validated(shop):
    coop = shop.post("/coops", shop.a, {"name": "Solo"}, 201).json()
    r = shop.post(f"/coops/{coop['id']}/proposals", shop.a, {"kind": "create_bundle", "payload": {"name": "x"}})
    assert problem(r, 422, "coop-invalid-bundle")
    r = shop.post(f"/coops/{coop['id']}/proposals", shop.a,
                  {"kind": "create_bundle", "payload": {"name": "x", "price_amount": 1.5}})
    assert problem(r, 422, "coop-invalid-bundle")
    r = shop.post(f"/coops/{coop['id']}/proposals", shop.a,
                  {"kind": "change_bundle", "payload": {"tier_id": str(uuid.uuid4()), "price_amount": 5}})
    assert problem(r, 404, "coop-bundle-not-found")
    assert problem(shop.post(f"/coops/{coop['id']}/bundles", shop.b, {"name": "x", "price_amount": 100}), 403)


def test_a_price_change_and_taking_a_bundle_off_sale_go_through_proposals(shop):
    coop, bundle = shop.found_with_bundle(price=1000)
    shop.pick(coop, bundle, shop.a, shop.own_tier(shop.a).id)
    shop.pick(coop, bundle, shop.b, shop.own_tier(shop.b).id)
    tid = bundle["tier_id"]
    r = shop.client.patch(f"{API}/coops/{coop['id']}/bundles/{tid}", json={"price_amount": 1500},
                          headers=shop.a.headers)
    assert r.status_code == 202, r.text
    p = r.json()["proposal"]
    assert p["kind"] == "change_bundle" and p["payload"] == {"tier_id": tid, "price_amount": 1500}
    # not decided yet: the price is unchanged
    assert shop.client.get(f"{API}/coops/{coop['slug']}").json()["bundle_tiers"][0]["price_amount"] == 1000
    shop.passed(coop, p, shop.a, shop.b)
    assert shop.client.get(f"{API}/coops/{coop['slug']}").json()["bundle_tiers"][0]["price_amount"] == 1500
    r = shop.client.patch(f"{API}/coops/{coop['id']}/bundles/{tid}", json={"on_sale": False}, headers=shop.b.headers)
    shop.passed(coop, r.json()["proposal"], shop.a, shop.b)
    assert shop.client.get(f"{API}/coops/{coop['slug']}").json()["bundle_tiers"] == []
    assert problem(shop.pick(coop, bundle, shop.a, None), 409, "coop-bundle-retired")
    r = shop.client.post("/api/v1/billing/checkout", json={"tier_id": tid}, headers=shop.fan.headers)
    assert r.status_code >= 400
