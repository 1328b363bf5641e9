"""Only admins open add_member proposals, through POST /proposals as through invitations
(review: non-admin add_member)."""
from __future__ import annotations

from tests.helpers import problem


def test_a_non_admin_cannot_propose_a_new_member(coop_env):
    e = coop_env
    coop = e.found()
    a, c = e.artist("Ana"), e.artist("Cy")
    e.join(coop, a)
    url = f"/api/v1/coop/coops/{coop['id']}/proposals"
    r = e.client.post(url, json={"kind": "add_member", "payload": {"artist_id": str(c.artist_id)}}, headers=a.headers)
    problem(r, 403, "coop-not-admin")
    r = e.client.post(url, json={"kind": "add_member", "payload": {"artist_id": str(c.artist_id)}},
                      headers=e.founder.headers)
    assert r.status_code == 201, r.text
