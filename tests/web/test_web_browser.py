"""The web app in a real browser (headless Chromium driven by Playwright): the shell loads with no
console errors, another plugin's page appears in the navigation and opens, a fan signs up, opens
an artist's page, plays a public track (the audio's time advances) and is shown the tier a gated
one needs. Screenshots of each step are saved under the test's tmp dir (``screenshots/``)."""
from __future__ import annotations

from web_helpers import Console, guestbook_plugin, seed_tracks, served

_seed = seed_tracks   # the name other browser tests import from here (web_helpers.seed_tracks now)


def test_shell_loads_and_another_plugins_page_is_in_the_navigation(browser, shots, thread_server, mc_make_platform,
                                                                    tmp_path):
    from musicconnect.app import create_app
    from musicconnect.testing import make_user

    p = mc_make_platform(extra_plugins=[("guestbook", guestbook_plugin(tmp_path / "assets"))])
    make_user(p, "artist", artist_name="Nova Lane")
    base = thread_server(create_app(p))
    page = browser.new_page()
    console = Console(page)
    page.goto(f"{base}/")
    page.get_by_role("heading", name="Discover artists").wait_for()
    page.get_by_role("link", name="Nova Lane").wait_for()
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Guestbook", exact=True).wait_for()  # declared by the test plugin, loaded lazily
    assert nav.get_by_role("link", name="About the guestbook").count() == 1
    assert nav.get_by_role("link", name="CDN").count() == 0  # the refused entries never reach the app
    shots(page, "01-home")
    # the service worker takes the page (scope /) and precaches the shell
    page.wait_for_function("() => navigator.serviceWorker.controller !== null || "
                           "navigator.serviceWorker.ready.then(() => true)")
    scope = page.evaluate("async () => (await navigator.serviceWorker.ready).scope")
    assert scope == f"{base}/"
    page.wait_for_function("async () => (await caches.keys()).some(k => k.startsWith('mc-shell-'))")
    nav.get_by_role("link", name="Guestbook", exact=True).click()
    page.locator("#guestbook-hello").wait_for()
    assert page.url == f"{base}/guestbook"
    # a deep link to the plugin's page works (the server answers the shell, the app routes it)
    page.goto(f"{base}/guestbook")
    page.locator("#guestbook-hello").wait_for()
    shots(page, "02-plugin-page")
    # its component renders in the artist page's slot
    page.goto(f"{base}/artists/nova-lane")
    page.get_by_role("heading", name="Nova Lane", level=1).wait_for()
    page.locator(".badge", has_text="Signed!").wait_for()
    assert page.get_by_text("is loading").count() == 0  # the shell's placeholder is gone
    assert console.unexpected() == []


def test_a_fan_signs_up_plays_a_public_track_and_is_shown_the_tier_of_a_gated_one(browser, shots, proc_env,
                                                                                  tmp_path):
    with served(proc_env, "web,streaming") as base:
        audio_dir = tmp_path / "audio"
        audio_dir.mkdir()
        seeded = seed_tracks(base, audio_dir)

        page = browser.new_page()
        console = Console(page)
        page.goto(f"{base}/")
        page.get_by_role("link", name="Nova Lane").wait_for()
        assert console.unexpected() == [], console.errors  # the shell loads clean
        shots(page, "01-discover")

        # sign up (the core's auth API), back on the home screen, signed in
        page.get_by_role("link", name="Sign up").click()
        page.get_by_label("Name (shown to artists)").fill("Robin")
        page.get_by_label("Email").fill("robin@example.com")
        page.get_by_label("Password (at least 8 characters)").fill("a-long-passphrase")
        shots(page, "02-sign-up")
        page.get_by_role("button", name="Sign up").click()
        page.get_by_role("button", name="Sign out").wait_for()
        assert page.url == f"{base}/" and page.locator(".who").inner_text() == "Robin"

        # the artist's page: tiers with prices, the tracks, the gated one locked with its tier
        page.get_by_role("link", name="Nova Lane").click()
        page.get_by_role("heading", name="Nova Lane", level=1).wait_for()
        assert page.url == f"{base}/artists/nova-lane"
        page.get_by_role("listitem", name=f"Tier {seeded['supporter']}").wait_for()
        locked = page.locator(".tracks li", has_text="Backstage Demo")
        assert f"Locked: {seeded['supporter']} and above" in locked.inner_text()
        shots(page, "03-artist")

        # the public track plays: hls.js, the encrypted stream, the audio's time advances
        page.get_by_role("link", name="Open Sky").click()
        play = page.get_by_role("button", name="Play")
        play.wait_for()
        page.locator("canvas[role=img]").wait_for()  # the waveform, from the waveform endpoint
        play.focus()
        page.keyboard.press("Enter")  # keyboard operable
        page.wait_for_function("() => document.querySelector('audio').currentTime > 1.5", timeout=30_000)
        assert page.evaluate("() => document.querySelector('audio').paused") is False
        cover = page.locator("img.cover")
        assert cover.count() == 0  # generated audio has no artwork: no empty frame
        assert page.evaluate("() => navigator.mediaSession.metadata && "
                             "[navigator.mediaSession.metadata.title, navigator.mediaSession.metadata.artist]") == [
            "Open Sky", "Nova Lane"]
        shots(page, "04-playing")
        page.get_by_role("button", name="Pause").click()
        page.wait_for_function("() => document.querySelector('audio').paused")
        before = page.evaluate("() => document.querySelector('audio').currentTime")
        page.get_by_role("slider", name="Seek").fill("6")
        page.wait_for_function("() => document.querySelector('audio').currentTime >= 5.5")
        assert page.evaluate("() => document.querySelector('audio').currentTime") != before

        # the gated track: the tier it needs, no player
        page.go_back()
        page.get_by_role("link", name="Backstage Demo").click()
        page.locator("#tier-needed").wait_for()
        assert page.locator("#tier-needed").inner_text() == \
            f"This track needs the {seeded['supporter']} tier or above."
        assert page.locator("audio").count() == 0 and page.get_by_role("button", name="Play").count() == 0
        shots(page, "05-gated")
        # the only console errors are Chromium's lines for the refusals the app expected
        assert console.unexpected("status of 403") == [], console.errors
