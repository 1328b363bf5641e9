"""Entitlements are core data: comps through the API, plugins through the service; events and
hooks follow every change."""
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
    p = mc_make_platform(extra_plugins=[("recorder", recorder)], entry_points=False)
    artist = make_user(p, "artist", artist_name="Band")
    fan = make_user(p, "fan")
    tiers = {t.key: t for t in p.access.tiers(artist.artist_id)}
    with TestClient(create_app(p)) as client:
        yield client, p, artist, fan, tiers, recorder


def test_comp_grant_change_and_revoke(env, mc_clock):
    client, p, artist, fan, tiers, rec = env
    base = f"/api/v1/artists/{artist.artist_id}"
    until = (mc_clock.now() + timedelta(days=30)).isoformat()
    r = client.post(f"{base}/comps", headers=artist.headers,
                    json={"email": fan.email, "tier_id": str(tiers["supporter"].id), "expires_at": until})
    assert r.status_code == 201, r.text
    ent = r.json()
    assert ent["tier"]["key"] == "supporter" and ent["effective"] and ent["source"] == "comp"
    mine = client.get("/api/v1/me/entitlements", headers=fan.headers).json()
    assert [(e["tier"]["key"], e["effective"]) for e in mine] == [("supporter", True)]
    # comping again changes the same entitlement
    r = client.post(f"{base}/comps", headers=artist.headers, json={"email": fan.email, "tier_id": str(tiers["superfan"].id)})
    assert r.json()["id"] == ent["id"] and r.json()["tier"]["key"] == "superfan" and r.json()["expires_at"] is None
    members = client.get(f"{base}/entitlements", headers=artist.headers).json()
    assert [m["user_id"] for m in members] == [str(fan.id)]
    assert client.delete(f"{base}/entitlements/{ent['id']}", headers=artist.headers).status_code == 204
    mine = client.get("/api/v1/me/entitlements", headers=fan.headers).json()
    assert [(e["status"], e["effective"]) for e in mine] == [("ended", False)]
    assert client.get(f"{base}/entitlements", headers=artist.headers).json() == []
    changes = [c["change"] for c in rec.calls["on_entitlement_changed"]]
    assert changes == ["granted", "updated", "revoked"]
    types = [c["event"].type for c in rec.calls["on_event"] if c["event"].type.startswith("entitlement.")]
    assert types == ["entitlement.granted", "entitlement.updated", "entitlement.revoked"]


def test_comp_bad_input(env, mc_clock):
    client, p, artist, fan, tiers, rec = env
    base = f"/api/v1/artists/{artist.artist_id}"
    other = make_user(p, "artist", artist_name="Other")
    problem(client.post(f"{base}/comps", headers=artist.headers,
                        json={"email": "ghost@example.com", "tier_id": str(tiers["supporter"].id)}), 404)
    problem(client.post(f"{base}/comps", headers=artist.headers,
                        json={"email": fan.email, "tier_id": str(p.access.tiers(other.artist_id)[1].id)}), 404)
    problem(client.post(f"{base}/comps", headers=artist.headers,
                        json={"email": fan.email, "tier_id": str(tiers["supporter"].id),
                              "expires_at": (mc_clock.now() - timedelta(days=1)).isoformat()}), 422)
    problem(client.post(f"{base}/comps", headers=fan.headers,
                        json={"email": fan.email, "tier_id": str(tiers["supporter"].id)}), 403)
    problem(client.delete(f"{base}/entitlements/00000000-0000-0000-0000-000000000000", headers=artist.headers), 404)
    problem(client.get(f"{base}/entitlements", headers=fan.headers), 403)


def test_provider_managed_entitlement_cannot_be_revoked_by_artist(env):
    client, p, artist, fan, tiers, rec = env
    with p.session() as s:
        ent = p.entitlements.grant(s, user_id=fan.id, artist_id=artist.artist_id, tier_id=tiers["supporter"].id,
                                   source="billing", source_ref="sub_123")
    url = f"/api/v1/artists/{artist.artist_id}/entitlements/{ent.id}"
    problem(client.delete(url, headers=artist.headers), 409, "managed-by-provider")
    assert client.delete(url, headers=make_user(p, "admin").headers).status_code == 204


def test_grant_is_idempotent_per_source_ref(env):
    client, p, artist, fan, tiers, rec = env
    with p.session() as s:
        a = p.entitlements.grant(s, user_id=fan.id, artist_id=artist.artist_id, tier_id=tiers["supporter"].id,
                                 source="billing", source_ref="sub_1")
    with p.session() as s:
        b = p.entitlements.grant(s, user_id=fan.id, artist_id=artist.artist_id, tier_id=tiers["supporter"].id,
                                 source="billing", source_ref="sub_1")
    assert a.id == b.id
    assert [c["change"] for c in rec.calls["on_entitlement_changed"]] == ["granted"]  # no change, no second grant


def test_rollback_fires_nothing(env):
    client, p, artist, fan, tiers, rec = env
    with pytest.raises(RuntimeError):
        with p.session() as s:
            p.entitlements.grant(s, user_id=fan.id, artist_id=artist.artist_id, tier_id=tiers["supporter"].id,
                                 source="billing", source_ref="sub_rolled_back")
            raise RuntimeError("payment provider said no")
    assert rec.calls["on_entitlement_changed"] == []
    assert not [c for c in rec.calls["on_event"] if c["event"].type.startswith("entitlement.")]
    assert p.entitlements.for_user(fan.id, artist.artist_id) == ()
