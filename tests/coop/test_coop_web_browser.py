"""The co-op in the web app, in a real browser (Debian's headless Chromium driven by Playwright,
the web tests' harness: ``browser``/``shots`` fixtures and ``web_helpers``) against ``musicconnect
serve`` with web, billing (sandbox on), fanclub and coop. Seeded through the API: a two-artist
co-op with a fixed split and a bundle both members picked a tier for; the founder's artist page
opted in to promotions and the other member's public post nominated.

A fan opens ``/coop/<slug>``, sees the members and the bundle with what it includes, presses "Join
the bundle", pays on the sandbox's checkout page and lands on the return page holding the bundle
(checked through the API); on the founder's artist page the promotion slot shows the other
member's post, the fan clicks it, lands on the post, and the click is recorded (the co-op's stats
through the API); the fan's feed (following the founder) shows the same promotion in its ``feed``
slot. Then the founder opens the studio page: the payment in the co-op's money, the
surface opted in, the bundle pick, and a vote on an open proposal (recorded, through the API).
axe-core finds no serious or critical violation on the co-op page and the studio page."""
from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import httpx

WEB_TESTS = Path(__file__).resolve().parents[1] / "web"
sys.path.insert(0, str(WEB_TESTS))
_spec = importlib.util.spec_from_file_location("coop_web_fixtures", WEB_TESTS / "conftest.py")
_web = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_web)
browser, shots = _web.browser, _web.shots  # the web tests' fixtures (Chromium, screenshots)

from web_helpers import Console, axe_audit, served, sign_in  # noqa: E402

API = "/api/v1/coop"


def _seed(base: str) -> dict:
    from helpers import bearer, register

    with httpx.Client(base_url=base, timeout=30) as c:
        def user(email, **kw):
            out = register(c, email, **kw)
            return out, bearer(out["tokens"]["access_token"])

        ada, ha = user("ada@example.com", role="artist", artist_name="Ada Vale", display_name="Ada")
        bo, hb = user("bo@example.com", role="artist", artist_name="Bo Reyes", display_name="Bo")
        _, hr = user("robin@example.com", display_name="Robin")
        a_id, b_id = ada["user"]["artist"]["id"], bo["user"]["artist"]["id"]

        def ok(r, status=200):
            assert r.status_code == status, r.text
            return r.json()

        coop = ok(c.post(f"{API}/coops", headers=ha, json={"name": "Night Shift", "description": "Two of us, one bundle"}), 201)
        ok(c.post(f"{API}/coops/{coop['id']}/invitations", headers=ha, json={"artist_id": b_id}), 201)
        ok(c.post(f"{API}/coops/{coop['id']}/invitation/accept", headers=hb))

        def passes(proposal):
            for h in (ha, hb):
                out = ok(c.post(f"{API}/coops/{coop['id']}/proposals/{proposal['id']}/votes", headers=h, json={"choice": "yes"}))
            assert out["status"] == "passed", out

        passes(ok(c.post(f"{API}/coops/{coop['id']}/proposals", headers=ha, json={"kind": "change_split", "payload": {
            "split": {"kind": "fixed", "shares": {a_id: 5000, b_id: 5000}}}}), 201))
        passes(ok(c.post(f"{API}/coops/{coop['id']}/bundles", headers=ha,
                         json={"name": "Both of us", "price_amount": 1200}), 202)["proposal"])
        [bundle] = ok(c.get(f"{API}/coops/{coop['id']}/bundles", headers=ha))["bundles"]
        for aid, h in ((a_id, ha), (b_id, hb)):
            supporter = next(t for t in ok(c.get(f"/api/v1/artists/{aid}/tiers")) if t["key"] == "supporter")
            ok(c.put(f"{API}/coops/{coop['id']}/bundles/{bundle['tier_id']}/pick", headers=h, json={"tier_id": supporter["id"]}))
        # promotion: Ada's page shows co-op work; Bo nominates a public post
        ok(c.put(f"{API}/me/promotions/surfaces", headers=ha, json={"surfaces": ["artist_page", "feed"]}))
        # the fan follows Ada, whose own post is in the fan's feed (the feed's slot is hosted by Ada)
        ok(c.post(f"/api/v1/artists/{a_id}/content", headers=ha, json={
            "kind": "post", "title": "Ada's studio diary", "data": {"body": "Mixing tonight."}}), 201)
        assert c.post(f"/api/v1/fanclub/artists/{a_id}/follow", headers=hr).status_code == 204
        post = ok(c.post(f"/api/v1/artists/{b_id}/content", headers=hb, json={
            "kind": "post", "title": "Bo's new single is out", "data": {"body": "Listen now."}}), 201)
        ok(c.post(f"{API}/me/promotions/nominations", headers=hb, json={"kind": "release", "ref": post["id"]}), 201)
        return {"coop": coop, "bundle": bundle, "ha": ha, "post": post, "a_id": a_id, "b_id": b_id,
                "ada_slug": ada["user"]["artist"]["slug"]}


def test_a_fan_joins_the_bundle_and_clicks_a_promotion(browser, shots, proc_env):
    with served(proc_env, "web,billing,fanclub,coop", MC_BILLING_SANDBOX="true") as base:
        seed = _seed(base)
        coop = seed["coop"]
        page = browser.new_page()
        console = Console(page)
        sign_in(page, base, "robin@example.com", next_path=f"/coop/{coop['slug']}")
        page.get_by_role("heading", name="Night Shift", level=1).wait_for()
        page.locator(".members", has_text="Ada Vale").wait_for()
        bundle = page.locator(".bundle", has_text="Both of us")
        bundle.wait_for()
        text = bundle.inner_text()
        assert "Ada Vale: Supporter" in text and "Bo Reyes: Supporter" in text, text
        shots(page, "01-coop-page")
        violations = axe_audit(page, "coop page")
        bundle.get_by_role("button", name="Join the bundle").click()
        page.wait_for_url(re.compile(r".*/api/v1/billing/sandbox/checkout/.*"))
        page.get_by_role("button", name="Pay with the sandbox test card").click()
        page.wait_for_url(re.compile(r".*/checkout/return\?artist=.*"))
        page.locator("#membership-held").wait_for(timeout=30_000)
        shots(page, "02-return")
        with httpx.Client(base_url=base, timeout=30) as c:
            token = c.post("/api/v1/auth/login", json={"email": "robin@example.com",
                                                       "password": "a-long-passphrase"}).json()["access_token"]
            ents = c.get("/api/v1/me/entitlements", headers={"Authorization": f"Bearer {token}"}).json()
        held = [e for e in ents if e["artist_id"] == coop["artist_id"] and e["effective"]]
        assert held and held[0]["tier"]["id"] == seed["bundle"]["tier_id"], ents

        # the founder's artist page: the promotion slot shows Bo's post; a click is recorded
        page.goto(f"{base}/artists/{seed['ada_slug']}")
        promo = page.locator(".coop-promo")
        promo.wait_for()
        assert "Bo Reyes" in promo.inner_text()
        shots(page, "03-promotion")
        promo.get_by_role("link", name="Bo's new single is out").click()
        page.wait_for_url(re.compile(rf".*/post\?id={seed['post']['id']}"))
        with httpx.Client(base_url=base, timeout=30) as c:
            slots = c.get(f"{API}/coops/{coop['id']}/promotions/stats", headers=seed["ha"]).json()["slots"]
        [row] = [s for s in slots if s["host_artist_id"] == seed["a_id"] and s["surface"] == "artist_page"]
        assert row["promoted_artist_id"] == seed["b_id"] and row["impressions"] >= 1 and row["clicks"] == 1, row

        # the fan's feed: Ada's post, and the feed's slot shows Bo's post too (hosted by Ada)
        page.goto(f"{base}/feed")
        page.locator(".feed-item", has_text="Ada's studio diary").wait_for()
        feed_promo = page.locator(".coop-promo")
        feed_promo.wait_for()
        assert "Bo Reyes" in feed_promo.inner_text() and "Bo's new single is out" in feed_promo.inner_text()
        shots(page, "03b-feed-promotion")
        with httpx.Client(base_url=base, timeout=30) as c:
            slots = c.get(f"{API}/coops/{coop['id']}/promotions/stats", headers=seed["ha"]).json()["slots"]
        assert [(s["surface"], s["promoted_artist_id"]) for s in slots if s["host_artist_id"] == seed["a_id"]
                and s["surface"] == "feed"] == [("feed", seed["b_id"])], slots

        # the founder's studio page: the co-op, an open proposal to vote on, the money, the promotion settings
        with httpx.Client(base_url=base, timeout=30) as c:
            r = c.post(f"{API}/coops/{coop['id']}/proposals", headers=seed["ha"], json={"kind": "change_rules", "payload": {
                "rules": {"quorum": "majority", "notice_days": 14, "vote_days": 5}}})
            assert r.status_code == 201, r.text
            proposal = r.json()
        page.get_by_role("button", name="Sign out").click()
        sign_in(page, base, "ada@example.com", next_path="/studio/coop")
        page.get_by_role("heading", name="Co-ops", level=1).wait_for()
        panel = page.locator(f"[data-coop='{coop['id']}']")
        panel.locator(".ledger").wait_for()
        assert re.search(r"Payments\s*1", panel.locator(".ledger").inner_text()), panel.locator(".ledger").inner_text()
        assert page.get_by_label("my artist page").is_checked()
        assert page.get_by_label("My tier in Both of us").input_value() != ""
        shots(page, "04-studio")
        violations += axe_audit(page, "coop studio")
        assert violations == [], violations
        panel.get_by_role("button", name=re.compile("^Vote yes: Change the rules")).click()
        panel.get_by_text("You voted yes.").wait_for()
        with httpx.Client(base_url=base, timeout=30) as c:
            got = c.get(f"{API}/coops/{coop['id']}/proposals/{proposal['id']}", headers=seed["ha"]).json()
        assert got["my_vote"] == "yes" and got["yes"] == 1, got
        # the sandbox's checkout page (billing's, outside the app) has no favicon
        assert console.unexpected("favicon.ico") == [], console.unexpected("favicon.ico")
