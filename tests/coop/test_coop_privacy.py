"""A member artist's erasure through the privacy plugin: nothing of them stays in the co-op's
tables (their id, name or email), the co-op and the other members stay; the export names their
memberships, proposals and votes."""
from __future__ import annotations

import pytest
from sqlalchemy import MetaData, Text, cast, select


@pytest.fixture
def mc_plugins():
    return ["coop", "privacy"]


def _coop_hits(platform, needles):
    md = MetaData()
    md.reflect(bind=platform.db.engine)
    hits = set()
    with platform.db.engine.connect() as conn:
        for table in md.sorted_tables:
            if not table.name.startswith("coop_"):
                continue
            for row in conn.execute(select(*[cast(c, Text).label(c.name) for c in table.columns])):
                for name, value in row._mapping.items():
                    if value is not None and any(n.lower() in str(value).lower() for n in needles):
                        hits.add((table.name, name))
    return hits


def test_coop_member_erasure_leaves_no_trace_in_coop_tables(coop_env):
    from musicconnect_privacy.erasure import erase

    e = coop_env
    coop = e.found(rules={"quorum": "majority", "notice_days": 3, "vote_days": 3})
    a, b = e.artist("Ana Erased"), e.artist("Bo")
    e.join(coop, a)
    p = e.client.post(f"/api/v1/coop/coops/{coop['id']}/invitations", json={"artist_id": str(b.artist_id)},
                      headers=e.founder.headers).json()["proposal"]
    e.vote(coop, p, a)
    e.vote(coop, p, e.founder)
    e.client.post(f"/api/v1/coop/coops/{coop['id']}/invitation/accept", headers=b.headers)
    split = {"kind": "fixed", "shares": {str(e.founder.artist_id): 3000, str(a.artist_id): 3000,
                                         str(b.artist_id): 4000}}
    q = e.propose(coop, a, "change_split", {"split": split})
    for u in (a, b):
        e.vote(coop, q, u)
    r = e.propose(coop, e.founder, "remove_member", {"artist_id": str(a.artist_id)})
    e.vote(coop, r, a, "no")
    needles = [str(a.artist_id), a.artist_id.hex, a.email, "Ana Erased", str(a.id)]
    assert _coop_hits(e.platform, needles)
    # the export names their co-op life
    exp = e.client.post("/api/v1/privacy/exports", headers=a.headers)
    assert exp.status_code == 202, exp.text
    receipt = erase(e.platform, a.id)
    e.platform.jobs.wait_idle()
    assert not _coop_hits(e.platform, needles)
    got = receipt["erased"]["coop"]
    assert got["coop_memberships"] == 1 and got["coop_votes"] == 3 and got["coop_proposals_about_you"] == 2
    assert got["coop_split_shares_anonymised"] == 1
    members = e.members(coop)
    assert set(members) == {str(e.founder.artist_id), str(b.artist_id)}
    rules = e.client.get(f"/api/v1/coop/coops/{coop['id']}/rules", headers=b.headers).json()["split"]
    assert sum(rules[-1]["body"]["shares"].values()) == 10000 and "erased" in rules[-1]["body"]["shares"]
