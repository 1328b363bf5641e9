"""No false positives on a realistic population: the demo's weeks of listening (every counted
play of the streaming demo, by its cast, at its times) replayed through the abuse screen, with a
realistic spread of addresses (a campus NAT shared by a third of the accounts, households of one
to three, the anonymous listeners on their own), flag nothing and file no case."""
from __future__ import annotations

import random

import pytest
from sqlalchemy import func, select


@pytest.fixture
def mc_plugins():
    return None  # every bundled plugin, as the demo runs


def test_the_demo_population_is_never_flagged(mc_platform, mc_clock):
    from musicconnect.models import User
    from musicconnect.seed import seed_demo
    from musicconnect_moderation.abuse import AbuseFlag, Quarantine
    from musicconnect_moderation.cases import Case
    from musicconnect_streaming.models import Play

    seed_demo(mc_platform)
    with mc_platform.read() as s:
        plays = s.execute(select(Play.user_id, Play.listener, Play.artist_id, Play.content_id, Play.id,
                                 Play.started_at, Play.counted_at)
                          .where(Play.counted_at.is_not(None)).order_by(Play.counted_at)).all()
    with mc_platform.read() as s:  # the cast in a stable order (ids are random on every seed)
        email = {f"u:{uid}": mail for uid, mail in s.execute(select(User.id, User.email))}
    listeners = sorted({p.listener for p in plays}, key=lambda who: email.get(who, who))
    assert len(plays) > 500 and len(listeners) > 40  # a population, not a handful
    rng = random.Random(18)
    address: dict[str, str] = {}
    households = iter(range(1, 10_000))
    pending: list[str] = []
    for who in listeners:
        if rng.random() < 1 / 3:
            address[who] = "10.20.0.1"  # the campus NAT
        else:
            if not pending:  # a household of one to three listeners
                pending = [f"192.0.2.{next(households)}"] * rng.randint(1, 3)
            address[who] = pending.pop()
    assert list(address.values()).count("10.20.0.1") > 10
    verdicts = []
    end = mc_clock.now()
    for p in plays:
        mc_clock.set(p.counted_at)
        v = mc_platform.screen_activity("play.counted", p.user_id, address=address[p.listener], artist_id=p.artist_id,
                                        content_id=p.content_id, seconds=30.0,
                                        elapsed=(p.counted_at - p.started_at).total_seconds(), session_id=p.id)
        if v.action != "allow":
            verdicts.append((p, v))
    mc_clock.set(end)
    assert verdicts == []
    with mc_platform.read() as s:
        assert s.scalar(select(func.count()).select_from(AbuseFlag)) == 0
        assert s.scalar(select(func.count()).select_from(Case).where(Case.kind == "abuse")) == 0
        assert s.scalar(select(func.count()).select_from(Quarantine)) == 0
