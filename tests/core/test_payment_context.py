"""The payment contract carries payees and invoice context: ``revenue_shares`` gets the
``PaymentContext`` (None for a preview), shares may name a payee artist, and an implementation
written before ``payment`` existed keeps working."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

import testplugins
from musicconnect import PaymentContext, RevenueShare, hookimpl
from musicconnect.models import DomainEvent
from musicconnect.payments import CAPABILITIES, SplitError
from musicconnect.testing import make_user


class payee_plugin:
    seen: list = []
    payee: uuid.UUID | None = None

    @staticmethod
    @hookimpl
    def revenue_shares(platform, artist_id, amount, currency, payment):
        payee_plugin.seen.append(payment)
        return [RevenueShare("platform", amount // 10, "fee 10%"),
                RevenueShare("coop", amount // 2, "member share", payee_artist_id=payee_plugin.payee,
                             data={"rule": 1})]


@pytest.fixture
def platform(mc_make_platform):
    payee_plugin.seen = []
    p = mc_make_platform(extra_plugins=[("payee", payee_plugin), ("legacy", testplugins.legacy_fee)],
                         entry_points=False)
    return p


def test_record_payment_passes_the_context_and_keeps_payees(platform):
    seller = make_user(platform, "artist", artist_name="Co-op")
    member = make_user(platform, "artist", artist_name="Member")
    fan = make_user(platform, "fan")
    payee_plugin.payee = member.artist_id
    start, end = datetime(2026, 6, 1, tzinfo=timezone.utc), datetime(2026, 7, 1, tzinfo=timezone.utc)
    with platform.session() as s:
        split = platform.payments.record_payment(
            s, provider="invoice", external_id="inv_9", user_id=fan.id, artist_id=seller.artist_id, amount=1001,
            currency="USD", occurred_at=start, period_start=start, period_end=end, data={"charge": "ch_1"})
    ctx = payee_plugin.seen[-1]
    assert isinstance(ctx, PaymentContext)
    assert (ctx.provider, ctx.external_id, ctx.user_id, ctx.period_start, ctx.period_end, ctx.data["charge"]) == (
        "invoice", "inv_9", fan.id, start, end, "ch_1")
    # platform_fee counts the platform's shares (100 + the legacy plugin's 50); artist_net what the seller keeps
    assert split["platform_fee"] == 100 + 50
    assert split["artist_net"] == 1001 - 100 - 500 - 50
    with platform.session() as s:
        fact = s.scalar(select(DomainEvent).where(DomainEvent.type == "payment.succeeded"))
        assert fact.data["platform_fee"] == 150 and fact.data["artist_net"] == 351
        assert fact.data["period_start"] == start.isoformat() and fact.data["period_end"] == end.isoformat()
        shares = {sh["reason"]: sh for sh in fact.data["shares"]}
        assert shares["member share"] == {"party": "coop", "amount": 500, "reason": "member share",
                                          "payee_artist_id": str(member.artist_id), "data": {"rule": 1}}
        assert shares["legacy 5%"]["payee_artist_id"] is None  # the legacy plugin was called, without `payment`


def test_a_preview_split_has_no_payment_and_legacy_plugins_still_answer(platform):
    seller = make_user(platform, "artist", artist_name="Co-op")
    payee_plugin.payee = None
    split = platform.payments.split(seller.artist_id, 1000, "USD")
    assert payee_plugin.seen[-1] is None
    assert sorted(s.reason for s in split["shares"]) == ["fee 10%", "legacy 5%", "member share"]
    assert (split["platform_fee"], split["artist_net"]) == (150, 350)


def test_shares_are_integers(mc_make_platform):
    class floaty:
        @staticmethod
        @hookimpl
        def revenue_shares(platform, artist_id, amount, currency, payment):
            return [RevenueShare("platform", amount / 10, "float fee")]

    p = mc_make_platform(extra_plugins=[("floaty", floaty)], entry_points=False)
    seller = make_user(p, "artist", artist_name="Nova")
    with pytest.raises(SplitError):
        p.payments.split(seller.artist_id, 1000, "USD")


def test_transfers_are_capabilities_of_the_contract(mc_make_platform):
    from musicconnect import Problem

    assert {"transfer", "reverse_transfer"} <= set(CAPABILITIES)

    class Bare:
        id, label = "bare", "Bare"

    class prov:
        @staticmethod
        @hookimpl
        def register_payment_providers(platform):
            return [Bare()]

    p = mc_make_platform(extra_plugins=[("prov", prov)], entry_points=False)
    with pytest.raises(Problem) as exc:
        p.payments.call("bare", "transfer", artist_id=uuid.uuid4(), amount=1, currency="USD", source_ref=None,
                        idempotency_key="k", metadata={})
    assert exc.value.status == 501
