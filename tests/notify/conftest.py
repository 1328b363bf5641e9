"""The notify plugin with the bundled plugins that declare notification kinds (fan club for
follows, posts and DMs; streaming; billing): an app, an artist with tiers and helpers."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from musicconnect.testing import make_user


@pytest.fixture
def mc_plugins():
    return ["notify", "fanclub", "streaming", "billing"]


@pytest.fixture
def env(mc_make_platform):
    from starlette.testclient import TestClient

    from musicconnect.app import create_app

    p = mc_make_platform()
    artist = make_user(p, "artist", artist_name="Nova")
    tiers = {t.key: t for t in p.access.tiers(artist.artist_id)}
    with TestClient(create_app(p)) as client:
        yield client, p, artist, tiers


def comp(client, artist, fan, tier) -> None:
    r = client.post(f"/api/v1/artists/{artist.artist_id}/comps", headers=artist.headers,
                    json={"email": fan.email, "tier_id": str(tier.id)})
    assert r.status_code in (200, 201), r.text


def follow(client, artist, fan) -> None:
    r = client.post(f"/api/v1/fanclub/artists/{artist.artist_id}/follow", headers=fan.headers)
    assert r.status_code == 204, r.text


def rows(p, **where):
    from musicconnect_notify.models import Delivery

    with p.session() as s:
        q = select(Delivery)
        for k, v in where.items():
            q = q.where(getattr(Delivery, k) == v)
        return s.scalars(q.order_by(Delivery.created_at)).all()


@pytest.fixture
def helpers():
    import types

    return types.SimpleNamespace(comp=comp, follow=follow, rows=rows)
