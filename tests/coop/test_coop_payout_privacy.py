"""A member's payouts and bundle picks in their export; on erasure the picks go and the payouts
(accounting, ids and amounts only) are kept and declared as retained."""
from __future__ import annotations

from sqlalchemy import select

from musicconnect.models import User
from musicconnect_coop.bundle_models import BundleMember, Payout
from musicconnect_coop.privacy import export_user_data
from musicconnect_privacy.erasure import erase

import pytest

from musicconnect.testing import make_user
from tests.coop.test_coop_selling import Shop


@pytest.fixture
def shop(mc_make_platform):
    from starlette.testclient import TestClient

    import musicconnect_billing.plugin as billing
    import musicconnect_coop.plugin as coop_plugin
    import musicconnect_fanclub.plugin as fanclub
    import musicconnect_privacy.plugin as privacy
    from musicconnect.app import create_app

    p = mc_make_platform(extra_plugins=[("coop", coop_plugin), ("billing", billing), ("fanclub", fanclub),
                                        ("privacy", privacy)],
                         entry_points=False, plugin_config={"billing": {"sandbox": True}})
    a, b = make_user(p, "artist", artist_name="Ada"), make_user(p, "artist", artist_name="Bo")
    fan, admin = make_user(p, "fan"), make_user(p, "admin")
    with TestClient(create_app(p, state_poll_interval=0.2)) as client:
        yield Shop(p, client, a, b, fan, admin)


def test_coop_payouts_exported_and_retained_picks_erased(shop):
    coop, bundle = shop.found_with_bundle(price=1000, shares=(5000, 5000))
    assert shop.pick(coop, bundle, shop.a, shop.own_tier(shop.a).id).status_code == 200
    assert shop.pick(coop, bundle, shop.b, shop.own_tier(shop.b).id).status_code == 200
    shop.buy(bundle["tier_id"])
    with shop.platform.session() as s:
        part = export_user_data(shop.platform, s, s.get(User, shop.b.id))
    [paid] = part.records["coop_payouts"]
    assert paid["kind"] == "transfer" and paid["amount"] == 450 and paid["provider"] == "sandbox"
    assert [p["included_tier_id"] for p in part.records["coop_bundle_picks"]] == [str(shop.own_tier(shop.b).id)]
    receipt = erase(shop.platform, shop.b.id)
    kept = {r["what"]: r for r in receipt["retained"] if r["plugin"] == "coop"}
    assert kept["coop payouts"]["count"] == 1 and "accounting" in kept["coop payouts"]["why"]
    with shop.platform.read() as s:
        assert not s.scalars(select(BundleMember).where(BundleMember.artist_id == shop.b.artist_id)).all()
        assert s.scalar(select(Payout.amount).where(Payout.artist_id == shop.b.artist_id)) == 450
    shop.balanced(coop["id"])
