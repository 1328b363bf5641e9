"""A full refund after a won dispute (review): the won dispute restored that amount (as its own
``#won:`` payment), so the ledger accepts the refund, takes it from both, and balances."""
# ruff: noqa: F811
from __future__ import annotations

from sqlalchemy import func, select

from musicconnect import PaymentEvent
from musicconnect_coop import ledger
from musicconnect_coop.ledger_models import LedgerEntry, LedgerPayment
from tests.coop.test_coop_payout_property import _settle, fees, two_member_coop, world  # noqa: F401


def test_a_full_refund_after_a_won_dispute_is_recorded(world):
    p, artists, fans = world
    fees.bp = 1000
    a, b = artists[0], artists[1]
    coop_id, seller = two_member_coop(p, a, b, "Won")
    with p.session() as s:
        p.payments.record_payment(s, provider="fakepay", external_id="inv_w", user_id=fans[0].id, artist_id=seller,
                                  amount=1000, currency="USD")
    _settle(p)
    for type_, ext, amount in (("payment.disputed", "dp_1", 400), ("payment.dispute_won", "dp_1:won", 400),
                               ("payment.refunded", "re_1", 1000)):
        with p.session() as s:
            p.payments.publish(s, PaymentEvent(type=type_, provider="fakepay", user_id=None, artist_id=seller,
                                               amount=amount, currency="USD", external_id=ext,
                                               data={"payment": "inv_w", "dispute": "dp_1"}), idempotent=True)
        _settle(p)
    with p.read() as s:
        pays = {x.payment_ref: (x.amount, x.reversed) for x in s.scalars(select(LedgerPayment))}
        assert pays == {"fakepay:inv_w": (1000, 1000), "fakepay:inv_w#won:dp_1": (400, 400)}
        assert ledger.check_balanced(s, coop_id) == []
        # every share came back: each member's share - clawbacks is 0, and every transfer was reversed
        left = s.scalar(select(func.sum(LedgerEntry.amount)).where(
            LedgerEntry.coop_id == coop_id, LedgerEntry.kind.in_(("share", "fee", "clawback"))))
        assert left == 0
        assert all(v == {"usd": 0} for v in ledger.balances(s, coop_id).values())
    # the same refund again changes nothing
    with p.session() as s:
        p.payments.publish(s, PaymentEvent(type="payment.refunded", provider="fakepay", user_id=None,
                                           artist_id=seller, amount=1000, currency="USD", external_id="re_1",
                                           data={"payment": "inv_w"}))
    _settle(p)
    with p.read() as s:
        assert ledger.check_balanced(s, coop_id) == []
        assert s.scalar(select(func.sum(LedgerPayment.reversed))) == 1400
