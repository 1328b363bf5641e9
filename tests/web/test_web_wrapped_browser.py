"""Wrapped in a real browser: a fan who played a track this month (through the API) opens
/wrapped/<this month> (the address of the "Your Wrapped is ready" notification) and sees the
minutes, the top track and the share card drawn by the fan club (the PNG, fetched signed in)."""
from __future__ import annotations

from datetime import datetime, timezone

import httpx

from web_helpers import Console


def test_the_fan_sees_their_month_and_its_card(browser, shots, proc_env, tmp_path):
    from helpers import bearer, free_port, register, serve_process, wait_ready
    from test_web_membership_browser import _seed

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = serve_process({**proc_env, "MC_PLUGINS": "web,streaming,billing,fanclub", "MC_BASE_URL": base,
                          "MC_BILLING_SANDBOX": "true", "MC_STREAMING_PLAY_COUNT_SECONDS": "1"}, port)
    try:
        wait_ready(proc, base)
        seeded = _seed(base, tmp_path)
        month = datetime.now(timezone.utc).strftime("%Y-%m")
        with httpx.Client(base_url=base, timeout=30) as c:
            fan = register(c, "robin@example.com", display_name="Robin")
            token = c.post("/api/v1/auth/login", json={"email": "nova@example.com", "password": "a-long-passphrase"}).json()["access_token"]
            r = c.post(f"/api/v1/artists/{seeded['artist_id']}/comps", headers=bearer(token),
                       json={"email": "robin@example.com", "tier_id": seeded["tiers"]["supporter"]["id"]})
            assert r.status_code in (200, 201), r.text
            h = bearer(fan["tokens"]["access_token"])
            r = c.post("/api/v1/streaming/plays", json={"track_id": seeded["track_id"]}, headers=h)
            assert r.status_code == 201, r.text
            r = c.post(f"/api/v1/streaming/plays/{r.json()['session_id']}", json={"event": "complete", "position": 12},
                       headers=h)
            assert r.status_code == 200 and r.json()["counted"] is True, r.text
            report = c.get(f"/api/v1/fanclub/me/wrapped/{month}", headers=h).json()
        assert report["plays"] == 1 and report["top_tracks"][0]["title"] == "Backstage Demo", report

        page = browser.new_page()
        console = Console(page)
        page.goto(f"{base}/signin?next=/wrapped/{month}")
        page.get_by_label("Email").fill("robin@example.com")
        page.get_by_label("Password").fill("a-long-passphrase")
        page.get_by_role("button", name="Sign in").click()
        page.locator("#wrapped-title").wait_for()
        assert page.get_by_role("navigation", name="Main").get_by_role("link", name="Wrapped").count() == 1
        assert f"{report['minutes']:g}" in page.locator(".wrapped-minutes").inner_text().replace(",", "")
        assert "1 plays" in page.locator(".wrapped-minutes").inner_text()
        top = page.locator(".wrapped-tracks li").first
        assert "Backstage Demo" in top.inner_text() and "Nova Lane" in top.inner_text()
        card = page.get_by_role("img", name="Your Wrapped card")
        card.wait_for()
        page.wait_for_function("document.querySelector('.wrapped-card img').naturalWidth > 0")
        assert page.evaluate("document.querySelector('.wrapped-card img').naturalWidth") == 1080
        shots(page, "wrapped")
        assert console.unexpected() == [], console.errors
    finally:
        proc.terminate()
        proc.wait(10)
