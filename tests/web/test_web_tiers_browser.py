"""The tiers and perks editor (``/studio/tiers``, a core screen of the web plugin) in a real
browser against ``musicconnect serve`` with the fan club (whose perks the tiers carry): the artist
edits a tier's name, price and perks and the server holds them; a refused price and a perk out of
its range are shown next to their field; a listener is refused politely. The non-browser part
checks that the screen is served and that the perk list comes from the API, not the module."""
from __future__ import annotations

import re

import httpx
import pytest

from web_helpers import Console, sign_in


@pytest.mark.mc_plugins("web", "fanclub")
def test_tiers_screen_is_served_and_takes_its_perks_from_the_api(mc_client):
    shell = mc_client.get("/studio/tiers")
    assert shell.status_code == 200 and shell.headers["content-type"].startswith("text/html")
    base = re.search(r'"@musicconnect/web": "([^"]+)/ui\.js"', shell.text).group(1)
    app = mc_client.get(f"{base}/app.js").text
    assert 'import("./screens/tiers.js")' in app
    module = mc_client.get(f"{base}/screens/tiers.js")
    assert module.status_code == 200 and module.headers["content-type"].startswith("text/javascript")
    assert 'api("perks"' in module.text and "method: \"PATCH\"" in module.text
    # no perk name is written into the screen: they are the ones GET /api/v1/perks lists
    perks = mc_client.get("/api/v1/perks").json()
    assert {"direct_messages", "virtual_backstage", "early_access"} <= set(perks)
    assert not [p for p in perks if f'"{p}"' in module.text]


def test_the_artist_edits_a_tier_and_sees_refusals_by_field(browser, shots, proc_env):
    from helpers import free_port, register, serve_process, wait_ready

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = serve_process({**proc_env, "MC_PLUGINS": "web,fanclub", "MC_BASE_URL": base}, port)
    try:
        wait_ready(proc, base)
        with httpx.Client(base_url=base, timeout=30) as c:
            artist = register(c, "nova@example.com", role="artist", artist_name="Nova Lane", display_name="Nova")
            register(c, "robin@example.com", display_name="Robin")
            artist_id = artist["user"]["artist"]["id"]
            tiers = {t["key"]: t for t in c.get(f"/api/v1/artists/{artist_id}/tiers").json()}
        assert "supporter" in tiers

        page = browser.new_page()
        console = Console(page)
        sign_in(page, base, "robin@example.com", "/studio/tiers")
        page.locator(".studio-refused").wait_for()
        assert "listener's account" in page.locator(".studio-refused").inner_text()
        assert page.locator("form.tier-form").count() == 0
        page.get_by_role("button", name="Sign out").click()
        page.get_by_role("link", name="Sign in").wait_for()

        sign_in(page, base, "nova@example.com", "/studio/tiers")
        page.get_by_role("heading", name="Your tiers", level=1).wait_for()
        form = page.locator('form[data-tier="supporter"]')
        form.wait_for()
        assert page.locator("form.tier-form").count() == len(tiers)
        # the free tier's price cannot be edited
        assert page.locator('form[data-tier="free"] input[inputmode=decimal]').is_disabled()
        shots(page, "01-tiers")

        form.get_by_label("Name").fill("Supporters")
        form.get_by_label("Price per month").fill("7.50")
        form.get_by_label("direct_messages").fill("4")
        form.get_by_label("virtual_backstage").check()
        form.get_by_role("button", name=re.compile("^Save")).click()
        form.get_by_role("status").filter(has_text="Saved.").wait_for()
        with httpx.Client(base_url=base, timeout=30) as c:
            held = {t["key"]: t for t in c.get(f"/api/v1/artists/{artist_id}/tiers").json()}["supporter"]
        assert held["name"] == "Supporters" and held["price_amount"] == 750
        assert held["perks"] == {**tiers["supporter"]["perks"], "direct_messages": 4, "virtual_backstage": True}
        assert form.get_by_role("heading").inner_text().startswith("Supporters")

        # the server refuses: a paid tier at 0, then an early-access window of 0 hours (min 1)
        form.get_by_label("Price per month").fill("0")
        form.get_by_role("button", name=re.compile("^Save")).click()
        price_error = form.locator("#tier-supporter-price_amount-error")
        price_error.wait_for()
        assert "price above 0" in price_error.inner_text()
        assert form.get_by_label("Price per month").get_attribute("aria-invalid") == "true"
        form.get_by_label("Price per month").fill("7.50")
        form.get_by_label("early_access").fill("0")
        form.get_by_role("button", name=re.compile("^Save")).click()
        perk_error = form.locator("#tier-supporter-perk-early_access-error")
        perk_error.wait_for()
        assert "early_access" in perk_error.inner_text() and price_error.count() == 0
        shots(page, "02-refused")
        with httpx.Client(base_url=base, timeout=30) as c:
            now = {t["key"]: t for t in c.get(f"/api/v1/artists/{artist_id}/tiers").json()}["supporter"]
        assert now["price_amount"] == 750 and "early_access" not in now["perks"], now
        assert console.unexpected("422") == [], console.errors
    finally:
        proc.terminate()
        proc.wait(10)
