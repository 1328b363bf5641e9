"""A co-op bundle sold on the Stripe-API test server: the fan pays the platform (separate charges
and transfers), each member's share is a Transfer to their connected account from the invoice's
charge, a refund reverses the transfers by the clawed-back parts, the ledger balances."""
from __future__ import annotations

import types
import uuid

import pytest
from sqlalchemy import select

import musicconnect_billing.plugin as billing
import musicconnect_coop.plugin as coop_plugin
import musicconnect_fanclub.plugin as fanclub
from musicconnect.testing import make_user
from musicconnect_billing.models import Revenue
from musicconnect_coop import ledger
from musicconnect_coop.ledger_models import LedgerEntry
from tests.billing.conftest import STRIPE_KEY, WEBHOOK_SECRET, Stripe, deliver, onboard, stripe_url  # noqa: F401
from tests.coop.test_coop_selling import Shop


@pytest.fixture
def stripe_shop(mc_make_platform, stripe_url):  # noqa: F811
    from starlette.testclient import TestClient

    from musicconnect.app import create_app

    p = mc_make_platform(extra_plugins=[("coop", coop_plugin), ("billing", billing), ("fanclub", fanclub)],
                         entry_points=False, plugin_config={"billing": {
                             "stripe_secret_key": STRIPE_KEY, "stripe_api_base": stripe_url,
                             "stripe_webhook_secrets": WEBHOOK_SECRET}})
    a, b = make_user(p, "artist", artist_name="Ada"), make_user(p, "artist", artist_name="Bo")
    fan, admin = make_user(p, "fan"), make_user(p, "admin")
    with TestClient(create_app(p, state_poll_interval=0.2)) as client:
        shop = Shop(p, client, a, b, fan, admin)
        shop.stripe = Stripe(stripe_url)
        yield shop
        shop.stripe.http.close()


def _onboard(shop, artist) -> str:
    return onboard(types.SimpleNamespace(client=shop.client, artist=artist, stripe=shop.stripe, wait=shop.wait))


def test_stripe_bundle_transfers_to_both_members_and_a_refund_reverses_them(stripe_shop):
    shop = stripe_shop
    acct_a, acct_b = _onboard(shop, shop.a), _onboard(shop, shop.b)
    coop, bundle = shop.found_with_bundle()
    assert shop.pick(coop, bundle, shop.a, shop.own_tier(shop.a).id).status_code == 200
    assert shop.pick(coop, bundle, shop.b, shop.own_tier(shop.b).id).json()["bundle"]["on_sale"]

    r = shop.client.post("/api/v1/billing/checkout", json={"tier_id": bundle["tier_id"]}, headers=shop.fan.headers)
    assert r.status_code == 201, r.text
    paid = shop.stripe.post(f"/_test/checkout/{r.json()['id']}/pay")
    for e in shop.stripe.related(paid["subscription"], paid["id"]):
        assert deliver(shop.client, e).status_code == 200
    shop.wait()
    sub = shop.stripe.sdk.v1.subscriptions.retrieve(paid["subscription"]).to_dict()
    assert not sub.get("transfer_data")  # charged on the platform: the co-op moves the money

    with shop.platform.read() as s:
        [ref] = {e.payment_ref for e in s.scalars(select(LedgerEntry).where(LedgerEntry.kind == "share"))}
    invoice_id = ref.split(":", 1)[1]
    transfers = shop.stripe.sdk.v1.transfers.list(params={"transfer_group": invoice_id}).data
    assert sorted((t.destination, t.amount) for t in transfers) == sorted([(acct_a, 630), (acct_b, 270)])
    assert all(t.source_transaction and t.source_transaction.startswith("ch_") for t in transfers)
    shop.balanced(coop["id"])

    # a full refund: every share clawed back, both transfers reversed in full
    with shop.platform.read() as s:
        charge_ref = s.scalar(select(Revenue.charge_ref).where(Revenue.kind == "payment"))
    params = {"payment_intent": charge_ref} if charge_ref.startswith("pi_") else {"charge": charge_ref}
    shop.stripe.sdk.v1.refunds.create(params={**params, "amount": 1000})
    for e in shop.stripe.related(charge_ref):
        deliver(shop.client, e)
    shop.wait()
    for t in transfers:
        again = shop.stripe.sdk.v1.transfers.retrieve(t.id)
        assert again.reversed is True and again.amount_reversed == t.amount
    with shop.platform.read() as s:
        bal = ledger.balances(s, uuid.UUID(coop["id"]))
    assert bal == {str(shop.a.artist_id): {"usd": 0}, str(shop.b.artist_id): {"usd": 0}}
    shop.balanced(coop["id"])


def test_stripe_member_without_connected_account_is_owed_until_onboarded(stripe_shop):
    shop = stripe_shop
    acct_a = _onboard(shop, shop.a)
    coop, bundle = shop.found_with_bundle()
    shop.pick(coop, bundle, shop.a, shop.own_tier(shop.a).id)
    shop.pick(coop, bundle, shop.b, None)
    r = shop.client.post("/api/v1/billing/checkout", json={"tier_id": bundle["tier_id"]}, headers=shop.fan.headers)
    paid = shop.stripe.post(f"/_test/checkout/{r.json()['id']}/pay")
    for e in shop.stripe.related(paid["subscription"], paid["id"]):
        deliver(shop.client, e)
    shop.wait()
    with shop.platform.read() as s:
        bal = ledger.balances(s, uuid.UUID(coop["id"]))
    assert bal[str(shop.a.artist_id)] == {"usd": 0} and bal[str(shop.b.artist_id)] == {"usd": 270}
    from musicconnect_coop.bundle_models import Payout
    from musicconnect_coop.payouts import _payout_sweep
    for _ in range(3):  # sweeps before the member onboards: still owed, and one refused row, not one per sweep
        assert _payout_sweep(types.SimpleNamespace(platform=shop.platform))["moved"] == 0
    with shop.platform.read() as s:
        rows = s.scalars(select(Payout).where(Payout.artist_id == shop.b.artist_id)).all()
    assert [(r.kind, r.status) for r in rows] == [("transfer", "failed")]
    acct_b = _onboard(shop, shop.b)
    assert _payout_sweep(types.SimpleNamespace(platform=shop.platform))["moved"] == 270
    with shop.platform.read() as s:
        rows = s.scalars(select(Payout).where(Payout.artist_id == shop.b.artist_id)).all()
    assert [(r.kind, r.status, r.amount) for r in rows] == [("transfer", "done", 270)]
    with shop.platform.read() as s:
        assert ledger.balances(s, uuid.UUID(coop["id"]))[str(shop.b.artist_id)] == {"usd": 0}
    dests = {t.destination for t in shop.stripe.sdk.v1.transfers.list(params={"limit": 100}).data}
    assert {acct_a, acct_b} <= dests
    shop.balanced(coop["id"])
