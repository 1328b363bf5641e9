"""Artists edit their tiers through the API; bad input and foreign hands are refused."""
from __future__ import annotations

from helpers import problem


def _tiers(client, artist):
    return {t["key"]: t for t in client.get(f"/api/v1/artists/{artist.artist_id}/tiers").json()}


def test_edit_price_perks_and_yearly(mc_client, mc_users):
    a = mc_users.artist
    sup = _tiers(mc_client, a)["supporter"]
    r = mc_client.patch(f"/api/v1/artists/{a.artist_id}/tiers/{sup['id']}", headers=a.headers,
                        json={"price_amount": 700, "yearly_amount": 7000, "currency": "eur",
                              "perks": {"exclusive_tracks": True, "direct_messages": 2}})
    assert r.status_code == 200, r.text
    t = _tiers(mc_client, a)["supporter"]
    assert (t["price_amount"], t["yearly_amount"], t["currency"]) == (700, 7000, "EUR")
    assert t["perks"] == {"exclusive_tracks": True, "direct_messages": 2}
    # explicit null clears the yearly price
    r = mc_client.patch(f"/api/v1/artists/{a.artist_id}/tiers/{sup['id']}", headers=a.headers, json={"yearly_amount": None})
    assert r.json()["yearly_amount"] is None


def test_add_and_retire_tier(mc_client, mc_users):
    a = mc_users.artist
    r = mc_client.post(f"/api/v1/artists/{a.artist_id}/tiers", headers=a.headers,
                       json={"key": "patron", "name": "Patron", "rank": 3, "price_amount": 2500,
                             "perks": {"virtual_backstage": True}})
    assert r.status_code == 201, r.text
    tid = r.json()["id"]
    assert "patron" in _tiers(mc_client, a)
    assert mc_client.delete(f"/api/v1/artists/{a.artist_id}/tiers/{tid}", headers=a.headers).status_code == 204
    assert "patron" not in _tiers(mc_client, a)
    retired = mc_client.get(f"/api/v1/artists/{a.artist_id}/tiers?include_retired=true").json()
    assert [t["is_active"] for t in retired if t["key"] == "patron"] == [False]


def test_tier_bad_input(mc_client, mc_users):
    a = mc_users.artist
    base = f"/api/v1/artists/{a.artist_id}/tiers"
    tiers = _tiers(mc_client, a)
    problem(mc_client.post(base, headers=a.headers, json={"key": "free2", "name": "X", "rank": 0, "price_amount": 100}), 422)
    problem(mc_client.post(base, headers=a.headers, json={"key": "paid", "name": "X", "rank": 4, "price_amount": 0}), 422)
    problem(mc_client.post(base, headers=a.headers, json={"key": "Bad Key", "name": "X", "rank": 4, "price_amount": 1}), 422)
    problem(mc_client.post(base, headers=a.headers,
                           json={"key": "cur", "name": "X", "rank": 4, "price_amount": 1, "currency": "D0L"}), 422)
    problem(mc_client.post(base, headers=a.headers,
                           json={"key": "perk", "name": "X", "rank": 4, "price_amount": 1, "perks": {"Bad Perk": 1}}), 422)
    problem(mc_client.post(base, headers=a.headers, json={"key": "supporter", "name": "X", "rank": 4, "price_amount": 1}),
            409, "tier-key-taken")
    problem(mc_client.post(base, headers=a.headers, json={"key": "clash", "name": "X", "rank": 1, "price_amount": 1}),
            409, "tier-rank-taken")
    problem(mc_client.delete(f"{base}/{tiers['free']['id']}", headers=a.headers), 409, "free-tier-required")
    problem(mc_client.patch(f"{base}/00000000-0000-0000-0000-000000000000", headers=a.headers, json={"name": "n"}), 404)
    problem(mc_client.get("/api/v1/artists/00000000-0000-0000-0000-000000000000/tiers"), 404)


def test_only_the_artist_or_admin_edits(mc_client, mc_users):
    a = mc_users.artist
    other = mc_users.make("artist", artist_name="Someone Else")
    sup = _tiers(mc_client, a)["supporter"]
    url = f"/api/v1/artists/{a.artist_id}/tiers/{sup['id']}"
    problem(mc_client.patch(url, headers=mc_users.fan.headers, json={"name": "Hacked"}), 403, "forbidden")
    problem(mc_client.patch(url, headers=other.headers, json={"name": "Hacked"}), 403, "forbidden")
    problem(mc_client.patch(url, json={"name": "Hacked"}), 401)
    assert mc_client.patch(url, headers=mc_users.admin.headers, json={"name": "Backer"}).json()["name"] == "Backer"


def test_artist_profile_by_slug_and_patch(mc_client, mc_users):
    a = mc_users.artist
    assert mc_client.get("/api/v1/artists/test-artist").json()["id"] == str(a.artist_id)
    r = mc_client.patch(f"/api/v1/artists/{a.artist_id}", headers=a.headers,
                        json={"bio": "Synths.", "timezone": "Europe/Berlin"})
    assert r.status_code == 200 and r.json()["timezone"] == "Europe/Berlin"
    problem(mc_client.patch(f"/api/v1/artists/{a.artist_id}", headers=a.headers, json={"timezone": "Mars/Olympus"}), 422)
    problem(mc_client.get("/api/v1/artists/no-such-artist"), 404, "not-found")
    assert [x["name"] for x in mc_client.get("/api/v1/artists?q=test").json()] == ["Test Artist"]
