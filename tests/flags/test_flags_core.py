"""platform.flags: typed variants, rules by role and tier, sticky percentage rollouts, variant
splits, experiments' exposures, environments, the OpenFeature client, and no database query per
evaluation (the snapshot is cached and dropped when a flag changes)."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import event

from musicconnect.contracts import Actor
from musicconnect.errors import Problem
from musicconnect.models import Tier


def _users(n, seed=0):
    return [uuid.UUID(int=(seed << 64) + i + 1) for i in range(n)]


def _flag(p, key, **kw):
    with p.session() as s:
        p.flags.create(s, key, **kw)


def test_boolean_flag_defaults_and_kill_switch(mc_platform):
    p = mc_platform
    assert p.flags.enabled("nope") is False and p.flags.enabled("nope", default=True) is True
    assert p.flags.evaluate("nope").reason == "unknown"
    _flag(p, "new-player", rules=[{"variant": "on"}])
    assert p.flags.enabled("new-player", uuid.uuid4()) is True
    assert p.flags.enabled("new-player") is True  # a rule with no condition serves anonymous users too
    with p.session() as s:
        p.flags.update(s, "new-player", enabled=False)
    ev = p.flags.evaluate("new-player", uuid.uuid4())
    assert (ev.value, ev.variant, ev.reason) == (False, "off", "disabled")


def test_percentage_rollout_is_stable_and_sticky_when_it_grows(mc_platform):
    p = mc_platform
    _flag(p, "rollout-me")
    users = _users(4000)
    with p.session() as s:
        p.flags.rollout(s, "rollout-me", 10)
    at10 = {u for u in users if p.flags.enabled("rollout-me", u)}
    assert 0.08 < len(at10) / len(users) < 0.12, len(at10)
    assert at10 == {u for u in users if p.flags.enabled("rollout-me", u)}  # stable
    with p.session() as s:
        p.flags.rollout(s, "rollout-me", 30)
    at30 = {u for u in users if p.flags.enabled("rollout-me", u)}
    assert at10 <= at30 and 0.27 < len(at30) / len(users) < 0.33, len(at30)
    with p.session() as s:
        p.flags.rollout(s, "rollout-me", 0)
    assert not any(p.flags.enabled("rollout-me", u) for u in users)
    assert p.flags.enabled("rollout-me") is False  # anonymous: no stable id, no percentage
    with p.session() as s:
        row = p.flags.rollout(s, "rollout-me", 100)
        assert [r["name"] for r in row.rules] == ["rollout"]  # one rollout rule, updated in place
    assert all(p.flags.enabled("rollout-me", u) for u in users[:200])


def test_other_flags_bucket_users_independently(mc_platform):
    p = mc_platform
    for key in ("flag-a", "flag-b"):
        _flag(p, key)
        with p.session() as s:
            p.flags.rollout(s, key, 50)
    users = _users(2000)
    a = {u for u in users if p.flags.enabled("flag-a", u)}
    b = {u for u in users if p.flags.enabled("flag-b", u)}
    both = len(a & b) / len(users)
    assert 0.2 < both < 0.3  # independent halves overlap on about a quarter


def test_targeting_by_role(mc_platform, mc_users):
    p = mc_platform
    _flag(p, "artist-tools", rules=[{"roles": ["artist", "admin"], "variant": "on"}])
    assert p.flags.enabled("artist-tools", Actor(uuid.uuid4(), "artist")) is True
    assert p.flags.enabled("artist-tools", Actor(uuid.uuid4(), "fan")) is False
    # a bare user id: the role comes from the (cached) user
    assert p.flags.enabled("artist-tools", mc_users.artist.id) is True
    assert p.flags.enabled("artist-tools", mc_users.fan.id) is False
    assert p.flags.enabled("artist-tools", None) is False


def test_targeting_by_tier_follows_entitlements(mc_platform, mc_users):
    p = mc_platform
    with p.session() as s:
        silver = Tier(artist_id=mc_users.artist.artist_id, key="silver", name="Silver", rank=1, price_amount=300)
        gold = Tier(artist_id=mc_users.artist.artist_id, key="gold", name="Gold", rank=2, price_amount=900)
        s.add_all([silver, gold])
        s.flush()
        silver_id, gold_id = silver.id, gold.id
    _flag(p, "gold-lounge", kind="string", variants={"none": "", "lounge": "welcome"}, default_variant="none",
          rules=[{"tiers": [str(silver_id)], "variant": "lounge"}])
    fan = mc_users.fan.id
    assert p.flags.value("gold-lounge", fan) == ""
    with p.session() as s:
        ent = p.entitlements.grant(s, user_id=fan, artist_id=mc_users.artist.artist_id, tier_id=gold_id,
                                   source="comp", source_ref="t1")
        ent_id = ent.id
    assert p.flags.value("gold-lounge", fan) == "welcome"  # a higher tier of the same artist counts
    with p.session() as s:
        p.entitlements.revoke(s, p.entitlements.get(s, ent_id))
    assert p.flags.value("gold-lounge", fan) == ""
    with p.session() as s, pytest.raises(Problem) as err:
        p.flags.create(s, "bad-tier", rules=[{"tiers": [str(uuid.uuid4())], "variant": "on"}])
    assert err.value.status == 422 and "unknown tier" in err.value.detail


def test_typed_variants_and_split(mc_platform):
    p = mc_platform
    _flag(p, "bitrate", kind="number", variants={"low": 128, "high": 320}, default_variant="low",
          rules=[{"split": {"low": 1, "high": 3}}])
    users = _users(4000, seed=7)
    highs = sum(p.flags.value("bitrate", u) == 320 for u in users)
    assert 0.72 < highs / len(users) < 0.78
    _flag(p, "layout", kind="object", variants={"a": {"cols": 2}, "b": {"cols": 3}}, default_variant="a")
    assert p.flags.value("layout", users[0]) == {"cols": 2}
    for bad in ({"kind": "number", "variants": {"x": "1"}}, {"kind": "string"},
                {"kind": "boolean", "rules": [{"variant": "maybe"}]},
                {"kind": "boolean", "rules": [{"roles": ["robot"], "variant": "on"}]},
                {"kind": "boolean", "rules": [{"variant": "on", "split": {"on": 1}}]},
                {"kind": "boolean", "default_variant": "nope"}):
        with p.session() as s, pytest.raises(Problem) as err:
            p.flags.create(s, "bad-flag", **bad)
        assert err.value.status == 422, bad
    with p.session() as s, pytest.raises(Problem) as err:
        p.flags.create(s, "Bad Key")
    assert err.value.status == 422


def test_environments_are_separate(mc_platform):
    p = mc_platform
    _flag(p, "prod-only", rules=[{"variant": "on"}], environment="production")
    assert p.flags.evaluate("prod-only", uuid.uuid4()).reason == "unknown"  # this server is MC_ENV=test
    _flag(p, "prod-only", environment="test")  # the same key in another environment
    with p.session() as s:
        assert [f.key for f in p.flags.list(s, "production")] == ["prod-only"]
        with pytest.raises(Problem) as err:
            p.flags.create(s, "prod-only")
        assert err.value.slug == "flag-exists"


def test_no_database_query_per_evaluation(mc_platform, mc_users):
    p = mc_platform
    with p.session() as s:
        tier = Tier(artist_id=mc_users.artist.artist_id, key="t", name="T", rank=1, price_amount=100)
        s.add(tier)
        s.flush()
        tier_id = tier.id
    _flag(p, "hot", rules=[{"roles": ["admin"], "variant": "on"}, {"tiers": [str(tier_id)], "variant": "on"},
                           {"percentage": 50, "variant": "on"}])
    actor = Actor(mc_users.fan.id, "fan")
    p.flags.enabled("hot", actor)  # warm: snapshot and the fan's entitlements
    statements = []

    def count(*_a, **_k):
        statements.append(1)

    event.listen(p.db.engine, "before_cursor_execute", count)
    try:
        for _ in range(2000):
            p.flags.enabled("hot", actor)
    finally:
        event.remove(p.db.engine, "before_cursor_execute", count)
    assert statements == []
    with p.session() as s:  # a change drops the snapshot: the next evaluation reads it again, once
        p.flags.update(s, "hot", rules=[{"variant": "on"}])
    event.listen(p.db.engine, "before_cursor_execute", count)
    try:
        assert all(p.flags.enabled("hot", actor) for _ in range(100))
    finally:
        event.remove(p.db.engine, "before_cursor_execute", count)
    assert 1 <= len(statements) <= 2


def test_exposures_for_experiment_rules(mc_platform):
    p = mc_platform
    seen = []
    p.flags.add_exposure_listener(seen.append)
    p.flags.add_exposure_listener(lambda e: 1 / 0)  # a broken listener never breaks evaluation
    _flag(p, "cta", kind="string", variants={"control": "Join", "bold": "Join now"}, default_variant="control",
          rules=[{"roles": ["fan"], "split": {"control": 1, "bold": 1}, "experiment": "cta-test"}])
    u = uuid.uuid4()
    ev = p.flags.evaluate("cta", Actor(u, "fan"))
    assert ev.experiment == "cta-test" and ev.reason == "split"
    assert [(e.experiment, e.flag_key, e.variant, e.user_id) for e in seen] == [("cta-test", "cta", ev.variant, u)]
    p.flags.evaluate("cta", Actor(uuid.uuid4(), "artist"))  # not in the experiment's rule: no exposure
    assert p.flags.evaluate("cta", Actor(uuid.uuid4(), "fan"), expose=False).experiment == "cta-test"  # a look
    p.flags.evaluate("cta", None)
    assert len(seen) == 1


def test_openfeature_client(mc_platform):
    from openfeature.evaluation_context import EvaluationContext
    from openfeature.flag_evaluation import ErrorCode, Reason

    p = mc_platform
    _flag(p, "of-bool", rules=[{"roles": ["artist"], "variant": "on"}])
    _flag(p, "of-str", kind="string", variants={"a": "alpha", "b": "beta"}, default_variant="b")
    _flag(p, "of-num", kind="number", variants={"x": 2.5}, default_variant="x")
    client = p.flags.client()
    artist = EvaluationContext(targeting_key=str(uuid.uuid4()), attributes={"role": "artist"})
    assert client.get_boolean_value("of-bool", False, artist) is True
    assert client.get_boolean_value("of-bool", False, EvaluationContext(targeting_key=str(uuid.uuid4()),
                                                                        attributes={"role": "fan"})) is False
    details = client.get_string_details("of-str", "zzz", artist)
    assert (details.value, details.variant, details.reason) == ("beta", "b", Reason.DEFAULT)
    assert client.get_float_value("of-num", 0.0) == 2.5
    wrong = client.get_boolean_details("of-str", True)
    assert wrong.value is True and wrong.error_code == ErrorCode.TYPE_MISMATCH
    missing = client.get_string_details("nope", "dflt")
    assert missing.value == "dflt" and missing.error_code == ErrorCode.FLAG_NOT_FOUND


def test_a_change_reaches_another_process_through_pubsub(mc_make_platform):
    """Two platforms on one database: with Redis (the distributed run) the second drops its
    snapshot when the first changes a flag; embedded, each process has its own pub/sub and the
    cache's TTL bounds staleness."""
    import asyncio
    import threading

    a, b = mc_make_platform(), mc_make_platform(migrate_db=False)
    if not a.settings.redis_url:
        pytest.skip("needs Redis pub/sub (MC_TEST_ONLY=distributed)")
    from musicconnect.app import _follow_invalidations

    _flag(a, "shared", rules=[{"variant": "off"}])
    assert b.flags.enabled("shared", uuid.uuid4()) is False  # b caches the snapshot
    loop = asyncio.new_event_loop()
    task_box = {}
    ready = threading.Event()

    def run():
        asyncio.set_event_loop(loop)
        task_box["t"] = loop.create_task(_follow_invalidations(b))
        loop.call_later(0.5, ready.set)
        loop.run_forever()

    th = threading.Thread(target=run, daemon=True)
    th.start()
    try:
        ready.wait(5)
        with a.session() as s:
            a.flags.update(s, "shared", rules=[{"variant": "on"}])
        import time

        deadline = time.monotonic() + 5
        while not b.flags.enabled("shared", uuid.uuid4()):
            assert time.monotonic() < deadline, "the change never reached the other process"
            time.sleep(0.05)
    finally:
        loop.call_soon_threadsafe(task_box["t"].cancel)
        loop.call_soon_threadsafe(loop.stop)
        th.join(5)
