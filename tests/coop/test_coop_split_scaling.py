"""Property: the fixed split scaled over the members who stay (a leave, an acceptance after a
leave) sums to exactly 10000 bp, keeps each member within one basis point of the exact
proportion, leaves a 0 at 0 (unless every remaining share was 0: then equal), and does not
depend on the order of the shares."""
from __future__ import annotations

from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from musicconnect_coop.governance import _scaled


@st.composite
def splits(draw):
    n = draw(st.integers(2, 8))
    cuts = sorted(draw(st.lists(st.integers(0, 10000), min_size=n - 1, max_size=n - 1)))
    bp = [b - a for a, b in zip([0, *cuts], [*cuts, 10000])]
    ids = [f"{i:032x}" for i in draw(st.lists(st.integers(0, 2**64), min_size=n, max_size=n, unique=True))]
    shares = dict(zip(ids, bp))
    stay = draw(st.lists(st.sampled_from(ids), min_size=1, max_size=n - 1, unique=True))
    return shares, stay


@settings(max_examples=300, deadline=None)
@given(splits())
def test_coop_scaled_split_sums_and_is_proportional(case):
    shares, stay = case
    out = _scaled(shares, stay)
    assert set(out) == set(stay) and sum(out.values()) == 10000
    total = sum(shares[m] for m in stay)
    for m in stay:
        exact = Fraction(10000 * shares[m], total) if total else Fraction(10000, len(stay))
        assert abs(out[m] - exact) < 1
        if total and shares[m] == 0:
            assert out[m] == 0
    assert _scaled(dict(reversed(list(shares.items()))), list(reversed(stay))) == out
