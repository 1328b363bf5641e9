"""The coop plugin alone (mc_plugins), with helpers to found a co-op and bring members in."""
from __future__ import annotations

import pytest


@pytest.fixture
def mc_plugins():
    return ["coop"]


class CoopEnv:
    def __init__(self, client, users, platform, clock):
        self.client, self.users, self.platform, self.clock = client, users, platform, clock
        self.founder = users.artist
        self.made = []

    def artist(self, name="Member"):
        user = self.users.make("artist", artist_name=name)
        self.made.append(user)
        return user

    def found(self, name="Night Shift", rules=None, by=None):
        body = {"name": name, "description": "We play together"}
        if rules is not None:
            body["rules"] = rules
        r = self.client.post("/api/v1/coop/coops", json=body, headers=(by or self.founder).headers)
        assert r.status_code == 201, r.text
        return r.json()

    def join(self, coop, artist, by=None):
        """Invite ``artist`` while the founder is alone and accept."""
        r = self.client.post(f"/api/v1/coop/coops/{coop['id']}/invitations", json={"artist_id": str(artist.artist_id)},
                             headers=(by or self.founder).headers)
        assert r.status_code == 201, r.text
        r = self.client.post(f"/api/v1/coop/coops/{coop['id']}/invitation/accept", headers=artist.headers)
        assert r.status_code == 200, r.text
        return r.json()

    def propose(self, coop, by, kind, payload=None, status=201):
        r = self.client.post(f"/api/v1/coop/coops/{coop['id']}/proposals", json={"kind": kind, "payload": payload or {}},
                             headers=by.headers)
        assert r.status_code == status, r.text
        return r.json()

    def vote(self, coop, proposal, by, choice="yes"):
        return self.client.post(f"/api/v1/coop/coops/{coop['id']}/proposals/{proposal['id']}/votes",
                                json={"choice": choice}, headers=by.headers)

    def members(self, coop, by=None):
        r = self.client.get(f"/api/v1/coop/coops/{coop['id']}/members", headers=(by or self.founder).headers)
        assert r.status_code == 200, r.text
        return {m["artist_id"]: m for m in r.json()["members"]}

    def advance(self, **delta):
        """Move the frozen clock and give every artist of the test a fresh access token."""
        self.clock.advance(**delta)
        self.renew(self.founder, self.users.fan, *self.made)

    def sweep(self):
        from musicconnect_coop.governance import sweep

        return sweep(self.platform)

    def renew(self, *users):
        for u in users:
            u.renew(self.platform)


@pytest.fixture
def coop_env(mc_client, mc_users, mc_platform, mc_clock):
    return CoopEnv(mc_client, mc_users, mc_platform, mc_clock)
