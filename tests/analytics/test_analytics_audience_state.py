"""The per-fan state behind the audience metrics (``analytics_fans``: latest play day and a day
bitmap; ``cohort`` counters kept by every payment and refund): it answers exactly like the per-day
rollups it replaces, out-of-order events included, and a rebuild gives the same state."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from musicconnect_analytics import audience, fans, rollups
from musicconnect_analytics.rollups import FanState, Rollup

END = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


def emit(p, type_, artist_id, actor=None, subject=None, at=END, data=None):
    with p.session() as s:
        p.emit(s, type_, actor_id=actor, artist_id=artist_id, subject=subject, at=at, data=data or {})


def play(p, a, fan, at):
    emit(p, "play.counted", a, fan, ("content", uuid.uuid4()), at)


def state(p, a):
    rollups.flush(p)
    with p.read() as s:
        fan_rows = {(str(f.user_id), f.last_play, f.play_days) for f in s.scalars(
            select(FanState).where(FanState.artist_id == a))}
        cohort = {(rollups.as_date(r.day).isoformat(), r.dimension, r.value) for r in s.scalars(
            select(Rollup).where(Rollup.artist_id == a, Rollup.metric == "cohort")) if r.value}
    return fan_rows, cohort


def by_days(p, a, end_day) -> dict[str, int]:
    """The reference: segments counted from the per-day ``fan_plays`` rollups."""
    rollups.flush(p)
    lo = end_day - timedelta(days=audience.ACTIVE_DAYS - 1)
    with p.read() as s:
        days: dict[str, int] = {}
        for dim, d in s.execute(select(Rollup.dimension, Rollup.day).where(
                Rollup.artist_id == a, Rollup.metric == "fan_plays", Rollup.dimension != "", Rollup.value > 0)):
            if lo <= rollups.as_date(d) <= end_day:
                days[dim] = days.get(dim, 0) + 1
    return {"super": sum(1 for n in days.values() if n >= 10),
            "moderate": sum(1 for n in days.values() if 3 <= n < 10),
            "light": sum(1 for n in days.values() if n < 3)}


def test_day_bitmaps_answer_like_the_daily_rollups_in_any_order_and_after_a_rebuild(mc_platform, mc_users):
    p = mc_platform
    a = mc_users.artist.artist_id
    listeners = [uuid.uuid4() for _ in range(6)]
    # out of order on purpose: a fan's latest day first, then older days, days long ago (beyond the
    # 62-day bitmap), and the same day twice
    plan = {0: [0, 3, 1, 2, 9, 27, 28, 5, 7, 11, 13, 15], 1: [40, 0, 100, 2, 4], 2: [27, 26, 27],
            3: [70, 80], 4: [0, 61, 62, 63, 1], 5: [20, 5, 21, 22, 23, 24, 25, 26, 6, 7, 8]}
    for i, back in plan.items():
        for k in back:
            play(p, a, listeners[i], END - timedelta(days=k, hours=i))
    ends = [END.date() + timedelta(days=k) for k in (-40, -20, -8, -1, 0, 1, 10, 27, 30)]
    for end_day in ends:
        expected = by_days(p, a, end_day)
        assert audience.segments(p, a, end_day) == expected, end_day
        assert audience.active_audience(p, a, end_day) == sum(expected.values()), end_day
    assert audience.segments(p, a, END.date()) == {"super": 2, "moderate": 1, "light": 2}
    live = state(p, a)
    rollups.rebuild(p)
    assert state(p, a) == live
    rollups.rebuild(p, a)
    assert state(p, a) == live
    for end_day in ends:
        assert audience.segments(p, a, end_day) == by_days(p, a, end_day), end_day
    # a figure of a past day is kept, until an event dated a past day arrives
    past = END.date() - timedelta(days=8)
    before = audience.segments(p, a, past)
    assert before == {"super": 0, "moderate": 2, "light": 1}
    newcomer = uuid.uuid4()
    for k in (9, 10, 12):
        play(p, a, newcomer, END - timedelta(days=k))
    assert audience.segments(p, a, past) == {"super": 0, "moderate": 3, "light": 1} == by_days(p, a, past)
    assert audience.active_audience(p, a, past) == 4


def test_a_window_older_than_the_bitmaps_reads_the_daily_rollups(mc_platform, mc_users):
    p = mc_platform
    a = mc_users.artist.artist_id
    fan = uuid.uuid4()
    for k in (100, 101, 102, 0):  # three days in an old window, then a play today
        play(p, a, fan, END - timedelta(days=k))
    old_end = (END - timedelta(days=95)).date()
    assert audience.segments(p, a, old_end) == {"super": 0, "moderate": 1, "light": 0}
    assert audience.active_audience(p, a, old_end) == 1
    assert audience.active_audience(p, a, END.date()) == 1


def test_cohort_counters_follow_payments_and_refunds_live_and_rebuilt(mc_platform, mc_users):
    p = mc_platform
    a = mc_users.artist.artist_id
    x, y = uuid.uuid4(), uuid.uuid4()

    def pay(fan, month, ref, amount=500):
        emit(p, "payment.succeeded", a, fan, ("payment", ref), datetime(2026, month, 3, 9, tzinfo=timezone.utc),
             {"amount": amount, "platform_fee": 0, "artist_net": amount})

    pay(x, 1, "in_x1"), pay(x, 2, "in_x2"), pay(x, 4, "in_x4"), pay(y, 2, "in_y2"), pay(y, 3, "in_y3")
    jan1, apr30 = datetime(2026, 1, 1).date(), datetime(2026, 4, 30).date()
    got = audience.cohorts(p, a, jan1, apr30)
    assert [(c["cohort"], c["retained"]) for c in got["cohorts"]] == [("2026-01", [1, 1, 0, 1]),
                                                                      ("2026-02", [1, 1, 0])]
    # x's January payment refunded in full: x now first supported in February
    emit(p, "payment.refunded", a, x, ("payment", "re_1"), datetime(2026, 4, 10, tzinfo=timezone.utc),
         {"payment": "in_x1", "amount": 500})
    got = audience.cohorts(p, a, jan1, apr30)
    assert [(c["cohort"], c["fans"], c["retained"]) for c in got["cohorts"]] == [("2026-02", 2, [2, 1, 1])]
    live = state(p, a)
    assert live[1] and rollups.rebuild(p, a).events == 6
    assert state(p, a) == live
    assert audience.cohorts(p, a, jan1, apr30) == got


def test_top_fans_of_past_days_are_kept_until_a_late_event(mc_platform, mc_users):
    p = mc_platform
    a = mc_users.artist.artist_id
    now = p.clock.now()
    x, y = uuid.uuid4(), uuid.uuid4()
    for k in range(3):
        play(p, a, x, now - timedelta(days=2, hours=k))
    play(p, a, y, now - timedelta(days=3))
    start, end = (now - timedelta(days=29)).date(), now.date()
    assert [f["value"] for f in fans.top_fans(p, a, "fan_plays", start, end)] == [3, 1]
    for _ in range(2):  # today's plays count at once
        play(p, a, y, now)
    assert [f["value"] for f in fans.top_fans(p, a, "fan_plays", start, end)] == [3, 3]
    play(p, a, y, now - timedelta(days=5))  # a late event of a past day
    assert [f["value"] for f in fans.top_fans(p, a, "fan_plays", start, end)] == [4, 3]
    play(p, a, x, now - timedelta(days=40))  # outside the window
    assert [f["value"] for f in fans.top_fans(p, a, "fan_plays", start, end)] == [4, 3]


def test_a_late_event_written_by_another_process_drops_the_kept_figures(mc_make_platform):
    from musicconnect.testing import make_user

    p = mc_make_platform()
    other = mc_make_platform()  # a second process on the same database
    a = make_user(p, "artist").artist_id
    now = p.clock.now()
    x, y = uuid.uuid4(), uuid.uuid4()
    for k in range(2):
        play(p, a, x, now - timedelta(days=3, hours=k))
    start, end = (now - timedelta(days=29)).date(), now.date()
    past = (now - timedelta(days=1)).date()
    assert [f["value"] for f in fans.top_fans(p, a, "fan_plays", start, end)] == [2]
    assert audience.active_audience(p, a, past) == 1
    for k in range(3):  # late plays of y, counted by the other process (its buffer, its flush)
        play(other, a, y, now - timedelta(days=2, hours=k))
    rollups.flush(other)
    assert [f["value"] for f in fans.top_fans(p, a, "fan_plays", start, end)] == [3, 2]
    assert audience.active_audience(p, a, past) == 2


def test_top_supporters_with_a_refund_today_are_ranked_among_every_fan(mc_platform, mc_users):
    p = mc_platform
    a = mc_users.artist.artist_id
    now = p.clock.now()
    payers = [uuid.uuid4() for _ in range(12)]
    for i, fan in enumerate(payers):  # 12 fans paid 100..1200 over the past days
        emit(p, "payment.succeeded", a, fan, ("payment", f"in_{i}"), now - timedelta(days=3),
             {"amount": 100 * (i + 1), "platform_fee": 0, "artist_net": 100 * (i + 1)})
    start, end = (now - timedelta(days=29)).date(), now.date()
    top = fans.top_fans(p, a, "fan_paid", start, end)
    assert [f["value"] for f in top] == [1200, 1100, 1000, 900, 800, 700, 600, 500, 400, 300]
    # today: the leader is refunded most of it, a fan outside the top ten pays again
    emit(p, "payment.refunded", a, payers[11], ("payment", "re_1"), now, {"payment": "in_11", "amount": 1150})
    emit(p, "payment.succeeded", a, payers[0], ("payment", "in_x"), now,
         {"amount": 50, "platform_fee": 0, "artist_net": 50})
    top = fans.top_fans(p, a, "fan_paid", start, end)
    assert [f["value"] for f in top] == [1100, 1000, 900, 800, 700, 600, 500, 400, 300, 200]
