"""The web app in a real browser (headless Chromium driven by Playwright): the shell loads with no
console errors, another plugin's page appears in the navigation and opens, a fan signs up, opens
an artist's page, plays a public track (the audio's time advances) and is shown the tier a gated
one needs. Screenshots of each step are saved under the test's tmp dir (``screenshots/``)."""
from __future__ import annotations

from conftest import Console, guestbook_plugin


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
    assert console.unexpected() == []
