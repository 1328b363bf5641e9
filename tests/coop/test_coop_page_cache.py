"""The public co-op page is cached, and never shows a stale fact: it is dropped when members,
a member's profile, releases or parties change, and when the clock reaches the next release or
the first listed party."""
from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import event

from musicconnect.models import ContentItem

API = "/api/v1/coop"


def _page(e, coop):
    r = e.client.get(f"{API}/coops/{coop['slug']}")
    assert r.status_code == 200, r.text
    return r.json()


class _Queries:
    def __init__(self, engine):
        self.n = 0
        self.engine = engine

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._count)

    def _count(self, *args, **kwargs):
        self.n += 1


def test_a_second_read_of_the_page_asks_the_database_nothing(coop_env):
    e = coop_env
    coop = e.found()
    first = _page(e, coop)
    with _Queries(e.platform.db.engine) as q:
        again = _page(e, coop)
    assert again == first and q.n == 0


def test_a_new_member_and_a_renamed_member_show_at_once(coop_env):
    e = coop_env
    coop = e.found()
    b = e.artist("Bea")
    assert len(_page(e, coop)["members"]) == 1  # the founder (and the page is cached now)
    e.join(coop, b)
    assert str(b.artist_id) in {m["artist_id"] for m in _page(e, coop)["members"]}
    r = e.client.patch(f"/api/v1/artists/{b.artist_id}", json={"name": "Bea Night"}, headers=b.headers)
    assert r.status_code == 200, r.text
    names = {m["artist_id"]: m["name"] for m in _page(e, coop)["members"]}
    assert names[str(b.artist_id)] == "Bea Night"


def test_a_release_shows_when_it_comes_out_and_a_party_until_it_starts(coop_env):
    e = coop_env
    coop = e.found()
    b = e.artist("Bea")
    e.join(coop, b)
    now = e.platform.clock.now()
    with e.platform.session() as s:
        s.add(ContentItem(id=uuid.uuid4(), artist_id=b.artist_id, kind="track", title="Tomorrow", status="ready",
                          visibility="public", publish_at=now + timedelta(hours=1)))
    assert _page(e, coop)["releases"] == []  # scheduled: not out yet (and the page is cached now)
    party = str(uuid.uuid4())
    with e.platform.session() as s:  # the live plugin's event, as it records it
        e.platform.emit(s, "live.party_scheduled", artist_id=b.artist_id, subject=("live_party", party),
                        data={"title": "Late set", "visibility": "public",
                              "starts_at": (now + timedelta(hours=3)).isoformat()})
    assert [p["id"] for p in _page(e, coop)["parties"]] == [party]  # the event dropped the cached page
    e.advance(hours=2)
    page = _page(e, coop)
    assert [r["title"] for r in page["releases"]] == ["Tomorrow"]  # the clock reached the release
    assert [p["id"] for p in page["parties"]] == [party]
    e.advance(hours=2)
    assert _page(e, coop)["parties"] == []  # it started: no longer upcoming


def test_an_unknown_slug_is_a_404_and_is_not_remembered_as_one(coop_env):
    e = coop_env
    r = e.client.get(f"{API}/coops/not-yet")
    assert r.status_code == 404 and r.json()["type"].endswith("/coop-not-found")
    coop = e.found(name="Not Yet")
    assert coop["slug"] == "not-yet"
    assert _page(e, coop)["name"] == "Not Yet"


def test_an_artists_coops_are_public_and_follow_joins_dissolving_and_leaving(coop_env):
    e = coop_env
    coop = e.found(rules={"quorum": "majority", "notice_days": 30, "vote_days": 7})
    b = e.artist("Bea")
    url = f"{API}/artists/{b.artist_id}/coops"
    assert e.client.get(url).json() == {"coops": []}  # (and cached now)
    e.join(coop, b)
    [mine] = e.client.get(url).json()["coops"]
    assert (mine["slug"], mine["role"], mine["status"]) == (coop["slug"], "member", "active")
    page = _page(e, coop)  # cached before the vote
    p = e.propose(coop, b, "dissolve")
    e.vote(coop, p, e.founder)
    assert e.vote(coop, p, b).json()["status"] == "passed"
    assert _page(e, coop)["status"] == "dissolving" != page["status"]
    assert e.client.get(url).json()["coops"][0]["status"] == "dissolving"
    assert e.client.get(f"{API}/artists/{uuid.uuid4()}/coops").json() == {"coops": []}
