"""Once a bundle is on sale, a member may move their pick up on their own; dropping to none or to
a cheaper tier goes through a change_bundle proposal (review: picks on a live bundle)."""
# ruff: noqa: F811
from __future__ import annotations

from musicconnect.models import Tier
from tests.coop.test_coop_selling import shop  # noqa: F401  (fixture)
from tests.helpers import problem


def _tier(shop, who, price, rank):
    import uuid
    with shop.platform.session() as s:
        now = shop.platform.clock.now()
        t = Tier(id=uuid.uuid4(), artist_id=who.artist_id, key=f"t{price}", name=f"T{price}", description="",
                 rank=rank, price_amount=price, currency="USD", perks={}, is_active=True, created_at=now,
                 updated_at=now)
        s.add(t)
        s.flush()
        return t.id


def test_live_bundle_picks_move_up_freely_and_down_by_vote(shop):
    coop, bundle = shop.found_with_bundle()
    own_b = shop.own_tier(shop.b)
    cheap = _tier(shop, shop.a, 1, 50)
    dear = _tier(shop, shop.a, 1_000_000, 51)
    # while pending, anything goes
    assert shop.pick(coop, bundle, shop.a, dear).status_code == 200
    assert shop.pick(coop, bundle, shop.a, cheap).status_code == 200
    r = shop.pick(coop, bundle, shop.b, own_b.id)
    assert r.json()["bundle"]["on_sale"], r.text
    # on sale: up is fine, down or none needs a vote
    assert shop.pick(coop, bundle, shop.a, dear).status_code == 200
    assert problem(shop.pick(coop, bundle, shop.a, cheap), 409, "coop-pick-needs-proposal")
    assert problem(shop.pick(coop, bundle, shop.a, None), 409, "coop-pick-needs-proposal")
    r = shop.client.patch(f"/api/v1/coop/coops/{coop['id']}/bundles/{bundle['tier_id']}",
                          json={"pick": {"artist_id": str(shop.a.artist_id), "tier_id": None}},
                          headers=shop.a.headers)
    assert r.status_code == 202, r.text
    shop.passed(coop, r.json()["proposal"], shop.a, shop.b)
    [b] = shop.client.get(f"/api/v1/coop/coops/{coop['id']}/bundles", headers=shop.a.headers).json()["bundles"]
    mine = next(p for p in b["members"] if p["artist_id"] == str(shop.a.artist_id))
    assert mine["tier"] is None
    # a pick for someone's tier that is not theirs is refused in the proposal
    r = shop.client.patch(f"/api/v1/coop/coops/{coop['id']}/bundles/{bundle['tier_id']}",
                          json={"pick": {"artist_id": str(shop.a.artist_id), "tier_id": str(own_b.id)}},
                          headers=shop.a.headers)
    assert problem(r, 422)
