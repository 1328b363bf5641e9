"""Play reporting and offline downloads in a real browser (headless Chromium driven by Playwright,
against a real ``musicconnect serve`` with the web and streaming plugins; a play counts after 1 s
there). A superfan plays a track in the app and the play counts (the artist's ``plays_30d``
through the API); the superfan downloads the track (the allowance shown drops by one), the page
goes offline and the track plays from the Cache API (the audio's time advances); after the
membership ends the next check deletes the cached audio; a fan without the perk sees no download
button. Screenshots under the test's tmp dir (``screenshots/``)."""
from __future__ import annotations

import time

import httpx

from web_helpers import Console, sign_in
from test_web_browser import _seed


def _plays(c: httpx.Client, artist_id: str, h: dict) -> int:
    r = c.get(f"/api/v1/artists/{artist_id}/metrics", params={"metric": "plays_30d"}, headers=h)
    assert r.status_code == 200, r.text
    return r.json()["metrics"][0]["value"]


def _audio_advances(page, beyond: float = 1.5) -> None:
    page.wait_for_function(f"() => document.querySelector('audio').currentTime > {beyond}", timeout=30_000)


def test_plays_count_and_a_superfan_listens_offline(browser, shots, proc_env, tmp_path):
    from helpers import bearer, free_port, register, serve_process, wait_ready

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**proc_env, "MC_PLUGINS": "web,streaming", "MC_BASE_URL": base, "MC_STREAMING_PLAY_COUNT_SECONDS": "1"}
    proc = serve_process(env, port)
    try:
        wait_ready(proc, base)
        audio_dir = tmp_path / "audio"
        audio_dir.mkdir()
        seeded = _seed(base, audio_dir)
        artist_id, track_id = seeded["artist_id"], seeded["tracks"]["Open Sky"]
        with httpx.Client(base_url=base, timeout=30) as c:
            r = c.post("/api/v1/auth/login", json={"email": "nova@example.com", "password": "a-long-passphrase"})
            ah = bearer(r.json()["access_token"])
            tiers = {t["key"]: t for t in c.get(f"/api/v1/artists/{artist_id}/tiers").json()}
            r = c.patch(f"/api/v1/artists/{artist_id}/tiers/{tiers['superfan']['id']}", headers=ah,
                        json={"perks": {**tiers["superfan"].get("perks", {}), "offline_downloads": 20}})
            assert r.status_code == 200, r.text
            register(c, "sam@example.com", display_name="Sam")
            register(c, "robin@example.com", display_name="Robin")
            r = c.post(f"/api/v1/artists/{artist_id}/comps", headers=ah,
                       json={"email": "sam@example.com", "tier_id": tiers["superfan"]["id"]})
            assert r.status_code == 201, r.text
            comp_id = r.json()["id"]
            assert _plays(c, artist_id, ah) == 0

            # a fan without the perk: a player, no download button
            page = browser.new_page()
            console = Console(page)
            sign_in(page, base, "robin@example.com", f"/tracks/{track_id}")
            page.get_by_role("heading", name="Open Sky").wait_for()
            page.locator("#play").wait_for()
            page.wait_for_timeout(1500)  # the slot's components have loaded and asked for the perk
            assert page.get_by_role("button", name="Download for offline").count() == 0
            page.get_by_role("button", name="Sign out").click()
            page.get_by_role("link", name="Sign in").wait_for()

            # the superfan plays it in the app: the play counts
            sign_in(page, base, "sam@example.com", f"/tracks/{track_id}")
            page.get_by_role("heading", name="Open Sky").wait_for()
            page.locator("#play").click()
            _audio_advances(page, 2.0)
            page.get_by_role("button", name="Pause").click()  # pausing reports the position
            deadline = time.monotonic() + 20
            while _plays(c, artist_id, ah) != 1:
                assert time.monotonic() < deadline, "the play made in the app never counted"
                time.sleep(0.5)

            # download for offline: the allowance the server reports drops by one
            allowance = page.locator("#allowance")
            allowance.wait_for()
            assert allowance.inner_text() == "Your tier includes 20 downloads a month"
            page.get_by_role("button", name="Download for offline").click()
            page.locator("#downloaded").wait_for()
            assert allowance.inner_text() == "19 of 20 downloads left this month"
            assert page.evaluate(f"async () => Boolean(await (await caches.open('mc-audio-v1')).match("
                                 f"'/offline-audio/{track_id}'))")
            shots(page, "01-downloaded")
            page.get_by_role("link", name="Your downloads").click()
            page.get_by_role("heading", name="Downloads").wait_for()
            page.locator(".download-list li", has_text="Open Sky").wait_for()
            assert page.locator("#allowance").inner_text() == "19 of 20 downloads left this month"
            shots(page, "02-downloads")

            # offline: the track opens and plays from the cache
            page.wait_for_function("() => navigator.serviceWorker.controller !== null")
            browser.set_offline(True)
            try:
                page.locator(".download-list").get_by_role("link", name="Open Sky").click()
                page.get_by_role("heading", name="Open Sky").wait_for()
                page.locator("#playing-offline").wait_for()
                page.locator("#play").click()
                _audio_advances(page, 1.5)
                shots(page, "03-offline-playing")
                page.get_by_role("button", name="Pause").click()
                # a fresh navigation offline: the worker answers the app shell, which says it is
                # offline and still lists and plays the download
                page.goto(f"{base}/downloads")
                page.locator(".offline-banner", has_text="You are offline").wait_for()
                page.locator(".download-list li", has_text="Open Sky").wait_for()
                shots(page, "03b-offline-downloads")
                page.locator(".download-list").get_by_role("link", name="Open Sky").click()
                page.locator("#playing-offline").wait_for()
                page.locator("#play").click()
                _audio_advances(page, 1.5)
                page.get_by_role("button", name="Pause").click()
            finally:
                browser.set_offline(False)

            # the membership ends: the next check deletes the cached audio
            r = c.delete(f"/api/v1/artists/{artist_id}/entitlements/{comp_id}", headers=ah)
            assert r.status_code in (200, 204), r.text
            page.goto(f"{base}/downloads")
            page.locator("#removed").wait_for()
            assert "Open Sky" in page.locator("#removed").inner_text()
            page.locator("#no-downloads").wait_for()
            assert not page.evaluate(f"async () => Boolean(await (await caches.open('mc-audio-v1')).match("
                                     f"'/offline-audio/{track_id}'))")
            assert console.unexpected("403", "404", "status of 503", "ERR_INTERNET_DISCONNECTED") == [], \
                console.errors
    finally:
        proc.terminate()
        proc.wait(timeout=30)
