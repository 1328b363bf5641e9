"""``platform.content.restore``: a taken-down item comes back to ready (readable again, a
``content.restored`` event); only a take-down may be restored, and with ``reason`` only the
take-down made for that reason."""
from __future__ import annotations

import pytest
from sqlalchemy import select

import testplugins
from musicconnect import Problem
from musicconnect.models import ContentItem, DomainEvent
from musicconnect.testing import make_user


@pytest.fixture
def env(mc_make_platform):
    from starlette.testclient import TestClient

    from musicconnect.app import create_app

    p = mc_make_platform(extra_plugins=[("membership", testplugins.membership)], entry_points=False)
    artist = make_user(p, "artist", artist_name="Band")
    with TestClient(create_app(p)) as client:
        yield client, p, artist


def test_restore_brings_a_take_down_back(env):
    client, p, artist = env
    r = client.post(f"/api/v1/artists/{artist.artist_id}/content", headers=artist.headers,
                    json={"kind": "post", "title": "Hello", "data": {"body": "hi"}})
    item_id = r.json()["id"]
    with p.session() as s:
        item = s.get(ContentItem, __import__("uuid").UUID(item_id))
        with pytest.raises(Problem) as err:
            p.content.restore(s, item)
        assert err.value.slug == "content-not-taken-down"
        p.content.take_down(s, item, "dmca:1")
    assert client.get(f"/api/v1/content/{item_id}").status_code == 404
    with p.session() as s:
        item = s.get(ContentItem, __import__("uuid").UUID(item_id))
        with pytest.raises(Problem) as err:
            p.content.restore(s, item, reason="abuse")  # another take-down stands
        assert err.value.slug == "content-taken-down"
        p.content.restore(s, item, reason="dmca:1")
    r = client.get(f"/api/v1/content/{item_id}")
    assert r.status_code == 200 and r.json()["status"] == "ready"
    with p.read() as s:
        types = list(s.scalars(select(DomainEvent.type).where(DomainEvent.subject_id == item_id)
                               .order_by(DomainEvent.occurred_at, DomainEvent.type)))
    assert "content.taken_down" in types and "content.restored" in types
