"""Issue 11, part 1: the failure policy each spec declares applies per implementation.

``isolate``: the failing plugin contributes nothing, the others run, the caller never sees it
(wrappers included). ``closed``: money and validation hooks stop the operation: a crashing
``validate_perks`` refuses the tier (500 ``plugin-failed``, nothing written) and a crashing
``revenue_shares`` records no payment rather than one with a 0 platform fee."""
from __future__ import annotations

import logging
import uuid

import pytest
from sqlalchemy import func, select

from helpers import problem
from musicconnect import Problem, RevenueShare, hookimpl
from musicconnect.hookspecs import CLOSED, COLLECT, spec
from musicconnect.models import DomainEvent, Tier
from musicconnect.plugins import HookFailed, create_plugin_manager
from musicconnect.testing import make_user

from test_hook_ordering import plugin


# ------------------------------------------------------------------ isolate
def test_isolate_keeps_the_others_answers_and_names_the_failure(caplog):
    calls = []

    @hookimpl
    def register_scopes(platform):
        raise RuntimeError("boom in register_scopes")

    @hookimpl(wrapper=True)
    def register_metrics(platform):
        raise ValueError("wrapper broke before yielding")
        yield  # pragma: no cover

    @hookimpl(wrapper=True)
    def on_event(platform, event):
        yield
        raise ValueError("wrapper broke after the call")

    @hookimpl
    def register_scopes_ok(platform):
        return {"fine:read": "fine"}
    register_scopes_ok.musicconnect_impl["specname"] = "register_scopes"

    @hookimpl
    def on_event_ok(platform, event):
        calls.append(event)
    on_event_ok.musicconnect_impl["specname"] = "on_event"

    reg = create_plugin_manager(entry_points=False, extra=[
        plugin("fine", register_scopes_ok=register_scopes_ok, on_event_ok=on_event_ok),
        plugin("broken", register_scopes=register_scopes, register_metrics=register_metrics, on_event=on_event)])
    with caplog.at_level(logging.ERROR, logger="musicconnect.plugins"):
        assert reg.collect("register_scopes", platform=None) == [("fine", {"fine:read": "fine"})]
        # a wrapper failing before its yield is skipped: the implementations inside still answer
        assert [p for p, _ in reg.collect("register_metrics", platform=None)] == ["core", "core", "core"]
        assert reg.notify("on_event", platform=None, event="e1") == ["broken"]
    assert calls == ["e1"]
    logged = [r.getMessage() for r in caplog.records]
    assert "plugin broken failed in register_scopes (isolated)" in logged
    assert "plugin broken failed in register_metrics (isolated)" in logged
    assert "plugin broken failed in on_event (isolated)" in logged


def test_notification_isolation_still_reports_the_failed_plugin():
    import testplugins

    reg = create_plugin_manager(entry_points=False, extra=[("exploding", testplugins.exploding)])
    assert reg.notify("on_content_created", platform=None, item=None) == ["exploding"]


# ------------------------------------------------------------------ closed (mechanism)
def _closed_specs():
    import types

    ns = types.ModuleType("closed_specs")

    @spec(COLLECT, CLOSED)
    def charge(platform, amount):
        """Collected; fails closed."""
    ns.charge = charge
    return ns


def test_closed_raises_hook_failed_and_the_wrapper_sees_it():
    seen = []

    @hookimpl
    def charge(platform, amount):
        raise RuntimeError("card network down")

    @hookimpl(wrapper=True)
    def charge_audit(platform, amount):
        try:
            return (yield)
        except HookFailed as exc:
            seen.append((exc.plugin, exc.hook))
            raise
    charge_audit.musicconnect_impl["specname"] = "charge"

    reg = create_plugin_manager(entry_points=False, specs=[_closed_specs()],
                                extra=[plugin("cards", charge=charge), plugin("audit", charge_audit=charge_audit)])
    with pytest.raises(HookFailed) as info:
        reg.collect("charge", platform=None, amount=5)
    assert (info.value.status, info.value.slug, info.value.plugin, info.value.hook) == (500, "plugin-failed", "cards",
                                                                                        "charge")
    assert isinstance(info.value.cause, RuntimeError)
    assert seen == [("cards", "charge")]


def test_closed_passes_a_plugins_own_problem_through():
    @hookimpl
    def charge(platform, amount):
        raise Problem(402, "card-declined", "the card was declined")

    reg = create_plugin_manager(entry_points=False, specs=[_closed_specs()], extra=[plugin("cards", charge=charge)])
    with pytest.raises(Problem) as info:
        reg.collect("charge", platform=None, amount=5)
    assert info.value.slug == "card-declined" and not isinstance(info.value, HookFailed)


# ------------------------------------------------------------------ closed: validate_perks over HTTP
class perk_crash:
    """Honours a perk but crashes while checking it."""

    broken = True

    @staticmethod
    @hookimpl
    def register_perks(platform):
        return {"glitter": "sparkles on the profile (boolean)"}

    @staticmethod
    @hookimpl
    def validate_perks(platform, rank, perks):
        if perk_crash.broken:
            raise RuntimeError("validator crashed")
        return None if perks.get("glitter") in (None, True, False) else "glitter is a boolean"


@pytest.fixture
def perk_env(mc_make_platform):
    from starlette.testclient import TestClient

    from musicconnect.app import create_app

    perk_crash.broken = True
    p = mc_make_platform(extra_plugins=[("perk_crash", perk_crash)], entry_points=False)
    artist = make_user(p, "artist", artist_name="Glitter Band")
    with TestClient(create_app(p)) as client:
        yield client, p, artist


def _count(p, model, *where):
    with p.session() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def test_crashing_validate_perks_refuses_the_tier_and_writes_nothing(perk_env):
    client, p, artist = perk_env
    url = f"/api/v1/artists/{artist.artist_id}/tiers"
    tiers_before = _count(p, Tier, Tier.artist_id == artist.artist_id)
    events_before = _count(p, DomainEvent, DomainEvent.type.like("tier.%"))
    body = problem(client.post(url, headers=artist.headers, json={
        "key": "sparkly", "name": "Sparkly", "rank": 5, "price_amount": 700, "perks": {"glitter": True}}),
        500, "plugin-failed")
    assert body["plugin"] == "perk_crash" and body["hook"] == "validate_perks"
    assert "validator crashed" not in body["detail"]  # the plugin's error stays in the log
    assert _count(p, Tier, Tier.artist_id == artist.artist_id) == tiers_before
    assert _count(p, DomainEvent, DomainEvent.type.like("tier.%")) == events_before

    tier = client.get(url).json()[1]
    problem(client.patch(f"{url}/{tier['id']}", headers=artist.headers, json={"perks": {"glitter": "lots"}}),
            500, "plugin-failed")
    assert client.get(url).json()[1]["perks"] == tier["perks"]  # unchanged

    perk_crash.broken = False  # the plugin is fixed: the same requests now pass, bad values are refused
    problem(client.patch(f"{url}/{tier['id']}", headers=artist.headers, json={"perks": {"glitter": "lots"}}), 422)
    r = client.post(url, headers=artist.headers, json={
        "key": "sparkly", "name": "Sparkly", "rank": 5, "price_amount": 700, "perks": {"glitter": True}})
    assert r.status_code == 201, r.text


# ------------------------------------------------------------------ closed: revenue_shares
class fee_crash:
    broken = True

    @staticmethod
    @hookimpl
    def revenue_shares(platform, artist_id, amount, currency):
        if fee_crash.broken:
            raise RuntimeError("fee table unreachable")
        return RevenueShare("platform", amount // 10, "platform fee")


class payer:
    """A route recording a payment through the core, as a payment provider's webhook does."""

    @staticmethod
    @hookimpl
    def register_routes(platform):
        from fastapi import APIRouter, Depends

        from musicconnect.web import scope

        router = APIRouter()

        @router.post("/artists/{artist_id}/payments/{ref}")
        def pay(artist_id: uuid.UUID, ref: str, actor=Depends(scope("admin"))):
            with platform.session() as s:
                split = platform.payments.record_payment(s, provider="payer", external_id=ref, user_id=actor.user_id,
                                                         artist_id=artist_id, amount=1000, currency="USD")
            return {"platform_fee": split["platform_fee"], "artist_net": split["artist_net"]}
        return router

    @staticmethod
    @hookimpl
    def register_scopes(platform):
        return {}


@pytest.fixture
def fee_env(mc_make_platform):
    from starlette.testclient import TestClient

    from musicconnect.app import create_app

    fee_crash.broken = True
    p = mc_make_platform(extra_plugins=[("fee_crash", fee_crash), ("payer", payer)], entry_points=False)
    artist = make_user(p, "artist", artist_name="Paid Band")
    admin = make_user(p, "admin")
    with TestClient(create_app(p)) as client:
        yield client, p, artist, admin


def _payments(p):
    with p.session() as s:
        return [e.data for e in s.scalars(select(DomainEvent).where(DomainEvent.type == "payment.succeeded"))]


def test_crashing_revenue_shares_records_no_payment(fee_env):
    client, p, artist, admin = fee_env
    with pytest.raises(HookFailed, match="fee_crash plugin failed in revenue_shares"):
        p.payments.split(artist.artist_id, 1000, "USD")
    url = f"/api/v1/payer/artists/{artist.artist_id}/payments/inv_1"
    body = problem(client.post(url, headers=admin.headers), 500, "plugin-failed")
    assert body["plugin"] == "fee_crash" and body["hook"] == "revenue_shares"
    assert _payments(p) == []  # no payment with a 0 platform fee: no payment at all

    fee_crash.broken = False  # fixed: the retried delivery records it once, with the fee
    r = client.post(url, headers=admin.headers)
    assert r.status_code == 200, r.text
    assert r.json() == {"platform_fee": 100, "artist_net": 900}
    [paid] = _payments(p)
    assert (paid["platform_fee"], paid["artist_net"]) == (100, 900)
