"""The shared audience view through HTTP: fans in common per pair, over time, k-anonymity, the
opted-in list only, members only."""
from __future__ import annotations

from datetime import timedelta

import pytest

from tests.coop.test_coop_promotion import _paid_tier, _support
from tests.helpers import problem


@pytest.fixture
def mc_plugins():
    return ["coop", "fanclub"]


def follow(e, fan, artist):
    r = e.client.post(f"/api/v1/fanclub/artists/{artist.artist_id}/follow", headers=fan.headers)
    assert r.status_code == 204, r.text


def aud(e, by):
    r = e.client.get(f"/api/v1/coop/coops/{e.coop['id']}/audience", headers=by.headers)
    assert r.status_code == 200, r.text
    [pair] = r.json()["pairs"]
    return pair


def _age(e, users, days):
    """Accounts count among fans once 7 days old: make them ``days`` old on the test's clock."""
    from sqlalchemy import update

    from musicconnect.models import User

    with e.platform.session() as s:
        s.execute(update(User).where(User.id.in_([u.id for u in users]))
                  .values(created_at=e.clock.now() - timedelta(days=days)))


def test_coop_audience_new_accounts_are_not_counted_for_7_days(duo):
    e = duo
    old = [e.users.make("fan") for _ in range(5)]
    new = [e.users.make("fan") for _ in range(2)]
    _age(e, old, days=30)
    _age(e, new, days=2)
    for f in old + new:
        follow(e, f, e.founder)
        follow(e, f, e.b)
    pair = aud(e, e.founder)
    assert pair["fans_in_common"] == 5  # the two new accounts are not counted yet
    assert pair["over_time"][-1]["fans_in_common"] == 5
    e.advance(days=6)
    assert aud(e, e.founder)["fans_in_common"] == 7
    # monthly counts go through the threshold too: last month nobody followed
    assert aud(e, e.founder)["over_time"][-3]["fans_in_common"] == "<5"


@pytest.fixture
def duo(coop_env):
    e = coop_env
    e.coop = e.found()
    e.b = e.artist("Bea")
    e.join(e.coop, e.b)
    return e


def test_coop_audience_counts_k_anonymity_and_opt_in_list(duo):
    e = duo
    fans = [e.users.make("fan") for _ in range(6)]
    _age(e, fans, days=30)
    for f in fans[:4]:
        follow(e, f, e.founder)
        follow(e, f, e.b)
    follow(e, fans[5], e.founder)  # a fan of one artist only is never in common
    pair = aud(e, e.founder)
    assert pair["fans_in_common"] == "<5" and pair["shared_fans"] == []
    e.advance(days=40)
    for f in fans:
        f.renew(e.platform)
    # the fifth: follows one, supports the other with a paid tier
    follow(e, fans[4], e.founder)
    _support(e, fans[4], e.b, _paid_tier(e, e.b))
    r = e.client.put("/api/v1/coop/me/sharing", json={"coop_id": e.coop["id"], "share": True}, headers=fans[0].headers)
    assert r.status_code == 200, r.text
    pair = aud(e, e.b)
    assert pair["fans_in_common"] == 5
    assert [f["user_id"] for f in pair["shared_fans"]] == [str(fans[0].id)]
    assert len(pair["over_time"]) == 12
    assert pair["over_time"][-1]["fans_in_common"] == 5 and pair["over_time"][-2]["fans_in_common"] == "<5"
    # an unfollow and an opt-out are seen at once
    assert e.client.delete(f"/api/v1/fanclub/artists/{e.b.artist_id}/follow", headers=fans[1].headers).status_code == 204
    e.client.put("/api/v1/coop/me/sharing", json={"coop_id": e.coop["id"], "share": False}, headers=fans[0].headers)
    pair = aud(e, e.founder)
    assert pair["fans_in_common"] == "<5" and pair["shared_fans"] == []


def test_coop_audience_members_only(duo):
    e = duo
    problem(e.client.get(f"/api/v1/coop/coops/{e.coop['id']}/audience", headers=e.artist("Out").headers),
            403, "coop-not-member")
    problem(e.client.get(f"/api/v1/coop/coops/{e.coop['id']}/audience", headers=e.users.fan.headers),
            403, "coop-artist-only")
    problem(e.client.put("/api/v1/coop/me/sharing", json={"coop_id": "00000000-0000-0000-0000-000000000001",
                                                          "share": True}, headers=e.users.fan.headers),
            404, "coop-not-found")
