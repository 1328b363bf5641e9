"""A client on a platform with the fan club plugin only, and an artist, a fan and the tiers."""
from __future__ import annotations

import pytest

import musicconnect_fanclub.plugin as fanclub
from musicconnect.testing import make_user


@pytest.fixture
def env(mc_make_platform):
    from starlette.testclient import TestClient

    from musicconnect.app import create_app

    p = mc_make_platform(extra_plugins=[("fanclub", fanclub)], entry_points=False)
    artist = make_user(p, "artist", artist_name="Club")
    fan = make_user(p, "fan")
    tiers = {t.key: t for t in p.access.tiers(artist.artist_id)}
    with TestClient(create_app(p)) as client:
        yield client, p, artist, fan, tiers
