"""A viewer counts once per 30-minute window, even when the window's item stops being promotable
(review: the dedupe bypass)."""
# ruff: noqa: F811
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select, update

import musicconnect_coop.plugin  # noqa: F401  (all the tables)
from musicconnect.models import ContentItem
from musicconnect_coop.promo_models import PromoCounter, PromoImpression
from tests.coop.test_coop_promotion import nominate, opt_in, release, slot


@pytest.fixture
def mc_plugins():
    return ["coop", "fanclub"]


def test_a_stale_dedupe_hit_shows_the_new_pick_uncounted(coop_env):
    e = coop_env
    coop = e.found()
    b = e.artist("B")
    e.join(coop, b)
    opt_in(e, e.founder)
    r1, r2 = release(e, b, "one"), release(e, b, "two")
    nominate(e, b, "release", r1)
    nominate(e, b, "release", r2)
    fan = e.users.fan
    first = slot(e, e.founder, headers=fan.headers)
    assert first["counted"]
    shown = first["item"]["id"]
    with e.platform.session() as s:
        s.execute(update(ContentItem).where(ContentItem.id == uuid.UUID(shown)).values(status="processing"))
    got = [slot(e, e.founder, headers=fan.headers) for _ in range(5)]
    assert all(not g["counted"] for g in got)
    assert all(g["item"]["id"] != shown for g in got)  # the new pick is shown
    with e.platform.read() as s:
        assert s.scalar(select(func.count()).select_from(PromoImpression)) == 1
        assert s.scalar(select(func.sum(PromoCounter.served))) == 1
    e.advance(minutes=31)  # a new window counts again
    assert slot(e, e.founder, headers=fan.headers)["counted"]
