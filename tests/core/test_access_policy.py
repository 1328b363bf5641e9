"""Access policy in one place (issue 11, section 3), end to end through HTTP:

* the tier rule is the core's: with the fan club disabled, a member still gets the master
  playlist, the key and the segments of a paid track, and a non-member still gets 403;
* a third-party access rule from a test plugin changes decisions without touching the bundled
  plugins, both ways (a deny that wins over membership, an allow the core's tier rule left open);
* perks are declared with their types and limits by the plugins that honour them: unknown and
  ill-typed perks are refused, and ``GET /api/v1/perks`` lists them;
* a refusal carries the deciding rule's problem type and reason.
"""
from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest

from helpers import problem
from musicconnect import PerkSpec, Verdict, hookimpl
from musicconnect.testing import make_user


class blocklist:
    """A third-party rule: listeners on the block list may not stream (even members)."""

    blocked: set = set()

    @staticmethod
    @hookimpl
    def check_access(platform, actor, action, resource, context):
        if action == "stream" and actor is not None and actor.user_id in blocklist.blocked \
                and not platform.access.manages(actor, resource.artist_id):
            return Verdict.deny("your account may not stream for now", problem="listener-blocked",
                                contact="support@example.com")
        return None


class open_weekend:
    """A third-party rule: while the weekend is open, anyone signed in may hear tier tracks; it
    declares the perk its rule is about, with a type and limits."""

    is_open = False

    @staticmethod
    @hookimpl
    def check_access(actor, action, resource, context):
        if open_weekend.is_open and actor is not None and resource.kind == "track" and action in ("view", "stream"):
            return Verdict.allow("open weekend")
        return None

    @staticmethod
    @hookimpl
    def register_perks(platform):
        return {"weekend_passes": PerkSpec(int, "guest passes for open weekends", min=0, max=4)}


@pytest.fixture
def world(mc_make_platform, tmp_path):
    """Every installed plugin plus the two test rules; an artist with a transcoded Supporter
    track, a member (comped Supporter) and a fan who is not a member."""
    from starlette.testclient import TestClient

    from musicconnect.app import create_app
    from musicconnect_streaming import media

    blocklist.blocked = set()
    open_weekend.is_open = False
    p = mc_make_platform(extra_plugins=[("blocklist", blocklist), ("open_weekend", open_weekend)])
    artist = make_user(p, "artist", artist_name="Policy")
    member, stranger = make_user(p, "fan"), make_user(p, "fan")
    tiers = {t.key: t for t in p.access.tiers(artist.artist_id)}
    src = tmp_path / "tone.flac"
    media.generated_tone(src, 6, seed=3)
    with TestClient(create_app(p)) as client:
        with open(src, "rb") as fh:
            r = client.post(f"/api/v1/streaming/artists/{artist.artist_id}/tracks", headers=artist.headers,
                            files={"file": ("tone.flac", fh, "audio/flac")},
                            data={"visibility": "tier", "required_tier_id": str(tiers["supporter"].id)})
        assert r.status_code == 202, r.text
        p.jobs.wait_idle(120)
        tid = r.json()["id"]
        r = client.post(f"/api/v1/artists/{artist.artist_id}/comps", headers=artist.headers,
                        json={"email": member.email, "tier_id": str(tiers["supporter"].id)})
        assert r.status_code == 201, r.text
        yield client, p, artist, member, stranger, tiers, tid


def _disable(p, name: str) -> None:
    """What ``musicconnect plugins disable NAME`` stores, then what every API process does when it
    sees the change (``app._follow_plugin_state``)."""
    from musicconnect.plugin_state import read_enabled, set_enabled

    set_enabled(p.db, name, False)
    assert p.plugins.apply_state(read_enabled(p.db)) == [name]
    p.cache.clear()


def _play(client, tid, headers=None):
    """Master -> first variant -> key -> first segment, as a player does. Returns the responses."""
    base = f"/api/v1/streaming/tracks/{tid}"
    master = client.get(f"{base}/master.m3u8", headers=headers or {})
    assert master.status_code == 200, master.text
    uri = next(ln for ln in master.text.splitlines() if ln and not ln.startswith("#"))
    var = client.get(f"{base}/{uri}")
    assert var.status_code == 200, var.text
    key_uri = re.search(r'URI="\.\./([^"]+)"', var.text).group(1)
    segment = next(ln for ln in var.text.splitlines() if ln and not ln.startswith("#"))
    if segment.startswith("http://testserver"):  # local media: the app serves it
        seg = client.get(segment.removeprefix("http://testserver"))
    else:  # the object store (distributed pass): the signed URL is the S3 API server's
        seg = httpx.get(segment)
    return client.get(f"{base}/{key_uri}"), seg


def test_paid_streaming_works_with_the_fan_club_disabled(world):
    client, p, artist, member, stranger, tiers, tid = world
    _disable(p, "fanclub")
    problem(client.get(f"/api/v1/fanclub/artists/{artist.artist_id}/me", headers=member.headers), 404,
            "plugin-disabled")
    key, segment = _play(client, tid, member.headers)
    assert key.status_code == 200 and len(key.content) == 16
    assert segment.status_code == 200 and len(segment.content) > 1000
    assert client.get(f"/api/v1/streaming/tracks/{tid}", headers=member.headers).status_code == 200
    # a fan who is not a member: the structure, never the key; the refusal is the core's tier rule
    key, _ = _play(client, tid, stranger.headers)
    body = problem(key, 403, "tier-required")
    assert body["required_tier"] == {"id": str(tiers["supporter"].id), "key": "supporter", "name": "Supporter",
                                     "rank": 1}
    assert body["reason"] == body["detail"] == "this track is for Supporter members" and body["decided_by"] == "core"
    body = problem(client.get(f"/api/v1/streaming/tracks/{tid}", headers=stranger.headers), 403, "tier-required")
    assert body["required_tier"]["key"] == "supporter"
    key, _ = _play(client, tid)  # anonymous: sign in, and what it would take
    assert problem(key, 401, "unauthorized")["required_tier"]["key"] == "supporter"
    # a higher tier qualifies; a lower one does not (rank >= required rank)
    with p.session() as s:
        p.entitlements.grant(s, user_id=stranger.id, artist_id=artist.artist_id, tier_id=tiers["free"].id,
                             source="test", source_ref="free")
    problem(_play(client, tid, stranger.headers)[0], 403, "tier-required")
    with p.session() as s:
        p.entitlements.grant(s, user_id=stranger.id, artist_id=artist.artist_id, tier_id=tiers["superfan"].id,
                             source="test", source_ref="superfan")
    assert _play(client, tid, stranger.headers)[0].status_code == 200


def test_a_third_party_deny_wins_with_its_own_reason(world):
    client, p, artist, member, stranger, tiers, tid = world
    assert _play(client, tid, member.headers)[0].status_code == 200
    blocklist.blocked.add(member.id)
    body = problem(_play(client, tid, member.headers)[0], 403, "listener-blocked")
    assert body["reason"] == "your account may not stream for now" and body["decided_by"] == "blocklist"
    assert body["contact"] == "support@example.com"
    r = client.post("/api/v1/streaming/plays", headers=member.headers, json={"track_id": tid})
    problem(r, 403, "listener-blocked")
    assert client.get(f"/api/v1/streaming/tracks/{tid}", headers=member.headers).status_code == 200  # view is not stream
    assert _play(client, tid, artist.headers)[0].status_code == 200  # the rule exempts the artist itself
    blocklist.blocked.clear()
    assert _play(client, tid, member.headers)[0].status_code == 200


def test_a_third_party_allow_opens_what_the_tier_rule_left_closed(world):
    client, p, artist, member, stranger, tiers, tid = world
    problem(_play(client, tid, stranger.headers)[0], 403, "tier-required")
    open_weekend.is_open = True
    key, segment = _play(client, tid, stranger.headers)
    assert key.status_code == 200 and segment.status_code == 200
    problem(_play(client, tid)[0], 401)  # the rule is for signed-in listeners only
    open_weekend.is_open = False
    problem(_play(client, tid, stranger.headers)[0], 403, "tier-required")


def test_a_plugin_rule_cannot_open_what_the_core_denies(world):
    client, p, artist, member, stranger, tiers, tid = world
    open_weekend.is_open = True
    r = client.post(f"/api/v1/content/{tid}/take-down", headers=artist.headers, json={"reason": "rights claim"})
    assert r.status_code == 200, r.text
    problem(client.get(f"/api/v1/streaming/tracks/{tid}/master.m3u8", headers=stranger.headers), 404)
    problem(client.get(f"/api/v1/streaming/tracks/{tid}", headers=stranger.headers), 404)


def test_the_download_perk_refusal_is_streamings(world):
    client, p, artist, member, stranger, tiers, tid = world
    body = problem(client.post(f"/api/v1/streaming/tracks/{tid}/download", headers=member.headers), 403,
                   "perk-required")
    assert body["perk"] == "offline_downloads" and body["decided_by"] == "streaming"
    r = client.patch(f"/api/v1/artists/{artist.artist_id}/tiers/{tiers['supporter'].id}", headers=artist.headers,
                     json={"perks": {"offline_downloads": 1}})
    assert r.status_code == 200, r.text
    assert client.post(f"/api/v1/streaming/tracks/{tid}/download", headers=member.headers).status_code == 200


def test_unreleased_tracks_stay_hidden_and_early_access_is_a_plugin_rule(world, mc_clock):
    client, p, artist, member, stranger, tiers, tid = world
    release = mc_clock.now() + timedelta(hours=10)
    r = client.patch(f"/api/v1/content/{tid}", headers=artist.headers, json={"publish_at": release.isoformat()})
    assert r.status_code == 200, r.text
    for who in (member, stranger):  # the embargo is the core's: 404, as for no track
        problem(client.get(f"/api/v1/streaming/tracks/{tid}/master.m3u8", headers=who.headers), 404)
    superfan = tiers["superfan"]
    r = client.patch(f"/api/v1/artists/{artist.artist_id}/tiers/{superfan.id}", headers=artist.headers,
                     json={"perks": {"early_access": 12}})
    assert r.status_code == 200, r.text
    with p.session() as s:
        p.entitlements.grant(s, user_id=stranger.id, artist_id=artist.artist_id, tier_id=superfan.id,
                             source="test", source_ref="early")
    assert _play(client, tid, stranger.headers)[0].status_code == 200  # the fan club's early access
    _disable(p, "fanclub")  # its rule goes with it: the embargo holds again
    problem(client.get(f"/api/v1/streaming/tracks/{tid}/master.m3u8", headers=stranger.headers), 404)


def test_perks_are_declared_typed_and_checked(world):
    client, p, artist, member, stranger, tiers, tid = world
    listed = client.get("/api/v1/perks").json()
    assert listed["offline_downloads"] == {"type": "integer", "description": "offline downloads per calendar month (UTC)",
                                           "minimum": 0, "maximum": 10000, "plugin": "streaming"}
    assert listed["early_access"]["plugin"] == "fanclub" and listed["early_access"]["maximum"] == 2160
    assert listed["weekend_passes"] == {"type": "integer", "description": "guest passes for open weekends",
                                        "minimum": 0, "maximum": 4, "plugin": "open_weekend"}
    url = f"/api/v1/artists/{artist.artist_id}/tiers/{tiers['superfan'].id}"
    body = problem(client.patch(url, headers=artist.headers, json={"perks": {"backstage_pass": True}}), 422,
                   "unknown-perk")
    assert body["unknown"] == ["backstage_pass"] and "backstage_pass" in body["detail"]
    assert {"offline_downloads", "direct_messages", "weekend_passes"} <= set(body["known"])
    for perks, perk, message in (({"direct_messages": "five"}, "direct_messages", "direct_messages must be an integer"),
                                 ({"direct_messages": 2.5}, "direct_messages", "direct_messages must be an integer"),
                                 ({"offline_downloads": True}, "offline_downloads", "offline_downloads must be an integer"),
                                 ({"virtual_backstage": 1}, "virtual_backstage", "virtual_backstage must be a boolean"),
                                 ({"early_access": 5000}, "early_access", "early_access must be between 1 and 2160"),
                                 ({"weekend_passes": 5}, "weekend_passes", "weekend_passes must be between 0 and 4")):
        body = problem(client.patch(url, headers=artist.headers, json={"perks": perks}), 422, "invalid-perks")
        assert body["errors"] == [{"perk": perk, "plugin": listed[perk]["plugin"], "message": message}], body
    r = client.patch(url, headers=artist.headers, json={"perks": {"direct_messages": 3, "weekend_passes": 4}})
    assert r.status_code == 200 and r.json()["perks"] == {"direct_messages": 3, "weekend_passes": 4}
    doc = client.get("/openapi.json").json()["components"]["schemas"]
    for schema in ("TierIn", "TierPatch"):  # the document lists them too
        perks = doc[schema]["properties"]["perks"]
        assert perks["x-perks"]["weekend_passes"] == listed["weekend_passes"] and "direct_messages" in perks["x-perks"]
        assert "`early_access` (integer 1..2160, fanclub)" in perks["description"]
    _disable(p, "fanclub")  # nobody honours its perks now: new ones are refused, kept ones stay
    assert "direct_messages" not in client.get("/api/v1/perks").json()
    assert "direct_messages" not in client.get("/openapi.json").json()["components"]["schemas"]["TierIn"][
        "properties"]["perks"]["x-perks"]
    r = client.patch(url, headers=artist.headers, json={"perks": {"direct_messages": 3, "weekend_passes": 1}})
    assert r.status_code == 200, r.text
    problem(client.patch(url, headers=artist.headers, json={"perks": {"early_access": 2}}), 422, "unknown-perk")

