"""The full access matrix of the fan club's rules, with a frozen clock:
role x visibility x early-access timing x entitlement state, every cell asserted."""
from __future__ import annotations

import itertools
import uuid
from datetime import timedelta

import pytest

import musicconnect_fanclub.plugin as fanclub
from musicconnect import Actor, Resource
from musicconnect.testing import make_user

ROLES = ("anonymous", "fan", "free", "supporter", "superfan", "artist", "admin")
VISIBILITY = ("public", "supporter", "superfan")
TIMING = ("before", "window", "after")  # 48 h before release, 18 h before (inside superfan's 24 h), released
STATES = ("active", "past_due", "cancelled", "expired", "ended")
RANK = {"free": 0, "supporter": 1, "superfan": 2}


def oracle(role: str, visibility: str, timing: str, state: str) -> bool:
    """Written from the issue, independently of the implementation."""
    if role in ("artist", "admin"):
        return True
    released = timing == "after"
    member = role in RANK and state in ("active", "past_due", "cancelled")
    if not member:
        return visibility == "public" and released
    rank = RANK[role]
    if visibility != "public" and rank < RANK[visibility]:
        return False
    if released:
        return True
    return rank == 2 and timing == "window"  # superfans: early_access 24 h


@pytest.fixture
def world(mc_make_platform, mc_clock, club_perks):
    p = mc_make_platform(extra_plugins=[("fanclub", fanclub)], entry_points=False)
    t0 = mc_clock.now()
    artist = make_user(p, "artist", artist_name="Matrix")
    club_perks(p, artist.artist_id)
    admin = make_user(p, "admin")
    tiers = {t.key: t for t in p.access.tiers(artist.artist_id)}
    users = {}
    for role, state in itertools.product(("free", "supporter", "superfan"), STATES):
        u = make_user(p, "fan")
        expires = {"expired": t0 - timedelta(hours=1)}.get(state, t0 + timedelta(days=30))
        with p.session() as s:
            p.entitlements.grant(s, user_id=u.id, artist_id=artist.artist_id, tier_id=tiers[role].id, source="test",
                                 source_ref=f"{role}-{state}", status="ended" if state == "ended" else
                                 ("active" if state == "expired" else state),
                                 starts_at=t0 - timedelta(days=40), expires_at=expires)
        users[(role, state)] = u
    fan = make_user(p, "fan")
    publish_at = t0 + timedelta(hours=48)
    resources = {
        v: Resource(kind="track", id=uuid.uuid4(), artist_id=artist.artist_id,
                    visibility="public" if v == "public" else "tier",
                    required_tier_id=None if v == "public" else tiers[v].id, status="ready", publish_at=publish_at)
        for v in VISIBILITY}
    return p, artist, admin, fan, users, resources, t0


def actor_for(role, state, artist, admin, fan, users):
    if role == "anonymous":
        return None
    if role == "artist":
        return Actor(artist.id, "artist", artist.artist_id)
    if role == "admin":
        return Actor(admin.id, "admin")
    if role == "fan":
        return Actor(fan.id, "fan")
    return Actor(users[(role, state)].id, "fan")


def test_every_cell(world, mc_clock):
    p, artist, admin, fan, users, resources, t0 = world
    offsets = {"before": 0, "window": 30, "after": 49}
    cells = 0
    mismatches = []
    for timing in TIMING:
        mc_clock.set(t0 + timedelta(hours=offsets[timing]))
        for role, visibility, state in itertools.product(ROLES, VISIBILITY, STATES):
            actor = actor_for(role, state, artist, admin, fan, users)
            for action in ("view", "stream"):
                got = p.access.decide(actor, action, resources[visibility]).allowed
                want = oracle(role, visibility, timing, state)
                cells += 1
                if got != want:
                    mismatches.append((role, visibility, timing, state, action, got, want))
    assert not mismatches, mismatches[:10]
    assert cells == len(ROLES) * len(VISIBILITY) * len(STATES) * len(TIMING) * 2


def test_taken_down_and_unprocessed_only_for_owner_and_admin(world, mc_clock):
    p, artist, admin, fan, users, resources, t0 = world
    mc_clock.set(t0 + timedelta(hours=49))
    for status in ("taken_down", "processing", "failed", "draft"):
        for v, res in resources.items():
            r = Resource(kind=res.kind, id=res.id, artist_id=res.artist_id, visibility=res.visibility,
                         required_tier_id=res.required_tier_id, status=status, publish_at=res.publish_at)
            assert p.access.decide(Actor(artist.id, "artist", artist.artist_id), "view", r).allowed
            assert p.access.decide(Actor(admin.id, "admin"), "view", r).allowed
            assert not p.access.decide(Actor(users[("superfan", "active")].id, "fan"), "view", r).allowed
            assert not p.access.decide(None, "view", r).allowed


def test_revocation_and_expiry_take_effect_at_once(world, mc_clock):
    p, artist, admin, fan, users, resources, t0 = world
    mc_clock.set(t0 + timedelta(hours=49))
    u = users[("supporter", "active")]
    a = Actor(u.id, "fan")
    assert p.access.decide(a, "view", resources["supporter"]).allowed  # now cached
    from musicconnect.models import Entitlement
    from sqlalchemy import select
    with p.session() as s:
        ent = s.scalar(select(Entitlement).where(Entitlement.source_ref == "supporter-active"))
        p.entitlements.revoke(s, ent)
    assert not p.access.decide(a, "view", resources["supporter"]).allowed
    u2 = Actor(users[("supporter", "cancelled")].id, "fan")
    assert p.access.decide(u2, "view", resources["supporter"]).allowed
    mc_clock.set(t0 + timedelta(days=30, seconds=1))  # the paid period ends
    assert not p.access.decide(u2, "view", resources["supporter"]).allowed
