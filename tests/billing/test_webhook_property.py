"""Property: whatever Stripe does to a subscription and however its events arrive — duplicated,
reordered, delayed — the entitlement always equals a model of the expected state, and nothing is
ever granted twice.

Each example creates a subscription at the real Stripe-API server, then interleaves random
operations at Stripe (upgrade, downgrade, cancel at period end, resume, a failed or a paid
renewal, deletion) with random deliveries of the events produced so far."""
from __future__ import annotations

import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from musicconnect.models import DomainEvent, Entitlement, Tier
from musicconnect.testing import make_user
from musicconnect_billing import catalog
from musicconnect_billing.models import Customer
from musicconnect_billing.stripe_gateway import StripeGateway
from tests.billing.conftest import deliver, onboard

OPS = ("downgrade", "upgrade", "cancel_at_end", "resume", "renew_fail", "renew_ok", "delete")
SYNCING = ("customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted",
           "checkout.session.completed", "invoice.paid", "invoice.payment_failed")


class Model:
    """What the entitlement must be, given the Stripe states our processing has observed."""

    def __init__(self, ranks: dict[str, int]):
        self.ranks = ranks
        self.granted = False
        self.ended = False
        self.rank: int | None = None
        self.status: str | None = None

    def observe(self, sub: dict) -> None:
        if self.ended:
            return
        status = sub["status"]
        if status in ("canceled", "unpaid", "incomplete_expired"):
            self.ended = self.granted
            return
        if status not in ("active", "trialing", "past_due"):
            return
        rank = self.ranks[sub["items"]["data"][0]["price"]["id"]]
        # an upgrade applies at once; a downgrade waits for the period end (the clock is frozen before it)
        self.rank = rank if not self.granted or rank >= self.rank else self.rank
        self.granted = True
        self.status = "past_due" if status == "past_due" else "cancelled" if sub["cancel_at_period_end"] else "active"

    def expected(self) -> tuple[int, str] | None:
        if not self.granted:
            return None
        return (None, "ended") if self.ended else (self.rank, self.status)


@given(data=st.data())
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
def test_entitlements_follow_the_model_whatever_the_delivery(stripe_env, data):
    env = stripe_env
    platform, sdk = env.platform, env.stripe.sdk
    if not getattr(env, "ready", False):
        onboard(env)
        api = StripeGateway(platform.plugin_settings("billing"))
        with platform.session() as s:
            tiers = {k: s.get(Tier, env.tiers[k].id) for k in ("supporter", "superfan")}
        env.prices = {k: catalog.current_price(platform, api, t, "month") for k, t in tiers.items()}
        env.ready = True
    prices = env.prices
    ranks = {prices["supporter"]: env.tiers["supporter"].rank, prices["superfan"]: env.tiers["superfan"].rank}
    rank_of_tier = {env.tiers[k].id: env.tiers[k].rank for k in ("supporter", "superfan")}

    fan = make_user(platform, "fan")
    cus = sdk.v1.customers.create(params={"email": fan.email})
    with platform.session() as s:
        s.add(Customer(id=uuid.uuid4(), provider="stripe", user_id=fan.id, external_id=cus.id,
                       created_at=platform.clock.now()))
    sdk.v1.payment_methods.attach("pm_card_visa", params={"customer": cus.id})
    sdk.v1.customers.update(cus.id, params={"invoice_settings": {"default_payment_method": "pm_card_visa"}})
    start = data.draw(st.sampled_from(["superfan", "supporter"]), label="start tier")
    sub_id = sdk.v1.subscriptions.create(params={"customer": cus.id, "items": [{"price": prices[start]}]}).id

    model = Model(ranks)
    delivered: list[dict] = []
    delivered_ids: set[str] = set()
    alive = True
    ops = data.draw(st.lists(st.sampled_from(OPS), max_size=6), label="operations")
    for op in [*ops, "flush"]:
        if alive and op != "flush":
            alive = _operate(env, sub_id, op, prices)
        produced = env.stripe.related(sub_id, cus.id)
        pending = [e for e in produced if e["id"] not in delivered_ids]
        if op == "flush":
            batch = pending + data.draw(st.lists(st.sampled_from(delivered), max_size=3), label="dupes") if delivered \
                else pending
        else:
            batch = data.draw(st.lists(st.sampled_from(pending + delivered), max_size=6, unique_by=None), label="batch") \
                if pending + delivered else []
        batch = data.draw(st.permutations(batch), label="order")
        truth = sdk.v1.subscriptions.retrieve(sub_id).to_dict()
        for e in batch:
            assert deliver(env.client, e).status_code == 200
        env.wait()
        if any(e["id"] not in delivered_ids and e["type"] in SYNCING for e in batch):
            model.observe(truth)
        for e in batch:
            if e["id"] not in delivered_ids:
                delivered_ids.add(e["id"])
                delivered.append(e)
        _check(env, fan, sub_id, model, rank_of_tier)


def _operate(env, sub_id: str, op: str, prices: dict) -> bool:
    """Do ``op`` at Stripe; returns whether the subscription still exists."""
    sdk = env.stripe.sdk
    sub = sdk.v1.subscriptions.retrieve(sub_id)
    if sub.status == "canceled":
        return False
    item = sub["items"].data[0]
    if op in ("upgrade", "downgrade"):
        target = prices["superfan" if op == "upgrade" else "supporter"]
        if item.price.id != target:
            sdk.v1.subscriptions.update(sub_id, params={
                "items": [{"id": item.id, "price": target}],
                "proration_behavior": "create_prorations" if op == "upgrade" else "none"})
    elif op in ("cancel_at_end", "resume"):
        sdk.v1.subscriptions.update(sub_id, params={"cancel_at_period_end": op == "cancel_at_end"})
    elif op in ("renew_fail", "renew_ok"):
        env.stripe.post(f"/_test/subscriptions/{sub_id}/renew",
                        payment_method="pm_card_chargeCustomerFail" if op == "renew_fail" else "pm_card_visa")
    elif op == "delete":
        sdk.v1.subscriptions.cancel(sub_id)
        return False
    return True


def _check(env, fan, sub_id: str, model: Model, rank_of_tier: dict) -> None:
    with env.platform.session() as s:
        ents = s.scalars(select(Entitlement).where(Entitlement.user_id == fan.id)).all()
        granted = s.scalar(select(func.count()).select_from(DomainEvent).where(
            DomainEvent.type == "entitlement.granted", DomainEvent.data["user_id"].as_string() == str(fan.id))) \
            if s.get_bind().dialect.name == "postgresql" else sum(
            1 for d in s.scalars(select(DomainEvent.data).where(DomainEvent.type == "entitlement.granted"))
            if d.get("user_id") == str(fan.id))
    assert len(ents) <= 1 and granted <= 1, "granted twice"
    expected = model.expected()
    if expected is None:
        assert ents == []
        return
    [ent] = ents
    assert ent.source_ref == sub_id
    rank, status = expected
    assert ent.status == status
    if status != "ended":
        assert rank_of_tier[ent.tier_id] == rank
