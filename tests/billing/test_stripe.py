"""The Stripe path end to end against a real Stripe-API server on loopback: Connect onboarding,
catalogue sync, Checkout, webhooks (signed with Stripe's scheme), proration, portal, refunds,
disputes, failed renewals, and the failure paths the issue names."""
from __future__ import annotations

import json

from sqlalchemy import func, select

from musicconnect.models import DomainEvent, Entitlement
from musicconnect_billing.models import Price, Revenue, WebhookEvent
from tests.billing.conftest import deliver, onboard, sign
from tests.helpers import problem


def _count(env, model, *where):
    with env.platform.session() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def _events(env, type_):
    return _count(env, DomainEvent, DomainEvent.type == type_)


def _ent(env, user=None):
    with env.platform.session() as s:
        return s.scalars(select(Entitlement).where(Entitlement.user_id == (user or env.fan).id)).all()


def subscribe(env, tier="supporter", user=None, deliver_events=True):
    """Checkout → the fan pays on the hosted page → Stripe's events are delivered. Returns ids."""
    user = user or env.fan
    r = env.client.post("/api/v1/billing/checkout", json={"tier_id": str(env.tiers[tier].id)}, headers=user.headers)
    assert r.status_code == 201, r.text
    cs = r.json()
    assert cs["provider"] == "stripe" and cs["url"].endswith(f"/_test/checkout/{cs['id']}")
    paid = env.stripe.post(f"/_test/checkout/{cs['id']}/pay")
    events = env.stripe.related(paid["subscription"], paid["id"])
    if deliver_events:
        for e in events:
            assert deliver(env.client, e).status_code == 200
        env.wait()
    return paid["subscription"], paid["customer"], events


def test_connect_checkout_webhooks_and_the_platform_fee(stripe_env):
    env = stripe_env
    # not payable before onboarding
    problem(env.client.post("/api/v1/billing/checkout", json={"tier_id": str(env.tiers["supporter"].id)},
                            headers=env.fan.headers), 409, "artist-not-payable")
    acct = onboard(env)
    status = env.client.get("/api/v1/billing/connect", headers=env.artist.headers).json()
    assert status["charges_enabled"] and status["payouts_enabled"] and status["account_id"] == acct
    assert status["fee_percent"] == "10"

    sub_id, customer, events = subscribe(env)
    types = [e["type"] for e in events]
    assert {"customer.subscription.created", "invoice.paid", "checkout.session.completed"} <= set(types)
    [ent] = _ent(env)
    assert (ent.tier_id, ent.status, ent.source, ent.source_ref) == (env.tiers["supporter"].id, "active", "stripe", sub_id)

    # the subscription pays the artist, the platform keeps 10% as an application fee
    stripe_sub = env.stripe.sdk.v1.subscriptions.retrieve(sub_id)
    assert stripe_sub.application_fee_percent == 10.0
    assert stripe_sub.transfer_data["destination"] == acct
    with env.platform.session() as s:
        [rev] = s.scalars(select(Revenue)).all()
        assert (rev.kind, rev.gross, rev.platform_fee, rev.artist_net, rev.currency) == ("payment", 500, 50, 450, "USD")
        assert rev.provider_fee == 45  # Stripe's fee from the charge's balance transaction: 2.9% + 30 cents
        # the event carries it too: dashboards (analytics' net revenue) show what the artist keeps
        [paid] = s.scalars(select(DomainEvent).where(DomainEvent.type == "payment.succeeded")).all()
        assert paid.data["provider_fee"] == 45 and paid.data["artist_net"] == 450
    assert _events(env, "payment.succeeded") == 1 and _events(env, "entitlement.granted") == 1

    # every delivery again: acknowledged as duplicates, nothing granted or recorded twice
    for e in events:
        r = deliver(env.client, e)
        assert r.status_code == 200 and r.json()["duplicate"] is True
    env.wait()
    assert _events(env, "entitlement.granted") == 1 and _count(env, Revenue) == 1
    # unknown types are stored and acknowledged
    with env.platform.session() as s:
        stored = {r.type: r.status for r in s.scalars(select(WebhookEvent))}
    assert stored["checkout.session.completed"] == "processed"
    assert stored.get("payment_intent.succeeded", "ignored") == "ignored"

    # metrics (revenue is dated by Stripe's clock, which is real time; ours is frozen in June)
    from datetime import datetime, timezone

    r = env.client.get(f"/api/v1/artists/{env.artist.artist_id}/metrics", headers=env.artist.headers,
                       params={"metric": ["revenue_30d", "mrr", "active_subscribers", "churned_30d", "arpu"],
                               "end": datetime.now(timezone.utc).isoformat()})
    values = {m["id"]: m.get("value") for m in r.json()["metrics"]}
    assert values == {"revenue_30d": 500, "mrr": 500, "active_subscribers": 1, "churned_30d": 0, "arpu": 500}

    # one card, many artists: the same customer supports a second artist
    from musicconnect.testing import make_user

    other = make_user(env.platform, "artist", artist_name="Second")
    env_tiers = {t.key: t for t in env.platform.access.tiers(other.artist_id)}
    saved = env.artist, env.tiers
    env.artist, env.tiers = other, env_tiers
    onboard(env)
    sub2, customer2, _ = subscribe(env)
    env.artist, env.tiers = saved
    assert customer2 == customer and sub2 != sub_id
    assert len(_ent(env)) == 2


def test_upgrade_with_proration_downgrade_at_period_end_portal_cancel(stripe_env):
    env = stripe_env
    onboard(env)
    sub_id, customer, _ = subscribe(env)
    [mine] = env.client.get("/api/v1/billing/subscriptions", headers=env.fan.headers).json()
    superfan, supporter = env.tiers["superfan"], env.tiers["supporter"]

    r = env.client.get(f"/api/v1/billing/subscriptions/{mine['id']}/preview", params={"tier_id": str(superfan.id)},
                       headers=env.fan.headers)
    assert r.status_code == 200, r.text
    lines = r.json()["lines"]
    assert any(line["amount"] == -500 and "Unused time" in line["description"] for line in lines), lines

    r = env.client.post(f"/api/v1/billing/subscriptions/{mine['id']}/change", json={"tier_id": str(superfan.id)},
                        headers=env.fan.headers)
    assert r.status_code == 200, r.text
    assert r.json()["entitlement"]["tier_id"] == str(superfan.id)  # an upgrade applies at once
    stripe_sub = env.stripe.sdk.v1.subscriptions.retrieve(sub_id)
    assert stripe_sub["items"].data[0].price.unit_amount == 1000
    # the proration shows in the next invoice preview
    r = env.client.get(f"/api/v1/billing/subscriptions/{mine['id']}/preview", headers=env.fan.headers)
    assert any(line["proration"] and line["amount"] == -500 for line in r.json()["lines"]), r.json()

    r = env.client.post(f"/api/v1/billing/subscriptions/{mine['id']}/change", json={"tier_id": str(supporter.id)},
                        headers=env.fan.headers)
    body = r.json()
    assert body["tier_id"] == str(supporter.id) and body["entitlement"]["tier_id"] == str(superfan.id)
    problem(env.client.post(f"/api/v1/billing/subscriptions/{mine['id']}/change", json={"tier_id": str(supporter.id)},
                            headers=env.fan.headers), 409, "same-tier")

    r = env.client.post("/api/v1/billing/portal", json={"return_url": "http://testserver/back"}, headers=env.fan.headers)
    assert r.status_code == 200 and "/_test/portal/bps_" in r.json()["url"]

    r = env.client.post(f"/api/v1/billing/subscriptions/{mine['id']}/cancel", headers=env.fan.headers)
    assert r.json()["entitlement"]["status"] == "cancelled"
    # the webhooks that follow change nothing more
    for e in env.stripe.related(sub_id):
        deliver(env.client, e)
    env.wait()
    [ent] = _ent(env)
    assert (ent.status, ent.tier_id) == ("cancelled", superfan.id)
    assert _events(env, "entitlement.granted") == 1

    # the end: Stripe deletes the subscription
    env.stripe.sdk.v1.subscriptions.cancel(sub_id)
    for e in env.stripe.related(sub_id):
        deliver(env.client, e)
    env.wait()
    [ent] = _ent(env)
    assert ent.status == "ended"
    assert _events(env, "payment.subscription.ended") == 1
    from datetime import datetime, timezone

    r = env.client.get(f"/api/v1/artists/{env.artist.artist_id}/metrics", headers=env.artist.headers,
                       params={"metric": ["churned_30d", "active_subscribers"],
                               "end": datetime.now(timezone.utc).isoformat()})
    assert {m["id"]: m["value"] for m in r.json()["metrics"]} == {"churned_30d": 1, "active_subscribers": 0}


def test_bad_signatures_change_nothing_and_rotation_is_accepted(stripe_env):
    env = stripe_env
    event = {"id": "evt_sig_test", "type": "customer.subscription.created", "created": 1,
             "data": {"object": {"id": "sub_nope"}}}
    body = json.dumps(event).encode()
    url = "/api/v1/billing/webhooks/stripe"
    problem(env.client.post(url, content=body), 400, "invalid-signature")
    problem(env.client.post(url, content=body, headers={"Stripe-Signature": sign(body, "whsec_wrong")}), 400,
            "invalid-signature")
    problem(env.client.post(url, content=body, headers={"Stripe-Signature": sign(body, at=1)}), 400,
            "invalid-signature")  # too old: a replayed capture
    problem(env.client.post(url, content=body + b" ", headers={"Stripe-Signature": sign(body)}), 400,
            "invalid-signature")  # the body was altered
    assert _count(env, WebhookEvent) == 0
    # the previous secret still verifies during rotation; an unknown subscription is stored and acknowledged
    r = deliver(env.client, {**event, "id": "evt_rotated"}, secret="whsec_old_rotated")
    assert r.status_code == 200 and r.json()["duplicate"] is False
    problem(env.client.post(url, content=b"not json", headers={"Stripe-Signature": sign(b"not json")}), 400,
            "invalid-payload")
    env.wait()
    with env.platform.session() as s:
        row = s.scalar(select(WebhookEvent).where(WebhookEvent.event_id == "evt_rotated"))
    # the subscription does not exist at Stripe either: stored, acknowledged, not applied
    assert row.status == "ignored" and "does not exist" in row.note


def test_unknown_customer_is_stored_acknowledged_and_logged(stripe_env, caplog):
    env = stripe_env
    sdk = env.stripe.sdk
    cus = sdk.v1.customers.create(params={"email": "stranger@example.com"})
    prod = sdk.v1.products.create(params={"name": "elsewhere"})
    price = sdk.v1.prices.create(params={"product": prod.id, "currency": "usd", "unit_amount": 700,
                                         "recurring": {"interval": "month"}})
    sdk.v1.payment_methods.attach("pm_card_visa", params={"customer": cus.id})
    sdk.v1.customers.update(cus.id, params={"invoice_settings": {"default_payment_method": "pm_card_visa"}})
    sub = sdk.v1.subscriptions.create(params={"customer": cus.id, "items": [{"price": price.id}]})
    for e in env.stripe.related(sub.id):
        assert deliver(env.client, e).status_code == 200
    env.wait()
    with env.platform.session() as s:
        rows = s.scalars(select(WebhookEvent)).all()
    assert rows and all(r.status == "ignored" for r in rows), [(r.type, r.status, r.error) for r in rows]
    assert any("unknown" in (r.note or "") for r in rows)
    assert "stored, not applied" in caplog.text
    assert _ent(env, env.fan) == []


def test_out_of_order_delivery_reaches_the_in_order_state(stripe_env):
    env = stripe_env
    onboard(env)
    sub_id, _, created_events = subscribe(env, deliver_events=False)
    # a tier change and a cancellation happen at Stripe before any event arrives
    item = env.stripe.sdk.v1.subscriptions.retrieve(sub_id)["items"].data[0].id
    from musicconnect_billing import catalog
    from musicconnect_billing.stripe_gateway import StripeGateway

    api = StripeGateway(env.platform.plugin_settings("billing"))
    from musicconnect.models import Tier

    with env.platform.session() as s:
        superfan = s.get(Tier, env.tiers["superfan"].id)
    price = catalog.current_price(env.platform, api, superfan, "month")
    env.stripe.sdk.v1.subscriptions.update(sub_id, params={"items": [{"id": item, "price": price}],
                                                           "proration_behavior": "create_prorations"})
    env.stripe.sdk.v1.subscriptions.update(sub_id, params={"cancel_at_period_end": True})
    events = env.stripe.related(sub_id)
    for e in reversed(events):  # newest first
        assert deliver(env.client, e).status_code == 200
    env.wait()
    [ent] = _ent(env)
    assert (ent.tier_id, ent.status) == (env.tiers["superfan"].id, "cancelled")
    assert _events(env, "entitlement.granted") == 1


def test_refund_dispute_and_failed_renewal(stripe_env):
    env = stripe_env
    onboard(env)
    sub_id, customer, _ = subscribe(env)
    with env.platform.session() as s:
        payment = s.scalar(select(Revenue))
    charge_ref = payment.charge_ref
    # a partial refund of the first payment
    params = {"payment_intent": charge_ref} if charge_ref.startswith("pi_") else {"charge": charge_ref}
    env.stripe.sdk.v1.refunds.create(params={**params, "amount": 200})
    for e in env.stripe.related(charge_ref):
        deliver(env.client, e)
    env.wait()
    with env.platform.session() as s:
        refund = s.scalar(select(Revenue).where(Revenue.kind == "refund"))
        assert (refund.gross, refund.platform_fee, refund.artist_net) == (-200, -20, -180)
        charge_id = refund.external_id.split(":")[0]
    assert _events(env, "payment.refunded") == 1
    env.stripe.post(f"/_test/charges/{charge_id}/dispute")
    for e in env.stripe.related(charge_id):
        deliver(env.client, e)
    env.wait()
    assert _count(env, Revenue, Revenue.kind == "dispute") == 1 and _events(env, "payment.disputed") == 1

    # the renewal fails: past due with a grace period, then access ends when Stripe gives up
    env.stripe.post(f"/_test/subscriptions/{sub_id}/renew", payment_method="pm_card_chargeCustomerFail")
    for e in env.stripe.related(sub_id):
        deliver(env.client, e)
    env.wait()
    [ent] = _ent(env)
    assert ent.status == "past_due"
    assert ent.expires_at == env.platform.clock.now() + __import__("datetime").timedelta(days=7)
    assert _events(env, "payment.failed") == 1
    env.stripe.sdk.v1.subscriptions.cancel(sub_id)
    for e in env.stripe.related(sub_id):
        deliver(env.client, e)
    env.wait()
    assert _ent(env)[0].status == "ended"


def test_price_change_creates_a_new_price_and_archives_the_old(stripe_env):
    env = stripe_env
    onboard(env)
    sub_id, _, _ = subscribe(env)
    env.wait()
    with env.platform.session() as s:
        [old] = s.scalars(select(Price).where(Price.tier_id == env.tiers["supporter"].id)).all()
    r = env.client.patch(f"/api/v1/artists/{env.artist.artist_id}/tiers/{env.tiers['supporter'].id}",
                         json={"price_amount": 700, "yearly_amount": 7000}, headers=env.artist.headers)
    assert r.status_code == 200
    env.wait()  # the tier change queued a catalogue sync
    with env.platform.session() as s:
        rows = {(p.interval, p.amount, p.active) for p in s.scalars(select(Price).where(
            Price.tier_id == env.tiers["supporter"].id))}
    assert rows == {("month", 500, False), ("month", 700, True), ("year", 7000, True)}
    assert env.stripe.sdk.v1.prices.retrieve(old.external_id).active is False
    # the existing subscriber keeps the price they bought
    assert env.stripe.sdk.v1.subscriptions.retrieve(sub_id)["items"].data[0].price.id == old.external_id
    # syncing again changes nothing
    from musicconnect_billing.catalog import sync_artist
    from musicconnect_billing.stripe_gateway import StripeGateway

    counts = sync_artist(env.platform, StripeGateway(env.platform.plugin_settings("billing")), env.artist.artist_id)
    assert (counts["created"], counts["archived"]) == (0, 0)
    # retiring the tier archives its prices: nobody can buy it any more
    assert env.client.delete(f"/api/v1/artists/{env.artist.artist_id}/tiers/{env.tiers['supporter'].id}",
                             headers=env.artist.headers).status_code == 204
    env.wait()
    with env.platform.session() as s:
        prices = s.scalars(select(Price).where(Price.tier_id == env.tiers["supporter"].id)).all()
    assert prices and not any(p.active for p in prices)
    assert all(env.stripe.sdk.v1.prices.retrieve(p.external_id).active is False for p in prices)


def test_webhooks_without_the_fast_path(mc_make_platform, stripe_url):
    """``MC_FAST_PATH=false``: the same route, served by FastAPI."""
    from tests.billing.conftest import STRIPE_KEY, _env

    p, artist, fan, admin, tiers, client = _env(mc_make_platform, {
        "stripe_secret_key": STRIPE_KEY, "stripe_api_base": stripe_url,
        "stripe_webhook_secrets": "whsec_test_current"}, fast_path=False)
    with client:
        event = {"id": "evt_slow_path", "type": "ping", "created": 1, "data": {"object": {"id": "x"}}}
        assert deliver(client, event).json() == {"received": True, "duplicate": False, "id": "evt_slow_path"}
        assert deliver(client, event).json()["duplicate"] is True
        problem(client.post("/api/v1/billing/webhooks/stripe", content=b"{}"), 400, "invalid-signature")
        problem(client.post("/api/v1/billing/webhooks/paypal", content=b"{}"), 404, "unknown-payment-provider")


def test_failed_processing_is_retried_from_the_ledger(stripe_env, stripe_url):
    env = stripe_env
    onboard(env)
    config = env.platform.settings.plugin_config["billing"]
    config["stripe_api_base"] = "http://127.0.0.1:9"  # Stripe unreachable
    env.platform.cache.invalidate(("plugin-settings", "billing"))
    try:
        sub_id, _, events = subscribe_without_api(env)
    finally:
        config["stripe_api_base"] = stripe_url
        env.platform.cache.invalidate(("plugin-settings", "billing"))
    with env.platform.session() as s:
        failed = s.scalars(select(WebhookEvent).where(WebhookEvent.status == "failed")).all()
    assert failed and all(r.next_attempt_at is not None and "unreachable" in r.error for r in failed)
    assert _ent(env) == []
    env.platform.clock.advance(minutes=2)
    env.platform.jobs.run_schedules()
    env.wait()
    [ent] = _ent(env)
    assert ent.status == "active"
    assert _count(env, WebhookEvent, WebhookEvent.status == "failed") == 0


def subscribe_without_api(env):
    """Pay a checkout created straight at Stripe (our API cannot reach it) and deliver the events."""
    from musicconnect_billing.models import Account, Customer

    with env.platform.session() as s:
        acct = s.get(Account, env.artist.artist_id).external_id
    sdk = env.stripe.sdk
    tier = env.tiers["supporter"]
    prod = sdk.v1.products.create(params={"name": "Supporter"})
    price = sdk.v1.prices.create(params={"product": prod.id, "currency": "usd", "unit_amount": 500,
                                         "recurring": {"interval": "month"}, "metadata": {"tier_id": str(tier.id)}})
    cus = sdk.v1.customers.create(params={"email": env.fan.email})
    with env.platform.session() as s:
        s.add(Customer(id=__import__("uuid").uuid4(), provider="stripe", user_id=env.fan.id, external_id=cus.id,
                       created_at=env.platform.clock.now()))
    cs = sdk.v1.checkout.sessions.create(params={
        "mode": "subscription", "customer": cus.id, "line_items": [{"price": price.id, "quantity": 1}],
        "success_url": "https://x/ok", "subscription_data": {"application_fee_percent": 10,
                                                             "transfer_data": {"destination": acct}}})
    paid = env.stripe.post(f"/_test/checkout/{cs.id}/pay")
    events = env.stripe.related(paid["subscription"], cs.id)
    for e in events:
        assert deliver(env.client, e).status_code == 200  # acknowledged even though processing will fail
    env.wait()
    return paid["subscription"], cus.id, events
