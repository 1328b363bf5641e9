"""Review findings on flags: an empty tier list is refused (it would match every user), and a
tier's rank change reaches tier rules without a flag change."""
from __future__ import annotations

import uuid

import pytest

from helpers import problem
from musicconnect.errors import Problem
from musicconnect.models import Tier


def test_empty_tier_list_is_refused_over_http_and_in_code(mc_client, mc_platform, mc_users):
    admin = mc_users.admin.headers
    flag = {"key": "lounge", "kind": "boolean"}
    assert mc_client.post("/api/v1/flags", json=flag, headers=admin).status_code == 201
    body = problem(mc_client.put("/api/v1/flags/lounge/rules", json={"rules": [{"tiers": [], "variant": "on"}]},
                                 headers=admin), 422, "validation")
    assert "tiers is an empty list" in body["detail"] and "rule 0" in body["detail"]
    problem(mc_client.post("/api/v1/flags", json={"key": "other", "rules": [{"tiers": [], "variant": "on"}]},
                           headers=admin), 422, "validation")
    with mc_platform.session() as s, pytest.raises(Problem) as err:
        mc_platform.flags.update(s, "lounge", rules=[{"tiers": [], "variant": "on"}])
    assert err.value.status == 422
    # nobody is served "on" (the rule was never stored)
    assert mc_platform.flags.enabled("lounge", uuid.uuid4()) is False
    assert mc_client.get("/api/v1/flags/lounge", headers=admin).json()["rules"] == []


def test_a_stored_empty_tier_list_matches_nobody(mc_platform):
    """A rule stored before the check (written straight to the table) fails closed."""
    from musicconnect.flag_models import FeatureFlag
    from sqlalchemy import select

    p = mc_platform
    with p.session() as s:
        p.flags.create(s, "legacy")
    with p.session() as s:
        row = s.scalars(select(FeatureFlag).where(FeatureFlag.key == "legacy")).one()
        row.rules = [{"tiers": [], "variant": "on", "percentage": 100.0}]
    p.flags.refresh()
    assert p.flags.enabled("legacy", uuid.uuid4()) is False


def test_a_tier_rank_change_reaches_tier_rules(mc_client, mc_platform, mc_users):
    p, artist = mc_platform, mc_users.artist
    with p.session() as s:
        silver = Tier(artist_id=artist.artist_id, key="silver", name="Silver", rank=1, price_amount=300)
        gold = Tier(artist_id=artist.artist_id, key="gold", name="Gold", rank=2, price_amount=900)
        s.add_all([silver, gold])
        s.flush()
        silver_id, gold_id = silver.id, gold.id
    with p.session() as s:
        p.flags.create(s, "gold-room", rules=[{"tiers": [str(gold_id)], "variant": "on"}])
        p.entitlements.grant(s, user_id=mc_users.fan.id, artist_id=artist.artist_id, tier_id=silver_id,
                             source="comp", source_ref="t-rank")
    fan = mc_users.fan.id
    assert p.flags.enabled("gold-room", fan) is False  # silver (1) is below gold (2); all cached now

    def rank(tier_id, value):
        r = mc_client.patch(f"/api/v1/artists/{artist.artist_id}/tiers/{tier_id}", json={"rank": value},
                            headers=artist.headers)
        assert r.status_code == 200, r.text

    rank(silver_id, 3)  # silver now outranks gold: the fan's tier counts at once
    assert p.flags.enabled("gold-room", fan) is True
    rank(gold_id, 4)  # the rule's own tier moves above: no longer
    assert p.flags.enabled("gold-room", fan) is False
