"""Content through the HTTP API: create, read with access, list with teasers, edit, take down,
delete; lifecycle hooks fire after commit; errors are problems."""
from __future__ import annotations

from datetime import timedelta

import pytest

import testplugins
from helpers import problem
from musicconnect.testing import make_user


@pytest.fixture
def env(mc_make_platform):
    from starlette.testclient import TestClient

    from musicconnect.app import create_app

    recorder = testplugins.make_recorder()
    p = mc_make_platform(extra_plugins=[("membership", testplugins.membership), ("recorder", recorder)],
                         entry_points=False)
    artist = make_user(p, "artist", artist_name="Band")
    fan = make_user(p, "fan")
    tiers = {t.key: t for t in p.access.tiers(artist.artist_id)}
    with TestClient(create_app(p)) as client:
        yield client, p, artist, fan, tiers, recorder


def test_create_read_update_takedown_delete(env, mc_clock):
    client, p, artist, fan, tiers, rec = env
    url = f"/api/v1/artists/{artist.artist_id}/content"
    r = client.post(url, headers=artist.headers, json={"kind": "post", "title": "Hello fans", "data": {"body": "hi"}})
    assert r.status_code == 201, r.text
    item = r.json()
    assert item["status"] == "ready" and item["extra"] == {"recorded": True}
    assert [c["item"].title for c in rec.calls["on_content_created"]] == ["Hello fans"]
    assert len(rec.calls["on_content_published"]) == 1
    assert client.get(f"/api/v1/content/{item['id']}").json()["title"] == "Hello fans"  # public, anonymous
    r = client.patch(f"/api/v1/content/{item['id']}", headers=artist.headers, json={"title": "Hello, fans"})
    assert r.json()["title"] == "Hello, fans"
    assert rec.calls["on_content_updated"][-1]["changes"] == {"title": ("Hello fans", "Hello, fans")}
    r = client.post(f"/api/v1/content/{item['id']}/take-down", headers=artist.headers, json={"reason": "DMCA notice"})
    assert r.json()["status"] == "taken_down"
    assert rec.calls["on_content_taken_down"][-1]["reason"] == "DMCA notice"
    problem(client.get(f"/api/v1/content/{item['id']}", headers=fan.headers), 404)  # gone for fans at once
    assert client.get(f"/api/v1/content/{item['id']}", headers=artist.headers).status_code == 200
    problem(client.patch(f"/api/v1/content/{item['id']}", headers=artist.headers, json={"title": "x"}),
            409, "content-taken-down")
    assert client.delete(f"/api/v1/content/{item['id']}", headers=artist.headers).status_code == 204
    assert len(rec.calls["on_content_deleted"]) == 1
    problem(client.get(f"/api/v1/content/{item['id']}", headers=artist.headers), 404)
    types = [e.type for e in (c["event"] for c in rec.calls["on_event"])]
    for t in ("content.created", "content.published", "content.updated", "content.taken_down", "content.deleted"):
        assert t in types


def test_gated_content_teasers_and_access(env, mc_clock):
    client, p, artist, fan, tiers, rec = env
    url = f"/api/v1/artists/{artist.artist_id}/content"
    sup = str(tiers["supporter"].id)
    gated = client.post(url, headers=artist.headers, json={"kind": "post", "title": "Demo tape", "visibility": "tier",
                                                           "required_tier_id": sup, "data": {"secret": 1}}).json()
    later = client.post(url, headers=artist.headers, json={"kind": "post", "title": "Next single",
                                                           "publish_at": (mc_clock.now() + timedelta(days=2)).isoformat()}).json()
    draft = client.post(url, headers=artist.headers, json={"kind": "post", "title": "Draft", "status": "draft"}).json()
    listed = client.get(url, headers=fan.headers).json()
    assert [(i["title"], i["locked"]) for i in listed] == [("Demo tape", True)]
    assert "data" not in listed[0] or listed[0]["data"] is None
    problem(client.get(f"/api/v1/content/{gated['id']}", headers=fan.headers), 403, "tier-required")
    problem(client.get(f"/api/v1/content/{gated['id']}"), 401)
    problem(client.get(f"/api/v1/content/{later['id']}", headers=fan.headers), 404)
    problem(client.get(f"/api/v1/content/{draft['id']}", headers=fan.headers), 404)
    assert len(client.get(url, headers=artist.headers).json()) == 3  # the owner sees everything
    # a comp opens it
    r = client.post(f"/api/v1/artists/{artist.artist_id}/comps", headers=artist.headers,
                    json={"email": fan.email, "tier_id": sup})
    assert r.status_code == 201, r.text
    assert client.get(f"/api/v1/content/{gated['id']}", headers=fan.headers).json()["data"] == {"secret": 1}
    assert [i.get("locked") for i in client.get(url, headers=fan.headers).json()] == [False]
    mc_clock.advance(days=3)
    fan.renew(p)
    assert {i["title"] for i in client.get(url, headers=fan.headers).json()} == {"Demo tape", "Next single"}


def test_content_bad_input(env):
    client, p, artist, fan, tiers, rec = env
    other = make_user(p, "artist", artist_name="Other")
    url = f"/api/v1/artists/{artist.artist_id}/content"
    body = problem(client.post(url, headers=artist.headers, json={"kind": "hologram", "title": "x"}),
                   422, "unknown-content-kind")
    assert "post" in body["kinds"]
    problem(client.post(url, headers=artist.headers, json={"kind": "post", "title": "x", "visibility": "tier"}), 422)
    problem(client.post(url, headers=artist.headers, json={"kind": "post", "title": "x", "visibility": "tier",
                                                           "required_tier_id": str(p.access.tiers(other.artist_id)[1].id)}), 422)
    problem(client.post(url, headers=artist.headers, json={"kind": "post", "title": "x", "publish_at": "2026-01-01T00:00:00"}), 422)
    problem(client.post(url, headers=fan.headers, json={"kind": "post", "title": "x"}), 403)
    problem(client.post(url, headers=other.headers, json={"kind": "post", "title": "x"}), 403)
    problem(client.post("/api/v1/artists/00000000-0000-0000-0000-000000000000/content", headers=mc_admin(p),
                        json={"kind": "post", "title": "x"}), 404)
    item = client.post(url, headers=artist.headers, json={"kind": "post", "title": "ok"}).json()
    problem(client.patch(f"/api/v1/content/{item['id']}", headers=other.headers, json={"title": "mine"}), 403)
    problem(client.delete(f"/api/v1/content/{item['id']}", headers=fan.headers), 403)
    problem(client.get("/api/v1/content/not-a-uuid"), 422)
    from sqlalchemy import func, select

    from musicconnect.models import ContentItem
    with p.session() as s:
        assert s.scalar(select(func.count()).select_from(ContentItem)) == 1  # nothing half-written


def mc_admin(p):
    return make_user(p, "admin").headers


def test_notification_failure_is_isolated(mc_make_platform):
    from starlette.testclient import TestClient

    from musicconnect.app import create_app

    p = mc_make_platform(extra_plugins=[("membership", testplugins.membership), ("exploding", testplugins.exploding)],
                         entry_points=False)
    artist = make_user(p, "artist", artist_name="Band")
    with TestClient(create_app(p)) as client:
        r = client.post(f"/api/v1/artists/{artist.artist_id}/content", headers=artist.headers,
                        json={"kind": "post", "title": "Still works"})
        assert r.status_code == 201  # on_content_created and on_event raised; the request did not
        # ...and its access hook raising quarantines it (issue 11) instead of denying everyone
        assert client.get(f"/api/v1/content/{r.json()['id']}", headers=artist.headers).status_code == 200
        assert p.plugins.get("exploding").status == "quarantined"


def test_content_kinds_listing(env):
    client, *_ = env
    kinds = {k["name"]: k["plugin"] for k in client.get("/api/v1/content-kinds").json()}
    assert kinds == {"post": "membership", "memo": "recorder"}


def test_client_data_follows_the_kind_schema(env):
    """Issue 9, hole 1: a kind's data is validated by the model it declares; unknown fields (such
    as a storage key) are refused; a kind that declares no model takes no client data."""
    client, p, artist, fan, tiers, rec = env
    url = f"/api/v1/artists/{artist.artist_id}/content"
    body = problem(client.post(url, headers=artist.headers, json={
        "kind": "post", "title": "x", "data": {"body": "hi", "key": "tracks/x/v1/original.wav"}}), 422, "validation")
    assert body["errors"][0]["loc"] == ["data", "key"]
    problem(client.post(url, headers=artist.headers, json={"kind": "post", "title": "x", "data": {"body": 5}}),
            422, "validation")
    item = client.post(url, headers=artist.headers, json={"kind": "post", "title": "ok", "data": {"body": "hi"}}).json()
    problem(client.patch(f"/api/v1/content/{item['id']}", headers=artist.headers,
                         json={"data": {"images": [{"key": "quarantine/x"}]}}), 422, "validation")
    assert client.get(f"/api/v1/content/{item['id']}", headers=artist.headers).json()["data"] == {"body": "hi"}


def test_a_kind_without_a_model_takes_no_client_data(mc_make_platform):
    import testplugins
    from starlette.testclient import TestClient

    from musicconnect.app import create_app
    from musicconnect.testing import make_user

    p = mc_make_platform(extra_plugins=[("recorder", testplugins.make_recorder())], entry_points=False)
    artist = make_user(p, "artist", artist_name="A")
    with TestClient(create_app(p)) as client:
        url = f"/api/v1/artists/{artist.artist_id}/content"
        problem(client.post(url, headers=artist.headers, json={"kind": "memo", "title": "m", "data": {"key": "x"}}),
                422, "content-data-not-accepted")
        assert client.post(url, headers=artist.headers, json={"kind": "memo", "title": "m"}).status_code == 201


def test_an_unreleased_tier_item_is_not_revealed(env, mc_clock):
    """Issue 9, hole 9: a future tier release answers 404 (not 401/403) to those who may not see it."""
    from datetime import timedelta

    client, p, artist, fan, tiers, rec = env
    url = f"/api/v1/artists/{artist.artist_id}/content"
    later = (mc_clock.now() + timedelta(days=3)).isoformat()
    item = client.post(url, headers=artist.headers, json={
        "kind": "post", "title": "soon", "visibility": "tier", "required_tier_id": str(tiers["supporter"].id),
        "publish_at": later, "status": "ready"}).json()
    problem(client.get(f"/api/v1/content/{item['id']}"), 404, "not-found")
    problem(client.get(f"/api/v1/content/{item['id']}", headers=fan.headers), 404, "not-found")
    assert client.get(f"/api/v1/content/{item['id']}", headers=artist.headers).status_code == 200

