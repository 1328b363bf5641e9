"""The fan's membership screens in a real browser (headless Chromium driven by Playwright)
against one ``musicconnect serve`` process with the billing sandbox on (as with ``--demo``): a new
fan signs up, follows an artist, is refused the gated track, joins the Supporter tier in the
sandbox checkout, comes back to the return page, plays the gated track (the audio's time
advances), upgrades with the proration shown, comments on a post (and deletes a comment) and
reacts, sends messages until the quota message appears, and cancels (the membership page says
until when). Screenshots of each step go under the test's tmp dir (``screenshots/``)."""
from __future__ import annotations

import re
import time

import httpx

from web_helpers import Console


def _seed(base: str, audio_dir) -> dict:
    """Through the HTTP API: an artist whose Supporter tier has 2 messages a month and whose
    Superfan tier has 3 and the backstage, a track for Supporters (transcoded from generated
    audio) and a public post."""
    from helpers import bearer, register
    from musicconnect_streaming import media

    with httpx.Client(base_url=base, timeout=30) as c:
        artist = register(c, "nova@example.com", role="artist", artist_name="Nova Lane", display_name="Nova")
        h = bearer(artist["tokens"]["access_token"])
        artist_id = artist["user"]["artist"]["id"]
        tiers = {t["key"]: t for t in c.get(f"/api/v1/artists/{artist_id}/tiers").json()}
        for key, perks in (("supporter", {"direct_messages": 2}),
                           ("superfan", {"direct_messages": 3, "virtual_backstage": True})):
            r = c.patch(f"/api/v1/artists/{artist_id}/tiers/{tiers[key]['id']}", headers=h, json={"perks": perks})
            assert r.status_code == 200, r.text
        wav = audio_dir / "gated.wav"
        media.generated_tone(wav, 12, seed=3)
        with open(wav, "rb") as fh:
            r = c.post(f"/api/v1/streaming/artists/{artist_id}/tracks", headers=h,
                       files={"file": (wav.name, fh, "audio/wav")},
                       data={"title": "Backstage Demo", "visibility": "tier",
                             "required_tier_id": tiers["supporter"]["id"]})
        assert r.status_code == 202, r.text
        track_id = r.json()["id"]
        r = c.post(f"/api/v1/fanclub/artists/{artist_id}/posts", headers=h,
                   data={"title": "Studio diary", "body": "Two new songs this week.", "visibility": "public"})
        assert r.status_code == 201, r.text
        deadline = time.monotonic() + 180
        while (status := c.get(f"/api/v1/streaming/tracks/{track_id}", headers=h).json()["status"]) != "ready":
            assert status in ("processing", "pending", "draft") and time.monotonic() < deadline, status
            time.sleep(0.5)
    return {"artist_id": artist_id, "track_id": track_id, "tiers": tiers}


def _fan_state(base: str, email: str) -> dict:
    """What the server holds for the fan (read through the API, as the fan)."""
    with httpx.Client(base_url=base, timeout=30) as c:
        token = c.post("/api/v1/auth/login", json={"email": email, "password": "a-long-passphrase"}).json()["access_token"]
        h = {"Authorization": f"Bearer {token}"}
        return {"subs": c.get("/api/v1/billing/subscriptions", headers=h).json(),
                "ents": c.get("/api/v1/me/entitlements", headers=h).json()}


def test_a_fan_joins_upgrades_talks_and_cancels(browser, shots, proc_env, tmp_path):
    from helpers import free_port, serve_process, wait_ready

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**proc_env, "MC_PLUGINS": "web,streaming,billing,fanclub", "MC_BASE_URL": base,
           "MC_BILLING_SANDBOX": "true"}
    proc = serve_process(env, port)
    try:
        wait_ready(proc, base)
        audio_dir = tmp_path / "audio"
        audio_dir.mkdir()
        seeded = _seed(base, audio_dir)
        supporter, superfan = seeded["tiers"]["supporter"], seeded["tiers"]["superfan"]

        page = browser.new_page()
        console = Console(page)
        # a new fan signs up
        page.goto(f"{base}/signup")
        page.get_by_label("Name (shown to artists)").fill("Robin")
        page.get_by_label("Email").fill("robin@example.com")
        page.get_by_label("Password (at least 8 characters)").fill("a-long-passphrase")
        page.get_by_role("button", name="Sign up").click()
        page.get_by_role("button", name="Sign out").wait_for()

        # the artist page: follow, and a Join button per paid tier
        page.goto(f"{base}/artists/nova-lane")
        page.get_by_role("heading", name="Nova Lane", level=1).wait_for()
        page.get_by_role("button", name="Follow", exact=True).click()
        page.locator("#following").wait_for()
        page.get_by_role("button", name="Join Supporter").wait_for()
        assert page.get_by_role("button", name="Join Superfan").count() == 1
        shots(page, "01-artist-join")

        # the gated track is refused, naming its tier
        page.goto(f"{base}/tracks/{seeded['track_id']}")
        page.locator("#tier-needed").wait_for()
        assert page.locator("#tier-needed").inner_text() == "This track needs the Supporter tier or above."
        assert page.locator("audio").count() == 0

        # join Supporter: the sandbox's checkout page, paid, back on the return page
        page.goto(f"{base}/artists/nova-lane")
        page.get_by_role("button", name="Join Supporter").click()
        page.wait_for_url(re.compile(r".*/api/v1/billing/sandbox/checkout/.*"))
        assert "no real money" in page.content()
        shots(page, "02-sandbox-checkout")
        page.get_by_role("button", name="Pay with the sandbox test card").click()
        page.wait_for_url(re.compile(r".*/checkout/return\?artist=nova-lane.*"))
        held = page.locator("#membership-held")
        held.wait_for(timeout=30_000)
        assert "You are now a Supporter member of Nova Lane" in held.inner_text()
        shots(page, "03-checkout-return")
        [sub] = _fan_state(base, "robin@example.com")["subs"]
        assert (sub["tier_id"], sub["status"]) == (supporter["id"], "active")

        # the gated track plays now
        page.goto(f"{base}/tracks/{seeded['track_id']}")
        page.get_by_role("button", name="Play").click()
        page.wait_for_function("() => document.querySelector('audio').currentTime > 1.5", timeout=30_000)
        shots(page, "04-playing")
        page.get_by_role("button", name="Pause").click()

        # upgrade from the artist page: the membership page shows the proration, then the change
        page.goto(f"{base}/artists/nova-lane")
        page.locator("#member-of", has_text="You are a Supporter member").wait_for()
        assert page.get_by_role("button", name="Join Supporter").count() == 0
        page.get_by_role("link", name="Upgrade to Superfan").click()
        due = page.locator("#amount-due")
        due.wait_for()
        preview = page.locator(".preview").inner_text()
        assert "Unused time on Supporter" in preview and "Remaining time on Superfan" in preview
        assert re.search(r"Next invoice: .*15\.00", due.inner_text()), due.inner_text()  # 10.00 + 10.00 - 5.00
        shots(page, "05-upgrade-preview")
        page.get_by_role("button", name="Change to Superfan").click()
        page.locator(".subscription .tier", has_text="Superfan").wait_for()
        [sub] = _fan_state(base, "robin@example.com")["subs"]
        assert sub["tier_id"] == superfan["id"]

        # the feed: the artist's post; comment on it and react
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Feed").click()
        page.get_by_role("link", name="Studio diary").click()
        page.get_by_role("heading", name="Studio diary", level=1).wait_for()
        page.get_by_label("Add a comment").fill("This one gives me chills.")
        page.get_by_role("button", name="Post comment").click()
        page.locator(".comments li", has_text="This one gives me chills.").wait_for()
        assert "Robin" in page.locator(".comments li").first.inner_text()
        page.get_by_role("button", name="Heart (0)").click()
        page.get_by_role("button", name="Heart (1)").wait_for()
        assert page.get_by_role("button", name="Heart (1)").get_attribute("aria-pressed") == "true"
        shots(page, "06-post-comments")
        page.get_by_label("Add a comment").fill("Oops, wrong post")
        page.get_by_role("button", name="Post comment").click()
        oops = page.locator(".comments li", has_text="Oops, wrong post")
        oops.get_by_role("button", name="Delete my comment").click()
        oops.wait_for(state="detached")
        assert page.locator(".comments li").count() == 1

        # messages: the quota counts down, the refusal appears as a message
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Messages").click()
        quota = page.locator("#dm-quota")
        quota.wait_for()
        assert quota.inner_text().startswith("3 of 3 messages left this month")
        for n in range(4):
            page.get_by_label("Message Nova Lane").fill(f"Message number {n + 1}")
            page.get_by_role("button", name="Send").click()
            if n < 3:
                page.locator(".message.fan", has_text=f"Message number {n + 1}").wait_for()
                page.locator("#dm-quota", has_text=f"{2 - n} of 3 messages left").wait_for()
        refused = page.locator("#dm-refused")
        refused.wait_for()
        assert "you have sent your 3 messages this month" in refused.inner_text()
        assert "You can write again on" in refused.inner_text()
        assert page.locator(".message.fan").count() == 3
        shots(page, "07-messages-quota")

        # cancel at period end: the page says until when; the server agrees
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Membership").click()
        page.get_by_role("button", name="Cancel at period end").click()
        renewal = page.locator(".subscription .renewal", has_text="runs until")
        renewal.wait_for()
        [sub] = _fan_state(base, "robin@example.com")["subs"]
        assert sub["cancel_at_period_end"] is True
        assert page.get_by_role("button", name="Resume membership").count() == 1
        shots(page, "08-cancelled")
        # the only console errors are Chromium's lines for refusals the app expected and showed
        assert console.unexpected("status of 403", "status of 429", "/favicon.ico") == [], console.unexpected(
            "status of 403", "status of 429", "/favicon.ico")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except Exception:
            proc.kill()
