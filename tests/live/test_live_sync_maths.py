"""The sync maths (musicconnect_live.sync): the offset estimator (property tests) and the clock."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from musicconnect_live.sync import OffsetEstimator, client_position, position_at, remaining, sample

skews = st.floats(min_value=-2.0, max_value=2.0, allow_nan=False)
jitter = st.floats(min_value=0.0, max_value=0.080, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(skew=skews, up=jitter, down=jitter, proc=st.floats(min_value=0, max_value=0.005), t0=st.floats(0, 1e6))
def test_one_sample_recovers_offset_within_half_round_trip(skew, up, down, proc, t0):
    # client clock = server clock - skew: server time of the client's t0 is t0 + skew
    t1 = t0 + skew + up          # server stamps on receipt
    t2 = t1 + proc               # and on sending
    t3 = t2 - skew + down        # client stamps on receipt (its own clock)
    s = sample(t0, t1, t2, t3)
    assert abs(s.round_trip - (up + down)) < 1e-6
    assert abs(s.offset - skew) <= s.round_trip / 2 + 1e-6


@settings(max_examples=200, deadline=None)
@given(skew=skews, legs=st.lists(st.tuples(jitter, jitter), min_size=1, max_size=20))
def test_estimator_keeps_best_of_last_eight(skew, legs):
    est = OffsetEstimator()
    t = 100.0
    for up, down in legs:
        t1 = t + skew + up
        est.add(t, t1, t1, t1 - skew + down)
        t += 1.0
    window = legs[-8:]
    best_rtt = min(u + d for u, d in window)
    assert len(est.samples) == len(window)
    assert abs(est.best.round_trip - best_rtt) < 1e-6
    assert abs(est.offset - skew) <= best_rtt / 2 + 1e-6
    assert abs(est.server_time(50.0) - (50.0 + est.offset)) < 1e-9


def test_estimator_forgets_samples_older_than_the_window():
    est = OffsetEstimator()
    est.add(0, 1.0, 1.0, 0.0)  # perfect sample (rtt 0) claiming offset +1
    for i in range(8):
        est.add(10 + i, 10 + i + 0.03, 10 + i + 0.03, 10 + i + 0.06)  # offset 0, rtt 60 ms
    assert abs(est.offset) < 1e-9 and abs(est.best.round_trip - 0.06) < 1e-9
    assert OffsetEstimator().offset == 0.0


def test_position_carries_over_tracks_and_ends():
    d = [120.0, 90.0]
    assert position_at(d, 0, 10, 1000, True, 1005).position == 15
    pb = position_at(d, 0, 100, 1000, True, 1050)
    assert (pb.index, pb.position, pb.ended) == (1, 30, False)
    assert position_at(d, 0, 100, 1000, False, 5000).position == 100  # paused
    assert position_at(d, 1, 80, 1000, True, 1011).ended
    assert position_at([], 0, 0, 0, True, 1).ended
    assert position_at(d, 0, 0, 1000, True, 990).position == 0  # a clock behind the state never rewinds
    assert remaining(d, 0, 20) == 190 and remaining(d, 2, 0) == 0


@settings(max_examples=200, deadline=None)
@given(skew=skews, up=jitter, down=jitter, pos=st.floats(0, 100), elapsed=st.floats(0, 10))
def test_client_position_error_bounded_by_half_round_trip(skew, up, down, pos, elapsed):
    server_at = 5000.0
    t0 = server_at - skew
    t1 = t0 + skew + up
    s = sample(t0, t1, t1, t1 - skew + down)
    state = {"position": pos, "at": server_at, "playing": True}
    client_now = server_at - skew + elapsed          # the client's clock when it renders
    truth = pos + elapsed
    assert abs(client_position(state, client_now, s.offset) - truth) <= s.round_trip / 2 + 1e-6
    assert client_position({**state, "playing": False}, client_now, s.offset) == pos
