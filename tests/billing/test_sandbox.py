"""The offline sandbox provider: checkout, upgrade, downgrade, cancel, renewals, failures — the
same state machine, entitlements and events as Stripe, with no network."""
from __future__ import annotations


from sqlalchemy import select

from musicconnect.models import DomainEvent, Entitlement
from tests.helpers import problem


def _checkout(env, tier_key="supporter", interval="month", user=None):
    user = user or env.fan
    r = env.client.post("/api/v1/billing/checkout", json={"tier_id": str(env.tiers[tier_key].id), "interval": interval},
                        headers=user.headers)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["provider"] == "sandbox" and "/api/v1/billing/sandbox/checkout/" in body["url"]
    return body


def _pay(env, checkout):
    page = env.client.get(checkout["url"])
    assert page.status_code == 200 and "no real money" in page.text
    r = env.client.post(checkout["url"] + "/pay", headers={"Accept": "application/json"})
    assert r.status_code == 200, r.text
    env.wait()
    return r.json()["subscription_id"]


def _ents(env, user=None):
    with env.platform.session() as s:
        return s.scalars(select(Entitlement).where(Entitlement.user_id == (user or env.fan).id)).all()


def _events(env, type_):
    with env.platform.session() as s:
        return s.scalars(select(DomainEvent).where(DomainEvent.type == type_)).all()


def test_providers_list_the_sandbox_clearly_labelled(sandbox_env):
    r = sandbox_env.client.get("/api/v1/payment-providers")
    assert r.status_code == 200
    assert [(p["id"], p["plugin"]) for p in r.json()] == [("sandbox", "billing")]
    assert "no real money" in r.json()[0]["label"]
    paths = sandbox_env.client.get("/openapi.json").json()["paths"]
    for path in ("/api/v1/billing/checkout", "/api/v1/billing/portal", "/api/v1/billing/subscriptions/{sub_id}/change",
                 "/api/v1/billing/subscriptions/{sub_id}/preview", "/api/v1/billing/webhooks/{provider_id}",
                 "/api/v1/billing/connect"):
        assert path in paths


def test_subscribe_upgrade_downgrade_cancel(sandbox_env):
    env = sandbox_env
    sub_id = _pay(env, _checkout(env))
    [ent] = _ents(env)
    assert (ent.tier_id, ent.status, ent.source) == (env.tiers["supporter"].id, "active", "sandbox")
    assert len(_events(env, "payment.succeeded")) == 1
    assert len(_events(env, "payment.subscription.created")) == 1
    # revenue ledger: 5.00 gross, 10% platform fee
    r = env.client.get(f"/api/v1/billing/artists/{env.artist.artist_id}/revenue", headers=env.artist.headers)
    assert r.json()["totals"] == [{"currency": "USD", "gross": 500, "platform_fee": 50, "artist_net": 450,
                                   "provider_fee": None}]

    # the fan can read the supporter post gate now: the access context sees the entitlement
    r = env.client.get(f"/api/v1/billing/subscriptions/{sub_id}/preview",
                       params={"tier_id": str(env.tiers["superfan"].id)}, headers=env.fan.headers)
    assert r.status_code == 200, r.text
    preview = r.json()
    prorations = [line for line in preview["lines"] if line["proration"]]
    assert [line["amount"] for line in prorations] == [-500, 1000]  # the whole month is left on a frozen clock
    assert preview["amount_due"] == 500 + 1000

    r = env.client.post(f"/api/v1/billing/subscriptions/{sub_id}/change", json={"tier_id": str(env.tiers["superfan"].id)},
                        headers=env.fan.headers)
    assert r.status_code == 200, r.text
    assert r.json()["entitlement"]["tier_id"] == str(env.tiers["superfan"].id)  # upgrade: at once
    env.wait()

    r = env.client.post(f"/api/v1/billing/subscriptions/{sub_id}/change", json={"tier_id": str(env.tiers["supporter"].id)},
                        headers=env.fan.headers)
    body = r.json()
    assert body["tier_id"] == str(env.tiers["supporter"].id)
    assert body["entitlement"]["tier_id"] == str(env.tiers["superfan"].id)  # downgrade: at period end
    assert body["entitled_until"] is not None
    env.wait()

    r = env.client.post(f"/api/v1/billing/subscriptions/{sub_id}/cancel", headers=env.fan.headers)
    assert r.json()["entitlement"]["status"] == "cancelled" and r.json()["cancel_at_period_end"] is True
    r = env.client.post(f"/api/v1/billing/subscriptions/{sub_id}/resume", headers=env.fan.headers)
    assert r.json()["entitlement"]["status"] == "active"
    env.client.post(f"/api/v1/billing/subscriptions/{sub_id}/cancel", headers=env.fan.headers)
    env.wait()

    # the period ends: the downgrade would apply, but the subscription was cancelled, so it ends
    env.platform.clock.advance(days=32)
    env.platform.jobs.run_schedules()
    env.wait()
    [ent] = _ents(env)
    assert ent.status == "ended"
    assert len(_events(env, "entitlement.granted")) == 1
    assert len(_events(env, "payment.subscription.ended")) == 1


def test_renewal_failure_grace_then_access_ends(sandbox_env):
    env = sandbox_env
    problem(env.client.post("/api/v1/billing/checkout", json={"tier_id": str(env.tiers["superfan"].id),
                                                              "interval": "year"}, headers=env.fan.headers),
            422, "no-yearly-price")
    r = env.client.patch(f"/api/v1/artists/{env.artist.artist_id}/tiers/{env.tiers['superfan'].id}",
                         json={"yearly_amount": 10000}, headers=env.artist.headers)
    assert r.status_code == 200, r.text
    sub_id = _pay(env, _checkout(env, "superfan", "year"))
    r = env.client.get(f"/api/v1/billing/subscriptions/{sub_id}", headers=env.fan.headers)
    assert (r.json()["amount"], r.json()["interval"]) == (10000, "year")
    r = env.client.post(f"/api/v1/billing/sandbox/subscriptions/{sub_id}/renew", json={"fail": True},
                        headers=env.admin.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "past_due" and r.json()["entitlement"]["status"] == "past_due"
    env.wait()
    assert len(_events(env, "payment.failed")) == 1
    # still in the grace period: access kept
    env.platform.clock.advance(days=6)
    assert _ents(env)[0].expires_at > env.platform.clock.now()
    env.platform.clock.advance(days=2)
    env.platform.jobs.run_schedules()
    env.wait()
    [ent] = _ents(env)
    assert ent.status == "ended"


def test_checkout_refusals(sandbox_env):
    env = sandbox_env
    problem(env.client.post("/api/v1/billing/checkout", json={"tier_id": str(env.tiers["free"].id)},
                            headers=env.fan.headers), 422, "free-tier")
    problem(env.client.post("/api/v1/billing/checkout", json={"tier_id": str(env.tiers["supporter"].id)},
                            headers=env.artist.headers), 409, "own-tier")
    problem(env.client.post("/api/v1/billing/checkout", json={"tier_id": str(env.tiers["supporter"].id),
                                                              "provider": "paypal"}, headers=env.fan.headers),
            404, "unknown-payment-provider")
    _pay(env, _checkout(env))
    problem(env.client.post("/api/v1/billing/checkout", json={"tier_id": str(env.tiers["superfan"].id)},
                            headers=env.fan.headers), 409, "already-subscribed")
    problem(env.client.post("/api/v1/billing/checkout", json={"tier_id": str(env.tiers["supporter"].id)},
                            headers=env.fan.headers), 409, "already-subscribed")


def test_sandbox_refuses_production(mc_make_platform):
    import musicconnect_billing.plugin as billing
    from musicconnect_billing import providers

    p = mc_make_platform(extra_plugins=[("billing", billing)], entry_points=False, env="production",
                         secret_key="x" * 40, plugin_config={"billing": {"sandbox": True}})
    assert providers.enabled(p) == []
    assert p.payments.providers() == {}


def test_a_downgrade_takes_effect_at_the_renewal(sandbox_env):
    env = sandbox_env
    sub_id = _pay(env, _checkout(env, "superfan"))
    r = env.client.post(f"/api/v1/billing/subscriptions/{sub_id}/change", json={"tier_id": str(env.tiers["supporter"].id)},
                        headers=env.fan.headers)
    assert r.json()["entitlement"]["tier_id"] == str(env.tiers["superfan"].id)
    preview = env.client.get(f"/api/v1/billing/subscriptions/{sub_id}/preview", headers=env.fan.headers).json()
    assert preview["amount_due"] == 500 and not any(line["proration"] for line in preview["lines"])
    env.wait()
    env.platform.clock.advance(days=31)  # the month paid at superfan is over: renewal at supporter
    env.platform.jobs.run_schedules()
    env.wait()
    [ent] = _ents(env)
    assert (ent.tier_id, ent.status) == (env.tiers["supporter"].id, "active")
    r = env.client.get(f"/api/v1/billing/artists/{env.artist.artist_id}/revenue",
                       headers=env.artist.renew(env.platform).headers)
    assert [e["gross"] for e in r.json()["entries"]] == [500, 1000]  # renewal at the new price, then the first


def test_downgrades_can_apply_at_once(mc_make_platform):
    from tests.billing.conftest import Env, _env

    p, artist, fan, admin, tiers, client = _env(mc_make_platform, {"downgrade_at": "immediately", "sandbox": True})
    with client:
        env = Env(client, p, artist, fan, admin, tiers)
        sub_id = _pay(env, _checkout(env, "superfan"))
        r = env.client.post(f"/api/v1/billing/subscriptions/{sub_id}/change",
                            json={"tier_id": str(env.tiers["supporter"].id)}, headers=env.fan.headers)
        assert r.json()["entitlement"]["tier_id"] == str(env.tiers["supporter"].id)
        preview = env.client.get(f"/api/v1/billing/subscriptions/{sub_id}/preview", headers=env.fan.headers).json()
        assert [line["amount"] for line in preview["lines"] if line["proration"]] == [-1000, 500]


def test_a_comped_tier_cannot_be_bought_again(sandbox_env):
    env = sandbox_env
    r = env.client.post(f"/api/v1/artists/{env.artist.artist_id}/comps",
                        json={"email": env.fan.email, "tier_id": str(env.tiers["superfan"].id)}, headers=env.artist.headers)
    assert r.status_code == 201, r.text
    for key in ("supporter", "superfan"):
        problem(env.client.post("/api/v1/billing/checkout", json={"tier_id": str(env.tiers[key].id)},
                                headers=env.fan.headers), 409, "tier-already-held")


def test_the_platform_fee_can_be_set_per_artist(sandbox_env):
    env = sandbox_env
    url = f"/api/v1/billing/artists/{env.artist.artist_id}/fee"
    problem(env.client.put(url, json={"percent": 5}, headers=env.artist.headers), 403)
    problem(env.client.put(url, json={"percent": 101}, headers=env.admin.headers), 422)
    r = env.client.put(url, json={"percent": "7.5"}, headers=env.admin.headers)
    assert r.status_code == 200 and r.json()["fee_percent"] == "7.5" and r.json()["fee_override"] is True
    _pay(env, _checkout(env))
    r = env.client.get(f"/api/v1/billing/artists/{env.artist.artist_id}/revenue", headers=env.artist.headers)
    assert r.json()["totals"][0] | {} == {"currency": "USD", "gross": 500, "platform_fee": 38, "artist_net": 462,
                                         "provider_fee": None}
    r = env.client.put(url, json={"percent": None}, headers=env.admin.headers)
    assert r.json()["fee_percent"] == "10" and r.json()["fee_override"] is False


def test_sandbox_portal_page_cancels_and_switches(sandbox_env):
    env = sandbox_env
    sub_id = _pay(env, _checkout(env))
    url = env.client.post("/api/v1/billing/portal", json={}, headers=env.fan.headers).json()["url"]
    page = env.client.get(url)
    assert page.status_code == 200 and "Switch to Superfan" in page.text
    token = url.split("/portal/")[1].split("?")[0]
    r = env.client.post(f"/api/v1/billing/sandbox/portal/{token}/subscriptions/{sub_id}/change",
                        data={"tier_id": str(env.tiers["superfan"].id)}, follow_redirects=False)
    assert r.status_code == 303
    r = env.client.post(f"/api/v1/billing/sandbox/portal/{token}/subscriptions/{sub_id}/cancel", follow_redirects=False)
    assert r.status_code == 303
    [ent] = _ents(env)
    assert (ent.tier_id, ent.status) == (env.tiers["superfan"].id, "cancelled")
    problem(env.client.get(url.replace(token, token[:-2] + "00")), 403, "portal-link-expired")
    other = env.platform  # another fan's token cannot touch this subscription
    from musicconnect.testing import make_user

    stranger = make_user(other, "fan")
    url2 = env.client.post("/api/v1/billing/portal", json={}, headers=stranger.headers).json()["url"]
    token2 = url2.split("/portal/")[1].split("?")[0]
    problem(env.client.post(f"/api/v1/billing/sandbox/portal/{token2}/subscriptions/{sub_id}/resume"), 404)


def test_an_older_fetch_never_overwrites_a_newer_one(sandbox_env):
    """A worker fetches the subscription, a change lands and is applied meanwhile, then the worker
    applies what it fetched: its earlier ticket loses, the entitlement keeps the newer state."""
    from musicconnect_billing import sandbox, state

    env = sandbox_env
    sub_id = _pay(env, _checkout(env))
    with env.platform.session() as s:
        from musicconnect_billing.models import Subscription

        ext = s.get(Subscription, __import__("uuid").UUID(sub_id)).external_id

    def slow_fetch():
        with env.platform.session() as s:
            stale = sandbox.get(s, ext, "subscription")  # supporter
        r = env.client.post(f"/api/v1/billing/subscriptions/{sub_id}/change",
                            json={"tier_id": str(env.tiers["superfan"].id)}, headers=env.fan.headers)
        assert r.json()["entitlement"]["tier_id"] == str(env.tiers["superfan"].id)
        return stale

    settings = env.platform.plugin_settings("billing")
    with env.platform.session() as s:
        row, note = state.sync(env.platform, s, settings, "sandbox", ext, slow_fetch)
    assert note == "a newer state was already applied"
    env.wait()
    [ent] = _ents(env)
    assert ent.tier_id == env.tiers["superfan"].id
