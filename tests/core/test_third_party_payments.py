"""A third-party payment provider (tests/invoice_provider_plugin.py: written against the core's
public contract only) works end to end through the HTTP API, with no change to billing:
checkout, a signed webhook, the fan's entitlement, the payment recorded with the platform fee;
a bad signature writes nothing and a replayed webhook changes nothing. Plus the core registry's
own rules (one provider per id, unsupported capabilities, the first contract's handle_webhook)."""
from __future__ import annotations

import json
import types

import pytest
from sqlalchemy import func, select

import invoice_provider_plugin as invoice
import musicconnect_billing.plugin as billing
from helpers import problem
from musicconnect import Problem
from musicconnect.contracts import PaymentProvider, ProviderEvent
from musicconnect.models import DomainEvent, Entitlement
from musicconnect.testing import make_user
from musicconnect_billing.models import Revenue

WEBHOOK = "/api/v1/billing/webhooks/invoice"


@pytest.fixture(params=[True, False], ids=["fast-path", "fastapi"])
def env(request, mc_make_platform):
    from starlette.testclient import TestClient

    from musicconnect.app import create_app

    plugin, service = invoice.make_plugin()
    # billing with neither Stripe nor the sandbox: it registers no provider of its own, and
    # contributes only its routes and the platform fee (10%)
    p = mc_make_platform(extra_plugins=[("billing", billing), ("invoice", plugin)], entry_points=False,
                         fast_path=request.param, plugin_config={"billing": {"sandbox": False}})
    artist = make_user(p, "artist", artist_name="Nova")
    fan = make_user(p, "fan")
    with TestClient(create_app(p)) as client:
        r = client.post(f"/api/v1/artists/{artist.artist_id}/tiers", headers=artist.headers,
                        json={"key": "patron", "name": "Patron", "rank": 7, "price_amount": 1200})
        assert r.status_code == 201, r.text
        yield types.SimpleNamespace(client=client, platform=p, artist=artist, fan=fan, service=service,
                                    tier_id=r.json()["id"])


def _written(p) -> dict[str, int]:
    with p.session() as s:
        return {"entitlements": s.scalar(select(func.count()).select_from(Entitlement)),
                "payments": s.scalar(select(func.count()).select_from(DomainEvent)
                                     .where(DomainEvent.type == "payment.succeeded")),
                "revenue": s.scalar(select(func.count()).select_from(Revenue))}


def _checkout(env) -> str:
    r = env.client.post("/api/v1/billing/checkout", headers=env.fan.headers,
                        json={"tier_id": env.tier_id, "provider": "invoice"})
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["provider"] == "invoice" and out["sandbox"] is False
    assert out["url"] == f"https://invoices.example/pay/{out['id']}"
    assert env.service.get(out["id"])["metadata"]["user_id"] == str(env.fan.id)  # from the token, not the client
    return out["id"]


def test_an_invoice_provider_sells_a_tier_end_to_end(env):
    assert [x["id"] for x in env.client.get("/api/v1/payment-providers").json()] == ["invoice"]
    inv = _checkout(env)
    before = _written(env.platform)
    assert before == {"entitlements": 0, "payments": 0, "revenue": 0}
    body, headers = env.service.pay(inv, paid_at=1)

    # a wrong secret, a tampered body (the amount lowered), no signature: 400 and nothing written
    _, forged = env.service.webhook(json.loads(body), secret="not-the-secret")
    problem(env.client.post(WEBHOOK, content=body, headers=forged), 400, "invalid-signature")
    problem(env.client.post(WEBHOOK, content=body.replace(b'"amount": 1200', b'"amount": 1'), headers=headers),
            400, "invalid-signature")
    problem(env.client.post(WEBHOOK, content=body), 400, "invalid-signature")
    assert _written(env.platform) == before

    r = env.client.post(WEBHOOK, content=body, headers=headers)
    assert r.status_code == 200, r.text
    event_id = json.loads(body)["id"]
    assert r.json() == {"received": True, "id": event_id, "duplicate": False}

    # the fan holds the tier, from the invoice provider
    mine = env.client.get("/api/v1/me/entitlements", headers=env.fan.headers).json()
    assert [(e["tier"]["key"], e["source"], e["status"], e["effective"]) for e in mine] == [
        ("patron", "invoice", "active", True)]
    # the payment is recorded once, with the platform fee (billing's revenue_shares: 10%)
    with env.platform.session() as s:
        [fact] = s.scalars(select(DomainEvent).where(DomainEvent.type == "payment.succeeded")).all()
        assert (fact.actor_id, fact.artist_id) == (env.fan.id, env.artist.artist_id)
        assert {k: fact.data[k] for k in ("provider", "amount", "currency", "platform_fee", "artist_net")} == {
            "provider": "invoice", "amount": 1200, "currency": "USD", "platform_fee": 120, "artist_net": 1080}
    revenue = env.client.get(f"/api/v1/billing/artists/{env.artist.artist_id}/revenue",
                             headers=env.artist.headers).json()
    assert [(e["provider"], e["external_id"], e["gross"], e["platform_fee"], e["artist_net"])
            for e in revenue["entries"]] == [("invoice", inv, 1200, 120, 1080)]

    # a replay (the same delivery again) is acknowledged and changes nothing
    after = _written(env.platform)
    assert after == {"entitlements": 1, "payments": 1, "revenue": 1}
    r = env.client.post(WEBHOOK, content=body, headers=headers)
    assert r.status_code == 200 and r.json() == {"received": True, "id": event_id, "duplicate": True}
    # so is a second event about the same invoice
    body2, headers2 = env.service.webhook({"id": "evt_again", "type": "invoice.paid", "invoice": inv})
    assert env.client.post(WEBHOOK, content=body2, headers=headers2).json()["duplicate"] is True
    assert _written(env.platform) == after
    # and the fan cannot check out the tier they now hold
    problem(env.client.post("/api/v1/billing/checkout", headers=env.fan.headers,
                            json={"tier_id": env.tier_id, "provider": "invoice"}), 409, "tier-already-held")


def test_the_webhook_body_is_trusted_for_its_ids_only(env):
    """A correctly signed event about an invoice that is not paid at the provider grants nothing."""
    inv = _checkout(env)
    body, headers = env.service.webhook({"id": "evt_lie", "type": "invoice.paid", "invoice": inv, "amount": 1200})
    r = env.client.post(WEBHOOK, content=body, headers=headers)
    assert r.status_code == 200 and r.json()["duplicate"] is False
    assert _written(env.platform) == {"entitlements": 0, "payments": 0, "revenue": 0}


def test_unknown_providers_and_unsupported_capabilities_are_problems(env):
    problem(env.client.post("/api/v1/billing/webhooks/paypal", content=b"{}"), 404, "unknown-payment-provider")
    problem(env.client.post("/api/v1/billing/checkout", headers=env.fan.headers,
                            json={"tier_id": env.tier_id, "provider": "paypal"}), 404, "unknown-payment-provider")
    body = problem(env.client.post("/api/v1/billing/portal", headers=env.fan.headers, json={"provider": "invoice"}),
                   501, "payment-provider-unsupported")
    assert (body["provider"], body["capability"]) == ("invoice", "portal")
    # the only provider on is the default one
    r = env.client.post("/api/v1/billing/checkout", headers=env.fan.headers, json={"tier_id": env.tier_id})
    assert r.status_code == 201 and r.json()["provider"] == "invoice"


# ---------------------------------------------------------------- the registry's rules

class _Legacy:
    """A provider written to the first contract: one handle_webhook that verifies and accepts."""

    id, label = "legacy", "Legacy"

    def __init__(self):
        self.seen = []

    def handle_webhook(self, platform, *, headers, body):
        if headers.get("x-legacy") != "ok":
            raise Problem(400, "invalid-signature", "no")
        self.seen.append(body)
        return {"received": True, "duplicate": False, "id": "x"}


def _platform_with(mc_make_platform, *providers_by_plugin):
    plugins = []
    for name, provs in providers_by_plugin:
        plugins.append((name, type(name, (), {"register_payment_providers": staticmethod(
            __import__("musicconnect").hookimpl(lambda platform, provs=provs: list(provs)))})))
    return mc_make_platform(extra_plugins=plugins, entry_points=False)


def test_one_provider_per_id_and_the_first_contract_still_works(mc_make_platform, caplog):
    plugin, service = invoice.make_plugin()
    legacy = _Legacy()
    impostor = types.SimpleNamespace(id="invoice", label="Not the invoice provider")
    p = _platform_with(mc_make_platform, ("first", [invoice.InvoiceProvider(service), legacy]),
                       ("second", [impostor, types.SimpleNamespace(label="no id")]))
    # an id offered by two plugins goes to neither, whatever order the hooks ran in
    assert sorted(p.payments.providers()) == ["legacy"]
    assert "'invoice' is offered by several plugins (first, second)" in caplog.text
    with pytest.raises(Problem) as exc:
        p.payments.provider("invoice")
    assert exc.value.slug == "unknown-payment-provider"
    # billing's two providers implement the whole contract; the invoice provider a part of it
    from musicconnect_billing.providers import SANDBOX, STRIPE

    assert isinstance(STRIPE, PaymentProvider) and isinstance(SANDBOX, PaymentProvider)
    assert not isinstance(invoice.InvoiceProvider(service), PaymentProvider)
    with pytest.raises(Problem) as exc:
        p.payments.receive_webhook("legacy", {"X-Legacy": "no"}, b"{}")
    assert exc.value.status == 400 and legacy.seen == []
    assert p.payments.receive_webhook("legacy", {"X-Legacy": "ok"}, b"{}")["received"] is True
    assert legacy.seen == [b"{}"]
    with pytest.raises(Problem) as exc:
        p.payments.call("legacy", "checkout", user_id=None, tier_id=None, interval="month", success_url="",
                        cancel_url="")
    assert (exc.value.status, exc.value.slug) == (501, "payment-provider-unsupported")


def test_a_provider_that_answers_verify_webhook_wrongly_writes_nothing(mc_make_platform):
    class Sloppy:
        id, label = "sloppy", "Sloppy"
        received = []

        def verify_webhook(self, platform, *, headers, body):
            return ProviderEvent(provider="someone-else", id="e1", type="t")

        def receive_event(self, platform, *, event):
            self.received.append(event)
            return {}

    sloppy = Sloppy()
    p = _platform_with(mc_make_platform, ("sloppy", [sloppy]))
    with pytest.raises(Problem) as exc:
        p.payments.receive_webhook("sloppy", {}, b"{}")
    assert exc.value.status == 500 and sloppy.received == []


def test_record_payment_is_once_per_payment_and_fails_closed(mc_make_platform):
    from musicconnect import RevenueShare, hookimpl

    class fee:
        @staticmethod
        @hookimpl
        def revenue_shares(platform, artist_id, amount, currency):
            return [RevenueShare("platform", amount // 5, "20%"), RevenueShare("coop", 10, "co-op")]

    p = mc_make_platform(extra_plugins=[("fee", fee)], entry_points=False)
    artist = make_user(p, "artist", artist_name="Nova")
    fan = make_user(p, "fan")
    kwargs = dict(provider="invoice", external_id="inv_1", user_id=fan.id, artist_id=artist.artist_id,
                  amount=1000, currency="USD")
    with p.session() as s:
        split = p.payments.record_payment(s, **kwargs)
        assert (split["platform_fee"], split["artist_net"]) == (200, 790)
        assert p.payments.record_payment(s, **kwargs) is None  # the same payment again, same transaction
    with p.session() as s:
        assert p.payments.record_payment(s, **kwargs) is None  # and later
        assert p.payments.record_payment(s, **{**kwargs, "provider": "other"}) is not None  # another provider's
        [fact] = s.scalars(select(DomainEvent).where(DomainEvent.type == "payment.succeeded",
                                                     DomainEvent.data["provider"].as_string() == "invoice")).all()
        assert fact.data["shares"] == [{"party": "platform", "amount": 200, "reason": "20%", "payee_artist_id": None},
                                       {"party": "coop", "amount": 10, "reason": "co-op", "payee_artist_id": None}]
    # shares larger than the payment: nothing is recorded
    from musicconnect.payments import SplitError

    with pytest.raises(SplitError), p.session() as s:
        p.payments.record_payment(s, **{**kwargs, "external_id": "inv_2", "amount": 5})
    with p.session() as s:
        assert s.scalar(select(func.count()).select_from(DomainEvent).where(
            DomainEvent.type == "payment.succeeded")) == 2
