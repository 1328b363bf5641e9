"""Billing's part of a person's data export and erasure (GDPR): a fan's live subscriptions end
(sandbox: in the erasure's transaction; Stripe: cancelled now by a job queued with the erasure),
their customer links and events go, and the payment ledger is kept for tax law without them; an
artist who leaves loses the payout-account link and their prices are archived."""
from __future__ import annotations

import json

from sqlalchemy import String, cast, func, or_, select

from musicconnect.models import Job, User
from musicconnect.testing import make_user
from musicconnect_billing import privacy
from musicconnect_billing.models import (Account, Customer, Price, Revenue, SandboxObject, Subscription,
                                         WebhookEvent)
from tests.billing.conftest import deliver, onboard


def _sandbox_subscribe(env, user, tier="supporter"):
    r = env.client.post("/api/v1/billing/checkout", json={"tier_id": str(env.tiers[tier].id), "interval": "month"},
                        headers=user.headers)
    assert r.status_code == 201, r.text
    r = env.client.post(r.json()["url"] + "/pay", headers={"Accept": "application/json"})
    assert r.status_code == 200, r.text
    env.wait()
    with env.platform.read() as s:  # the provider's id of it
        import uuid

        return s.get(Subscription, uuid.UUID(r.json()["subscription_id"])).external_id


def _naming(p, user) -> int:
    """Billing rows that still name ``user`` (id in a column, id or email in a JSON payload)."""
    needles = [str(user.id), user.id.hex, user.email]
    with p.read() as s:
        n = 0
        for model, col in ((Customer, Customer.user_id), (Subscription, Subscription.user_id),
                           (Revenue, Revenue.user_id)):
            n += s.scalar(select(func.count()).select_from(model).where(col == user.id))
        for model, col in ((WebhookEvent, WebhookEvent.payload), (SandboxObject, SandboxObject.data)):
            n += s.scalar(select(func.count()).select_from(model)
                          .where(or_(*(cast(col, String).contains(x) for x in needles))))
        return n


def test_a_fan_on_the_sandbox_exports_and_is_erased_keeping_nameless_payments(sandbox_env):
    env, p = sandbox_env, sandbox_env.platform
    other = make_user(p)
    sub = _sandbox_subscribe(env, env.fan)
    _sandbox_subscribe(env, other)
    with p.read() as s:
        part = dict(p.export_user_data(s, s.get(User, env.fan.id)))["billing"]
    json.dumps(part.records)
    assert [x["external_id"] for x in part.records["subscriptions"]] == [sub]
    assert [(x["amount"], x["currency"], x["kind"]) for x in part.records["payments"]] == [(500, "USD", "payment")]
    assert [c["provider"] for c in part.records["customers"]] == ["sandbox"]
    assert "payout_account" not in part.records and "Card details" in part.notes

    assert _naming(p, env.fan) > 0
    others = _naming(p, other)
    with p.session() as s:
        report = privacy.erase(p, s, s.get(User, env.fan.id))
    assert report.erased["subscriptions_ended"] == 1 and report.erased["customers"] == 1
    [kept] = report.retained
    assert (kept.what, kept.count) == ("payment records", 1) and kept.why.startswith("tax law")
    assert kept.until.year == p.clock.now().year + 10
    assert _naming(p, env.fan) == 0
    assert _naming(p, other) == others  # the other fan's membership and payments are untouched
    with p.read() as s:
        rows = s.scalars(select(Revenue).where(Revenue.user_id.is_(None))).all()
        assert [(r.gross, r.currency, r.artist_id) for r in rows] == [(500, "USD", env.artist.artist_id)]
        # nothing was left for a provider to do: the sandbox ended it in the same transaction
        assert s.scalar(select(func.count()).select_from(Job).where(Job.actor == f"billing.{privacy.JOB}")) == 0
        assert s.get(SandboxObject, sub) is None
    # no renewal charges the erased fan's subscription a month later
    p.clock.advance(days=32)
    p.jobs.run_schedules()
    env.wait()
    with p.read() as s:
        assert s.scalar(select(func.count()).select_from(Revenue).where(Revenue.user_id.is_(None))) == 1


def test_an_artist_who_leaves_on_the_sandbox_ends_fans_subscriptions(sandbox_env):
    env, p = sandbox_env, sandbox_env.platform
    sub = _sandbox_subscribe(env, env.fan)
    with p.session() as s:
        s.add(Account(artist_id=env.artist.artist_id, provider="stripe", external_id="acct_leaving",
                      updated_at=p.clock.now()))
    with p.read() as s:
        part = dict(p.export_user_data(s, s.get(User, env.artist.id)))["billing"]
    assert part.records["payout_account"][0]["account_id"] == "acct_leaving"
    assert [r["artist_net"] for r in part.records["revenue"]] == [450]
    with p.session() as s:
        report = privacy.erase(p, s, s.get(User, env.artist.id))
    assert report.erased["payout_account"] == 1 and report.erased["subscriptions_ended"] == 1
    assert {r.what for r in report.retained} == {"revenue records of your artist account", "payout account at Stripe"}
    with p.read() as s:
        assert s.get(Account, env.artist.artist_id) is None
        row = s.scalar(select(Subscription).where(Subscription.external_id == sub))
        assert (row.status, row.live_key) == ("canceled", None)
        assert s.get(SandboxObject, sub).data["status"] == "canceled"
        # the fan's own customer link and payment stay: they are not the one erased
        assert s.scalar(select(func.count()).select_from(Revenue).where(Revenue.user_id == env.fan.id)) == 1


def test_a_stripe_fan_is_cancelled_now_by_a_job_sent_only_with_the_erasure(stripe_env):
    from tests.billing.test_stripe import subscribe

    env, p = stripe_env, stripe_env.platform
    acct = onboard(env)
    sub, customer, _ = subscribe(env)
    assert env.stripe.sdk.v1.subscriptions.retrieve(sub).status == "active"

    # an erasure that rolls back sends nothing to Stripe
    class Boom(Exception):
        pass

    try:
        with p.session() as s:
            privacy.erase(p, s, s.get(User, env.fan.id))
            raise Boom
    except Boom:
        pass
    env.wait()
    assert env.stripe.sdk.v1.subscriptions.retrieve(sub).status == "active"
    with p.read() as s:
        assert s.scalar(select(func.count()).select_from(Customer).where(Customer.user_id == env.fan.id)) == 1

    with p.session() as s:  # the whole erasure: every plugin's part, the core's last (the user goes)
        report = dict(p.erase_user_data(s, s.get(User, env.fan.id)))["billing"]
    env.wait()
    assert report.erased["subscriptions_ended"] == 1
    assert env.stripe.sdk.v1.subscriptions.retrieve(sub).status == "canceled"  # now, not at period end
    assert _naming(p, env.fan) == 0
    with p.read() as s:
        assert s.scalar(select(func.count()).select_from(Revenue).where(Revenue.user_id.is_(None))) == 1
    # Stripe's news of the cancellation names a customer nobody holds any more: stored, not applied
    for e in env.stripe.related(sub):
        assert deliver(env.client, e).status_code == 200
    env.wait()
    with p.read() as s:
        assert s.scalar(select(func.count()).select_from(Subscription).where(Subscription.user_id == env.fan.id)) == 0
    assert acct


def test_a_stripe_artist_who_leaves_has_prices_archived(stripe_env):
    from tests.billing.test_stripe import subscribe

    env, p = stripe_env, stripe_env.platform
    onboard(env)
    sub, _, _ = subscribe(env)  # a fan of theirs: the subscription ends with the artist
    with p.read() as s:
        prices = [x.external_id for x in s.scalars(select(Price).where(Price.active.is_(True)))]
    assert prices
    with p.session() as s:
        report = privacy.erase(p, s, s.get(User, env.artist.id))
    env.wait()
    assert report.erased["prices_archived"] == len(prices)
    assert all(env.stripe.sdk.v1.prices.retrieve(x).active is False for x in prices)
    assert env.stripe.sdk.v1.subscriptions.retrieve(sub).status == "canceled"
    with p.read() as s:
        assert s.get(Account, env.artist.artist_id) is None
