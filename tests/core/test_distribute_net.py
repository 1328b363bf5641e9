"""``distribute_net``: after the fees (``revenue_shares``) one plugin may pay what the seller keeps
to payees (a co-op's members); the core refuses more than the net, negative slices, slices
without a payee and two plugins answering for one artist."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from musicconnect import RevenueShare, hookimpl
from musicconnect.models import DomainEvent
from musicconnect.payments import SplitError
from musicconnect.testing import make_user


class fee:
    @staticmethod
    @hookimpl
    def revenue_shares(platform, artist_id, amount, currency, payment):
        return [RevenueShare("platform", amount // 10, "fee 10%")]


class coopish:
    seller: uuid.UUID | None = None
    payees: list = []
    seen: list = []
    answer = None  # a callable (net) -> slices, to misbehave

    @staticmethod
    @hookimpl
    def distribute_net(platform, artist_id, net, currency, payment):
        if artist_id != coopish.seller:
            return []
        coopish.seen.append((net, payment))
        if coopish.answer is not None:
            return coopish.answer(net)
        a, b = coopish.payees
        return [RevenueShare("coop", net - net // 3, "member a", payee_artist_id=a),
                RevenueShare("coop", net // 3, "member b", payee_artist_id=b)]


class other:
    on = False

    @staticmethod
    @hookimpl
    def distribute_net(platform, artist_id, net, currency, payment):
        if not other.on:
            return []
        return [RevenueShare("other", 1, "mine too", payee_artist_id=artist_id)]


@pytest.fixture
def env(mc_make_platform):
    p = mc_make_platform(extra_plugins=[("fee", fee), ("coopish", coopish), ("other", other)], entry_points=False)
    seller = make_user(p, "artist", artist_name="Co-op")
    a, b = make_user(p, "artist", artist_name="A"), make_user(p, "artist", artist_name="B")
    coopish.seller, coopish.payees, coopish.seen, coopish.answer = seller.artist_id, [a.artist_id, b.artist_id], [], None
    other.on = False
    return p, seller, a, b


def test_fees_first_then_the_net_is_distributed_to_payees(env):
    p, seller, a, b = env
    fan = make_user(p, "fan")
    with p.session() as s:
        split = p.payments.record_payment(s, provider="invoice", external_id="inv_1", user_id=fan.id,
                                          artist_id=seller.artist_id, amount=1001, currency="USD")
    assert coopish.seen[-1][0] == 1001 - 100 and coopish.seen[-1][1].external_id == "inv_1"
    assert split["platform_fee"] == 100 and split["artist_net"] == 0
    with p.session() as s:
        fact = s.scalar(select(DomainEvent).where(DomainEvent.type == "payment.succeeded"))
        by = {sh["reason"]: sh for sh in fact.data["shares"]}
        assert by["member a"]["amount"] + by["member b"]["amount"] == 901
        assert by["member a"]["payee_artist_id"] == str(a.artist_id)
        assert fact.data["artist_net"] == 0
    # a preview split (checkout) shows the payees too
    preview = p.payments.split(seller.artist_id, 500, "USD")
    assert coopish.seen[-1] == (450, None)
    assert [s.payee_artist_id for s in preview["shares"] if s.payee_artist_id] == [a.artist_id, b.artist_id]
    # another seller: nobody distributes, the artist keeps the net
    assert p.payments.split(a.artist_id, 500, "USD")["artist_net"] == 450


@pytest.mark.parametrize("bad", [
    lambda net: [RevenueShare("coop", net + 1, "too much", payee_artist_id=uuid.uuid4())],
    lambda net: [RevenueShare("coop", -1, "negative", payee_artist_id=uuid.uuid4())],
    lambda net: [RevenueShare("coop", 1, "no payee")],
    lambda net: [RevenueShare("coop", 1.5, "float", payee_artist_id=uuid.uuid4())],
])
def test_bad_distributions_are_refused_and_nothing_is_recorded(env, bad):
    p, seller, a, b = env
    coopish.answer = bad
    with pytest.raises(SplitError):
        with p.session() as s:
            p.payments.record_payment(s, provider="invoice", external_id="inv_bad", user_id=None,
                                      artist_id=seller.artist_id, amount=1000, currency="USD")
    with p.session() as s:
        assert s.scalar(select(DomainEvent).where(DomainEvent.type == "payment.succeeded")) is None


def test_two_plugins_distributing_one_artists_net_is_refused(env):
    p, seller, a, b = env
    other.on = True
    with pytest.raises(SplitError, match="more than one plugin"):
        p.payments.split(seller.artist_id, 1000, "USD")
