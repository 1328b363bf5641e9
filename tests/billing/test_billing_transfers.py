"""Separate charges and transfers: a seller whose split has payees (a co-op's members) is charged
on the platform, the payees get Transfers from the paid invoice's charge, refunds and disputes
carry the original shares so a payee plugin can claw back. Against the Stripe-API test server
(through billing's ``transfer`` / ``reverse_transfer`` capabilities) and the sandbox."""
from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import select

import musicconnect_billing.plugin as billing
import musicconnect_fanclub.plugin as fanclub
from musicconnect import Problem, RevenueShare, hookimpl
from musicconnect.models import DomainEvent
from musicconnect.testing import make_user
from musicconnect_billing.models import Revenue, SandboxObject, Subscription
from tests.billing.conftest import STRIPE_KEY, WEBHOOK_SECRET, Env, Stripe, deliver, onboard


class payees:
    """A co-op-like plugin: half of what its seller is paid goes to one member (a payee)."""

    seller: uuid.UUID | None = None
    member: uuid.UUID | None = None
    contexts: list = []

    @staticmethod
    @hookimpl
    def revenue_shares(platform, artist_id, amount, currency, payment):
        if artist_id != payees.seller:
            return []
        payees.contexts.append(payment)
        return [RevenueShare("coop", amount // 2, "member share", payee_artist_id=payees.member)]


def _make(mc_make_platform, config):
    from starlette.testclient import TestClient

    from musicconnect.app import create_app

    payees.contexts = []
    p = mc_make_platform(extra_plugins=[("billing", billing), ("fanclub", fanclub), ("payees", payees)],
                         entry_points=False, plugin_config={"billing": config})
    seller = make_user(p, "artist", artist_name="The Co-op")
    member = make_user(p, "artist", artist_name="Member")
    payees.seller, payees.member = seller.artist_id, member.artist_id
    fan, admin = make_user(p, "fan"), make_user(p, "admin")
    tiers = {t.key: t for t in p.access.tiers(seller.artist_id)}
    return p, seller, member, fan, admin, tiers, TestClient(create_app(p, state_poll_interval=0.2))


@pytest.fixture
def coop_stripe(mc_make_platform, stripe_url):
    p, seller, member, fan, admin, tiers, client = _make(mc_make_platform, {
        "stripe_secret_key": STRIPE_KEY, "stripe_api_base": stripe_url, "stripe_webhook_secrets": WEBHOOK_SECRET})
    with client:
        env = Env(client, p, seller, fan, admin, tiers)
        env.member = member
        env.stripe = Stripe(stripe_url)
        yield env
        env.stripe.http.close()


@pytest.fixture
def coop_sandbox(mc_make_platform):
    p, seller, member, fan, admin, tiers, client = _make(mc_make_platform, {"sandbox": True})
    with client:
        env = Env(client, p, seller, fan, admin, tiers)
        env.member = member
        yield env


def _paid(env) -> DomainEvent:
    with env.platform.session() as s:
        [fact] = s.scalars(select(DomainEvent).where(DomainEvent.type == "payment.succeeded")).all()
        s.expunge(fact)
    return fact


def _one(env, type_) -> DomainEvent:
    with env.platform.session() as s:
        [fact] = s.scalars(select(DomainEvent).where(DomainEvent.type == type_)).all()
        s.expunge(fact)
    return fact


def _call(env, provider, capability, **kw):
    return env.platform.payments.call(provider, capability, **kw)


def _onboard_member(env) -> str:
    seller = env.artist
    env.artist = env.member
    try:
        return onboard(env)
    finally:
        env.artist = seller


def test_stripe_separate_charge_transfers_reversals_and_refund_shares(coop_stripe):
    env = coop_stripe
    # the seller has no connected account of its own and can still sell: the charge stays on the platform
    r = env.client.post("/api/v1/billing/checkout", json={"tier_id": str(env.tiers["supporter"].id)},
                        headers=env.fan.headers)
    assert r.status_code == 201, r.text
    assert payees.contexts[-1] is None  # the checkout asked for a preview split
    paid = env.stripe.post(f"/_test/checkout/{r.json()['id']}/pay")
    for e in env.stripe.related(paid["subscription"], paid["id"]):
        assert deliver(env.client, e).status_code == 200
    env.wait()
    sub = env.stripe.sdk.v1.subscriptions.retrieve(paid["subscription"]).to_dict()
    assert not sub.get("transfer_data") and not sub.get("application_fee_percent")

    fact = _paid(env)
    invoice_id, charge = fact.subject_id, fact.data["charge"]
    ctx = payees.contexts[-1]
    assert ctx.external_id == invoice_id and ctx.provider == "stripe" and ctx.user_id == env.fan.id
    assert ctx.period_start is not None and ctx.period_end > ctx.period_start
    assert fact.data["platform_fee"] == 50 and fact.data["artist_net"] == 500 - 50 - 250
    share = next(s for s in fact.data["shares"] if s["payee_artist_id"])
    assert share == {"party": "coop", "amount": 250, "reason": "member share",
                     "payee_artist_id": str(env.member.artist_id)}
    with env.platform.session() as s:
        rev = s.scalar(select(Revenue).where(Revenue.kind == "payment"))
        assert (rev.gross, rev.platform_fee, rev.artist_net) == (500, 50, 200)  # the same meanings as the core's

    # a member without a payout-enabled account: a clear 409, nothing at Stripe
    with pytest.raises(Problem) as exc:
        _call(env, "stripe", "transfer", artist_id=env.member.artist_id, amount=250, currency="USD",
              source_ref=invoice_id, idempotency_key=f"coop-{invoice_id}-m", metadata={})
    assert (exc.value.status, exc.value.slug) == (409, "payout-account-missing")
    assert env.stripe.sdk.v1.transfers.list(params={"transfer_group": invoice_id}).data == []

    acct = _onboard_member(env)
    key = f"coop-{invoice_id}-{env.member.artist_id}"
    tr = _call(env, "stripe", "transfer", artist_id=env.member.artist_id, amount=250, currency="USD",
               source_ref=invoice_id, idempotency_key=key, metadata={"coop": "1"})
    assert tr["id"].startswith("tr_") and tr["status"] == "paid"
    again = _call(env, "stripe", "transfer", artist_id=env.member.artist_id, amount=250, currency="USD",
                  source_ref=invoice_id, idempotency_key=key, metadata={"coop": "1"})
    assert again["id"] == tr["id"]  # Stripe's idempotency key: the same transfer
    [at_stripe] = env.stripe.sdk.v1.transfers.list(params={"transfer_group": invoice_id}).data
    behind = charge if charge.startswith("ch_") else env.stripe.sdk.v1.payment_intents.retrieve(charge).latest_charge
    assert (at_stripe.id, at_stripe.destination, at_stripe.amount, at_stripe.source_transaction) == (
        tr["id"], acct, 250, behind)
    assert behind.startswith("ch_")
    assert at_stripe.metadata["coop"] == "1" and at_stripe.metadata["artist_id"] == str(env.member.artist_id)
    # more than the charge holds cannot be transferred from it
    with pytest.raises(Problem) as exc:
        _call(env, "stripe", "transfer", artist_id=env.member.artist_id, amount=251, currency="USD",
              source_ref=invoice_id, idempotency_key=key + "-more", metadata={})
    assert exc.value.status == 502 and "exceed" in exc.value.detail

    # reversals: partial, then never more than is left
    trr = _call(env, "stripe", "reverse_transfer", transfer_id=tr["id"], amount=100, idempotency_key=key + "-r1")
    assert trr["id"].startswith("trr_")
    with pytest.raises(Problem) as exc:
        _call(env, "stripe", "reverse_transfer", transfer_id=tr["id"], amount=151, idempotency_key=key + "-r2")
    assert (exc.value.status, exc.value.slug) == (409, "transfer-over-reversed")
    _call(env, "stripe", "reverse_transfer", transfer_id=tr["id"], amount=150, idempotency_key=key + "-r3")
    listed = env.stripe.http.get(f"/v1/transfers/{tr['id']}/reversals").json()["data"]
    assert [x["amount"] for x in listed] == [100, 150]
    assert env.stripe.sdk.v1.transfers.retrieve(tr["id"]).reversed is True
    assert {"transfer.created", "transfer.reversed"} <= {e["type"] for e in env.stripe.related(tr["id"], invoice_id)}

    # a partial refund: the event carries the original shares (with payees) and the fraction, as integers
    with env.platform.session() as s:
        charge_ref = s.scalar(select(Revenue.charge_ref).where(Revenue.kind == "payment"))
    params = {"payment_intent": charge_ref} if charge_ref.startswith("pi_") else {"charge": charge_ref}
    env.stripe.sdk.v1.refunds.create(params={**params, "amount": 100})
    for e in env.stripe.related(charge_ref):
        deliver(env.client, e)
    env.wait()
    refunded = _one(env, "payment.refunded")
    assert refunded.data["fraction"] == {"refunded_amount": 100, "amount": 500}
    assert refunded.data["shares"] == fact.data["shares"] and refunded.data["payment"] == invoice_id
    with env.platform.session() as s:
        row = s.scalar(select(Revenue).where(Revenue.kind == "refund"))
        assert (row.gross, row.platform_fee, row.artist_net) == (-100, -10, -40)  # the payee's 50 is the plugin's


def test_stripe_server_refuses_bad_transfers_in_stripe_shape(coop_stripe):
    env = coop_stripe
    http = env.stripe.http
    r = http.post("/v1/transfers", data={"amount": 100, "currency": "usd", "destination": "acct_nope"})
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    assert r.json()["error"]["code"] == "resource_missing"
    acct = _onboard_member(env)
    assert http.post("/v1/transfers", data={"amount": 0, "currency": "usd", "destination": acct}).status_code == 400
    r = http.post("/v1/transfers", data={"amount": 100, "currency": "usd", "destination": acct,
                                         "source_transaction": "ch_missing"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "source_transaction"
    # idempotency like the rest of the server
    key = f"k-{uuid.uuid4()}"  # the server outlives this test (both test passes use it)
    body = {"amount": 70, "currency": "usd", "destination": acct, "transfer_group": key}
    one = http.post("/v1/transfers", data=body, headers={"Idempotency-Key": key})
    two = http.post("/v1/transfers", data=body, headers={"Idempotency-Key": key})
    assert one.json()["id"] == two.json()["id"] and two.headers.get("Idempotent-Replayed") == "true"
    assert http.post("/v1/transfers", data={**body, "amount": 71}, headers={"Idempotency-Key": key}).status_code == 400
    assert [t["id"] for t in http.get("/v1/transfers", params={"transfer_group": key}).json()["data"]] == [one.json()["id"]]
    assert http.post(f"/v1/transfers/{one.json()['id']}/reversals", data={"amount": 71}).status_code == 400
    # an account that has not finished onboarding cannot receive
    fresh = http.post("/v1/accounts", data={"type": "express"}).json()["id"]
    r = http.post("/v1/transfers", data={"amount": 5, "currency": "usd", "destination": fresh})
    assert r.status_code == 400 and r.json()["error"]["code"] == "insufficient_capabilities_for_transfer"
    assert isinstance(http, httpx.Client)


def test_stripe_dispute_won_gives_the_money_back(coop_stripe):
    env = coop_stripe
    r = env.client.post("/api/v1/billing/checkout", json={"tier_id": str(env.tiers["supporter"].id)},
                        headers=env.fan.headers)
    paid = env.stripe.post(f"/_test/checkout/{r.json()['id']}/pay")
    for e in env.stripe.related(paid["subscription"], paid["id"]):
        deliver(env.client, e)
    env.wait()
    with env.platform.session() as s:
        charge_ref = s.scalar(select(Revenue.charge_ref).where(Revenue.kind == "payment"))
    charge_id = env.stripe.sdk.v1.charges.retrieve(charge_ref).id if charge_ref.startswith("ch_") else None
    if charge_id is None:
        charge_id = env.stripe.sdk.v1.payment_intents.retrieve(charge_ref).latest_charge
    dp = env.stripe.post(f"/_test/charges/{charge_id}/dispute")
    for e in env.stripe.related(charge_id):
        deliver(env.client, e)
    env.wait()
    disputed = _one(env, "payment.disputed")
    assert disputed.data["fraction"] == {"refunded_amount": 500, "amount": 500} and disputed.data["shares"]
    closed = {"id": "evt_won_" + dp["id"], "object": "event", "type": "charge.dispute.closed", "created": 1,
              "data": {"object": {**dp, "status": "won"}}}
    assert deliver(env.client, closed).status_code == 200
    assert deliver(env.client, {**closed, "id": closed["id"] + "_again"}).status_code == 200
    env.wait()
    won = _one(env, "payment.dispute_won")
    assert won.data["shares"] == disputed.data["shares"] and won.data["fraction"]["refunded_amount"] == 500
    with env.platform.session() as s:
        rows = s.scalars(select(Revenue).where(Revenue.kind.in_(("dispute", "dispute_won")))).all()
        assert sorted(r.gross for r in rows) == [-500, 500]


def test_sandbox_transfers_refuse_overdraw_and_over_reversal(coop_sandbox):
    env = coop_sandbox
    r = env.client.post("/api/v1/billing/checkout", json={"tier_id": str(env.tiers["supporter"].id)},
                        headers=env.fan.headers)
    assert r.status_code == 201, r.text
    r = env.client.post(r.json()["url"] + "/pay", headers={"Accept": "application/json"})
    assert r.status_code == 200, r.text
    env.wait()
    fact = _paid(env)
    invoice_id = fact.subject_id
    ctx = payees.contexts[-1]
    assert ctx.external_id == invoice_id and ctx.period_end > ctx.period_start  # the sandbox fills the period
    assert fact.data["period_start"] == ctx.period_start.isoformat()
    with env.platform.session() as s:
        sub = s.scalar(select(Subscription))
        assert ctx.period_end == sub.current_period_end
    share = next(s for s in fact.data["shares"] if s["payee_artist_id"])["amount"]

    with pytest.raises(Problem) as exc:
        _call(env, "sandbox", "transfer", artist_id=uuid.uuid4(), amount=10, currency="USD", source_ref=invoice_id,
              idempotency_key="x", metadata={})
    assert (exc.value.status, exc.value.slug) == (409, "payout-account-missing")
    tr = _call(env, "sandbox", "transfer", artist_id=env.member.artist_id, amount=share, currency="USD",
               source_ref=invoice_id, idempotency_key="t1", metadata={})
    assert tr["id"].startswith("tr_") and tr["status"] == "paid"
    assert _call(env, "sandbox", "transfer", artist_id=env.member.artist_id, amount=share, currency="USD",
                 source_ref=invoice_id, idempotency_key="t1", metadata={})["id"] == tr["id"]
    # the invoice paid 500: 250 more is fine, one more cent is not
    _call(env, "sandbox", "transfer", artist_id=env.member.artist_id, amount=500 - share, currency="USD",
          source_ref=invoice_id, idempotency_key="t2", metadata={})
    with pytest.raises(Problem) as exc:
        _call(env, "sandbox", "transfer", artist_id=env.member.artist_id, amount=1, currency="USD",
              source_ref=invoice_id, idempotency_key="t3", metadata={})
    assert (exc.value.status, exc.value.slug) == (409, "transfer-exceeds-payment")
    with pytest.raises(Problem) as exc:
        _call(env, "sandbox", "transfer", artist_id=env.member.artist_id, amount=1, currency="USD",
              source_ref="in_sbx_missing", idempotency_key="t4", metadata={})
    assert exc.value.status == 409

    trr = _call(env, "sandbox", "reverse_transfer", transfer_id=tr["id"], amount=share - 1, idempotency_key="r1")
    assert trr["id"].startswith("trr_")
    assert _call(env, "sandbox", "reverse_transfer", transfer_id=tr["id"], amount=share - 1,
                 idempotency_key="r1")["id"] == trr["id"]  # replayed, not reversed twice
    with pytest.raises(Problem) as exc:
        _call(env, "sandbox", "reverse_transfer", transfer_id=tr["id"], amount=2, idempotency_key="r2")
    assert (exc.value.status, exc.value.slug) == (409, "transfer-over-reversed")
    _call(env, "sandbox", "reverse_transfer", transfer_id=tr["id"], amount=1, idempotency_key="r3")
    stored = _call(env, "sandbox", "fetch", kind="transfer", object_id=tr["id"])
    assert stored["amount_reversed"] == share and stored["reversed"] is True
    with env.platform.session() as s:
        kinds = sorted(o.kind for o in s.scalars(select(SandboxObject).where(
            SandboxObject.kind.in_(("transfer", "transfer_reversal")))))
    assert kinds == ["transfer", "transfer", "transfer_reversal", "transfer_reversal"]
