"""Paying for a membership under concurrency: one checkout paid twenty times at once, several open
checkouts of one fan paid together or one after another, twenty checkouts started at once, two
Stripe tabs, and a duplicate subscription completed at Stripe. At most one live subscription per
(fan, artist), and revenue is recorded once per membership."""
from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select

from musicconnect.models import DomainEvent, Entitlement
from musicconnect.testing import concurrently
from musicconnect_billing.models import Customer, SandboxObject, Subscription
from tests.billing.conftest import deliver, onboard
from tests.helpers import problem

N = 20
JSON = {"Accept": "application/json"}


def _count(env, model, *where) -> int:
    with env.platform.session() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def _checkout(env, tier="supporter", user=None) -> dict:
    r = env.client.post("/api/v1/billing/checkout", json={"tier_id": str(env.tiers[tier].id)},
                        headers=(user or env.fan).headers)
    assert r.status_code == 201, r.text
    return r.json()


def _slug(resp) -> str:
    if resp.status_code < 400:
        return str(resp.status_code)
    return f"{resp.status_code} {resp.json()['type'].rsplit('/', 1)[-1]}"


def _live_subs(env, user=None) -> list[Subscription]:
    with env.platform.session() as s:
        return s.scalars(select(Subscription).where(Subscription.user_id == (user or env.fan).id,
                                                    Subscription.artist_id == env.artist.artist_id,
                                                    Subscription.status.in_(("active", "trialing", "past_due")),
                                                    Subscription.duplicate_of.is_(None))).all()


def _revenue(env) -> dict:
    r = env.client.get(f"/api/v1/billing/artists/{env.artist.artist_id}/revenue", headers=env.artist.headers)
    assert r.status_code == 200, r.text
    return r.json()


def _sandbox_subs(env) -> int:
    return _count(env, SandboxObject, SandboxObject.kind == "subscription")


# ------------------------------------------------------------------ sandbox

def test_one_checkout_paid_twenty_times_at_once_is_paid_once(sandbox_env):
    env = sandbox_env
    cs = _checkout(env)
    answers = concurrently(N, lambda i: env.client.post(cs["url"] + "/pay", headers=JSON))
    env.wait()
    assert Counter(_slug(r) for r in answers) == {"200": 1, "409 checkout-closed": N - 1}
    assert _sandbox_subs(env) == 1 and len(_live_subs(env)) == 1
    assert _count(env, Subscription) == 1
    with env.platform.session() as s:
        assert len(s.scalars(select(Entitlement).where(Entitlement.user_id == env.fan.id)).all()) == 1
    assert [t["gross"] for t in _revenue(env)["totals"]] == [500]
    # paying it again later is refused the same way
    problem(env.client.post(cs["url"] + "/pay", headers=JSON), 409, "checkout-closed")


def test_open_checkouts_of_one_fan_paid_at_once_give_one_subscription(sandbox_env):
    env = sandbox_env
    checkouts = [_checkout(env, "supporter" if i % 2 else "superfan") for i in range(N)]  # all allowed: none paid yet
    answers = concurrently(N, lambda i: env.client.post(checkouts[i]["url"] + "/pay", headers=JSON))
    env.wait()
    assert Counter(_slug(r) for r in answers) == {"200": 1, "409 already-subscribed": N - 1}
    assert _sandbox_subs(env) == 1 and len(_live_subs(env)) == 1 and _count(env, Subscription) == 1
    [winner] = [checkouts[i] for i, r in enumerate(answers) if r.status_code == 200]
    gross = 1000 if winner["url"] in [c["url"] for c in checkouts[::2]] else 500
    assert [t["gross"] for t in _revenue(env)["totals"]] == [gross]
    assert _count(env, DomainEvent, DomainEvent.type == "payment.succeeded") == 1
    # the refused checkouts stay open but cannot be paid while the subscription is live
    loser = checkouts[[r.status_code for r in answers].index(409)]
    problem(env.client.post(loser["url"] + "/pay", headers=JSON), 409, "already-subscribed")


def test_a_second_open_checkout_paid_after_the_first_went_live_is_refused(sandbox_env):
    env = sandbox_env
    first, second, third = _checkout(env), _checkout(env), _checkout(env, "superfan")
    r = env.client.post(first["url"] + "/pay", headers=JSON)
    assert r.status_code == 200, r.text
    env.wait()
    body = problem(env.client.post(second["url"] + "/pay", headers=JSON), 409, "already-subscribed")
    assert body["subscription_id"] == r.json()["subscription_id"]
    problem(env.client.post(third["url"] + "/pay", headers=JSON), 409, "already-subscribed")
    # a browser (no JSON) is refused as well, nothing is redirected to the success page
    problem(env.client.post(second["url"] + "/pay", follow_redirects=False), 409, "already-subscribed")
    env.wait()
    assert _sandbox_subs(env) == 1 and _count(env, Subscription) == 1
    assert [t["gross"] for t in _revenue(env)["totals"]] == [500]

    # once the subscription has ended, an open checkout may be paid again
    sub_id = r.json()["subscription_id"]
    assert env.client.post(f"/api/v1/billing/subscriptions/{sub_id}/cancel", headers=env.fan.headers).status_code == 200
    r = env.client.post(f"/api/v1/billing/sandbox/subscriptions/{sub_id}/renew", json={}, headers=env.admin.headers)
    assert r.status_code == 200 and r.json()["status"] == "canceled", r.text
    env.wait()
    r = env.client.post(third["url"] + "/pay", headers=JSON)
    assert r.status_code == 200, r.text
    env.wait()
    assert len(_live_subs(env)) == 1 and _count(env, Subscription) == 2


def test_twenty_checkouts_started_at_once_all_succeed(sandbox_env):
    env = sandbox_env
    body = {"tier_id": str(env.tiers["supporter"].id)}
    answers = concurrently(N, lambda i: env.client.post("/api/v1/billing/checkout", json=body, headers=env.fan.headers))
    assert Counter(_slug(r) for r in answers) == {"201": N}, [r.text for r in answers if r.status_code != 201][:2]
    assert _count(env, Customer, Customer.user_id == env.fan.id) == 1
    assert len({r.json()["id"] for r in answers}) == N


def test_one_live_membership_per_fan_and_artist_is_a_database_rule(sandbox_env):
    """Whatever path writes subscription rows, the database keeps one live membership per (fan,
    artist): the unique ``live_key``."""
    import uuid

    from sqlalchemy.exc import IntegrityError

    from musicconnect_billing import state

    env = sandbox_env
    r = env.client.post(_checkout(env)["url"] + "/pay", headers=JSON)
    assert r.status_code == 200
    now = env.platform.clock.now()
    try:
        with env.platform.session() as s:
            s.add(Subscription(id=uuid.uuid4(), provider="sandbox", external_id="sub_other", user_id=env.fan.id,
                               artist_id=env.artist.artist_id, status="active", created_at=now, updated_at=now,
                               live_key=state.live_key(env.fan.id, env.artist.artist_id)))
        raise AssertionError("a second live membership was stored")
    except IntegrityError:
        pass


# ------------------------------------------------------------------ Stripe

def test_two_tabs_reuse_one_stripe_checkout_session(stripe_env):
    env = stripe_env
    onboard(env)
    body = {"tier_id": str(env.tiers["supporter"].id)}
    answers = concurrently(N, lambda i: env.client.post("/api/v1/billing/checkout", json=body, headers=env.fan.headers))
    assert Counter(_slug(r) for r in answers) == {"201": N}, [r.text for r in answers if r.status_code != 201][:2]
    assert len({r.json()["id"] for r in answers}) == 1  # one session: paying it twice is impossible
    assert _count(env, Customer, Customer.user_id == env.fan.id) == 1
    # another tier (or interval) is another session
    other = env.client.post("/api/v1/billing/checkout", json={"tier_id": str(env.tiers["superfan"].id)},
                            headers=env.fan.headers)
    assert other.status_code == 201 and other.json()["id"] != answers[0].json()["id"]


def _pay_at_stripe(env, cs_id: str) -> dict:
    return env.stripe.post(f"/_test/checkout/{cs_id}/pay")


def _deliver_all(env, *ids: str) -> None:
    for e in env.stripe.related(*ids):
        assert deliver(env.client, e).status_code == 200
    env.wait()


def _assert_duplicate_cancelled_and_refunded(env, kept: str, dup: str, dup_amount: int, kept_amount: int) -> None:
    sdk = env.stripe.sdk
    assert sdk.v1.subscriptions.retrieve(dup).status == "canceled"
    assert sdk.v1.subscriptions.retrieve(kept).status == "active"
    [invoice] = [i for i in sdk.v1.invoices.list(params={"subscription": dup}).data if i.status == "paid"]
    latest = sdk.v1.payment_intents.retrieve(invoice.payment_intent).latest_charge
    charge = sdk.v1.charges.retrieve(latest if isinstance(latest, str) else latest["id"])
    assert charge.amount_refunded == dup_amount == invoice.amount_paid
    [refund] = sdk.v1.refunds.list(params={"charge": charge.id}).data
    assert refund.reason == "duplicate" and refund.transfer_reversal  # the artist's transfer is taken back
    asked = env.stripe.http.get(f"/_test/refunds/{refund.id}").json()
    assert asked == {"reason": "duplicate", "reverse_transfer": True, "refund_application_fee": True}
    with env.platform.session() as s:
        rows = {r.external_id: r for r in s.scalars(select(Subscription).where(Subscription.user_id == env.fan.id))}
        assert rows[dup].duplicate_of == rows[kept].id and rows[dup].status == "canceled"
        assert rows[dup].live_key is None and rows[kept].live_key is not None
        assert rows[dup].duplicate_closed_at is not None
        [ent] = s.scalars(select(Entitlement).where(Entitlement.user_id == env.fan.id)).all()
        assert (ent.source_ref, ent.status) == (kept, "active")
        [event] = s.scalars(select(DomainEvent).where(DomainEvent.type == "billing.duplicate_subscription_cancelled")).all()
        assert event.data["subscription"] == dup and event.data["kept"] == kept
        assert event.data["refunded"] == dup_amount
    assert len(_live_subs(env)) == 1
    totals = _revenue(env)["totals"]
    assert [t["gross"] for t in totals] == [kept_amount]  # the duplicate's payment and its refund cancel out
    r = env.client.get("/api/v1/billing/subscriptions", headers=env.fan.headers)
    assert {s["external_id"]: s["duplicate_of"] is not None for s in r.json()} == {kept: False, dup: True}


def test_a_duplicate_stripe_subscription_is_cancelled_and_refunded(stripe_env):
    env = stripe_env
    onboard(env)
    first = _checkout(env, "supporter")
    second = _checkout(env, "superfan")  # a second tab, another tier: a second session (no subscription yet)
    assert first["id"] != second["id"]
    a, b = _pay_at_stripe(env, first["id"]), _pay_at_stripe(env, second["id"])
    _deliver_all(env, a["subscription"], a["id"])
    assert len(_live_subs(env)) == 1
    _deliver_all(env, b["subscription"], b["id"])  # the duplicate goes live at Stripe: cancelled, refunded
    _deliver_all(env, b["subscription"], b["id"], b["customer"])  # and Stripe's answers (cancel, refund)
    _assert_duplicate_cancelled_and_refunded(env, a["subscription"], b["subscription"], 1000, 500)
    # the duplicate cannot be changed or cancelled by the fan; the kept one can
    with env.platform.session() as s:
        dup_row = s.scalar(select(Subscription).where(Subscription.external_id == b["subscription"]))
    problem(env.client.post(f"/api/v1/billing/subscriptions/{dup_row.id}/cancel", headers=env.fan.headers),
            409, "subscription-ended")


def test_duplicate_stripe_subscriptions_delivered_at_once_keep_one(stripe_env):
    env = stripe_env
    onboard(env)
    sessions = [_checkout(env, "supporter"), _checkout(env, "superfan")]
    paid = [_pay_at_stripe(env, cs["id"]) for cs in sessions]
    events = env.stripe.related(*[p["subscription"] for p in paid], *[p["id"] for p in paid])
    codes = concurrently(len(events), lambda i: deliver(env.client, events[i]).status_code)
    assert codes == [200] * len(events)
    env.wait()
    _deliver_all(env, *[p["subscription"] for p in paid], paid[0]["customer"])  # the cancellation and the refund
    [live] = _live_subs(env)
    kept = live.external_id
    dup = next(p["subscription"] for p in paid if p["subscription"] != kept)
    amounts = {paid[0]["subscription"]: 500, paid[1]["subscription"]: 1000}
    _assert_duplicate_cancelled_and_refunded(env, kept, dup, amounts[dup], amounts[kept])


def test_a_subscription_behind_a_late_cancellation_is_no_duplicate(stripe_env):
    """The fan's first subscription ended at Stripe but that news is late; the second one is
    checked against Stripe before anything is cancelled: it is reinstated, nothing is refunded."""
    env = stripe_env
    onboard(env)
    first, second = _checkout(env, "supporter"), _checkout(env, "superfan")
    a = _pay_at_stripe(env, first["id"])
    _deliver_all(env, a["subscription"], a["id"])
    env.stripe.sdk.v1.subscriptions.cancel(a["subscription"])  # its customer.subscription.deleted is not delivered
    b = _pay_at_stripe(env, second["id"])
    _deliver_all(env, b["subscription"], b["id"])
    sdk = env.stripe.sdk
    assert sdk.v1.subscriptions.retrieve(b["subscription"]).status == "active"
    [live] = _live_subs(env)
    assert live.external_id == b["subscription"]
    with env.platform.session() as s:
        ents = {e.source_ref: e.status for e in s.scalars(select(Entitlement).where(Entitlement.user_id == env.fan.id))}
        assert s.scalar(select(func.count()).select_from(DomainEvent).where(
            DomainEvent.type == "billing.duplicate_subscription_cancelled")) == 0
    assert ents == {a["subscription"]: "ended", b["subscription"]: "active"}
    assert [t["gross"] for t in _revenue(env)["totals"]] == [1500]  # both paid, nothing refunded


def test_the_upgrade_marks_duplicates_from_before_and_they_are_closed(sandbox_env):
    """Duplicates bought before the rule existed: the migration gives the membership to the
    oldest live subscription and marks the others; closing one ends it, refunds it and takes
    away the entitlement it had granted."""
    from sqlalchemy import update

    from musicconnect import migrate

    env = sandbox_env
    one, two = _checkout(env), _checkout(env)
    first = env.client.post(one["url"] + "/pay", headers=JSON).json()
    env.wait()
    with env.platform.session() as s:  # as before the rule: nothing stopped a second payment
        s.execute(update(Subscription).values(live_key=None))
    env.platform.clock.advance(minutes=5)
    second = env.client.post(two["url"] + "/pay", headers=JSON).json()
    env.wait()
    migrate.downgrade(env.platform, "billing", "billing_0001")
    migrate.upgrade(env.platform, only="billing")
    with env.platform.session() as s:
        rows = {str(r.id): r for r in s.scalars(select(Subscription))}
    a, b = rows[first["subscription_id"]], rows[second["subscription_id"]]
    assert a.live_key and b.live_key is None and b.duplicate_of == a.id
    assert [t["gross"] for t in _revenue(env)["totals"]] == [1000]

    env.platform.jobs.enqueue("billing.close_duplicates")  # the sweep
    env.wait()
    with env.platform.session() as s:
        ents = {e.source_ref: e.status for e in s.scalars(select(Entitlement).where(Entitlement.user_id == env.fan.id))}
        b = s.get(Subscription, b.id)
        assert (b.status, b.duplicate_closed_at is not None) == ("canceled", True)
        assert s.scalar(select(func.count()).select_from(DomainEvent).where(
            DomainEvent.type == "billing.duplicate_subscription_cancelled")) == 1
    assert ents == {a.external_id: "active", b.external_id: "ended"}
    assert [t["gross"] for t in _revenue(env)["totals"]] == [500]  # the duplicate's payment was refunded
    assert len(_live_subs(env)) == 1
