"""The artist's studio in a real browser (headless Chromium driven by Playwright, against a real
``musicconnect serve`` process with the web, streaming and analytics plugins): a listener finds no
studio in the menu and is refused politely; the artist signs in, opens the studio from their own
page, uploads generated audio and sees the bytes sent reach 100 % and the transcode's progress,
plays the track when it is ready (the audio's time advances), edits it in the tracks list, and
after a few plays sees the plays chart on the dashboard. Screenshots of each step are saved under
the test's tmp dir (``screenshots/``)."""
from __future__ import annotations

import httpx

from web_helpers import Console, sign_in


def _plays(base: str, track_id: str, n: int) -> None:
    """``n`` listeners play the track to the end through the API (a play counts after
    ``play_count_seconds``, 1 s in this server)."""
    from helpers import bearer, register

    with httpx.Client(base_url=base, timeout=30) as c:
        for i in range(n):
            fan = register(c, f"listener{i}@example.com", display_name=f"Listener {i}")
            h = bearer(fan["tokens"]["access_token"])
            r = c.post("/api/v1/streaming/plays", json={"track_id": track_id}, headers=h)
            assert r.status_code == 201, r.text
            r = c.post(f"/api/v1/streaming/plays/{r.json()['session_id']}", json={"event": "complete", "position": 12},
                       headers=h)
            assert r.status_code == 200 and r.json()["counted"] is True, r.text


def test_an_artist_uploads_with_progress_plays_it_and_sees_the_plays_chart(browser, shots, proc_env, tmp_path):
    from helpers import free_port, register, serve_process, wait_ready
    from musicconnect_streaming import media

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**proc_env, "MC_PLUGINS": "web,streaming,analytics", "MC_BASE_URL": base,
           "MC_STREAMING_PLAY_COUNT_SECONDS": "1"}
    proc = serve_process(env, port)
    try:
        wait_ready(proc, base)
        with httpx.Client(base_url=base, timeout=30) as c:
            register(c, "nova@example.com", role="artist", artist_name="Nova Lane", display_name="Nova")
            register(c, "robin@example.com", display_name="Robin")
        wav = tmp_path / "first-light.wav"
        media.generated_tone(wav, 12, seed=7)

        page = browser.new_page()
        console = Console(page)

        # a listener: no studio in the menu, and the studio's pages say they are for artists
        sign_in(page, base, "robin@example.com")
        nav = page.get_by_role("navigation", name="Main")
        nav.get_by_role("link", name="Discover").wait_for()
        assert nav.get_by_role("link").all_inner_texts() == ["Discover"]
        assert page.get_by_role("navigation", name="Studio").count() == 0  # artists' links only
        for path in ("/studio/upload", "/studio/dashboard"):
            page.goto(f"{base}{path}")
            page.locator(".studio-refused").wait_for()
            assert "for artists" in page.locator(".studio-refused").inner_text()
            assert page.locator("input[type=file]").count() == 0 and page.locator("svg").count() == 0
        shots(page, "01-listener-refused")
        page.get_by_role("button", name="Sign out").click()
        page.get_by_role("link", name="Sign in").wait_for()

        # the artist: the way into the studio is on their own page
        sign_in(page, base, "nova@example.com", "/artists/nova-lane")
        page.get_by_role("heading", name="Nova Lane", level=1).wait_for()
        studio = page.get_by_role("navigation", name="Studio")
        studio.get_by_role("link", name="Dashboard").wait_for()
        assert studio.get_by_role("link").all_inner_texts() == ["Upload", "Tracks", "Dashboard", "Tiers and perks"]
        assert page.get_by_role("navigation", name="Main").get_by_role("link").all_inner_texts() == ["Discover"]
        page.locator(".studio-link").get_by_role("link", name="Upload a track").click()
        page.get_by_role("heading", name="Upload a track").wait_for()
        assert page.url == f"{base}/studio/upload"
        page.get_by_label("Audio file").set_input_files(str(wav))
        page.get_by_label("Title").fill("First Light")
        shots(page, "02-upload-form")
        page.get_by_role("button", name="Upload").click()
        # the bytes sent, as the browser reports them, reach the body's size
        page.wait_for_function("() => { const p = document.getElementById('upload-progress');"
                               " return p && p.value > 0 && p.value === p.max; }")
        size = wav.stat().st_size
        sent = page.evaluate("() => document.getElementById('upload-progress').max")
        assert size < sent < size + 4096  # the request's body: the file and the form's other fields
        assert page.locator("#upload-progress-text").inner_text().endswith("sent (100 %)")
        # then the transcode's progress, polled from the track's job, until it is ready
        page.locator("#transcode-progress").wait_for()
        assert page.locator("#transcode-progress-text").inner_text().startswith(("Transcoding", "Ready"))
        shots(page, "03-uploading")
        page.locator("#upload-done").wait_for(timeout=180_000)
        assert page.evaluate("() => document.getElementById('transcode-progress').value") == 100
        assert page.locator("#transcode-progress-text").inner_text() == "Ready"
        shots(page, "04-ready")

        # it plays: the player of the web app, the audio's time advances
        page.locator("#upload-done").get_by_role("link", name="Listen").click()
        page.get_by_role("heading", name="First Light", level=1).wait_for()
        page.get_by_role("button", name="Play").click()
        page.wait_for_function("() => document.querySelector('audio').currentTime > 1.5", timeout=30_000)
        shots(page, "05-playing")
        page.get_by_role("button", name="Pause").click()
        track_id = page.url.rsplit("/", 1)[1]

        # the player reports plays, so the artist's own play above counted (1 s here); two listeners
        # play it too (through the API): 3 plays, which the tracks list and the dashboard show
        _plays(base, track_id, 2)
        page.goto(f"{base}/studio/tracks")
        row = page.locator("tr", has_text="First Light")
        row.wait_for()
        assert [c.strip() for c in row.locator("td").all_inner_texts()[1:5:3]] == ["Ready", "3"]
        row.get_by_role("button", name="Edit First Light").click()
        page.get_by_label("Title", exact=True).fill("First Light (remaster)")
        page.get_by_role("button", name="Save").click()
        page.locator("tr", has_text="First Light (remaster)").wait_for()
        with httpx.Client(base_url=base, timeout=30) as c:
            assert c.get(f"/api/v1/content/{track_id}").json()["title"] == "First Light (remaster)"
        shots(page, "06-tracks")

        page.locator(".studio-nav").get_by_role("link", name="Dashboard").click()
        page.get_by_role("heading", name="Dashboard", level=1).wait_for()
        page.locator("#plays-svg").wait_for()
        assert page.locator("#kpi-plays strong").inner_text() == "3"
        assert page.locator("#plays-svg rect.bar[data-value='3']").count() == 1  # today's bar
        assert "3 plays" in page.locator("#plays-svg").get_attribute("aria-label")
        assert page.locator("#chart-followers-empty").inner_text().startswith("No followers yet")
        advice = page.locator("#advice [data-advice=follow]")  # what to do next, from these figures
        assert advice.inner_text().startswith("Your music was played 3 times, but nobody follows you yet")
        shots(page, "07-dashboard")
        assert console.unexpected() == [], console.errors
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except Exception:
            proc.kill()
