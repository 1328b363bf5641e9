"""Domain events land in the events table in the same transaction; metrics endpoint computes
every plugin's metrics."""
from __future__ import annotations

from sqlalchemy import select

import testplugins
from helpers import problem
from musicconnect.models import DomainEvent
from musicconnect.testing import make_user


def test_events_table_is_the_core_sink(mc_platform, mc_users):
    with mc_platform.session() as s:
        types = s.scalars(select(DomainEvent.type).order_by(DomainEvent.occurred_at)).all()
    assert types.count("user.registered") == 3 and "artist.created" in types


def test_metrics_endpoint(mc_make_platform, mc_clock):
    from starlette.testclient import TestClient

    from musicconnect.app import create_app

    rec = testplugins.make_recorder()
    p = mc_make_platform(extra_plugins=[("recorder", rec)], entry_points=False)
    artist = make_user(p, "artist", artist_name="Band")
    fan = make_user(p, "fan")
    tiers = {t.key: t for t in p.access.tiers(artist.artist_id)}
    with p.session() as s:
        p.entitlements.grant(s, user_id=fan.id, artist_id=artist.artist_id, tier_id=tiers["superfan"].id,
                             source="comp", source_ref="m1")
    with TestClient(create_app(p)) as client:
        url = f"/api/v1/artists/{artist.artist_id}/metrics"
        out = client.get(url, headers=artist.headers).json()
        by_id = {m["id"]: m for m in out["metrics"]}
        assert by_id["memo_count"]["value"] == 42 and by_id["memo_count"]["plugin"] == "recorder"
        assert by_id["members_current"]["value"] == 1
        assert by_id["events_by_type"]["value"]["entitlement.granted"] == 1
        only = client.get(url + "?metric=members_current", headers=artist.headers).json()["metrics"]
        assert [m["id"] for m in only] == ["members_current"]
        body = problem(client.get(url + "?metric=nope", headers=artist.headers), 404, "unknown-metric")
        assert "memo_count" in body["available"]
        problem(client.get(url, headers=fan.headers), 403)
        problem(client.get(url + "?days=0", headers=artist.headers), 422)


def test_failing_metric_shows_error_not_500(mc_make_platform):
    import types

    from starlette.testclient import TestClient

    from musicconnect import Metric, hookimpl
    from musicconnect.app import create_app

    def broken(p, a, w):
        raise ZeroDivisionError("oops")

    mod = types.SimpleNamespace(register_metrics=hookimpl(lambda platform: [Metric("broken", "B", "d", broken)]))
    p = mc_make_platform(extra_plugins=[("brokenmetric", mod)], entry_points=False)
    artist = make_user(p, "artist", artist_name="Band")
    with TestClient(create_app(p)) as client:
        ms = {m["id"]: m for m in client.get(f"/api/v1/artists/{artist.artist_id}/metrics",
                                             headers=artist.headers).json()["metrics"]}
        assert ms["broken"]["error"].startswith("ZeroDivisionError") and ms["published_items"]["value"] == 0
