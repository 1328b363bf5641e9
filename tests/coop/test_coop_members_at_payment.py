"""The members a payment is split among are those of the payment's time (joined at or before it,
not left by then), not those at recording time (review); a co-op with nobody to pay fails closed."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from musicconnect import PaymentContext
from musicconnect_coop import governance as g
from musicconnect_coop import payouts


def _split(e, coop, at):
    with e.platform.read() as s:
        c = g.get_coop(s, uuid.UUID(coop["id"]))
        ctx = PaymentContext(provider="fakepay", external_id=f"inv_{at.timestamp()}", occurred_at=at)
        shares, _rule, _plays = payouts._split(e.platform, s, c, 900, ctx)
    return shares


def test_split_among_the_members_at_payment_time(coop_env):
    e = coop_env
    coop = e.found()
    paid_alone = e.clock.now()
    e.advance(days=1)
    b = e.artist("Bo")
    e.join(coop, b)
    assert _split(e, coop, paid_alone) == {str(e.founder.artist_id): 900}
    assert _split(e, coop, e.clock.now()) == {str(e.founder.artist_id): 450, str(b.artist_id): 450}
    # before anyone joined: nobody to pay, the split fails closed
    with pytest.raises(payouts.SplitError):
        _split(e, coop, paid_alone - timedelta(days=30))
