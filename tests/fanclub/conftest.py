"""A client on a platform with the fan club plugin only, and an artist, a fan and the tiers."""
from __future__ import annotations

import pytest
from sqlalchemy import select

import musicconnect_fanclub.plugin as fanclub
from musicconnect.testing import make_user


def give_club_perks(p, artist_id) -> None:
    """The fan club's demo perks on the artist's tiers, as ``seed_demo`` adds them (the core
    creates bare tiers): superfans get 24 h early access, 5 DMs a month and the backstage."""
    from musicconnect.models import Tier
    from musicconnect_fanclub.rules import DEMO_PERKS

    with p.session() as s:
        for t in s.scalars(select(Tier).where(Tier.artist_id == artist_id)):
            if t.key in DEMO_PERKS:
                t.perks = {**(t.perks or {}), **DEMO_PERKS[t.key]}
    p.invalidate(("tiers", artist_id))


@pytest.fixture
def club_perks():
    return give_club_perks


@pytest.fixture
def env(mc_make_platform):
    from starlette.testclient import TestClient

    from musicconnect.app import create_app

    p = mc_make_platform(extra_plugins=[("fanclub", fanclub)], entry_points=False)
    artist = make_user(p, "artist", artist_name="Club")
    fan = make_user(p, "fan")
    give_club_perks(p, artist.artist_id)
    tiers = {t.key: t for t in p.access.tiers(artist.artist_id)}
    with TestClient(create_app(p)) as client:
        yield client, p, artist, fan, tiers
