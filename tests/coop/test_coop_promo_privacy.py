"""Erasure and export of the promotion and audience-sharing tables through the privacy plugin."""
from __future__ import annotations

import pytest

from tests.coop.test_coop_privacy import _coop_hits
from tests.coop.test_coop_promotion import nominate, opt_in, release, slot


@pytest.fixture
def mc_plugins():
    return ["coop", "privacy", "fanclub"]


def test_coop_promo_fan_and_artist_erasure_leave_no_trace(coop_env):
    from musicconnect.models import User
    from musicconnect_coop.privacy import export_user_data
    from musicconnect_privacy.erasure import erase

    e = coop_env
    coop = e.found()
    b = e.artist("Promo Bea")
    e.join(coop, b)
    nominate(e, b, "release", release(e, b))
    opt_in(e, e.founder)
    fan = e.users.fan
    p = slot(e, e.founder, headers=fan.headers)
    assert e.client.post(f"/api/v1/coop/promotions/{p['impression_id']}/click", headers=fan.headers).status_code == 200
    assert e.client.post(f"/api/v1/fanclub/artists/{b.artist_id}/follow", headers=fan.headers).status_code == 204
    assert e.client.put("/api/v1/coop/me/sharing", json={"coop_id": coop["id"], "share": True},
                        headers=fan.headers).status_code == 200
    with e.platform.session() as s:
        part = export_user_data(e.platform, s, s.get(User, fan.id))
        assert len(part.records["coop_promotion_impressions"]) == 1
        assert part.records["coop_promotion_attributions"][0]["via"] == "click"
        assert part.records["coop_sharing"] == [{"coop_id": coop["id"], "since": part.records["coop_sharing"][0]["since"]}]
        art = export_user_data(e.platform, s, s.get(User, b.id))
        assert art.records["coop_promotion_settings"][0]["nomination"] == "release"
    report = erase(e.platform, fan.id)
    assert report["erased"]["coop"]["coop_sharing"] == 1
    assert not _coop_hits(e.platform, [str(fan.id), fan.email])
    # the slot keeps its numbers without the fan
    stats = e.client.get(f"/api/v1/coop/coops/{coop['id']}/promotions/stats", headers=e.founder.headers).json()
    assert stats["slots"][0]["impressions"] == 1 and stats["slots"][0]["follows"]["click"] == 1
    erase(e.platform, b.id)
    assert not _coop_hits(e.platform, [str(b.artist_id), str(b.id), b.email, "Promo Bea"])
