"""The core's access decision: votes combined (deny wins, allow needed, exceptions deny)."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

import testplugins
from musicconnect import Actor, Resource


@pytest.fixture
def world(mc_make_platform):
    def build(*plugins):
        p = mc_make_platform(extra_plugins=[(getattr(m, "__name__", n), m) for n, m in plugins], entry_points=False)
        from musicconnect.testing import make_user
        artist = make_user(p, "artist", artist_name="A")
        fan = make_user(p, "fan")
        admin = make_user(p, "admin")
        tiers = {t.key: t for t in p.access.tiers(artist.artist_id)}
        return p, artist, fan, admin, tiers
    return build


def res(artist_id, **kw):
    base = dict(kind="post", id=uuid.uuid4(), artist_id=artist_id, visibility="public", status="ready",
                publish_at=None, data={})
    base.update(kw)
    return Resource(**base)


def actor(u):
    return Actor(u.id, u.role, u.artist_id)


def test_core_rules(world, mc_clock):
    p, artist, fan, admin, tiers = world()
    public = res(artist.artist_id)
    assert p.access.decide(None, "view", public).allowed
    assert p.access.decide(actor(fan), "view", public).allowed
    future = res(artist.artist_id, publish_at=mc_clock.now() + timedelta(hours=1))
    assert not p.access.decide(actor(fan), "view", future).allowed
    assert p.access.decide(actor(artist), "view", future).allowed  # owner
    assert p.access.decide(actor(admin), "view", future).allowed
    for status in ("draft", "processing", "failed", "taken_down"):
        r = res(artist.artist_id, status=status)
        d = p.access.decide(actor(fan), "view", r)
        assert not d.allowed and d.decided_by == "core"
        assert p.access.decide(actor(artist), "view", r).allowed
    gated = res(artist.artist_id, visibility="tier", required_tier_id=tiers["supporter"].id)
    d = p.access.decide(actor(fan), "view", gated)  # the tier rule is the core's: no plugin needed
    assert not d.allowed and d.problem == "tier-required" and d.reason == "this post is for Supporter members"
    assert d.details["required_tier"]["id"] == str(tiers["supporter"].id) and d.decided_by == "core"


def test_entitlement_rule_via_plugin_with_expiry(world, mc_clock):
    p, artist, fan, admin, tiers = world(("membership", testplugins.membership))
    gated = res(artist.artist_id, visibility="tier", required_tier_id=tiers["supporter"].id)
    assert not p.access.decide(actor(fan), "view", gated).allowed
    with p.session() as s:
        ent = p.entitlements.grant(s, user_id=fan.id, artist_id=artist.artist_id, tier_id=tiers["superfan"].id,
                                   source="comp", source_ref="t1", expires_at=mc_clock.now() + timedelta(days=1))
    assert p.access.decide(actor(fan), "view", gated).allowed  # cache was invalidated by the grant
    mc_clock.advance(days=1, seconds=1)
    assert not p.access.decide(actor(fan), "view", gated).allowed  # expiry applies at once, cache or not
    mc_clock.advance(days=-1)
    assert p.access.decide(actor(fan), "view", gated).allowed
    with p.session() as s:
        p.entitlements.revoke(s, p.entitlements.get(s, ent.id))
    assert not p.access.decide(actor(fan), "view", gated).allowed


@pytest.mark.parametrize("status,allowed", [("active", True), ("past_due", True), ("cancelled", True), ("ended", False)])
def test_entitlement_states(world, status, allowed):
    p, artist, fan, admin, tiers = world(("membership", testplugins.membership))
    with p.session() as s:
        p.entitlements.grant(s, user_id=fan.id, artist_id=artist.artist_id, tier_id=tiers["supporter"].id,
                             source="comp", source_ref="s", status=status)
    gated = res(artist.artist_id, visibility="tier", required_tier_id=tiers["supporter"].id)
    assert p.access.decide(actor(fan), "view", gated).allowed is allowed


def test_lower_tier_is_not_enough(world):
    p, artist, fan, admin, tiers = world(("membership", testplugins.membership))
    with p.session() as s:
        p.entitlements.grant(s, user_id=fan.id, artist_id=artist.artist_id, tier_id=tiers["supporter"].id,
                             source="comp", source_ref="low")
    assert not p.access.decide(actor(fan), "view", res(artist.artist_id, visibility="tier",
                                                         required_tier_id=tiers["superfan"].id)).allowed


def test_deny_wins_over_allow(world):
    p, artist, fan, admin, tiers = world(("denier", testplugins.denier))
    r = res(artist.artist_id, data={"embargo": True})
    d = p.access.decide(actor(fan), "view", r)
    assert not d.allowed and d.reason == "denied by denier"
    assert ("core", "allow") in d.votes and ("denier", "deny") in d.votes


def test_exception_in_access_hook_quarantines_the_plugin(world):
    """Issue 11: a raising check_access no longer denies everyone; the plugin is quarantined (its
    votes dropped) and the other rules decide (tests/core/hooks has the end-to-end version)."""
    p, artist, fan, admin, tiers = world(("exploding", testplugins.exploding))
    d = p.access.decide(actor(fan), "view", res(artist.artist_id))
    assert d.allowed and all(plugin != "exploding" for plugin, _ in d.votes)
    assert p.plugins.get("exploding").status == "quarantined"
    assert p.access.decide(actor(admin), "view", res(artist.artist_id, status="draft")).allowed
    assert not p.access.decide(actor(fan), "view", res(artist.artist_id, status="draft")).allowed


def test_unknown_vote_denies(world):
    p, artist, fan, admin, tiers = world(("weird_voter", testplugins.weird_voter))
    assert not p.access.decide(actor(fan), "view", res(artist.artist_id)).allowed


@pytest.mark.anyio
async def test_async_hook_and_async_decide(world):
    import anyio

    p, artist, fan, admin, tiers = await anyio.to_thread.run_sync(world, ("async_voter", testplugins.async_voter))
    gated = res(artist.artist_id, visibility="tier", required_tier_id=tiers["superfan"].id, data={"async_open": True})
    assert (await p.access.adecide(actor(fan), "view", gated)).allowed
    closed = res(artist.artist_id, visibility="tier", required_tier_id=tiers["superfan"].id)
    assert not (await p.access.adecide(actor(fan), "view", closed)).allowed
    # the sync path resolves the awaitable too (from a worker thread)
    assert (await anyio.to_thread.run_sync(p.access.decide, actor(fan), "view", gated)).allowed


def test_contexts_for_many_artists_match_one_by_one_in_two_queries(mc_make_platform):
    """``access.contexts`` (lists of items of many artists) answers what ``context`` answers per
    artist, plugins' extra entitlements included, with every miss in two queries."""
    from sqlalchemy import event

    from musicconnect import EntitlementInfo, hookimpl
    from musicconnect.testing import make_user

    granted_by_plugin = {}

    class extra:
        @hookimpl
        def extra_entitlements(platform, user_id, artist_id):
            return granted_by_plugin.get(artist_id, [])

    p = mc_make_platform(extra_plugins=[("extra", extra)], entry_points=False)
    artists = [make_user(p, "artist", artist_name=f"A{i}") for i in range(12)]
    fan = make_user(p, "fan")
    tiers = {a.artist_id: {t.key: t for t in p.access.tiers(a.artist_id)} for a in artists}
    with p.session() as s:
        for a in artists[:5]:
            p.entitlements.grant(s, user_id=fan.id, artist_id=a.artist_id, tier_id=tiers[a.artist_id]["supporter"].id,
                                 source="test", source_ref=f"t-{a.artist_id}")
    gift = artists[7]
    granted_by_plugin[gift.artist_id] = [EntitlementInfo(
        id=uuid.uuid4(), user_id=fan.id, artist_id=gift.artist_id, tier_id=tiers[gift.artist_id]["superfan"].id,
        tier_rank=tiers[gift.artist_id]["superfan"].rank, source="gift", source_ref="g", status="active",
        starts_at=p.clock.now() - timedelta(days=1), expires_at=None)]
    p.cache.clear()
    statements = []
    listener = lambda *a, **k: statements.append(a[2])  # noqa: E731
    event.listen(p.db.engine, "before_cursor_execute", listener)
    try:
        ids = [a.artist_id for a in artists] + [artists[0].artist_id]      # a repeat is answered once
        got = p.access.contexts(actor(fan), ids)
    finally:
        event.remove(p.db.engine, "before_cursor_execute", listener)
    assert len([q for q in statements if q.lstrip().upper().startswith("SELECT")]) == 2, statements
    assert set(got) == {a.artist_id for a in artists}
    for a in artists:
        one = p.access.context(actor(fan), a.artist_id)
        assert got[a.artist_id].tiers == one.tiers and len(one.tiers) == 3
        assert got[a.artist_id].entitlements == one.entitlements
    assert [len(got[a.artist_id].effective()) for a in artists] == [1] * 5 + [0, 0, 1] + [0] * 4
    gated = res(gift.artist_id, visibility="tier", required_tier_id=tiers[gift.artist_id]["superfan"].id)
    assert p.access.decide(actor(fan), "view", gated, got[gift.artist_id]).allowed
    statements.clear()
    event.listen(p.db.engine, "before_cursor_execute", listener)
    try:
        again = p.access.contexts(actor(fan), ids)                           # all cached now: no query
        anonymous = p.access.contexts(None, ids)
    finally:
        event.remove(p.db.engine, "before_cursor_execute", listener)
    assert statements == [] and again.keys() == got.keys()
    assert all(c.entitlements == () for c in anonymous.values())
