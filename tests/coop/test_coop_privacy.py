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


def test_coop_ledger_lines_are_retained_and_the_fan_unlinked(coop_env):
    import uuid as _uuid

    from musicconnect_coop.ledger import record_payment
    from musicconnect_coop.ledger_models import LedgerEntry, LedgerPayment
    from musicconnect_privacy.erasure import erase

    e = coop_env
    coop = e.found()
    a = e.artist("Ana Paid")
    e.join(coop, a)
    members = [e.founder.artist_id, a.artist_id]
    with e.platform.session() as s:
        shares = record_payment(s, coop_id=_uuid.UUID(coop["id"]), payment_ref="sandbox:pay_1", amount=1001, fee=101,
                                currency="USD", rule={"kind": "fixed", "shares": {str(m): 5000 for m in members}},
                                members=members, fan_id=e.users.fan.id, occurred_at=e.clock.now())
    assert shares[str(a.artist_id)] == 450
    with e.platform.session() as s:
        from musicconnect.models import User
        from musicconnect_coop.privacy import export_user_data

        part = export_user_data(e.platform, s, s.get(User, a.id))
        assert [(x["kind"], x["amount"]) for x in part.records["coop_ledger"]] == [("share", 450)]
    fan = erase(e.platform, e.users.fan.id)
    assert fan["erased"]["coop"] == {"coop_ledger_payments_unlinked": 1}
    artist = erase(e.platform, a.id)
    kept = [r for r in artist["retained"] if r["plugin"] == "coop"]
    assert kept and kept[0]["count"] == 1 and "accounting" in kept[0]["why"]
    with e.platform.read() as s:
        assert s.scalar(select(LedgerPayment.fan_id)) is None
        # the books still balance: the member's line stays, with their id only
        assert sum(s.scalars(select(LedgerEntry.amount))) == 1001
        assert a.artist_id in set(s.scalars(select(LedgerEntry.artist_id)))
    assert not _coop_hits(e.platform, [a.email, "Ana Paid", e.users.fan.email, str(e.users.fan.id)])
